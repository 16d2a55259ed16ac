import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import {
  holdLease,
  type Lease,
  leaseCredit,
  reclaimDeadLeases,
  releaseLease,
  settleLease,
} from '../../billing/leases.ts';
import { moveBatch } from '../../billing/ledger.ts';
import { getPrice } from '../../billing/prices.ts';
import type { ChannelAdapter, OutboundMessage, SubmitResult } from '../../channels/types.ts';
import { type Instant, readBatch } from '../../db/batch-read.ts';
import { isSingleConnection } from '../../db/database.ts';
import type { DB, RecipientEndReason, RecipientState, StopListSource } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { type Decision, decideDelayBlock, decideSendBlock } from '../scheme/decide.ts';
import type { Block, SendBlock } from '../scheme/model.ts';
import {
  channelMilestones,
  type ErrorReason,
  type MessageStatus,
  type SendChannel,
} from '../scheme/vocabulary.ts';
import { ivrCapsOf } from './ivr-cap.ts';
import { renderContent } from './render.ts';
import { type CompiledMailing, SchemeCache } from './schemes-cache.ts';
import { nextAllowed } from './time-rules.ts';

/**
 * The set-based cascade engine (SPEC CS). All state is in tables; each step claims a batch of due rows
 * with FOR UPDATE SKIP LOCKED, so several workers on one PostgreSQL share the work, and writes the
 * batch's outcome with a handful of statements whatever the batch size.
 *
 * Row economy (it decides the speed): a send is one transaction — claim, stop list, money, the provider
 * call, then the message rows written once and complete. A crash anywhere rolls the whole batch back;
 * the next claim calls the provider again with the same idempotency key (recipient + step + attempt),
 * and the provider answers with what it already accepted instead of sending again. Provider events are
 * applied and decided in the same transaction (no extra pass over the recipient), applied events are
 * deleted, and money moves as one ledger row per batch.
 */

export interface EngineDeps {
  db: Kysely<DB>;
  clock: Clock;
  adapters: Record<SendChannel, ChannelAdapter>;
  logger?: Logger;
  batchSize?: number;
  /** Called in the engine's transaction with replies to mailings that have replies-to-chat on (CH-5). */
  onReplies?: (db: Kysely<DB>, replies: ChatReply[]) => Promise<unknown>;
  /**
   * Called in the engine's transaction with replies that match no mailing message (e.g. a customer
   * answering an operator's chat answer sent on a channel); returns the provider message ids it took.
   */
  onUnmatchedReplies?: (db: Kysely<DB>, replies: UnmatchedReply[]) => Promise<string[]>;
}

export interface UnmatchedReply {
  provider: string;
  providerMessageId: string;
  text: string;
  at: Date;
}

export interface ChatReply {
  accountId: number;
  mailingId: number;
  messageId: number;
  phone: string;
  channel: SendChannel;
  text: string;
  at: Date;
}

export interface TickResult {
  activated: number;
  events: number;
  advanced: number;
  sent: number;
  completed: number;
}

export const idleTick = (r: TickResult) => r.activated + r.events + r.advanced + r.sent + r.completed === 0;

const DEFAULT_BATCH = 2000;
/** A provider event for a message we cannot find yet (its send not committed yet) is retried for this long. */
const ORPHAN_GRACE_MS = 5 * 60_000;
const ORPHAN_RETRY_MS = 30_000;
/** A send the provider did not answer (an outage) is tried again after this long, with the same key. */
const OUTAGE_RETRY_MS = 30_000;
/** While batches keep coming, running mailings are checked for completion at most this often (wall time). */
const COMPLETE_CHECK_MS = 5000;
/** A recipient held back by the IVR connection cap looks again after this long. */
const IVR_CAP_RETRY_MS = 15_000;
/** How often a worker looks for the credit leases of dead workers, and how old those must be (real time). */
const LEASE_CHECK_MS = 60_000;
const LEASE_GRACE_SEC = 300;
/** An SMS reply that unsubscribes (SPEC ML stop list: "SMS reply STOP"). */
const SMS_STOP_REPLY = /^\s*(stop|стоп|отписаться|unsubscribe)\s*[.!]?\s*$/i;

const iso = (d: Date) => d.toISOString();

/**
 * Appends to the list under `key`. Grouping a batch by copying the group's list on every item
 * ([...list, item]) cost O(batch²): at 5,000 rows of one account, 12.5 million element copies (~15 ms)
 * and ~100 MB of short-lived garbage per grouping and batch.
 */
function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** What the decision needs about a recipient and the message its current send block sent. */
interface DecisionRow {
  id: number;
  mailing_id: number;
  account_id: number;
  variant: number;
  block_id: string;
  step: number;
  attempt: number;
  state: RecipientState;
  entered_at: Instant;
  first_sent_at: Instant | null;
  message_id: number | null;
  due_at: Instant | null;
  channel: SendChannel | null;
  statuses: string[] | null;
  replies: string[] | null;
  ivr_digits: string[] | null;
  error_reason: ErrorReason | null;
  sent_at: Instant | null;
  cost: number | null;
  refunded: boolean | null;
}

interface RecipientMove {
  id: number;
  state: RecipientState;
  block_id: string;
  step: number;
  attempt: number;
  due_at: string | null;
  entered_at: string;
  end_reason: RecipientEndReason | null;
  finished_at: string | null;
  message_id: number | null;
  first_sent_at: string | null;
}

interface Outcome {
  moves: RecipientMove[];
  decided: { id: number; link: string | null; final: string }[];
  /** Messages to refund (undelivered, unanswered), per account. */
  refunds: Map<number, number[]>;
}

export class CascadeEngine {
  private readonly cache = new SchemeCache();
  private readonly batch: number;
  private completedCheckedAt = Number.NEGATIVE_INFINITY;
  private leasesCheckedAt = performance.now();
  /** Batch reads come as one JSON document on PGlite (see readBatch). */
  private readonly json: boolean;
  constructor(private readonly deps: EngineDeps) {
    this.batch = deps.batchSize ?? DEFAULT_BATCH;
    this.json = isSingleConnection(deps.db);
  }

