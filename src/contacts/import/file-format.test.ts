import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCsvFormat, detectDelimiter, detectEncoding, detectImportFormat } from './file-format.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-format-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (content: Buffer | string) => {
  const file = path.join(dir, `f${n++}`);
  fs.writeFileSync(file, content);
  return file;
};

describe('detectEncoding', () => {
  it.each<[string, Buffer, string]>([
    ['a UTF-8 BOM', Buffer.from([0xef, 0xbb, 0xbf, 0x41]), 'utf-8'],
    ['valid UTF-8 Cyrillic', Buffer.from('Телефон;Имя', 'utf8'), 'utf-8'],
    ['plain ASCII', Buffer.from('phone,name'), 'utf-8'],
    ['Windows-1251 Cyrillic', iconv.encode('Телефон;Имя', 'windows-1251'), 'windows-1251'],
    [
      'a UTF-16LE BOM',
      Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode('phone', 'utf-16le')]),
      'utf-16le',
    ],
    // The sample may end inside a multi-byte character; that alone is not a reason to distrust UTF-8.
    ['UTF-8 cut mid-character', Buffer.from('Иван', 'utf8').subarray(0, 3), 'utf-8'],
  ])('%s → %s', (_, bytes, encoding) => {
    expect(detectEncoding(bytes)).toBe(encoding);
  });
});

describe('detectDelimiter', () => {
  it.each([
    ['phone,name,email\n1;2;3;4', ','],
    ['Телефон;Имя;Email\n1,2', ';'],
    ['phone\tname\temail', '\t'],
    ['"a,b,c";"d";e', ';'],
    ['"x;y;z",b,c\r\n', ','],
    ['phone', ','],
    ['', ','],
  ])('%j → %j', (text, delimiter) => {
    expect(detectDelimiter(text)).toBe(delimiter);
  });
});

describe('detectCsvFormat and detectImportFormat', () => {
  it('reads a Windows-1251 semicolon file', async () => {
    const file = write(iconv.encode('Телефон;Имя\r\n89991234567;Иван\r\n', 'windows-1251'));
    expect(await detectCsvFormat(file)).toEqual({ encoding: 'windows-1251', delimiter: ';' });
    expect(await detectImportFormat(file)).toBe('csv');
  });

  it('reads a UTF-8 file with a BOM', async () => {
    const file = write(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Телефон,Имя\n')]));
    expect(await detectCsvFormat(file)).toEqual({ encoding: 'utf-8', delimiter: ',' });
  });

  it('tells XLSX (a zip) from CSV and refuses legacy XLS', async () => {
    expect(await detectImportFormat(write(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0])))).toBe('xlsx');
    await expect(
      detectImportFormat(write(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1]))),
    ).rejects.toMatchObject({
      code: 'unsupported_media_type',
    });
  });
});
