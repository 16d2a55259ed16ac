import { type Kysely, type Selectable, sql } from 'kysely';
import type { DB, ImportsTable } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import { type ImportFormat, type ImportRecord, type ImportRowError, importFormats } from './types.ts';

const MAX_FILE_NAME = 255;

function toRecord(row: Selectable<ImportsTable>): ImportRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    groupId: row.group_id,
    fileName: row.file_name,
    format: row.format,
    status: row.status,
    total: row.total_rows,
    created: row.created_rows,
    updated: row.imported_rows - row.created_rows,
    duplicates: row.duplicate_rows,
    errors: row.error_rows,
    error: row.error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

/** Registers an uploaded file; `runImport` reads it later. */
export async function createImport(
  db: Kysely<DB>,
  clock: Clock,
  input: { accountId: number; fileName: string; format: ImportFormat },
): Promise<ImportRecord> {
  if (!importFormats.includes(input.format))
    throw invalid('format', `Format must be one of ${importFormats.join(', ')}`);
  const row = await db
    .insertInto('imports')
    .values({
      account_id: input.accountId,
      file_name: input.fileName.slice(0, MAX_FILE_NAME),
      format: input.format,
      status: 'uploaded',
      created_at: clock.now(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRecord(row);
}

export async function getImport(db: Kysely<DB>, accountId: number, importId: number): Promise<ImportRecord> {
  const row = await db
    .selectFrom('imports')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('id', '=', importId)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', 'Import not found', { field: 'id' });
  return toRecord(row);
}

/** The account's imports, newest first. */
export async function listImports(
  db: Kysely<DB>,
  accountId: number,
  page: { limit?: number } = {},
): Promise<ImportRecord[]> {
  const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
  const rows = await db
    .selectFrom('imports')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toRecord);
}

export interface ImportErrorCursor {
  row: number;
  field: string;
}

/** The error report in file order, keyset-paged: pass the previous page's `next` as `after`. */
export async function listImportErrors(
  db: Kysely<DB>,
  accountId: number,
  importId: number,
  page: { limit?: number; after?: ImportErrorCursor | null } = {},
): Promise<{ items: ImportRowError[]; next: ImportErrorCursor | null }> {
  await getImport(db, accountId, importId);
  const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
  let query = db
    .selectFrom('import_errors')
    .select(['row_number', 'field', 'message'])
    .where('import_id', '=', importId)
    .orderBy('row_number')
    .orderBy('field')
    .limit(limit + 1);
  const after = page.after;
  if (after) query = query.where(sql<boolean>`(row_number, field) > (${after.row}, ${after.field})`);
  const rows = await query.execute();
  const items = rows.slice(0, limit).map((r) => ({ row: r.row_number, field: r.field, message: r.message }));
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? { row: last.row, field: last.field } : null };
}

/** Moves an uploaded import to running; an import runs once. */
export async function claimImport(
  db: Kysely<DB>,
  accountId: number,
  importId: number,
  groupId: number,
): Promise<ImportRecord> {
  const row = await db
    .updateTable('imports')
    .set({ status: 'running', group_id: groupId })
    .where('account_id', '=', accountId)
    .where('id', '=', importId)
    .where('status', '=', 'uploaded')
    .returningAll()
    .executeTakeFirst();
  if (row) return toRecord(row);
  const existing = await getImport(db, accountId, importId);
  throw new AppError('conflict', `Import ${importId} is ${existing.status}; an import runs once`, {
    field: 'id',
  });
}

export async function finishImport(
  db: Kysely<DB>,
  clock: Clock,
  importId: number,
  outcome: { status: 'completed' } | { status: 'failed'; error: string },
): Promise<void> {
  await db
    .updateTable('imports')
    .set({
      status: outcome.status,
      error: outcome.status === 'failed' ? outcome.error.slice(0, 2000) : null,
      finished_at: clock.now(),
    })
    .where('id', '=', importId)
    .execute();
}
