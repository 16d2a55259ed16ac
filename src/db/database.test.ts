import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PGLITE_BUFFERS, openDatabase } from './database.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function sharedBuffers(options: Parameters<typeof openDatabase>[0]): Promise<string> {
  const database = await openDatabase(options);
  try {
    const r = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(database.db);
    return r.rows[0]!.shared_buffers;
  } finally {
    await database.close();
  }
}

describe('PGlite buffer pool', () => {
  it('gives a cluster on disk the larger default pool, or the size asked for', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-buffers-'));
    dirs.push(dir);
    expect(await sharedBuffers({ pgliteDir: dir })).toBe(DEFAULT_PGLITE_BUFFERS);
    // The same cluster reopened with another size takes it (a start parameter, not stored in the cluster).
    expect(await sharedBuffers({ pgliteDir: dir, pgliteSharedBuffers: '192MB' })).toBe('192MB');
  }, 60_000);

  it("leaves an in-memory database at PGlite's own 128MB", async () => {
    expect(await sharedBuffers({ pgliteDir: null })).toBe('128MB');
  }, 60_000);
});
