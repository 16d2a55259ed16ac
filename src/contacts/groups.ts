import { type Kysely, sql } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';

export interface Group {
  id: number;
  name: string;
  size: number;
  created_at: Date;
}

const sameName = (error: unknown, name: string): never => {
  if ((error as { code?: string }).code === '23505') {
    throw new AppError('conflict', `Group "${name}" already exists`, { field: 'name' });
  }
  throw error;
};

function cleanName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed) throw invalid('name', 'Group name must not be empty');
  return trimmed;
}

export async function createGroup(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  name: string,
): Promise<Group> {
  const clean = cleanName(name);
  const row = await db
    .insertInto('contact_groups')
    .values({ account_id: accountId, name: clean, created_at: clock.now() })
    .returning(['id', 'name', 'created_at'])
    .executeTakeFirstOrThrow()
    .catch((e) => sameName(e, clean));
  return { ...row, size: 0 };
}

/** Used by imports and the CLI: the group with this name, created when missing (race-safe). */
export async function ensureGroup(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  name: string,
): Promise<number> {
  const clean = cleanName(name);
  await db
    .insertInto('contact_groups')
    .values({ account_id: accountId, name: clean, created_at: clock.now() })
    .onConflict((oc) => oc.columns(['account_id', 'name']).doNothing())
    .execute();
  const row = await db
    .selectFrom('contact_groups')
    .select('id')
    .where('account_id', '=', accountId)
    .where('name', '=', clean)
    .executeTakeFirstOrThrow();
  return row.id;
}

function groupsWithSize(db: Kysely<DB>, accountId: number) {
  return db
    .selectFrom('contact_groups as g')
    .select(['g.id', 'g.name', 'g.created_at'])
    .select(
      sql<number>`(select count(*) from contact_group_members m where m.group_id = g.id)::bigint`.as('size'),
    )
    .where('g.account_id', '=', accountId);
}

export async function listGroups(db: Kysely<DB>, accountId: number): Promise<Group[]> {
  return groupsWithSize(db, accountId).orderBy('g.name').execute();
}

export async function getGroup(db: Kysely<DB>, accountId: number, id: number): Promise<Group> {
  const row = await groupsWithSize(db, accountId).where('g.id', '=', id).executeTakeFirst();
  if (!row) throw new AppError('not_found', 'Group not found', { field: 'id' });
  return row;
}

export async function renameGroup(
  db: Kysely<DB>,
  accountId: number,
  id: number,
  name: string,
): Promise<Group> {
  const clean = cleanName(name);
  const result = await db
    .updateTable('contact_groups')
    .set({ name: clean })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst()
    .catch((e) => sameName(e, clean));
  if (Number(result.numUpdatedRows) === 0)
    throw new AppError('not_found', 'Group not found', { field: 'id' });
  return getGroup(db, accountId, id);
}

/** Deletes the folder only; its contacts stay (they may belong to other groups). */
export async function deleteGroup(db: Kysely<DB>, accountId: number, id: number): Promise<void> {
  const result = await db
    .deleteFrom('contact_groups')
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0)
    throw new AppError('not_found', 'Group not found', { field: 'id' });
}

/** Adds the account's own contacts to the group; ids of other accounts' contacts are ignored. */
export async function addGroupMembers(
  db: Kysely<DB>,
  accountId: number,
  groupId: number,
  contactIds: number[],
): Promise<number> {
  await getGroup(db, accountId, groupId);
  if (contactIds.length === 0) return 0;
  const result = await db
    .insertInto('contact_group_members')
    .columns(['group_id', 'contact_id'])
    .expression((eb) =>
      eb
        .selectFrom('contacts')
        .select([sql<number>`${groupId}::bigint`.as('group_id'), 'id as contact_id'])
        .where('account_id', '=', accountId)
        .where('id', 'in', contactIds),
    )
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0);
}

export async function removeGroupMembers(
  db: Kysely<DB>,
  accountId: number,
  groupId: number,
  contactIds: number[],
): Promise<number> {
  await getGroup(db, accountId, groupId);
  if (contactIds.length === 0) return 0;
  const result = await db
    .deleteFrom('contact_group_members')
    .where('group_id', '=', groupId)
    .where('contact_id', 'in', contactIds)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