  /** One pass over every kind of due work. */
  async tick(): Promise<TickResult> {
    const activated = await this.activateScheduled();
    let events: number;
    let advanced: number;
    let sent: number;
    if (isSingleConnection(this.deps.db)) {
      events = await this.applyDueEvents();
      advanced = await this.advanceDue();
      sent = await this.sendDue();
    } else {
      // The three kinds of work touch disjoint rows (or wait for each other's locks in one order), so on a
      // database with a connection pool they run side by side and keep both the worker and the server busy.
      [events, advanced, sent] = await Promise.all([
        this.applyDueEvents(),
        this.advanceDue(),
        this.sendDue(),
      ]);
    }
    // Completion asks whether a running mailing has any recipient left, which reads past the entries its
    // finished recipients left in the active index until a VACUUM (12-18 ms a tick at 300k on PGlite, a
    // tick there takes ~300 ms). While work flows it is asked every few seconds; a tick that found nothing
    // to do always asks, so a finished mailing completes the moment its worker runs dry (and drain() ends
    // only after asking); only while other mailings keep the worker busy may completion lag that long.
    const busy = activated + events + advanced + sent > 0;
    let completed = 0;
    if (!busy || performance.now() - this.completedCheckedAt >= COMPLETE_CHECK_MS) {
      this.completedCheckedAt = performance.now();
      completed = await this.completeFinished();
    }
    if (performance.now() - this.leasesCheckedAt >= LEASE_CHECK_MS) {
      this.leasesCheckedAt = performance.now();
      await reclaimDeadLeases(this.deps.db, LEASE_GRACE_SEC);
    }
    return { activated, events, advanced, sent, completed };
  }

  /** Runs ticks until nothing is due right now. */
  async drain(maxTicks = 1_000_000): Promise<TickResult> {
    const total: TickResult = { activated: 0, events: 0, advanced: 0, sent: 0, completed: 0 };
    for (let i = 0; i < maxTicks; i++) {
      const r = await this.tick();
      total.activated += r.activated;
      total.events += r.events;
      total.advanced += r.advanced;
      total.sent += r.sent;
      total.completed += r.completed;
      if (idleTick(r)) break;
    }
    return total;
  }

  /** The earliest moment anything becomes due (for fast clocks and for sleeping); null when nothing is left. */
  async nextDueAt(options: { mailingId?: number } = {}): Promise<Date | null> {
    const { mailingId } = options;
    const filter = mailingId === undefined ? sql`` : sql`and r.mailing_id = ${mailingId}`;
    const mfilter = mailingId === undefined ? sql`` : sql`and id = ${mailingId}`;
    // One ordered probe per due index (a min() over a join is an aggregate over every active row).
    const result = await sql<{ at: Date | null }>`
      select least(
        (select r.due_at from mailing_recipients r join mailings m on m.id = r.mailing_id
          where r.state in ('send', 'sending') and m.status = 'running' ${filter} order by r.due_at limit 1),
        (select r.due_at from mailing_recipients r join mailings m on m.id = r.mailing_id
          where r.state in ('waiting', 'delay') and m.status = 'running' ${filter} order by r.due_at limit 1),
        (select min(occurs_at) from provider_events where processed_at is null),
        (select min(start_at) from mailings where status = 'scheduled' ${mfilter})
      ) as at`.execute(this.deps.db);
    const at = result.rows[0]?.at;
    return at ? new Date(at) : null;
  }

  private now(): Date {
    return this.deps.clock.now();
  }

