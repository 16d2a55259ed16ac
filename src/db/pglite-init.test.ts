import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.ts';
import { initializeCluster } from './pglite-init.ts';

describe('a new embedded cluster is created in a child process', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-init-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the cluster once and leaves an existing one alone', async () => {
    const dir = tmp();
    expect(await initializeCluster(dir)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'PG_VERSION'))).toBe(true);
    expect(await initializeCluster(dir)).toBe(false);

    const first = await openDatabase({ pgliteDir: dir });
    await sql`create table kept (v text)`.execute(first.db);
    await sql`insert into kept values ('still here')`.execute(first.db);
    await first.close();
    expect(await initializeCluster(dir)).toBe(false);
    const again = await openDatabase({ pgliteDir: dir });
    const r = await sql<{ v: string }>`select v from kept`.execute(again.db);
    await again.close();
    expect(r.rows).toEqual([{ v: 'still here' }]);
  }, 120_000);

  it('openDatabase on an empty directory starts a working database', async () => {
    const dir = tmp();
    const database = await openDatabase({ pgliteDir: dir });
    try {
      expect(fs.existsSync(path.join(dir, 'PG_VERSION'))).toBe(true);
      const r = await sql<{ n: number }>`select 40 + 2 as n`.execute(database.db);
      expect(r.rows[0]?.n).toBe(42);
    } finally {
      await database.close();
    }
  }, 120_000);
});
