import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { ImportBatch } from './batch.ts';
import type { ContactRow } from './row-validation.ts';

export interface BatchTarget {
  accountId: number;
  groupId: number;
  importId: number;
  now: Date;
}

export interface BatchCounts {
  created: number;
  updated: number;
  /** Within the batch and against earlier batches of the same import. */
  duplicates: number;
}

// Two imports into one account may wait on each other's new contacts and be cut short as a deadlock. The
// statement is atomic, so running it again is safe (sorted keys make this rare).
const RETRYABLE = new Set(['40P01']);
const ATTEMPTS = 5;

/**
 * Writes one batch with ONE statement, atomic on its own (no BEGIN/COMMIT round trips): new contacts by
 * phone, updates of existing ones, rows with only an email matched by email, group membership, the error
 * report and the import's counters. One round trip per batch lets the database work on this batch while
 * the importer parses the next one.
 *
 * Merging never erases: an empty cell keeps the stored value; vars are merged key by key. A row whose
 * contact this import already wrote (contacts.last_import_id) is a duplicate and changes nothing.
 */
export async function writeBatch(
  db: Kysely<DB>,
  target: BatchTarget,
  batch: ImportBatch,
): Promise<BatchCounts> {
  const statement = batchStatement(target, batch);
  const candidates = batch.byPhone.length + batch.byEmail.length;
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await statement.execute(db);
      const { created, updated } = rows[0]!;
      return { created, updated, duplicates: batch.duplicates + candidates - created - updated };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= ATTEMPTS || !code || !RETRYABLE.has(code)) throw error;
    }
  }
}

/** The statement writeBatch runs; it returns { created, updated }. */
export function batchStatement(target: BatchTarget, batch: ImportBatch) {
  // Sorted keys make concurrent writers take index locks in the same order and keep B-tree inserts local.
  const byPhone = [...batch.byPhone].sort((a, b) => (a.phone! < b.phone! ? -1 : 1));
  const p = columns(byPhone);
  const e = columns(batch.byEmail);
  const errors = batch.errors;
  const candidates = byPhone.length + batch.byEmail.length;
  const t = target;
  return sql<{ created: number; updated: number }>`
    with
    input as (
      select * from unnest(${p.phones}::text[], ${p.emails}::text[], ${p.names}::text[], ${p.zones}::text[],
                           ${p.vars}::jsonb[]) as t(phone, email, name, timezone, vars)
    ),
    written as (
      insert into contacts as c (account_id, phone, email, name, timezone, vars, last_import_id, created_at, updated_at)
      select ${t.accountId}::bigint, phone, email, name, timezone, vars, ${t.importId}::bigint,
             ${t.now}::timestamptz, ${t.now}::timestamptz
      from input
      on conflict (account_id, phone) where phone is not null do update set
        email = coalesce(excluded.email, c.email),
        name = case when excluded.name = '' then c.name else excluded.name end,
        timezone = coalesce(excluded.timezone, c.timezone),
        vars = c.vars || excluded.vars,
        last_import_id = excluded.last_import_id,
        updated_at = excluded.updated_at
      where c.last_import_id is distinct from excluded.last_import_id
      -- xmax is 0 only on a freshly inserted row version; an ON CONFLICT update leaves the locker's xid
      returning c.id, (c.xmax = 0) as inserted
    ),
    email_input as (
      select * from unnest(${e.emails}::text[], ${e.names}::text[], ${e.zones}::text[], ${e.vars}::jsonb[])
        as t(email, name, timezone, vars)
    ),
    email_existing as (
      -- the oldest contact with the email, if several share it
      select i.email, c.id, c.phone
      from email_input i cross join lateral (
        select id, phone from contacts
        where account_id = ${t.accountId}::bigint and email = i.email order by id limit 1
      ) c
    ),
    email_updated as (
      update contacts c set
        name = case when i.name = '' then c.name else i.name end,
        timezone = coalesce(i.timezone, c.timezone),
        vars = c.vars || i.vars,
        last_import_id = ${t.importId}::bigint,
        updated_at = ${t.now}::timestamptz
      from email_existing x join email_input i on i.email = x.email
      -- checked on c, not x: re-checked on the latest row version if another batch of this import got there first
      where c.id = x.id and c.last_import_id is distinct from ${t.importId}::bigint
        -- reach contacts through its primary key, never by scanning the table
        and c.id = any(array(select id from email_existing))
        -- a contact a phone row of this batch writes counts as written by that row (first occurrence)
        and not exists (select 1 from input p where p.phone = x.phone)
      returning c.id
    ),
    email_inserted as (
      insert into contacts (account_id, email, name, timezone, vars, last_import_id, created_at, updated_at)
      select ${t.accountId}::bigint, i.email, i.name, i.timezone, i.vars, ${t.importId}::bigint,
             ${t.now}::timestamptz, ${t.now}::timestamptz
      from email_input i
      where not exists (select 1 from email_existing x where x.email = i.email)
      returning id
    ),
    joined_new as (
      insert into contact_group_members (group_id, contact_id)
      select ${t.groupId}::bigint, id from written where inserted
      union all select ${t.groupId}::bigint, id from email_inserted
    ),
    joined_existing as (
      insert into contact_group_members (group_id, contact_id)
      select ${t.groupId}::bigint, id from written where not inserted
      union all select ${t.groupId}::bigint, id from email_updated
      on conflict do nothing
    ),
    reported as (
      insert into import_errors (import_id, row_number, field, message)
      select ${t.importId}::bigint, r.row_number, r.field, r.message
      from unnest(${errors.map((x) => x.row)}::bigint[], ${errors.map((x) => x.field)}::text[],
                  ${errors.map((x) => x.message)}::text[]) as r(row_number, field, message)
      on conflict do nothing
    ),
    counts as (
      select (select count(*) from written where inserted) + (select count(*) from email_inserted) as created,
             (select count(*) from written where not inserted) + (select count(*) from email_updated) as updated
    ),
    progress as (
      update imports set
        total_rows = total_rows + ${batch.rows}::bigint,
        imported_rows = imported_rows + (select created + updated from counts),
        created_rows = created_rows + (select created from counts),
        duplicate_rows = duplicate_rows + ${batch.duplicates + candidates}::bigint - (select created + updated from counts),
        error_rows = error_rows + ${batch.errorRows}::bigint
      where id = ${t.importId}::bigint
    )
    select created::int, updated::int from counts`;
}

function columns(rows: ContactRow[]) {
  const n = rows.length;
  const phones = new Array<string | null>(n);
  const emails = new Array<string | null>(n);
  const names = new Array<string>(n);
  const zones = new Array<string | null>(n);
  const vars = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    phones[i] = r.phone;
    emails[i] = r.email;
    names[i] = r.name;
    zones[i] = r.timezone;
    vars[i] = r.vars === null ? '{}' : JSON.stringify(r.vars);
  }
  return { phones, emails, names, zones, vars };
}
