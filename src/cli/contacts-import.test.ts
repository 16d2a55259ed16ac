import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../test/support/db.ts';
import { getImport } from '../contacts/import/index.ts';
import type { Database } from '../db/database.ts';
import { ManualClock } from '../shared/clock.ts';
import { contactsImportCommand } from './contacts-import.ts';

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk) => {
    text += chunk;
  });
  return { out, text: () => text };
}

describe.each(backends)('contacts import command on $name', (backend) => {
  let database: Database;
  let dir: string;
  let accountId: number;
  const clock = new ManualClock();

  beforeAll(async () => {
    database = await backend.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-cli-import-'));
    const account = await database.db
      .insertInto('accounts')
      .values({ name: 'cli', created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    accountId = account.id;
  });
  afterAll(async () => {
    await database?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('guesses the columns, creates the group and prints one JSON summary', async () => {
    const file = path.join(dir, 'clients.csv');
    fs.writeFileSync(
      file,
      'ФИО;Телефон;Почта;Город\nИван;8 999 123-45-67;ivan@example.com;Москва\nПётр;123;;Тула\n',
    );
    const { out, text } = capture();
    const result = await contactsImportCommand(
      { db: database.db, clock, out },
      { file, accountId, groupName: 'Клиенты', json: true, region: 'RU' },
    );
    const printed = JSON.parse(text());
    expect(printed).toEqual(result);
    expect(printed).toMatchObject({ total: 2, created: 1, updated: 0, duplicates: 0, errors: 1 });
    expect(printed.firstErrors).toEqual([{ row: 3, field: 'phone', message: expect.stringMatching(/123/) }]);
    const contact = await database.db
      .selectFrom('contacts')
      .select(['phone', 'email', 'name', 'vars'])
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(contact).toEqual({
      phone: '+79991234567',
      email: 'ivan@example.com',
      name: 'Иван',
      vars: { Город: 'Москва' },
    });
    const group = await database.db
      .selectFrom('contact_groups')
      .select('id')
      .where('account_id', '=', accountId)
      .where('name', '=', 'Клиенты')
      .executeTakeFirstOrThrow();
    expect(await getImport(database.db, accountId, result.importId)).toMatchObject({
      groupId: group.id,
      status: 'completed',
    });
  });

  it('prints a readable summary and reuses an existing group', async () => {
    const file = path.join(dir, 'more.csv');
    fs.writeFileSync(file, 'phone,name\n+7 999 123-45-67,Иван Иванович\n+7 999 765-43-21,Анна\n');
    const { out, text } = capture();
    await contactsImportCommand(
      { db: database.db, clock, out },
      { file, accountId, groupName: 'Клиенты', json: false, region: 'RU' },
    );
    expect(text()).toContain('Imported more.csv into group "Клиенты"');
    expect(text()).toMatch(/created: +1\n/);
    expect(text()).toMatch(/updated: +1\n/);
    const groups = await database.db
      .selectFrom('contact_groups')
      .select('id')
      .where('account_id', '=', accountId)
      .execute();
    expect(groups).toHaveLength(1);
  });

  it('explains when no phone or email column can be guessed, before writing anything', async () => {
    const file = path.join(dir, 'nothing.csv');
    fs.writeFileSync(file, 'Кличка,Порода\nШарик,дворняга\n');
    const { out } = capture();
    await expect(
      contactsImportCommand(
        { db: database.db, clock, out },
        { file, accountId, groupName: 'Собаки', json: true, region: 'RU' },
      ),
    ).rejects.toMatchObject({ code: 'validation_failed', field: 'mapping', message: /"Кличка", "Порода"/ });
    await expect(
      contactsImportCommand(
        { db: database.db, clock, out },
        { file: path.join(dir, 'missing.csv'), accountId, groupName: 'X', json: true, region: 'RU' },
      ),
    ).rejects.toMatchObject({ field: 'file' });
    const withHeaders = path.join(dir, 'clients2.csv');
    fs.writeFileSync(withHeaders, 'Телефон,Имя\n89991234567,Иван\n');
    await expect(
      contactsImportCommand(
        { db: database.db, clock, out },
        {
          file: withHeaders,
          accountId,
          groupName: 'Новая',
          json: true,
          region: 'RU',
          mapping: { phone: 'Phone' },
        },
      ),
    ).rejects.toMatchObject({ code: 'validation_failed', field: 'mapping.phone' });
    const groups = await database.db.selectFrom('contact_groups').select('name').execute();
    expect(groups.map((g) => g.name)).toEqual(['Клиенты']);
  });
});
