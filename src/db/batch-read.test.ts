import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../test/support/db.ts';
import { type Instant, readBatch } from './batch-read.ts';
import type { Database } from './database.ts';

interface Row {
  id: number;
  name: string;
  tags: string[] | null;
  vars: Record<string, string>;
  at: Instant;
  flag: boolean;
  amount: number;
}

describe.each(backends)('readBatch on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
    await sql`create table batch_read_t (id int8 primary key, name text not null, tags text[], vars jsonb not null,
      at timestamptz not null, flag bool not null, amount int8 not null)`.execute(database.db);
    await sql`insert into batch_read_t
      select g, 'имя "' || g || E'"\\n', case when g % 3 = 0 then null else array['a', 'b,' || g] end,
             jsonb_build_object('k', g::text), timestamptz '2026-12-02 10:00:00.123+00' + g * interval '1 second',
             g % 2 = 0, g * 10000000000
      from generate_series(1, 50) g`.execute(database.db);
  }, 120_000);
  afterAll(async () => {
    await database?.close();
  });

  const query = sql<Row>`select id, name, tags, vars, at, flag, amount from batch_read_t where id > 10 order by id desc`;
  const normal = (rows: Row[]) => rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));

  it('reads the same rows, in the same order, as rows or as one JSON document', async () => {
    const rows = await readBatch(database.db, false, query);
    const json = await readBatch(database.db, true, query);
    expect(rows).toHaveLength(40);
    expect(rows[0]!.id).toBe(50);
    expect(rows[0]!.at).toBeInstanceOf(Date);
    expect(typeof json[0]!.at).toBe('string');
    expect(normal(json)).toEqual(normal(rows));
    expect(json.find((r) => r.id === 12)).toMatchObject({
      name: 'имя "12"\n',
      tags: null,
      vars: { k: '12' },
      flag: true,
      amount: 120_000_000_000,
    });
    expect(json.find((r) => r.id === 11)?.tags).toEqual(['a', 'b,11']);
  });

  it('gives an empty list when nothing matches', async () => {
    const none = sql<Row>`select id, name, tags, vars, at, flag, amount from batch_read_t where id < 0`;
    expect(await readBatch(database.db, true, none)).toEqual([]);
    expect(await readBatch(database.db, false, none)).toEqual([]);
  });

  it.runIf(backend.name === 'postgres')(
    'locks the rows it reads as JSON, so another claim skips them',
    async () => {
      const claim = (n: number) =>
        sql<{ id: number }>`select id from batch_read_t order by id limit ${n} for update skip locked`;
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let first: { id: number }[] = [];
      let claimed!: () => void;
      const ready = new Promise<void>((resolve) => {
        claimed = resolve;
      });
      const holder = database.db.transaction().execute(async (trx) => {
        first = await readBatch(trx, true, claim(5));
        claimed();
        await held;
      });
      await ready;
      const second = await database.db.transaction().execute(async (trx) => readBatch(trx, true, claim(5)));
      release();
      await holder;
      expect(first.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
      expect(second.map((r) => r.id)).toEqual([6, 7, 8, 9, 10]);
    },
  );
});
