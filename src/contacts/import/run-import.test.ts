import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { ManualClock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';
import { detectCsvFormat } from './file-format.ts';
import { createImport, getImport, listImportErrors, listImports } from './imports.ts';
import { previewImportFile } from './preview.ts';
import { type RunImportInput, runImport } from './run-import.ts';
import type { ImportFormat, ImportMapping, ImportProgress } from './types.ts';

const mapping: ImportMapping = {
  phone: 'Телефон',
  email: 'Email',
  name: 'Имя',
  timezone: 'Часовой пояс',
  vars: { city: 'Город' },
};
const header = 'Телефон,Email,Имя,Город,Часовой пояс';

describe.each(backends)('contacts import on $name', (backend) => {
  let database: Database;
  let dir: string;
  let accountId: number;
  let groupId: number;
  const clock = new ManualClock('2026-03-01T10:00:00Z');

  beforeAll(async () => {
    database = await backend.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-import-'));
  });
  afterAll(async () => {
    await database?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  let fileNo = 0;
  beforeEach(async () => {
    // A fresh account per test keeps the tests independent of each other's contacts.
    fileNo++;
    const account = await database.db
      .insertInto('accounts')
      .values({ name: `acc-${fileNo}`, created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    accountId = account.id;
    groupId = await makeGroup('Clients');
  });

  async function makeGroup(name: string): Promise<number> {
    const group = await database.db
      .insertInto('contact_groups')
      .values({ account_id: accountId, name, created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return group.id;
  }

  function writeFile(content: string | Buffer, ext = 'csv'): string {
    const file = path.join(dir, `f${fileNo}-${Math.random().toString(36).slice(2)}.${ext}`);
    fs.writeFileSync(file, content);
    return file;
  }

  async function importFile(
    filePath: string,
    options: Partial<RunImportInput> & { format?: ImportFormat } = {},
    onProgress?: (p: ImportProgress) => void,
  ) {
    const record = await createImport(database.db, clock, {
      accountId,
      fileName: path.basename(filePath),
      format: options.format ?? 'csv',
    });
    const summary = await runImport(
      database.db,
      clock,
      { importId: record.id, accountId, groupId, filePath, mapping, ...options },
      onProgress,
    );
    return { importId: record.id, summary };
  }

  async function contacts() {
    return database.db
      .selectFrom('contacts')
      .select(['id', 'phone', 'email', 'name', 'timezone', 'vars'])
      .where('account_id', '=', accountId)
      .orderBy('id')
      .execute();
  }

  async function members(group = groupId) {
    const rows = await database.db
      .selectFrom('contact_group_members')
      .innerJoin('contacts', 'contacts.id', 'contact_group_members.contact_id')
      .select(['contacts.phone', 'contacts.email'])
      .where('group_id', '=', group)
      .orderBy('contacts.id')
      .execute();
    return rows.map((r) => r.phone ?? r.email);
  }

  async function errorsOf(importId: number) {
    return (await listImportErrors(database.db, accountId, importId, { limit: 1000 })).items;
  }

  it('imports a UTF-8 comma CSV, normalising phones, emails and time zones', async () => {
    const file = writeFile(
      [
        header,
        '8 999 123-45-67,Ivan@Example.COM,Иван Петров,Москва,europe/moscow',
        '"+7 (999) 123-45-68",,"Мария ""Маша""",Казань,',
        '79991234569,petr@example.com,,,Asia/Yekaterinburg',
        ',only@mail.ru,Только почта,,',
      ].join('\r\n'),
    );
    const progress: ImportProgress[] = [];
    const { importId, summary } = await importFile(file, {}, (p) => progress.push(p));
    expect(summary).toEqual({ total: 4, created: 4, updated: 0, duplicates: 0, errors: 0 });
    expect(await contacts()).toMatchObject([
      {
        phone: '+79991234567',
        email: 'ivan@example.com',
        name: 'Иван Петров',
        timezone: 'Europe/Moscow',
        vars: { city: 'Москва' },
      },
      { phone: '+79991234568', email: null, name: 'Мария "Маша"', timezone: null, vars: { city: 'Казань' } },
      {
        phone: '+79991234569',
        email: 'petr@example.com',
        name: '',
        timezone: 'Asia/Yekaterinburg',
        vars: {},
      },
      { phone: null, email: 'only@mail.ru', name: 'Только почта', vars: {} },
    ]);
    expect(await members()).toEqual(['+79991234567', '+79991234568', '+79991234569', 'only@mail.ru']);
    expect((await listImports(database.db, accountId)).map((r) => r.id)).toEqual([importId]);
    const record = await getImport(database.db, accountId, importId);
    expect(record).toMatchObject({
      status: 'completed',
      groupId,
      total: 4,
      created: 4,
      updated: 0,
      duplicates: 0,
      errors: 0,
      error: null,
    });
    expect(record.finishedAt).toEqual(clock.now());
    expect(progress.at(-1)).toMatchObject({ processed: 4, bytesTotal: fs.statSync(file).size });
  });

  it('imports a Windows-1251 semicolon CSV', async () => {
    const text = [
      'Телефон;Email;Имя;Город;Часовой пояс',
      '8 (916) 111-22-33;;Ёжиков Семён;Санкт-Петербург;',
      '9161112234;;"Щукина; Анна";Тверь;',
    ].join('\r\n');
    const file = writeFile(iconv.encode(text, 'windows-1251'));
    expect(await detectCsvFormat(file)).toEqual({ encoding: 'windows-1251', delimiter: ';' });
    const preview = await previewImportFile(file);
    expect(preview).toMatchObject({
      format: 'csv',
      encoding: 'windows-1251',
      delimiter: ';',
      headers: ['Телефон', 'Email', 'Имя', 'Город', 'Часовой пояс'],
    });
    expect(preview.sampleRows[1]).toEqual(['9161112234', '', 'Щукина; Анна', 'Тверь', '']);

    const { summary } = await importFile(file);
    expect(summary).toMatchObject({ total: 2, created: 2, errors: 0 });
    expect(await contacts()).toMatchObject([
      { phone: '+79161112233', name: 'Ёжиков Семён', vars: { city: 'Санкт-Петербург' } },
      { phone: '+79161112234', name: 'Щукина; Анна', vars: { city: 'Тверь' } },
    ]);
  });

  it('imports the first worksheet of an XLSX file', async () => {
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('Контакты');
    sheet.addRow(['Телефон', 'Email', 'Имя', 'Город', 'Часовой пояс']);
    sheet.addRow([79261234567, 'a@example.com', 'Анна', 'Москва', 'Europe/Moscow']);
    sheet.addRow(['8 926 123-45-68', null, { richText: [{ text: 'Бо' }, { text: 'рис' }] }, null, null]);
    sheet.addRow([]);
    sheet.addRow(['12', 'bad@', 'Плохой', null, 'Mars/Olympus']);
    workbook.addWorksheet('Other').addRow(['Телефон']);
    const file = path.join(dir, `book-${fileNo}.xlsx`);
    await workbook.xlsx.writeFile(file);

    const preview = await previewImportFile(file);
    expect(preview).toMatchObject({ format: 'xlsx', encoding: null, delimiter: null });
    expect(preview.headers).toEqual(['Телефон', 'Email', 'Имя', 'Город', 'Часовой пояс']);
    expect(preview.sampleRows[0]).toEqual([
      '79261234567',
      'a@example.com',
      'Анна',
      'Москва',
      'Europe/Moscow',
    ]);

    const { importId, summary } = await importFile(file, { format: 'xlsx' });
    expect(summary).toEqual({ total: 3, created: 2, updated: 0, duplicates: 0, errors: 1 });
    expect(await contacts()).toMatchObject([
      { phone: '+79261234567', email: 'a@example.com', name: 'Анна', vars: { city: 'Москва' } },
      { phone: '+79261234568', name: 'Борис' },
    ]);
    expect((await errorsOf(importId)).map((e) => [e.row, e.field])).toEqual([
      [5, 'email'],
      [5, 'phone'],
      [5, 'timezone'],
    ]);
  });

  it('reports bad rows with their row numbers and fields and imports every good row', async () => {
    const file = writeFile(
      [
        header, // row 1
        '8 999 000-00-01,,Хороший,,', // 2
        '12345,,Короткий,,', // 3
        '', // 4: blank, skipped but counted in the numbering
        '8 999 000-00-02,not-an-email,Плохая почта,,', // 5
        '"8 999 000-00-03",,"Две', // 6: a quoted value over two lines
        'строки",,Europe/Moscow', // (still row 6)
        ',,Без телефона и почты,,', // 7
        'abc,x@,Всё плохо,,UTC+3', // 8
        '8 999 000-00-04,,Хороший,,Europe/Kaliningrad', // 9
      ].join('\n'),
    );
    const { importId, summary } = await importFile(file, { batchSize: 2 });
    expect(summary).toEqual({ total: 7, created: 3, updated: 0, duplicates: 0, errors: 4 });
    const errors = await errorsOf(importId);
    expect(errors.map((e) => [e.row, e.field])).toEqual([
      [3, 'phone'],
      [5, 'email'],
      [7, 'phone'],
      [8, 'email'],
      [8, 'phone'],
      [8, 'timezone'],
    ]);
    expect(errors[0]!.message).toMatch(/12345/);
    expect(errors[2]!.message).toMatch(/phone or an email/);
    expect(errors[5]!.message).toMatch(/IANA/);
    expect((await contacts()).map((c) => [c.phone, c.name])).toEqual([
      ['+79990000001', 'Хороший'],
      ['+79990000003', 'Две\nстроки'],
      ['+79990000004', 'Хороший'],
    ]);
    const record = await getImport(database.db, accountId, importId);
    expect(record).toMatchObject({ status: 'completed', total: 7, created: 3, errors: 4 });

    const page1 = await listImportErrors(database.db, accountId, importId, { limit: 4 });
    expect(page1.items).toHaveLength(4);
    expect(page1.next).toEqual({ row: 8, field: 'email' });
    const page2 = await listImportErrors(database.db, accountId, importId, { limit: 4, after: page1.next });
    expect(page2.items.map((e) => [e.row, e.field])).toEqual([
      [8, 'phone'],
      [8, 'timezone'],
    ]);
    expect(page2.next).toBeNull();
  });

  it('dedupes by phone within the file across batches, first occurrence wins', async () => {
    const file = writeFile(
      [
        header,
        '8 999 111-11-11,first@example.com,Первый,,',
        '+79991111111,second@example.com,Второй,,', // same phone, same batch
        '8 999 222-22-22,,Другой,,',
        '9991111111,,Третий,,', // same phone, a later batch
        ',mail@example.com,Почта,,',
        ',MAIL@example.com,Почта снова,,', // same email, a later batch
        '8 999 333-33-33,mail@example.com,С телефоном,,', // a phone row: keyed by its phone
      ].join('\n'),
    );
    const { summary } = await importFile(file, { batchSize: 3 });
    expect(summary).toEqual({ total: 7, created: 4, updated: 0, duplicates: 3, errors: 0 });
    expect((await contacts()).map((c) => [c.phone, c.email, c.name])).toEqual([
      ['+79991111111', 'first@example.com', 'Первый'],
      ['+79992222222', null, 'Другой'],
      [null, 'mail@example.com', 'Почта'],
      ['+79993333333', 'mail@example.com', 'С телефоном'],
    ]);
  });

  it('keeps the first occurrence when repeats fall into batches written concurrently', async () => {
    const rows = [
      ['8 999 444-00-01', 'A1'],
      ['8 999 444-00-02', 'A2'],
      ['8 999 444-00-01', 'B1'], // repeats of the batch before (still in flight on PostgreSQL)
      ['8 999 444-00-03', 'B3'],
      ['8 999 444-00-03', 'C3'],
      ['8 999 444-00-02', 'C2'], // a repeat of two batches before
      ['8 999 444-00-04', 'D4'],
      ['8 999 444-00-01', 'D1'],
    ];
    const file = writeFile([header, ...rows.map(([phone, name]) => `${phone},,${name},,`)].join('\n'));
    const { summary } = await importFile(file, { batchSize: 2 });
    expect(summary).toEqual({ total: 8, created: 4, updated: 0, duplicates: 4, errors: 0 });
    // Concurrent batches may take ids out of file order; compare by phone.
    const byPhone = (await contacts()).map((c) => [c.phone, c.name]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    expect(byPhone).toEqual([
      ['+79994440001', 'A1'],
      ['+79994440002', 'A2'],
      ['+79994440003', 'B3'],
      ['+79994440004', 'D4'],
    ]);
    expect(await members()).toHaveLength(4);
  });

  it('merges into existing contacts without erasing their data', async () => {
    const other = await makeGroup('Old');
    const existing = await database.db
      .insertInto('contacts')
      .values([
        {
          account_id: accountId,
          phone: '+79995550001',
          email: 'keep@example.com',
          name: 'Старое имя',
          timezone: 'Europe/Samara',
          vars: JSON.stringify({ city: 'Самара', vip: 'yes' }),
          created_at: clock.now(),
          updated_at: clock.now(),
        },
        {
          account_id: accountId,
          phone: null,
          email: 'byemail@example.com',
          name: 'По почте',
          vars: JSON.stringify({ vip: 'no' }),
          created_at: clock.now(),
          updated_at: clock.now(),
        },
      ])
      .returning('id')
      .execute();
    await database.db
      .insertInto('contact_group_members')
      .values(existing.map((c) => ({ group_id: other, contact_id: c.id })))
      .execute();
    clock.advance(60_000);

    const file = writeFile(
      [
        header,
        '8 999 555-00-01,,,Тольятти,', // empty cells keep the stored values; city is overwritten
        ',byemail@example.com,,,Europe/Moscow', // matched by email
        '8 999 555-00-02,new@example.com,Новый,,',
      ].join('\n'),
    );
    const { summary } = await importFile(file);
    expect(summary).toEqual({ total: 3, created: 1, updated: 2, duplicates: 0, errors: 0 });
    expect(await contacts()).toMatchObject([
      {
        phone: '+79995550001',
        email: 'keep@example.com',
        name: 'Старое имя',
        timezone: 'Europe/Samara',
        vars: { city: 'Тольятти', vip: 'yes' },
      },
      {
        phone: null,
        email: 'byemail@example.com',
        name: 'По почте',
        timezone: 'Europe/Moscow',
        vars: { vip: 'no' },
      },
      { phone: '+79995550002', email: 'new@example.com', name: 'Новый' },
    ]);
    expect(await members()).toEqual(['+79995550001', 'byemail@example.com', '+79995550002']);
    expect(await members(other)).toEqual(['+79995550001', 'byemail@example.com']);
  });

  it('leaves an existing contact untouched when its row is bad', async () => {
    const before = await database.db
      .insertInto('contacts')
      .values({
        account_id: accountId,
        phone: '+79997770001',
        email: 'stay@example.com',
        name: 'Как было',
        vars: JSON.stringify({ city: 'Омск' }),
        created_at: clock.now(),
        updated_at: clock.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    clock.advance(60_000);
    const file = writeFile([header, '8 999 777-00-01,broken@,Новое имя,Томск,Mars/Base'].join('\n'));
    const { importId, summary } = await importFile(file);
    expect(summary).toEqual({ total: 1, created: 0, updated: 0, duplicates: 0, errors: 1 });
    const after = await database.db
      .selectFrom('contacts')
      .selectAll()
      .where('id', '=', before.id)
      .executeTakeFirstOrThrow();
    expect(after).toEqual(before);
    expect(await members()).toEqual([]);
    expect((await errorsOf(importId)).map((e) => e.field)).toEqual(['email', 'timezone']);
  });

  it('refuses a mapping to a missing column before writing anything', async () => {
    const file = writeFile([header, '8 999 123-45-67,a@example.com,Иван,,'].join('\n'));
    const record = await createImport(database.db, clock, { accountId, fileName: 'x.csv', format: 'csv' });
    const run = (m: ImportMapping) =>
      runImport(database.db, clock, { importId: record.id, accountId, groupId, filePath: file, mapping: m });
    const error = await run({ ...mapping, email: 'E-mail адрес' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'validation_failed', field: 'mapping.email' });
    await expect(run({ phone: 'Телефон', vars: { city: 'City' } })).rejects.toMatchObject({
      field: 'mapping.vars.city',
    });
    await expect(run({ name: 'Имя' })).rejects.toMatchObject({ field: 'mapping' });
    expect(await contacts()).toEqual([]);
    expect(await getImport(database.db, accountId, record.id)).toMatchObject({
      status: 'uploaded',
      total: 0,
    });

    // The same import can then run with a good mapping, once.
    await expect(run({ phone: ' телефон ', name: 'ИМЯ' })).resolves.toMatchObject({ created: 1 });
    await expect(run(mapping)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('refuses a group of another account and an unknown region', async () => {
    const file = writeFile([header, '8 999 123-45-67,,,,'].join('\n'));
    const record = await createImport(database.db, clock, { accountId, fileName: 'x.csv', format: 'csv' });
    const base = { importId: record.id, accountId, groupId, filePath: file, mapping };
    await expect(runImport(database.db, clock, { ...base, groupId: groupId + 1000 })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(runImport(database.db, clock, { ...base, region: 'XX' })).rejects.toMatchObject({
      field: 'region',
    });
    await expect(listImportErrors(database.db, accountId + 1000, record.id)).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('marks the import failed when the file breaks midway, keeping the batches before', async () => {
    // Big enough to span several read chunks, so whole batches are written before the parser reaches the end.
    const rows = Array.from({ length: 30_000 }, (_, i) => `+7999${String(i).padStart(7, '0')},,Имя ${i},,`);
    const file = writeFile([header, ...rows, '8 999 888-00-09,,"never closed'].join('\n'));
    const record = await createImport(database.db, clock, { accountId, fileName: 'x.csv', format: 'csv' });
    const error = await runImport(database.db, clock, {
      importId: record.id,
      accountId,
      groupId,
      filePath: file,
      mapping,
      batchSize: 1000,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'validation_failed', field: 'file' });
    expect((error as Error).message).toMatch(/Quote Not Closed/i);
    const after = await getImport(database.db, accountId, record.id);
    expect(after).toMatchObject({ status: 'failed', error: (error as Error).message });
    expect(after.created).toBeGreaterThan(0);
    expect(await contacts()).toHaveLength(after.created);
  });

  it('counts created and updated by the row version (xmax) on this backend', async () => {
    const { rows } = await sql<{ inserted: boolean }>`
      insert into contacts as c (account_id, phone, created_at, updated_at)
      values (${accountId}, '+79990001122', now(), now()), (${accountId}, '+79990001123', now(), now())
      on conflict (account_id, phone) where phone is not null do update set name = 'x'
      returning (c.xmax = 0) as inserted`.execute(database.db);
    expect(rows.map((r) => r.inserted)).toEqual([true, true]);
    const again = await sql<{ inserted: boolean }>`
      insert into contacts as c (account_id, phone, created_at, updated_at)
      values (${accountId}, '+79990001122', now(), now()), (${accountId}, '+79990001124', now(), now())
      on conflict (account_id, phone) where phone is not null do update set name = 'x'
      returning c.phone, (c.xmax = 0) as inserted`.execute(database.db);
    expect(again.rows).toEqual([
      { phone: '+79990001122', inserted: false },
      { phone: '+79990001124', inserted: true },
    ]);
  });
});
