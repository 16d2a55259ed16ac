import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';
import type { Scheme } from './scheme/model.ts';
import { assertValidScheme } from './scheme/validate.ts';

export interface SchemeRow {
  id: number;
  name: string;
  definition: Scheme;
  created_at: Date;
  updated_at: Date;
}

const columns = ['id', 'name', 'definition', 'created_at', 'updated_at'] as const;

/** Saves a scheme by name (validated first); saving the same name again replaces it. */
export async function saveScheme(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: { name?: string; definition: unknown },
): Promise<SchemeRow> {
  const scheme = assertValidScheme(input.definition);
  const name = (input.name ?? scheme.name ?? '').trim();
  if (!name) throw invalid('name', 'A scheme needs a name');
  const now = clock.now();
  const row = await db
    .insertInto('schemes')
    .values({
      account_id: accountId,
      name,
      definition: JSON.stringify({ ...scheme, name }),
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'name'])
        .doUpdateSet((eb) => ({ definition: eb.ref('excluded.definition'), updated_at: now })),
    )
    .returning(columns)
    .executeTakeFirstOrThrow();
  return { ...row, definition: row.definition as Scheme };
}

export async function listSchemes(db: Kysely<DB>, accountId: number): Promise<SchemeRow[]> {
  const rows = await db
    .selectFrom('schemes')
    .select(columns)
    .where('account_id', '=', accountId)
    .orderBy('name')
    .execute();
  return rows.map((r) => ({ ...r, definition: r.definition as Scheme }));
}

export async function getScheme(db: Kysely<DB>, accountId: number, id: number): Promise<SchemeRow> {
  const row = await db
    .selectFrom('schemes')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', 'Scheme not found', { field: 'id' });
  return { ...row, definition: row.definition as Scheme };
}

export async function deleteScheme(db: Kysely<DB>, accountId: number, id: number): Promise<void> {
  const r = await db
    .deleteFrom('schemes')
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(r.numDeletedRows) === 0) throw new AppError('not_found', 'Scheme not found', { field: 'id' });
}