  /** scheduled → running once the start time has come. */
  async activateScheduled(): Promise<number> {
    const now = this.now();
    const r = await this.deps.db
      .updateTable('mailings')
      .set({ status: 'running', started_at: now })
      .where('status', '=', 'scheduled')
      .where((eb) => eb.or([eb('start_at', 'is', null), eb('start_at', '<=', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** running → completed when every recipient's path has ended. */
  async completeFinished(): Promise<number> {
    const now = this.now();
    // A probe per running mailing (the first active recipient in the active index), not NOT EXISTS: with
    // statistics saying a mailing's rows are mostly done, the planner turned that into an anti-join over
    // every recipient (18 ms a tick at 300k on PGlite).
    const r = await sql`
      update mailings m set status = 'completed', finished_at = ${iso(now)}::timestamptz
      where m.status = 'running'
        and (select r.id from mailing_recipients r where r.mailing_id = m.id and r.state <> 'done' limit 1) is null`.execute(
      this.deps.db,
    );
    return Number(r.numAffectedRows ?? 0);
  }

  /**
   * Applies due provider events (receipts, views, clicks, replies, IVR digits) to their messages with one
   * UPDATE per batch (array unions, so concurrent batches never lose each other's statuses), decides at
   * once for the recipients waiting on those messages (a settled status, a reply or a key press moves
   * them now), adds unsubscribes to the stop list, and deletes the applied events.
   */
  async applyDueEvents(): Promise<number> {
    const { db } = this.deps;
    const now = this.now();
    return db.transaction().execute(async (trx) => {
      await batchPlanner(trx);
      const eventRows = await readBatch(
        trx,
        this.json,
        sql<{
          id: number;
          provider: string;
          provider_message_id: string;
          kind: 'status' | 'reply' | 'ivr';
          status: string | null;
          text: string | null;
          digits: string | null;
          occurs_at: Instant;
          received_at: Instant;
        }>`
        select id, provider, provider_message_id, kind, status, text, digits, occurs_at, received_at
        from provider_events
        where processed_at is null and occurs_at <= ${iso(now)}::timestamptz
        order by occurs_at, id
        limit ${this.batch}
        for update skip locked`,
      );
      const events = { rows: eventRows };
      if (events.rows.length === 0) return 0;
      const pairs = [
        ...new Map(events.rows.map((e) => [`${e.provider}\u0000${e.provider_message_id}`, e])).values(),
      ];
      const found = await readBatch(
        trx,
        this.json,
        sql<{
          id: number;
          recipient_id: number;
          provider: string;
          provider_message_id: string;
        }>`
        select m.id, m.recipient_id, m.provider, m.provider_message_id
        from unnest(${pairs.map((e) => e.provider)}::text[], ${pairs.map((e) => e.provider_message_id)}::text[]) as x(p, i)
        join messages m on m.provider = x.p and m.provider_message_id = x.i`,
      );
      const byProviderId = new Map(found.map((m) => [`${m.provider}\u0000${m.provider_message_id}`, m.id]));

      // Replies to something that is not a mailing message (an operator's answer sent on a channel).
      const unmatched = events.rows.filter(
        (e) =>
          e.kind === 'reply' &&
          e.text !== null &&
          !byProviderId.has(`${e.provider}\u0000${e.provider_message_id}`),
      );
      const taken = new Set<string>();
      if (unmatched.length > 0 && this.deps.onUnmatchedReplies) {
        const ids = await this.deps.onUnmatchedReplies(
          trx,
          unmatched.map((e) => ({
            provider: e.provider,
            providerMessageId: e.provider_message_id,
            text: e.text!,
            at: new Date(e.occurs_at),
          })),
        );
        for (const id of ids) taken.add(id);
      }

      const updates = new Map<
        number,
        { statuses: string[]; replies: string[]; digits: string[]; at: number }
      >();
      const applied: number[] = [];
      const orphans: number[] = [];
      for (const e of events.rows) {
        const messageId = byProviderId.get(`${e.provider}\u0000${e.provider_message_id}`);
        if (messageId === undefined && e.kind === 'reply' && taken.has(e.provider_message_id)) {
          applied.push(e.id);
          continue;
        }
        if (messageId === undefined) {
          // Too old to ever match: drop it (a real provider's stray receipt); else try again soon.
          (now.getTime() - new Date(e.received_at).getTime() < ORPHAN_GRACE_MS ? orphans : applied).push(
            e.id,
          );
          continue;
        }
        applied.push(e.id);
        const u = updates.get(messageId) ?? { statuses: [], replies: [], digits: [], at: 0 };
        if (e.kind === 'status' && e.status) u.statuses.push(e.status);
        if (e.kind === 'reply' && e.text !== null) u.replies.push(e.text);
        if (e.kind === 'ivr' && e.digits) u.digits.push(...e.digits.split(''));
        u.at = Math.max(u.at, new Date(e.occurs_at).getTime());
        updates.set(messageId, u);
      }

      let outcome: Outcome | null = null;
      if (updates.size > 0) {
        const ids = [...updates.keys()];
        const recipientOf = new Map(found.map((m) => [m.id, m.recipient_id]));
        // Recipients first, in id order: the same order every path locks them in, so no deadlock. Holding
        // a waiting recipient holds its message too (every decision about it goes through this lock).
        const waiting = await readBatch(
          trx,
          this.json,
          sql<Omit<DecisionRow, keyof MessageFields>>`
          select r.id, r.mailing_id, r.account_id, r.variant, r.block_id, r.step, r.attempt, r.state,
                 r.entered_at, r.first_sent_at, r.message_id, r.due_at
          from mailing_recipients r
          where r.id = any(${[...new Set(ids.map((id) => recipientOf.get(id)!))]}::int8[]) and r.state = 'waiting'
          order by r.id
          for update`,
        );
        const current = await readBatch(
          trx,
          this.json,
          sql<MessageFields & { id: number; phone: string; mailing_id: number; account_id: number }>`
          select m.id, m.phone, m.mailing_id, m.account_id, m.channel, m.statuses, m.replies, m.ivr_digits,
                 m.error_reason, m.sent_at, m.cost, m.refunded
          from messages m where m.id = any(${ids}::int8[])`,
        );
        const byMessage = new Map(current.map((m) => [m.id, m]));

        await this.addUnsubscribes(trx, current, updates, now);
        await this.forwardReplies(trx, current, updates);

        const rows: DecisionRow[] = [];
        for (const r of waiting) {
          const m = r.message_id === null ? undefined : byMessage.get(r.message_id);
          const u = r.message_id === null ? undefined : updates.get(r.message_id);
          if (!m || !u) continue;
          rows.push({
            ...r,
            channel: m.channel,
            statuses: [...new Set([...(m.statuses ?? []), ...u.statuses])],
            replies: [...(m.replies ?? []), ...u.replies],
            ivr_digits: [...(m.ivr_digits ?? []), ...u.digits],
            error_reason: m.error_reason,
            sent_at: m.sent_at,
            cost: m.cost,
            refunded: m.refunded,
          });
        }
        const mailings = await this.cache.load(
          trx,
          rows.map((r) => r.mailing_id),
        );
        outcome = decideAll(rows, mailings, now);
        const decided = new Map(outcome.decided.map((d) => [d.id, d]));
        const entries = [...updates];
        // One pass over the messages: the new statuses (array unions, so concurrent batches never lose each
        // other's) and, for those decided now, the link taken and the final status.
        await sql`
          update messages m set
            statuses = case when m.statuses @> u.statuses then m.statuses
              else array(select distinct s from unnest(m.statuses || u.statuses) s order by s) end,
            replies = case when cardinality(u.replies) = 0 then m.replies else m.replies || u.replies end,
            ivr_digits = case when cardinality(u.digits) = 0 then m.ivr_digits else m.ivr_digits || u.digits end,
            status_at = greatest(coalesce(m.status_at, u.at), u.at),
            link_id = case when u.decided then u.link else m.link_id end,
            final_status = case when u.decided then coalesce(u.final, m.final_status) else m.final_status end,
            decided_at = case when u.decided then ${iso(now)}::timestamptz else m.decided_at end
          from (
            -- Most events are one status and no reply: those skip the per-row subqueries.
            select u.id, u.at, u.decided, u.link, u.final, string_to_array(u.statuses, ',') as statuses,
                   string_to_array(u.digits, NULL) as digits,
                   case when u.replies = '[]' then '{}'::text[]
                        else array(select jsonb_array_elements_text(u.replies::jsonb)) end as replies
            from unnest(${entries.map(([id]) => id)}::int8[], ${entries.map(([, u]) => u.statuses.join(','))}::text[],
                        ${entries.map(([, u]) => u.digits.join(''))}::text[],
                        ${entries.map(([, u]) => (u.replies.length ? JSON.stringify(u.replies) : '[]'))}::text[],
                        ${entries.map(([, u]) => new Date(u.at).toISOString())}::timestamptz[],
                        ${entries.map(([id]) => decided.has(id))}::bool[],
                        ${entries.map(([id]) => decided.get(id)?.link ?? null)}::text[],
                        ${entries.map(([id]) => decided.get(id)?.final ?? null)}::text[])
              as u(id, statuses, digits, replies, at, decided, link, final)
          ) u
          where m.id = u.id`.execute(trx);
      }
      if (applied.length > 0) {
        await sql`delete from provider_events where id = any(${applied}::int8[])`.execute(trx);
      }
      if (orphans.length > 0) {
        await sql`update provider_events set occurs_at = ${iso(new Date(now.getTime() + ORPHAN_RETRY_MS))}::timestamptz
          where id = any(${orphans}::int8[])`.execute(trx);
      }
      // Last, as the refunds lock the account's balance row until the commit, and every worker's leases and
      // settlements need that row: everything else of the batch is done before it is taken.
      if (outcome) await writeOutcome(trx, this.deps.clock, { ...outcome, decided: [] }, now);
      return events.rows.length;
    });
  }

  /** SPEC ML stop list: Viber "unsubscribed", the voice IVR unsubscribe key, an SMS reply STOP. */
  private async addUnsubscribes(
    trx: Kysely<DB>,
    changed: readonly {
      id: number;
      phone: string;
      mailing_id: number;
      account_id: number;
      channel: SendChannel | null;
    }[],
    updates: Map<number, { statuses: string[]; replies: string[] }>,
    now: Date,
  ): Promise<void> {
    const adds: { account_id: number; phone: string; source: StopListSource; mailing_id: number }[] = [];
    for (const m of changed) {
      const u = updates.get(m.id);
      if (!u || !m.channel) continue;
      const unsubscribed =
        ((m.channel === 'viber' || m.channel === 'voice') && u.statuses.includes('unsubscribed')) ||
        (m.channel === 'sms' && u.replies.some((text) => SMS_STOP_REPLY.test(text)));
      if (unsubscribed)
        adds.push({
          account_id: m.account_id,
          phone: m.phone,
          source: m.channel as StopListSource,
          mailing_id: m.mailing_id,
        });
    }
    if (adds.length === 0) return;
    await sql`
      insert into stop_list (account_id, phone, source, reason, mailing_id, created_at)
      select distinct on (a, p) a, p, s, 'unsubscribed from a mailing', m, ${iso(now)}::timestamptz
      from unnest(${adds.map((a) => a.account_id)}::int8[], ${adds.map((a) => a.phone)}::text[],
                  ${adds.map((a) => a.source)}::text[], ${adds.map((a) => a.mailing_id)}::int8[]) as x(a, p, s, m)
      on conflict (account_id, phone) do nothing`.execute(trx);
  }

  /** Replies to mailings with replies-to-chat on go to the chat (CH-5) in this transaction. */
  private async forwardReplies(
    trx: Kysely<DB>,
    changed: readonly {
      id: number;
      phone: string;
      mailing_id: number;
      account_id: number;
      channel: SendChannel | null;
    }[],
    updates: Map<number, { replies: string[]; at: number }>,
  ): Promise<void> {
    const hook = this.deps.onReplies;
    if (!hook) return;
    const withReplies = changed.filter((m) => (updates.get(m.id)?.replies.length ?? 0) > 0 && m.channel);
    if (withReplies.length === 0) return;
    const mailings = await this.cache.load(
      trx,
      withReplies.map((m) => m.mailing_id),
    );
    const replies: ChatReply[] = [];
    for (const m of withReplies) {
      if (!mailings.get(m.mailing_id)?.repliesToChat) continue;
      const u = updates.get(m.id)!;
      for (const text of u.replies) {
        replies.push({
          accountId: m.account_id,
          mailingId: m.mailing_id,
          messageId: m.id,
          phone: m.phone,
          channel: m.channel!,
          text,
          at: new Date(u.at),
        });
      }
    }
    if (replies.length > 0) await hook(trx, replies);
  }

  /** Recipients whose decision time or delay is due: decide where each goes and write the batch's moves. */
  async advanceDue(): Promise<number> {
    const { db } = this.deps;
    const now = this.now();
    return db.transaction().execute(async (trx) => {
      await batchPlanner(trx);
      const rows = await readBatch(
        trx,
        this.json,
        sql<DecisionRow>`
        select r.id, r.mailing_id, r.account_id, r.variant, r.block_id, r.step, r.attempt, r.state, r.entered_at,
               r.first_sent_at, r.message_id, r.due_at, msg.channel, msg.statuses, msg.replies, msg.ivr_digits,
               msg.error_reason, msg.sent_at, msg.cost, msg.refunded
        from mailing_recipients r
        join mailings m on m.id = r.mailing_id
        left join messages msg on msg.id = r.message_id
        where r.state in ('waiting', 'delay') and r.due_at <= ${iso(now)}::timestamptz and m.status = 'running'
        order by r.due_at
        limit ${this.batch}
        for update of r skip locked`,
      );
      if (rows.length === 0) return 0;
      const mailings = await this.cache.load(
        trx,
        rows.map((r) => r.mailing_id),
      );
      await writeOutcome(trx, this.deps.clock, decideAll(rows, mailings, now), now);
      return rows.length;
    });
  }

  /**
   * Recipients due to send, in one transaction: windows, the IVR connection cap, the stop list, money,
   * the provider call, and the message rows written once with the provider's answer.
   */
  async sendDue(): Promise<number> {
    const { db, clock } = this.deps;
    const now = this.now();
    // Leases are taken by statements of their own (committed at once) except on a single connection.
    const single = isSingleConnection(db);
    const leases: Lease[] = [];
    const batch = db.transaction().execute(async (trx) => {
      await batchPlanner(trx);
      const claimed = await readBatch(
        trx,
        this.json,
        sql<SendRow>`
        select r.id, r.mailing_id, r.account_id, r.phone, r.timezone, r.vars, r.variant, r.block_id, r.step,
               r.attempt, r.first_sent_at
        from mailing_recipients r
        join mailings m on m.id = r.mailing_id
        where r.state in ('send', 'sending') and r.due_at <= ${iso(now)}::timestamptz and m.status = 'running'
        order by r.due_at
        limit ${this.batch}
        for update of r skip locked`,
      );
      const rows = { rows: claimed };
      if (rows.rows.length === 0) return 0;
      const mailings = await this.cache.load(
        trx,
        rows.rows.map((r) => r.mailing_id),
      );

      const later: { id: number; due_at: string }[] = [];
      let candidates: Candidate[] = [];
      // The window answer depends only on the mailing and the zone (`now` is the batch's): one luxon
      // evaluation per pair instead of one per recipient.
      const allowedFor = new Map<string, Date | null>();
      for (const r of rows.rows) {
        const mailing = mailings.get(r.mailing_id);
        const block = mailing?.variants.get(r.variant)?.blocks.get(r.block_id);
        if (!mailing || !block || block.kind !== 'send') {
          later.push({ id: r.id, due_at: iso(new Date(now.getTime() + 24 * 3600_000)) });
          continue;
        }
        const zone = r.timezone ?? mailing.settings.senderTimezone;
        const windowKey = `${r.mailing_id}\u0000${zone}`;
        let allowedAt = allowedFor.get(windowKey);
        if (allowedAt === undefined) {
          allowedAt = nextAllowed(now, mailing.settings.window, zone);
          allowedFor.set(windowKey, allowedAt);
        }
        if (!allowedAt || allowedAt.getTime() > now.getTime()) {
          later.push({ id: r.id, due_at: iso(allowedAt ?? new Date(now.getTime() + 24 * 3600_000)) });
          continue;
        }
        candidates.push({ r, block, mailing, key: `r${r.id}s${r.step}a${r.attempt}` });
      }
      candidates = await this.applyIvrCaps(trx, candidates, later, now);
      if (later.length > 0) {
        await sql`update mailing_recipients r set due_at = u.due_at
          from unnest(${later.map((l) => l.id)}::int8[], ${later.map((l) => l.due_at)}::timestamptz[]) as u(id, due_at)
          where r.id = u.id`.execute(trx);
      }
      if (candidates.length === 0) return rows.rows.length;

      // The stop list, then money: per account, lease what its sends cost (at most what is free) and send
      // only what the lease covers. The account row is locked by the lease's own statement only, so other
      // workers' batches and the refunds of undelivered messages do not wait for this batch's provider calls.
      const stopped = await stopListed(trx, candidates);
      const failures = new Map<string, ErrorReason>();
      const priceOf = new Map<string, number>();
      const payable = new Map<number, Candidate[]>();
      for (const c of candidates) {
        if (stopped.has(`${c.r.account_id}:${c.r.phone}`)) failures.set(c.key, 'stop_listed');
        else pushTo(payable, c.r.account_id, c);
      }
      const toSend: Candidate[] = [];
      for (const accountId of [...payable.keys()].sort((a, b) => a - b)) {
        const list = payable.get(accountId)!;
        let want = 0;
        for (const c of list) {
          const g = `${accountId}:${c.block.channel}`;
          let price = priceOf.get(g);
          if (price === undefined) {
            price = await getPrice(trx, accountId, c.block.channel);
            priceOf.set(g, price);
          }
          want += price;
        }
        const lease = await leaseCredit(single ? trx : db, accountId, want);
        if (lease) {
          leases.push(lease);
          await holdLease(trx, lease);
        }
        let left = lease?.amount ?? 0;
        for (const c of list) {
          const price = priceOf.get(`${accountId}:${c.block.channel}`)!;
          if (price > left) {
            failures.set(c.key, 'insufficient_funds');
            continue;
          }
          left -= price;
          toSend.push(c);
        }
      }

      const answers = await this.submit(trx, toSend);
      const costs = new Map<number, { amount: number; items: number }>();
      const recorded: MessageInsert[] = [];
      const unanswered: number[] = [];
      for (const c of candidates) {
        const answer = answers.get(c.key);
        const failure = failures.get(c.key) ?? (answer && !answer.result.ok ? answer.result.error : null);
        // A provider outage (submit threw, or no answer for this key): the recipient stays due and is
        // tried again next tick with the same key.
        if (!failure && !answer) {
          unanswered.push(c.r.id);
          continue;
        }
        const ok = !failure && answer?.result.ok === true;
        const price = ok ? (priceOf.get(`${c.r.account_id}:${c.block.channel}`) ?? 0) : 0;
        if (ok && price > 0) {
          const total = costs.get(c.r.account_id) ?? { amount: 0, items: 0 };
          total.amount += price;
          total.items += 1;
          costs.set(c.r.account_id, total);
        }
        recorded.push({
          c,
          state: ok ? 'submitted' : 'failed',
          error: failure,
          cost: price,
          provider: answer?.provider ?? this.deps.adapters[c.block.channel].provider,
          providerMessageId: answer?.result.ok ? answer.result.providerMessageId : null,
        });
      }
      await recordSends(trx, recorded, now);
      if (unanswered.length > 0) {
        await sql`update mailing_recipients set due_at = ${iso(new Date(now.getTime() + OUTAGE_RETRY_MS))}::timestamptz
          where id = any(${unanswered}::int8[])`.execute(trx);
      }
      // Last: the actual cost debited and the leases closed, taking each account row (in id order) only
      // for the moment until the commit.
      for (const lease of leases) {
        const total = costs.get(lease.accountId) ?? { amount: 0, items: 0 };
        await settleLease(trx, clock, lease, {
          amount: total.amount,
          items: total.items,
          description: `${total.items} mailing messages sent`,
        });
      }
      return rows.rows.length;
    });
    try {
      return await batch;
    } catch (err) {
      // The batch rolled back: what it leased by statements of their own goes back now (a lease whose
      // release fails too is reclaimed after the grace period).
      if (!single) {
        for (const lease of leases)
          await releaseLease(db, lease).catch((e) =>
            this.deps.logger?.warn({ err: e, lease: lease.id }, 'engine lease release failed'),
          );
      }
      throw err;
    }
  }

  /** Calls each channel's adapter for its messages; a provider that throws leaves its messages unsent. */
  private async submit(
    trx: Kysely<DB>,
    list: Candidate[],
  ): Promise<Map<string, { result: SubmitResult; provider: string }>> {
    const { adapters, clock } = this.deps;
    const out = new Map<string, { result: SubmitResult; provider: string }>();
    const byChannel = new Map<SendChannel, OutboundMessage[]>();
    for (const c of list) {
      const message: OutboundMessage = {
        key: c.key,
        accountId: c.r.account_id,
        messageId: 0,
        channel: c.block.channel,
        to: c.r.phone,
        content: renderContent(c.block.content, c.r.vars ?? {}),
      };
      pushTo(byChannel, c.block.channel, message);
    }
    // An adapter with its own memory in this database (the sandbox) writes through its own connection, as
    // a real provider would, so our rollback cannot erase what it accepted — except on a single-connection
    // database (PGlite), where a second transaction would wait for ours forever.
    const adapterDb = isSingleConnection(this.deps.db) ? trx : this.deps.db;
    for (const [channel, messages] of byChannel) {
      const adapter = adapters[channel];
      try {
        const answers = await adapter.submit(messages, { db: adapterDb, clock });
        for (const a of answers) out.set(a.key, { result: a, provider: adapter.provider });
      } catch (err) {
        this.deps.logger?.warn(
          { err, channel, count: messages.length },
          'provider submit failed; will retry',
        );
      }
    }
    return out;
  }

  /**
   * SPEC ML-2: a voice block whose IVR menu connects callers to an operator limits the calls it places, so
   * connections never exceed the menu's maxSimultaneous / maxPerMinute: a call counts as in progress until
   * its block decides (conservative — we get no hang-up event), and calls placed in the last minute count
   * against the per-minute cap. Recipients over the cap look again a little later.
   */
  private async applyIvrCaps(
    trx: Kysely<DB>,
    candidates: Candidate[],
    later: { id: number; due_at: string }[],
    now: Date,
  ): Promise<Candidate[]> {
    const capped = new Map<string, Candidate[]>();
    const out: Candidate[] = [];
    for (const c of candidates) {
      if (c.block.channel === 'voice' && ivrCapsOf(c.block)) {
        const g = `${c.r.mailing_id}\u0000${c.block.id}`;
        pushTo(capped, g, c);
      } else out.push(c);
    }
    for (const list of capped.values()) {
      const { r, block } = list[0]!;
      const caps = ivrCapsOf(block)!;
      const counts = await sql<{ in_progress: number; last_minute: number }>`
        select
          (select count(*) from mailing_recipients x
            where x.mailing_id = ${r.mailing_id} and x.block_id = ${block.id} and x.state = 'waiting')::int8 as in_progress,
          (select count(*) from messages m
            where m.mailing_id = ${r.mailing_id} and m.block_id = ${block.id} and m.state = 'submitted'
              and m.sent_at > ${iso(new Date(now.getTime() - 60_000))}::timestamptz)::int8 as last_minute`.execute(
        trx,
      );
      const { in_progress, last_minute } = counts.rows[0]!;
      let room = list.length;
      if (caps.maxSimultaneous !== undefined) room = Math.min(room, caps.maxSimultaneous - in_progress);
      if (caps.maxPerMinute !== undefined) room = Math.min(room, caps.maxPerMinute - last_minute);
      room = Math.max(0, room);
      out.push(...list.slice(0, room));
      const retryAt = iso(new Date(now.getTime() + IVR_CAP_RETRY_MS));
      for (const c of list.slice(room)) later.push({ id: c.r.id, due_at: retryAt });
    }
    return out;
  }
}

interface SendRow {
  id: number;
  mailing_id: number;
  account_id: number;
  phone: string;
  timezone: string | null;
  vars: Record<string, string>;
  variant: number;
  block_id: string;
  step: number;
  attempt: number;
  first_sent_at: Instant | null;
}

interface Candidate {
  r: SendRow;
  block: SendBlock;
  mailing: CompiledMailing;
  key: string;
}

interface MessageInsert {
  c: Candidate;
  state: 'submitted' | 'failed';
  error: ErrorReason | null;
  cost: number;
  provider: string;
  providerMessageId: string | null;
}

type MessageFields = Pick<
  DecisionRow,
  'channel' | 'statuses' | 'replies' | 'ivr_digits' | 'error_reason' | 'sent_at' | 'cost' | 'refunded'
>;

/**
 * Writes the messages of a send batch and moves their recipients to `waiting` — until the decision time
 * (counted from the block's first attempt, across redials) when sent, or now when the send failed (the
 * error link decides at once).
 */
async function recordSends(trx: Kysely<DB>, list: MessageInsert[], now: Date): Promise<void> {
  if (list.length === 0) return;
  const col = <T>(f: (i: MessageInsert) => T) => list.map(f);
  // The decision time of each block in the batch (a handful): joined by block, not by recipient, as a
  // join of two batch-long lists is a nested loop of batch² steps with the engine's planner settings.
  const blocks = [
    ...new Map(
      list.map((i) => [
        `${i.c.r.mailing_id}\u0000${i.c.r.variant}\u0000${i.c.block.id}`,
        {
          mailing: i.c.r.mailing_id,
          variant: i.c.r.variant,
          block: i.c.block.id,
          seconds: i.c.block.decisionTimeSec,
        },
      ]),
    ).values(),
  ];
  // One statement: the messages, then their recipients moved to waiting with the new message ids (the
  // rows never travel back to us and out again).
  const result = await sql<{ recipient_id: number }>`
    with inserted as (
      insert into messages (account_id, mailing_id, recipient_id, variant, block_id, step, attempt, channel,
                            idempotency_key, phone, state, error_reason, cost, provider, provider_message_id,
                            created_at, sent_at)
      select account_id, mailing_id, recipient_id, variant, block_id, step, attempt, channel, key, phone, state,
             error_reason, cost, provider, provider_message_id, ${iso(now)}::timestamptz,
             case when state = 'submitted' then ${iso(now)}::timestamptz end
      from unnest(
        ${col((i) => i.c.r.account_id)}::int8[], ${col((i) => i.c.r.mailing_id)}::int8[],
        ${col((i) => i.c.r.id)}::int8[], ${col((i) => i.c.r.variant)}::int2[], ${col((i) => i.c.block.id)}::text[],
        ${col((i) => i.c.r.step)}::int4[], ${col((i) => i.c.r.attempt)}::int4[], ${col((i) => i.c.block.channel)}::text[],
        ${col((i) => i.c.key)}::text[], ${col((i) => i.c.r.phone)}::text[], ${col((i) => i.state)}::text[],
        ${col((i) => i.error)}::text[], ${col((i) => i.cost)}::int8[], ${col((i) => i.provider)}::text[],
        ${col((i) => i.providerMessageId)}::text[]
      ) as t(account_id, mailing_id, recipient_id, variant, block_id, step, attempt, channel, key, phone, state,
             error_reason, cost, provider, provider_message_id)
      on conflict (recipient_id, step, attempt) do nothing
      returning id, recipient_id, state, mailing_id, variant, block_id
    )
    update mailing_recipients r set
      state = 'waiting',
      message_id = i.id,
      first_sent_at = case when i.state = 'submitted' then coalesce(r.first_sent_at, ${iso(now)}::timestamptz) else r.first_sent_at end,
      due_at = case when i.state = 'submitted'
        then coalesce(r.first_sent_at, ${iso(now)}::timestamptz) + d.decision_sec * interval '1 second'
        else ${iso(now)}::timestamptz end
    from inserted i
    join unnest(${blocks.map((b) => b.mailing)}::int8[], ${blocks.map((b) => b.variant)}::int2[],
                ${blocks.map((b) => b.block)}::text[], ${blocks.map((b) => b.seconds)}::int4[])
      as d(mailing_id, variant, block_id, decision_sec)
      on d.mailing_id = i.mailing_id and d.variant = i.variant and d.block_id = i.block_id
    where r.id = i.recipient_id
    returning r.id as recipient_id`.execute(trx);
  if (result.rows.length === list.length) return;
  // The message of this very attempt exists already (written by a transaction that then could not move
  // the recipient — it cannot happen while both share one transaction, but never send it twice): decide now.
  const moved = new Set(result.rows.map((r) => r.recipient_id));
  const stale = list.filter((i) => !moved.has(i.c.r.id)).map((i) => i.c.r.id);
  await sql`
    update mailing_recipients r set state = 'waiting', due_at = ${iso(now)}::timestamptz, message_id = m.id
    from messages m
    where r.id = any(${stale}::int8[]) and m.recipient_id = r.id and m.step = r.step and m.attempt = r.attempt`.execute(
    trx,
  );
}

/**
 * Session settings for the engine's transactions.
 * - Every batch statement joins a few thousand ids against tables of millions of rows: the plan that
 *   scales is a nested loop over the ids with index lookups. The planner cannot see how many ids a
 *   parameter array holds (and PGlite keeps no statistics), and at a few thousand it picks hash or merge
 *   joins that scan the whole table per batch — which made the engine quadratic. Within the engine's
 *   transactions they are off, and so is JIT (compiling these statements costs more than running them).
 * - Claims must read their due index in order and stop after a batch. With statistics from before the
 *   mailing's rows existed (or none), the planner instead collected every row of the running mailing
 *   with bitmap scans and sorted them (70-170 ms per claim at 300k recipients, growing with the mailing).
 *   Bitmap scans and sorts are off too: id lookups stay plain index scans, and the few statements that
 *   must sort (small per-batch lists) still do.
 * - synchronous_commit off: a commit does not wait for its WAL flush. Safe here by construction: WAL is
 *   flushed in order, so a commit lost in a server crash loses only the engine's last moves, and redoing
 *   them is what the idempotency keys are for (the provider answers a resent key with what it accepted;
 *   re-applied events are set unions; a refund and its ledger row commit together or not at all).
 */
async function batchPlanner(trx: Kysely<DB>): Promise<void> {
  await sql`select set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
    set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
    set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true)`.execute(trx);
}

/** The pure decision rule over a batch: where each recipient goes, what each message ends as, what to refund. */
function decideAll(rows: readonly DecisionRow[], mailings: Map<number, CompiledMailing>, now: Date): Outcome {
  const outcome: Outcome = { moves: [], decided: [], refunds: new Map() };
  const refund = (accountId: number, messageId: number) => pushTo(outcome.refunds, accountId, messageId);

  for (const r of rows) {
    const variant = mailings.get(r.mailing_id)?.variants.get(r.variant);
    const block = variant?.blocks.get(r.block_id);
    if (!variant || !block) {
      outcome.moves.push(endMove(r.id, r.block_id, r.step, 'finished', now));
      continue;
    }
    const links = variant.scheme.links;
    let decision: Decision;
    if (r.state === 'delay' && block.kind === 'delay') {
      decision = decideDelayBlock(block, links, new Date(r.entered_at), now);
    } else if (r.state === 'waiting' && block.kind === 'send' && r.channel) {
      const statuses = new Set((r.statuses ?? []) as MessageStatus[]);
      const reached = (channelMilestones[block.channel] as readonly MessageStatus[]).some((s) =>
        statuses.has(s),
      );
      const chargeable = r.message_id !== null && !r.refunded && (r.cost ?? 0) > 0;
      // Voice redial: an unanswered call is tried again (same block, next attempt) before deciding.
      const retry =
        block.channel === 'voice'
          ? (block.content as { retry?: { attempts: number; intervalSec: number } }).retry
          : undefined;
      if (retry && !r.error_reason && statuses.has('no_answer') && !reached && r.attempt < retry.attempts) {
        if (chargeable) refund(r.account_id, r.message_id!);
        outcome.decided.push({ id: r.message_id!, link: null, final: 'no_answer' });
        outcome.moves.push({
          id: r.id,
          state: 'send',
          block_id: r.block_id,
          step: r.step,
          attempt: r.attempt + 1,
          due_at: iso(new Date(now.getTime() + retry.intervalSec * 1000)),
          entered_at: iso(new Date(r.entered_at)),
          end_reason: null,
          finished_at: null,
          message_id: r.message_id,
          first_sent_at: r.first_sent_at ? iso(new Date(r.first_sent_at)) : null,
        });
        continue;
      }
      decision = decideSendBlock(
        block,
        links,
        {
          channel: r.channel,
          sentAt: r.first_sent_at ? new Date(r.first_sent_at) : r.sent_at ? new Date(r.sent_at) : null,
          statuses,
          replies: r.replies ?? [],
          ivrDigits: r.ivr_digits ?? [],
          error: r.error_reason,
        },
        now,
      );
      if (decision.action !== 'wait' && r.message_id) {
        outcome.decided.push({
          id: r.message_id,
          link: decision.action === 'follow' ? decision.linkId : null,
          final: finalStatus(block.channel, statuses, r.error_reason),
        });
        if (chargeable && !reached) refund(r.account_id, r.message_id);
      }
    } else {
      outcome.moves.push(endMove(r.id, r.block_id, r.step, 'finished', now));
      continue;
    }
    if (decision.action === 'wait') {
      // Not decided yet: stay until the decision time (an event may bring the decision earlier); no write
      // when that is already when it is due.
      if (decision.until && r.due_at && new Date(r.due_at).getTime() === decision.until.getTime()) continue;
      outcome.moves.push({ ...stay(r), due_at: iso(decision.until ?? new Date(now.getTime() + 60_000)) });
    } else if (decision.action === 'finish') {
      outcome.moves.push(endMove(r.id, r.block_id, r.step, 'finished', now));
    } else {
      const link = variant.linksById.get(decision.linkId);
      const target = link ? variant.blocks.get(link.to) : undefined;
      outcome.moves.push(
        target ? enter(r.id, target, r.step + 1, now) : endMove(r.id, r.block_id, r.step, 'finished', now),
      );
    }
  }
  return outcome;
}

/** Writes a batch's moves, message decisions and refunds: a few statements whatever its size. */
async function writeOutcome(trx: Kysely<DB>, clock: Clock, outcome: Outcome, now: Date): Promise<void> {
  const { moves, decided, refunds } = outcome;
  if (moves.length > 0) {
    const col = <T>(f: (m: RecipientMove) => T) => moves.map(f);
    await sql`
      update mailing_recipients r set
        state = u.state, block_id = u.block_id, step = u.step, attempt = u.attempt, due_at = u.due_at,
        entered_at = u.entered_at, end_reason = u.end_reason, finished_at = u.finished_at,
        message_id = u.message_id, first_sent_at = u.first_sent_at
      from unnest(${col((m) => m.id)}::int8[], ${col((m) => m.state)}::text[], ${col((m) => m.block_id)}::text[],
                  ${col((m) => m.step)}::int4[], ${col((m) => m.attempt)}::int4[], ${col((m) => m.due_at)}::timestamptz[],
                  ${col((m) => m.entered_at)}::timestamptz[], ${col((m) => m.end_reason)}::text[],
                  ${col((m) => m.finished_at)}::timestamptz[], ${col((m) => m.message_id)}::int8[],
                  ${col((m) => m.first_sent_at)}::timestamptz[])
        as u(id, state, block_id, step, attempt, due_at, entered_at, end_reason, finished_at, message_id, first_sent_at)
      where r.id = u.id`.execute(trx);
  }
  if (decided.length > 0) {
    await sql`
      update messages m set link_id = u.link, final_status = coalesce(u.final, m.final_status),
        decided_at = ${iso(now)}::timestamptz
      from unnest(${decided.map((d) => d.id)}::int8[], ${decided.map((d) => d.link)}::text[],
                  ${decided.map((d) => d.final)}::text[]) as u(id, link, final)
      where m.id = u.id`.execute(trx);
  }
  // Accounts in id order, as every transaction that takes account rows does.
  for (const [accountId, ids] of [...refunds].sort(([a], [b]) => a - b))
    await refundMessages(trx, clock, accountId, ids, 'undelivered');
}

/**
 * Refunds messages that are not refunded yet — the flag flips once, so concurrent or repeated calls never
 * refund a message twice — and credits their sum as one ledger row. Returns how many and how much.
 */
export async function refundMessages(
  trx: Kysely<DB>,
  clock: Clock,
  accountId: number,
  messageIds: readonly number[],
  reason: string,
): Promise<{ refunded: number; amount: number }> {
  if (messageIds.length === 0) return { refunded: 0, amount: 0 };
  const r = await sql<{ n: number; amount: number }>`
    with flipped as (
      update messages set refunded = true
      where id = any(${[...messageIds]}::int8[]) and account_id = ${accountId} and not refunded and cost > 0
      returning cost
    )
    select count(*)::int8 as n, coalesce(sum(cost), 0)::int8 as amount from flipped`.execute(trx);
  const { n, amount } = r.rows[0]!;
  await moveBatch(trx, clock, {
    accountId,
    kind: 'refund',
    amount,
    items: n,
    description: `${n} mailing messages refunded (${reason})`,
  });
  return { refunded: n, amount };
}

function endMove(
  id: number,
  blockId: string,
  step: number,
  reason: RecipientEndReason,
  now: Date,
): RecipientMove {
  return {
    id,
    state: 'done',
    block_id: blockId,
    step,
    attempt: 0,
    due_at: null,
    entered_at: iso(now),
    end_reason: reason,
    finished_at: iso(now),
    message_id: null,
    first_sent_at: null,
  };
}

function stay(r: DecisionRow): RecipientMove {
  return {
    id: r.id,
    state: r.state,
    block_id: r.block_id,
    step: r.step,
    attempt: r.attempt,
    due_at: null,
    entered_at: iso(new Date(r.entered_at)),
    end_reason: null,
    finished_at: null,
    message_id: r.message_id,
    first_sent_at: r.first_sent_at ? iso(new Date(r.first_sent_at)) : null,
  };
}

/** Entering a block: send → due now (the send step applies windows), delay → due at its end, goal → done. */
function enter(id: number, block: Block, step: number, now: Date): RecipientMove {
  if (block.kind === 'goal') return endMove(id, block.id, step, 'goal', now);
  const base = {
    id,
    block_id: block.id,
    step,
    attempt: 0,
    entered_at: iso(now),
    end_reason: null,
    finished_at: null,
    message_id: null,
    first_sent_at: null,
  };
  if (block.kind === 'delay')
    return { ...base, state: 'delay', due_at: iso(new Date(now.getTime() + block.durationSec * 1000)) };
  return { ...base, state: 'send', due_at: iso(now) };
}

async function stopListed(db: Kysely<DB>, items: readonly Candidate[]): Promise<Set<string>> {
  const result = await sql<{ account_id: number; phone: string }>`
    select s.account_id, s.phone from stop_list s
    join unnest(${items.map((i) => i.r.account_id)}::int8[], ${items.map((i) => i.r.phone)}::text[]) as x(a, p)
      on s.account_id = x.a and s.phone = x.p`.execute(db);
  return new Set(result.rows.map((r) => `${r.account_id}:${r.phone}`));
}

/** The message's dominant status for reports: error, flag, highest milestone, else the failure status. */
function finalStatus(
  channel: SendChannel,
  statuses: ReadonlySet<MessageStatus>,
  error: ErrorReason | null,
): string {
  if (error) return 'error';
  for (const flag of ['spam', 'unsubscribed'] as const) if (statuses.has(flag)) return flag;
  for (const m of channelMilestones[channel] as readonly MessageStatus[]) if (statuses.has(m)) return m;
  return channel === 'voice' ? 'no_answer' : 'undelivered';
}
