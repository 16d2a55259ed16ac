import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import ExcelJS from 'exceljs';
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { addRecipient, failure, newAccount, newMailing, seedSampleMailing } from './test-seed.ts';
import { excelWallTime, exportMessagesXlsx, exportRecipientsXlsx } from './xlsx-export.ts';

/** Names of the entries in a zip's central directory; throws unless the file is a well-formed zip. */
function zipEntries(file: Buffer): string[] {
  const eocd = file.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('no end-of-central-directory record');
  const count = file.readUInt16LE(eocd + 10);
  let at = file.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (file.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry ${i}`);
    const nameLength = file.readUInt16LE(at + 28);
    const extraLength = file.readUInt16LE(at + 30);
    const commentLength = file.readUInt16LE(at + 32);
    const localHeader = file.readUInt32LE(at + 42);
    if (file.readUInt32LE(localHeader) !== 0x04034b50) throw new Error(`bad local header of entry ${i}`);
    names.push(file.subarray(at + 46, at + 46 + nameLength).toString('utf8'));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

const rowValues = (sheet: ExcelJS.Worksheet, n: number) =>
  (sheet.getRow(n).values as ExcelJS.CellValue[]).slice(1);

describe.each(backends)('Excel exports on $name', (backend) => {
  let database: Database;
  let dir: string;
  let accountId: number;
  let sample: Awaited<ReturnType<typeof seedSampleMailing>>;
  beforeAll(async () => {
    database = await backend.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-reports-'));
    accountId = await newAccount(database.db);
    sample = await seedSampleMailing(database.db, accountId);
    const other = await newAccount(database.db);
    await seedSampleMailing(database.db, other, 'Чужая');
  });
  afterAll(async () => {
    await database?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const db = () => database.db;

  const exportTo = async (name: string, run: (out: fs.WriteStream) => Promise<{ rows: number }>) => {
    const file = path.join(dir, name);
    const out = fs.createWriteStream(file);
    const result = await run(out);
    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile(file);
    return { result, file, sheet: book.worksheets[0]! };
  };

  it('exports every message with Russian headers, across several database pages', async () => {
    const { result, file, sheet } = await exportTo('messages.xlsx', (out) =>
      exportMessagesXlsx(db(), accountId, { mailingId: sample.mailingId, order: 'oldest' }, out, {
        pageSize: 4,
      }),
    );
    expect(result.rows).toBe(11);
    expect(sheet.name).toBe('Сообщения');
    expect(rowValues(sheet, 1)).toEqual([
      'Создано (Europe/Moscow)',
      'Отправлено (Europe/Moscow)',
      'Телефон',
      'Канал',
      'Блок',
      'Вариант',
      'Статус',
      'Стоимость, ₽',
      'Возвращено',
      'Причина ошибки',
      'Ответ',
      'Рассылка',
      'ID рассылки',
      'ID сообщения',
    ]);
    expect(sheet.actualRowCount).toBe(12);
    // m1: created 09:01 UTC = 12:01 Moscow, shown as that wall time.
    const first = rowValues(sheet, 2);
    expect(first[0]).toEqual(new Date('2026-03-01T12:01:00Z'));
    expect(first.slice(2)).toEqual([
      '+79990000001',
      'Viber',
      'b1',
      'A',
      'Клик',
      1.5,
      'нет',
      undefined,
      undefined,
      'Весенняя акция',
      sample.mailingId,
      sample.messages.m1,
    ]);
    const failed = rowValues(sheet, 5); // m4, the stop-listed send
    expect(failed[1]).toBeUndefined();
    expect(failed.slice(2, 10)).toEqual([
      '+79990000003',
      'Viber',
      'b1',
      'A',
      'Ошибка отправки',
      0,
      'нет',
      'Абонент отписался (в стоп-листе)',
    ]);
    const withReply = rowValues(sheet, 9); // m8
    expect(withReply[10]).toBe('Да, интересно');
    expect(rowValues(sheet, 12)[13]).toBe(sample.messages.m11);

    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    const entries = zipEntries(bytes);
    expect(entries).toEqual(
      expect.arrayContaining(['[Content_Types].xml', 'xl/workbook.xml', 'xl/worksheets/sheet1.xml']),
    );
  });

  it('exports only what the filter selects, in the given time zone', async () => {
    const { result, sheet } = await exportTo('sms.xlsx', (out) =>
      exportMessagesXlsx(db(), accountId, { channel: 'sms', order: 'oldest' }, out, { timezone: 'UTC' }),
    );
    expect(result.rows).toBe(4);
    expect(rowValues(sheet, 1)[0]).toBe('Создано (UTC)');
    expect(rowValues(sheet, 2)[0]).toEqual(new Date('2026-03-01T09:03:00Z'));
    expect([2, 3, 4, 5].map((n) => rowValues(sheet, n)[13])).toEqual([
      sample.messages.m3,
      sample.messages.m7,
      sample.messages.m9,
      sample.messages.m10,
    ]);
  });

  it('writes a valid workbook with only the header when nothing matches', async () => {
    const { result, file, sheet } = await exportTo('empty.xlsx', (out) =>
      exportMessagesXlsx(db(), accountId, { phone: '5555555' }, out),
    );
    expect(result.rows).toBe(0);
    expect(sheet.actualRowCount).toBe(1);
    expect(zipEntries(fs.readFileSync(file))).toContain('xl/worksheets/sheet1.xml');
  });

  it('exports the recipients of a mailing', async () => {
    const { result, sheet } = await exportTo('recipients.xlsx', (out) =>
      exportRecipientsXlsx(db(), accountId, { mailingId: sample.mailingId }, out, { pageSize: 3 }),
    );
    expect(result.rows).toBe(10);
    expect(sheet.name).toBe('Получатели');
    expect(rowValues(sheet, 1)).toEqual([
      'Телефон',
      'Вариант',
      'Статус',
      'Состояние',
      'Причина завершения',
      'Текущий блок',
      'Шаг',
      'В блоке с (Europe/Moscow)',
      'Завершено (Europe/Moscow)',
      'Рассылка',
      'ID рассылки',
    ]);
    expect(rowValues(sheet, 2).slice(0, 7)).toEqual([
      '+79990000001',
      'A',
      'Цель достигнута',
      'Завершён',
      'Цель достигнута',
      'g',
      1,
    ]);
    expect(rowValues(sheet, 5).slice(0, 6)).toEqual([
      '+79990000004',
      'A',
      'Ожидает отправки',
      'Ожидает отправки',
      undefined,
      'b1',
    ]);
    expect(rowValues(sheet, 11).slice(0, 3)).toEqual(['+79990000010', 'B', 'В процессе']);
  });

  it('keeps pace with a slow reader and still writes a whole workbook', async () => {
    const big = await newAccount(db());
    const mailingId = await newMailing(db(), big, { name: 'Большая' });
    const recipientId = await addRecipient(db(), big, mailingId, {
      phone: '+79991112233',
      state: 'waiting',
    });
    await sql`
      insert into messages (account_id, mailing_id, recipient_id, block_id, step, attempt, channel, idempotency_key, phone,
                            state, statuses, cost, created_at, sent_at)
      select ${big}, ${mailingId}, ${recipientId}, 'b1', 0, i, 'sms', 'slow-' || i, '+79991112233',
             'submitted', array['delivered'], 250, now(), now()
      from generate_series(1, 3000) i`.execute(db());
    const chunks: Buffer[] = [];
    let waits = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        waits++;
        setTimeout(done, 1);
      },
    });
    const result = await exportMessagesXlsx(db(), big, { mailingId }, slow, { pageSize: 500 });
    expect(result.rows).toBe(3000);
    expect(waits).toBeGreaterThan(1);
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(Buffer.concat(chunks) as unknown as ArrayBuffer);
    const sheet = book.worksheets[0]!;
    expect(sheet.actualRowCount).toBe(3001);
    expect(rowValues(sheet, 3001).slice(2, 7)).toEqual(['+79991112233', 'СМС', 'b1', 'A', 'Доставлено']);
  });

  it('rejects a bad filter before writing anything', async () => {
    const out = new PassThrough();
    let written = 0;
    out.on('data', (chunk: Buffer) => {
      written += chunk.length;
    });
    const error = await failure(exportMessagesXlsx(db(), accountId, { channel: 'fax' as never }, out));
    expect(error).toMatchObject({ code: 'validation_failed', field: 'channel' });
    const recipientsError = await failure(
      exportRecipientsXlsx(db(), accountId, { status: 'lost' as never }, out),
    );
    expect(recipientsError).toMatchObject({ code: 'validation_failed', field: 'status' });
    expect(written).toBe(0);
  });
});

describe('excelWallTime', () => {
  it('matches the zone wall time across daylight-saving changes and odd offsets', () => {
    for (const zone of [
      'Europe/Moscow',
      'Europe/Berlin',
      'America/New_York',
      'Asia/Kathmandu',
      'Australia/Lord_Howe',
    ]) {
      const wall = excelWallTime(zone);
      // Every 7 minutes through 2026 around the March and October/November transitions.
      for (const start of [Date.UTC(2026, 2, 27), Date.UTC(2026, 9, 23), Date.UTC(2026, 3, 3)]) {
        for (let ms = start; ms < start + 10 * 86_400_000; ms += 7 * 60_000) {
          const t = DateTime.fromMillis(ms, { zone });
          const want = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second, t.millisecond);
          expect(wall(new Date(ms)).getTime(), `${zone} ${new Date(ms).toISOString()}`).toBe(want);
        }
      }
    }
  });
});
