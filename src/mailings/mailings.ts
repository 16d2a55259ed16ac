import { type Kysely, sql } from 'kysely';
import { DateTime } from 'luxon';
import type { DB, MailingStatus } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { refundMessages } from './engine/engine.ts';
import { builtInVariables, contentTexts, placeholdersOf } from './engine/render.ts';
import type { EngineSettings } from './engine/schemes-cache.ts';
import { allowedIntervals, parseClock, type SendWindow } from './engine/time-rules.ts';
import { checkMailingModeration, holdForModeration } from './moderation/gate.ts';
import type { Scheme, SendBlock } from './scheme/model.ts';
import { validateScheme } from './scheme/validate.ts';
import { channelMilestones } from './scheme/vocabulary.ts';
import { isZone, type MailingInput, singleScheme } from './settings.ts';

export interface MailingRow {
  id: number;
  name: string;
  status: MailingStatus;
  tags: string[];
  replies_to_chat: boolean;
  start_at: Date | null;
  smooth_until: Date | null;
  recipients_total: number;
  source_mailing_id: number | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  refund_requested_at: Date | null;
  refunded_amount: number;
  settings: Record<string, unknown>;
}

const mailingColumns = [
  'id',
  'name',
  'status',
  'tags',
  'replies_to_chat',
  'start_at',
  'smooth_until',
  'recipients_total',
  'source_mailing_id',
  'created_at',
  'started_at',
  'finished_at',
  'refund_requested_at',
  'refunded_amount',
  'settings',
] as const;

interface ResolvedVariant {
  label: string;
  percent: number;
  scheme: Scheme;
}

/** Recipients come from groups (with filters) or, for a repeat, from another mailing's recipients. */
type RecipientSource =
  | { kind: 'groups'; groupIds: number[]; filter?: MailingInput['recipients']['filter'] }
  | { kind: 'mailing'; mailingId: number; subset: RepeatSubset };

export const repeatSubsets = ['all', 'undelivered', 'not_goal', 'failed'] as const;
export type RepeatSubset = (typeof repeatSubsets)[number];

export async function getMailing(db: Kysely<DB>, accountId: number, id: number): Promise<MailingRow> {
  const row = await db
    .selectFrom('mailings')
    .select(mailingColumns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', 'Mailing not found', { field: 'id' });
  return row;
}

export async function listMailings(
  db: Kysely<DB>,
  accountId: number,
  options: { status?: MailingStatus; tag?: string; limit?: number; before?: number } = {},
): Promise<{ items: MailingRow[]; next: number | null }> {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
  let q = db
    .selectFrom('mailings')
    .select(mailingColumns)
    .where('account_id', '=', accountId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (options.status) q = q.where('status', '=', options.status);
  if (options.tag) q = q.where(sql<boolean>`${options.tag} = any(tags)`);
  if (options.before) q = q.where('id', '<', options.before);
  const rows = await q.execute();
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}

async function loadScheme(
  db: Kysely<DB>,
  accountId: number,
  schemeId: number,
  field: string,
): Promise<unknown> {
  const row = await db
    .selectFrom('schemes')
    .select('definition')
    .where('account_id', '=', accountId)
    .where('id', '=', schemeId)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', `Scheme ${schemeId} not found`, { field });
  return row.definition;
}

function checkScheme(input: unknown, field: string): Scheme {
  const result = validateScheme(input);
  if (result.valid) return result.scheme;
  const first = result.errors[0]!;
  const owner = first.link ? `links.${first.link}` : first.block ? `blocks.${first.block}` : null;
  const path = [field, owner, first.field].filter(Boolean).join('.');
  const more = result.errors.length > 1 ? ` (and ${result.errors.length - 1} more problems)` : '';
  throw new AppError('validation_failed', `${first.message}${more}`, { field: path, cause: result.errors });
}

async function resolveVariants(
  db: Kysely<DB>,
  accountId: number,
  input: MailingInput,
): Promise<ResolvedVariant[]> {
  const one = async (ref: { scheme_id?: number; scheme?: unknown }, field: string) => {
    if (ref.scheme_id !== undefined && ref.scheme !== undefined) {
      throw invalid(field, 'Give either scheme_id or scheme, not both');
    }
    if (ref.scheme_id !== undefined)
      return checkScheme(await loadScheme(db, accountId, ref.scheme_id, `${field}_id`), field);
    if (ref.scheme !== undefined) return checkScheme(ref.scheme, field);
    return null;
  };
  const given = [
    input.scheme_id !== undefined || input.scheme !== undefined,
    input.single,
    input.variants,
  ].filter(Boolean);
  if (given.length !== 1)
    throw invalid('scheme', 'Give exactly one of scheme_id, scheme, single or variants');
  if (input.variants) {
    const total = input.variants.reduce((sum, v) => sum + v.percent, 0);
    if (total !== 100)
      throw invalid('variants', `Split percentages must add up to 100 (they add up to ${total})`);
    const out: ResolvedVariant[] = [];
    for (const [i, v] of input.variants.entries()) {
      const scheme = await one(v, `variants.${i}.scheme`);
      if (!scheme) throw invalid(`variants.${i}.scheme`, 'Each variant needs scheme_id or scheme');
      out.push({ label: v.label ?? String.fromCharCode(65 + i), percent: v.percent, scheme });
    }
    return out;
  }
  if (input.single)
    return [{ label: 'A', percent: 100, scheme: checkScheme(singleScheme(input.single), 'single') }];
  const scheme = await one(input, 'scheme');
  return [{ label: 'A', percent: 100, scheme: scheme! }];
}

function parseWindow(w: MailingInput['window']): SendWindow | null {
  if (!w) return null;
  const from = parseClock(w.from);
  const to = parseClock(w.to);
  if (from === null) throw invalid('window.from', 'must be a time HH:MM');
  if (to === null) throw invalid('window.to', 'must be a time HH:MM');
  if (from === to || w.weekdays.length === 0)
    throw invalid('window', 'The send window is empty: no time is allowed');
  return { fromMinute: from, toMinute: to, weekdays: [...new Set(w.weekdays)].sort() };
}

function parseInstant(value: string, zone: string, field: string): Date {
  const t = DateTime.fromISO(value, { zone });
  if (!t.isValid) throw invalid(field, `"${value}" is not an ISO date-time`);
  return t.toJSDate();
}

/** The recipients a source selects, as SQL over contacts (c) or a previous mailing's recipients. */
function recipientQuery(accountId: number, source: RecipientSource) {
  if (source.kind === 'mailing') {
    const subset = {
      all: sql`true`,
      undelivered: sql`not exists (select 1 from messages x where x.recipient_id = pr.id and x.statuses && ${[
        ...new Set(Object.values(channelMilestones).flat()),
      ]}::text[])`,
      not_goal: sql`coalesce(pr.end_reason, '') <> 'goal'`,
      failed: sql`exists (select 1 from messages x where x.recipient_id = pr.id and x.state = 'failed')`,
    }[source.subset];
    return sql`select pr.contact_id as contact_id, pr.phone as phone, pr.timezone as timezone, pr.vars as vars
      from mailing_recipients pr where pr.mailing_id = ${source.mailingId} and pr.account_id = ${accountId} and ${subset}`;
  }
  const f = source.filter ?? {};
  return sql`select c.id as contact_id, c.phone as phone, c.timezone as timezone,
      c.vars || jsonb_build_object('name', c.name, 'phone', c.phone, 'email', coalesce(c.email, '')) as vars
    from contacts c
    where c.account_id = ${accountId} and c.phone is not null
      and exists (select 1 from contact_group_members g where g.contact_id = c.id and g.group_id = any(${source.groupIds}::bigint[]))
      ${f.timezones?.length ? sql`and c.timezone = any(${f.timezones}::text[])` : sql``}
      ${f.has_email !== undefined ? (f.has_email ? sql`and c.email is not null` : sql`and c.email is null`) : sql``}
      ${f.vars && Object.keys(f.vars).length ? sql`and c.vars @> ${JSON.stringify(f.vars)}::jsonb` : sql``}`;
}

async function checkRecipients(
  db: Kysely<DB>,
  accountId: number,
  source: RecipientSource,
  variants: ResolvedVariant[],
) {
  const q = recipientQuery(accountId, source);
  const count = await sql<{ n: number }>`select count(*)::int8 as n from (${q}) r`.execute(db);
  const n = count.rows[0]?.n ?? 0;
  if (n === 0)
    throw invalid('recipients', 'The chosen groups and filters select no recipients with a phone number');
  // A template variable every recipient must have: refuse before anything is sent.
  for (const [vi, v] of variants.entries()) {
    for (const block of v.scheme.blocks) {
      if (block.kind !== 'send') continue;
      const vars = contentTexts((block as SendBlock).content).flatMap(placeholdersOf);
      for (const name of new Set(vars)) {
        if ((builtInVariables as readonly string[]).includes(name)) continue;
        const missing = await sql<{ n: number }>`select count(*)::int8 as n from (${q}) r
          where coalesce(r.vars ->> ${name}, '') = ''`.execute(db);
        const lacking = missing.rows[0]?.n ?? 0;
        if (lacking > 0) {
          const prefix = variants.length > 1 ? `variants.${vi}.scheme.` : 'scheme.';
          throw invalid(
            `${prefix}blocks.${block.id}.content.text`,
            `Variable {{${name}}} is missing for ${lacking} of ${n} recipients`,
          );
        }
      }
    }
  }
  return n;
}

export async function createMailing(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: MailingInput,
  options: { sourceMailing?: { id: number; subset: RepeatSubset } } = {},
): Promise<MailingRow> {
  if (!isZone(input.sender_timezone))
    throw invalid('sender_timezone', `Unknown time zone "${input.sender_timezone}"`);
  for (const [i, z] of (input.recipients.filter?.timezones ?? []).entries()) {
    if (!isZone(z)) throw invalid(`recipients.filter.timezones.${i}`, `Unknown time zone "${z}"`);
  }
  const window = parseWindow(input.window);
  const now = clock.now();
  let startAt: Date | null = null;
  if (input.start_at) {
    startAt = parseInstant(input.start_at, input.sender_timezone, 'start_at');
  }
  let smoothUntil: Date | null = null;
  if (input.smooth_until) {
    smoothUntil = parseInstant(input.smooth_until, input.sender_timezone, 'smooth_until');
    const from = startAt && startAt > now ? startAt : now;
    if (smoothUntil.getTime() <= from.getTime())
      throw invalid('smooth_until', 'Smooth sending must end after the start');
    if (allowedIntervals(from, smoothUntil, window, input.sender_timezone).length === 0) {
      throw invalid(
        'smooth_until',
        'No allowed sending time between the start and the end of smooth sending',
      );
    }
  }
  const variants = await resolveVariants(db, accountId, input);
  await checkMailingModeration(
    db,
    accountId,
    input,
    variants.map((v) => v.scheme),
  );
  const source: RecipientSource = options.sourceMailing
    ? { kind: 'mailing', mailingId: options.sourceMailing.id, subset: options.sourceMailing.subset }
    : { kind: 'groups', groupIds: input.recipients.group_ids, filter: input.recipients.filter };
  if (source.kind === 'groups') {
    const owned = await db
      .selectFrom('contact_groups')
      .select('id')
      .where('account_id', '=', accountId)
      .where('id', 'in', source.groupIds)
      .execute();
    const missing = source.groupIds.find((g) => !owned.some((o) => o.id === g));
    if (missing !== undefined)
      throw new AppError('not_found', `Group ${missing} not found`, { field: 'recipients.group_ids' });
  }
  await checkRecipients(db, accountId, source, variants);
  const engine: EngineSettings = { senderTimezone: input.sender_timezone, window };
  return inTransaction(db, async (trx) => {
    const mailing = await trx
      .insertInto('mailings')
      .values({
        account_id: accountId,
        name: input.name ?? variants[0]!.scheme.name ?? '',
        status: 'draft',
        settings: JSON.stringify({ input, engine, source }),
        tags: input.tags,
        replies_to_chat: input.replies_to_chat,
        start_at: startAt,
        smooth_until: smoothUntil,
        source_mailing_id: options.sourceMailing?.id ?? null,
        created_at: now,
      })
      .returning(mailingColumns)
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('mailing_variants')
      .values(
        variants.map((v, i) => ({
          mailing_id: mailing.id,
          variant: i,
          label: v.label,
          percent: v.percent,
          scheme: JSON.stringify(v.scheme),
        })),
      )
      .execute();
    return mailing;
  });
}

/**
 * Starts a draft: materialises its recipients (one INSERT … SELECT), assigns A/B variants exactly by
 * the split over a hash order (deterministic, spread across the list), and sets each first send time
 * (sender's or recipient's local start, smooth spreading). Nothing is sent here; the engine does that.
 */
export async function startMailing(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<MailingRow> {
  return inTransaction(db, async (trx) => {
    const mailing = await trx
      .selectFrom('mailings')
      .select(['id', 'status', 'settings', 'start_at', 'smooth_until'])
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!mailing) throw new AppError('not_found', 'Mailing not found', { field: 'id' });
    if (mailing.status !== 'draft')
      throw new AppError('conflict', `Mailing is ${mailing.status}; only a draft starts`, {
        field: 'status',
      });
    const settings = mailing.settings as {
      input: MailingInput;
      engine: EngineSettings;
      source: RecipientSource;
    };
    const variants = await trx
      .selectFrom('mailing_variants')
      .select(['variant', 'percent', 'scheme'])
      .where('mailing_id', '=', id)
      .orderBy('variant')
      .execute();
    // Senders or templates not approved yet hold the mailing on moderation (the rules: moderation/gate.ts).
    const moderation = await holdForModeration(
      trx,
      clock,
      accountId,
      settings.input,
      variants.map((v) => v.scheme as Scheme),
    );
    const now = clock.now();
    const startAt = mailing.start_at && mailing.start_at > now ? new Date(mailing.start_at) : now;
    const starts = variants.map(
      (v) =>
        (v.scheme as Scheme).blocks.find((b) => b.kind === 'send' && b.start)?.id ??
        (v.scheme as Scheme).blocks[0]!.id,
    );

    const inserted = await sql`
      insert into mailing_recipients (mailing_id, account_id, contact_id, phone, timezone, vars, variant, block_id, state, due_at, entered_at)
      select distinct on (r.phone) ${id}, ${accountId}, r.contact_id, r.phone, r.timezone, r.vars, 0, ${starts[0]!},
             'send', ${startAt.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
      from (${recipientQuery(accountId, settings.source)}) r
      order by r.phone, r.contact_id`.execute(trx);
    const total = Number(inserted.numAffectedRows ?? 0);
    if (total === 0)
      throw invalid('recipients', 'The chosen groups and filters select no recipients with a phone number');

    if (variants.length > 1) {
      let cumulative = 0;
      const bounds = variants.map((v) => (cumulative += v.percent));
      const cases = sql.join(
        bounds.map((b, i) => sql`when rn * 100 < ${b}::int8 * n then ${i}`),
        sql` `,
      );
      await sql`
        with ranked as (
          select id, row_number() over (order by md5(${String(id)} || phone)) - 1 as rn, count(*) over () as n
          from mailing_recipients where mailing_id = ${id}
        )
        update mailing_recipients r set variant = v.variant, block_id = (${starts}::text[])[v.variant + 1]
        from (select id, (case ${cases} else ${variants.length - 1} end)::smallint as variant from ranked) v
        where r.id = v.id`.execute(trx);
    }

    const zone = settings.engine.senderTimezone;
    if (settings.input.timezone_mode === 'recipient' && settings.input.start_at) {
      // The same local wall time in each recipient's zone (the sender's zone for recipients without one).
      const zones = await sql<{
        zone: string;
      }>`select distinct coalesce(timezone, ${zone}) as zone from mailing_recipients where mailing_id = ${id}`.execute(
        trx,
      );
      const local = DateTime.fromISO(settings.input.start_at, { setZone: false });
      const times = zones.rows.map((z) => {
        const at = DateTime.fromObject(
          { year: local.year, month: local.month, day: local.day, hour: local.hour, minute: local.minute },
          { zone: z.zone },
        );
        const instant = at.isValid ? at.toJSDate() : startAt;
        return { zone: z.zone, due: new Date(Math.max(instant.getTime(), now.getTime())).toISOString() };
      });
      await sql`update mailing_recipients r set due_at = t.due
        from jsonb_to_recordset(${JSON.stringify(times)}::jsonb) as t(zone text, due timestamptz)
        where r.mailing_id = ${id} and coalesce(r.timezone, ${zone}) = t.zone`.execute(trx);
    } else if (mailing.smooth_until) {
      // Smooth sending: the first sends spread evenly over the allowed time until the end date.
      const intervals = allowedIntervals(
        startAt,
        new Date(mailing.smooth_until),
        settings.engine.window,
        zone,
      );
      const starts_ = intervals.map(([a]) => a);
      let acc = 0;
      const offsets = intervals.map(([a, b]) => {
        const o = acc;
        acc += b - a;
        return o;
      });
      await sql`
        with ranked as (
          select id, (row_number() over (order by id) - 1)::float8 / count(*) over () * ${acc}::float8 as off
          from mailing_recipients where mailing_id = ${id}
        )
        update mailing_recipients r set due_at = to_timestamp((
          select (s + (ranked.off - o)) / 1000.0 from unnest(${starts_}::float8[], ${offsets}::float8[]) as t(s, o)
          where o <= ranked.off order by o desc limit 1))
        from ranked where r.id = ranked.id`.execute(trx);
    }
    const first = await sql<{
      at: Date;
    }>`select min(due_at) as at from mailing_recipients where mailing_id = ${id}`.execute(trx);
    const firstAt = first.rows[0]?.at ? new Date(first.rows[0].at) : startAt;
    const status: MailingStatus = moderation
      ? 'on_moderation'
      : firstAt.getTime() > now.getTime()
        ? 'scheduled'
        : 'running';
    await trx
      .updateTable('mailings')
      .set({
        status,
        recipients_total: total,
        start_at: firstAt,
        started_at: status === 'running' ? now : null,
        ...(moderation && { settings: JSON.stringify({ ...settings, moderation }) }),
      })
      .where('id', '=', id)
      .execute();
    return getMailing(trx, accountId, id);
  });
}

const transitions: Record<'pause' | 'resume' | 'cancel', { from: MailingStatus[] }> = {
  pause: { from: ['running', 'scheduled'] },
  resume: { from: ['paused'] },
  cancel: { from: ['draft', 'on_moderation', 'scheduled', 'running', 'paused'] },
};

export async function changeMailingState(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
  action: 'pause' | 'resume' | 'cancel',
): Promise<MailingRow> {
  return inTransaction(db, async (trx) => {
    const m = await trx
      .selectFrom('mailings')
      .select(['status', 'start_at'])
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!m) throw new AppError('not_found', 'Mailing not found', { field: 'id' });
    if (!transitions[action].from.includes(m.status)) {
      throw new AppError('conflict', `Cannot ${action} a mailing that is ${m.status}`, { field: 'status' });
    }
    const now = clock.now();
    if (action === 'pause')
      await trx.updateTable('mailings').set({ status: 'paused' }).where('id', '=', id).execute();
    if (action === 'resume') {
      const status: MailingStatus = m.start_at && new Date(m.start_at) > now ? 'scheduled' : 'running';
      await trx.updateTable('mailings').set({ status }).where('id', '=', id).execute();
    }
    if (action === 'cancel') {
      await trx
        .updateTable('mailings')
        .set({ status: 'cancelled', finished_at: now })
        .where('id', '=', id)
        .execute();
      await trx
        .updateTable('mailing_recipients')
        .set({ state: 'done', end_reason: 'cancelled', finished_at: now, due_at: null })
        .where('mailing_id', '=', id)
        .where('state', '<>', 'done')
        .execute();
    }
    return getMailing(trx, accountId, id);
  });
}

/** A new draft with the same schemes and settings, to a subset of this mailing's recipients. */
export async function repeatMailing(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
  subset: RepeatSubset,
): Promise<MailingRow> {
  const source = await getMailing(db, accountId, id);
  if (source.status === 'draft')
    throw new AppError('conflict', 'A draft has no recipients to repeat to', { field: 'id' });
  const variants = await db
    .selectFrom('mailing_variants')
    .select(['label', 'percent', 'scheme'])
    .where('mailing_id', '=', id)
    .orderBy('variant')
    .execute();
  const input = (source.settings as { input: MailingInput }).input;
  const repeated: MailingInput = {
    ...input,
    name: `${source.name} (повтор)`,
    scheme_id: undefined,
    single: undefined,
    start_at: undefined,
    smooth_until: undefined,
    ...(variants.length > 1
      ? {
          scheme: undefined,
          variants: variants.map((v) => ({ label: v.label, percent: v.percent, scheme: v.scheme })),
        }
      : { scheme: variants[0]!.scheme, variants: undefined }),
  };
  return createMailing(db, clock, accountId, repeated, { sourceMailing: { id, subset } });
}

/** Refunds every undelivered message of the mailing that is not refunded yet; allowed once per mailing. */
export async function requestRefund(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<{ refunded: number; amount: number }> {
  return inTransaction(db, async (trx) => {
    const marked = await trx
      .updateTable('mailings')
      .set({ refund_requested_at: clock.now() })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('refund_requested_at', 'is', null)
      .where('status', 'not in', ['draft'])
      .returning('id')
      .executeTakeFirst();
    if (!marked) {
      await getMailing(trx, accountId, id);
      throw new AppError('conflict', 'A refund was already requested for this mailing (or it is a draft)', {
        field: 'id',
      });
    }
    const milestones = [...new Set(Object.values(channelMilestones).flat())];
    const rows = await sql<{ id: number }>`
      select id from messages
      where mailing_id = ${id} and account_id = ${accountId} and not refunded and cost > 0
        and not (statuses && ${milestones}::text[])`.execute(trx);
    const { refunded, amount } = await refundMessages(
      trx,
      clock,
      accountId,
      rows.rows.map((r) => r.id),
      'refund request',
    );
    await trx
      .updateTable('mailings')
      .set((eb) => ({ refunded_amount: eb('refunded_amount', '+', amount) }))
      .where('id', '=', id)
      .execute();
    return { refunded, amount };
  });
}
