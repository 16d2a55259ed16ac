import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { captureMany, refundMany, reserveMany } from '../../billing/ledger.ts';
import { getPrice } from '../../billing/prices.ts';
import type { ChannelAdapter, OutboundMessage, SubmitResult } from '../../channels/types.ts';
import type { DB, RecipientEndReason, RecipientState } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { type Decision, decideDelayBlock, decideSendBlock } from '../scheme/decide.ts';
import type { Block, SendBlock } from '../scheme/model.ts';
import {
  channelMilestones,
  type ErrorReason,
  type MessageStatus,
  type SendChannel,
} from '../scheme/vocabulary.ts';
import { renderContent } from './render.ts';
import { type CompiledMailing, SchemeCache } from './schemes-cache.ts';
import { nextAllowed } from './time-rules.ts';

/**
 * The set-based cascade engine (SPEC CS). All state is in tables; each step claims a batch of due rows
 * with FOR UPDATE SKIP LOCKED, so several workers on one PostgreSQL share the work, and writes the
 * batch's outcome with a handful of statements whatever the batch size.
 *
 * A send is two transactions around the provider call: (1) claim, check the stop list, reserve money,
 * write the messages as `queued` and lease the recipients (`sending`); (2) after the call, record the
 * provider ids. A worker that dies between the two leaves leased recipients whose lease expires; the
 * next worker resubmits the same queued messages with the same idempotency keys, and the provider
 * (sandbox or real) answers with what it already accepted instead of sending again.
 */

export interface EngineDeps {
  db: Kysely<DB>;
  clock: Clock;
  adapters: Record<SendChannel, ChannelAdapter>;
  logger?: Logger;
  batchSize?: number;
  /** How long a claimed send may take before another worker retries it. */
  leaseMs?: number;
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
const DEFAULT_LEASE_MS = 60_000;
/** A provider event for a message we cannot find yet (its ids not recorded yet) is retried for this long. */
const ORPHAN_GRACE_MS = 5 * 60_000;

const iso = (d: Date) => d.toISOString();
const json = (value: unknown) => JSON.stringify(value);

export class CascadeEngine {
  private readonly cache = new SchemeCache();
  private readonly batch: number;
  private readonly leaseMs: number;
  constructor(private readonly deps: EngineDeps) {
    this.batch = deps.batchSize ?? DEFAULT_BATCH;
    this.leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** One pass over every kind of due work. */
  async tick(): Promise<TickResult> {
    const activated = await this.activateScheduled();
    const events = await this.applyDueEvents();
    const advanced = await this.advanceDue();
    const sent = await this.sendDue();
    const completed = await this.completeFinished();
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

  /**
   * The earliest moment anything becomes due (for fast clocks and for sleeping); null when nothing is
   * left. With `leasesLast`, expired-send leases count only when nothing else is pending, so a fast clock
   * never jumps past a send another worker is still making (after a crash the lease still expires).
   */
  async nextDueAt(options: { mailingId?: number; leasesLast?: boolean } = {}): Promise<Date | null> {
    const { mailingId, leasesLast } = options;
    const filter = mailingId === undefined ? sql`` : sql`and r.mailing_id = ${mailingId}`;
    const mfilter = mailingId === undefined ? sql`` : sql`and id = ${mailingId}`;
    const states = leasesLast ? sql`r.state not in ('done', 'sending')` : sql`r.state <> 'done'`;
    const result = await sql<{ at: Date | null }>`
      select least(
        (select min(r.due_at) from mailing_recipients r join mailings m on m.id = r.mailing_id
          where ${states} and m.status = 'running' ${filter}),
        (select min(occurs_at) from provider_events where processed_at is null),
        (select min(start_at) from mailings where status = 'scheduled' ${mfilter})
      ) as at`.execute(this.deps.db);
    const at = result.rows[0]?.at;
    if (at) return new Date(at);
    if (!leasesLast) return null;
    const lease = await sql<{ at: Date | null }>`select min(r.due_at) as at from mailing_recipients r
      join mailings m on m.id = r.mailing_id where r.state = 'sending' and m.status = 'running' ${filter}`.execute(
      this.deps.db,
    );
    const leaseAt = lease.rows[0]?.at;
    return leaseAt ? new Date(leaseAt) : null;
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
    const r = await sql`
      update mailings m set status = 'completed', finished_at = ${iso(now)}::timestamptz
      where m.status = 'running'
        and not exists (select 1 from mailing_recipients r where r.mailing_id = m.id and r.state <> 'done')`.execute(
      this.deps.db,
    );
    return Number(r.numAffectedRows ?? 0);
  }

  /**
   * Applies due provider events (receipts, views, clicks, replies, IVR digits) to their messages with one
   * UPDATE per batch (array unions, so concurrent batches never lose each other's statuses), and brings
   * the recipients waiting on those messages forward so their block decides now.
   */
  async applyDueEvents(): Promise<number> {
    const { db } = this.deps;
    const now = this.now();
    return db.transaction().execute(async (trx) => {
      const events = await sql<{
        id: number;
        provider: string;
        provider_message_id: string;
        kind: 'status' | 'reply' | 'ivr';
        status: string | null;
        text: string | null;
        digits: string | null;
        occurs_at: Date;
        received_at: Date;
      }>`
        select id, provider, provider_message_id, kind, status, text, digits, occurs_at, received_at
        from provider_events
        where processed_at is null and occurs_at <= ${iso(now)}::timestamptz
        order by occurs_at, id
        limit ${this.batch}
        for update skip locked`.execute(trx);
      if (events.rows.length === 0) return 0;
      const pairs = [
        ...new Map(events.rows.map((e) => [`${e.provider}\u0000${e.provider_message_id}`, e])).values(),
      ];
      const messages = await sql<{ id: number; provider: string; provider_message_id: string }>`
        select m.id, m.provider, m.provider_message_id
        from unnest(${pairs.map((e) => e.provider)}::text[], ${pairs.map((e) => e.provider_message_id)}::text[]) as x(p, i)
        join messages m on m.provider = x.p and m.provider_message_id = x.i`.execute(trx);
      const byProviderId = new Map(
        messages.rows.map((m) => [`${m.provider}\u0000${m.provider_message_id}`, m.id]),
      );
      const updates = new Map<
        number,
        { id: number; statuses: string[]; replies: string[]; digits: string[]; at: string }
      >();
      const done: number[] = [];
      const retry: number[] = [];
      for (const e of events.rows) {
        const messageId = byProviderId.get(`${e.provider}\u0000${e.provider_message_id}`);
        if (messageId === undefined) {
          (now.getTime() - new Date(e.received_at).getTime() < ORPHAN_GRACE_MS ? retry : done).push(e.id);
          continue;
        }
        done.push(e.id);
        const u = updates.get(messageId) ?? {
          id: messageId,
          statuses: [],
          replies: [],
          digits: [],
          at: iso(new Date(e.occurs_at)),
        };
        if (e.kind === 'status' && e.status) u.statuses.push(e.status);
        if (e.kind === 'reply' && e.text !== null) u.replies.push(e.text);
        if (e.kind === 'ivr' && e.digits) u.digits.push(...e.digits.split(''));
        if (new Date(e.occurs_at).toISOString() > u.at) u.at = iso(new Date(e.occurs_at));
        updates.set(messageId, u);
      }
      if (updates.size > 0) {
        await sql`
          with u as (
            select * from jsonb_to_recordset(${json([...updates.values()])}::jsonb)
              as x(id bigint, statuses text[], replies text[], digits text[], at timestamptz)
          ), changed as (
            update messages m set
              statuses = array(select distinct s from unnest(m.statuses || u.statuses) s order by s),
              replies = m.replies || u.replies,
              ivr_digits = m.ivr_digits || u.digits,
              status_at = greatest(coalesce(m.status_at, u.at), u.at)
            from u where m.id = u.id
            returning m.id, m.recipient_id
          )
          update mailing_recipients r set due_at = ${iso(now)}::timestamptz
          from changed
          where r.id = changed.recipient_id and r.message_id = changed.id
            and r.state = 'waiting' and r.due_at > ${iso(now)}::timestamptz`.execute(trx);
      }
      if (done.length > 0) {
        await trx.updateTable('provider_events').set({ processed_at: now }).where('id', 'in', done).execute();
      }
      if (retry.length > 0) {
        await trx
          .updateTable('provider_events')
          .set({ occurs_at: new Date(now.getTime() + 30_000) })
          .where('id', 'in', retry)
          .execute();
      }
      return events.rows.length;
    });
  }

  /**
   * Recipients whose decision time, event or delay is due: decide where each goes (the pure decision
   * rule), then write every move, message outcome and money movement of the batch in a few statements.
   */
  async advanceDue(): Promise<number> {
    const { db, clock } = this.deps;
    const now = this.now();
    return db.transaction().execute(async (trx) => {
      const rows = await sql<{
        id: number;
        mailing_id: number;
        account_id: number;
        variant: number;
        block_id: string;
        step: number;
        attempt: number;
        state: RecipientState;
        entered_at: Date;
        first_sent_at: Date | null;
        message_id: number | null;
        channel: SendChannel | null;
        msg_state: string | null;
        statuses: string[] | null;
        replies: string[] | null;
        ivr_digits: string[] | null;
        error_reason: ErrorReason | null;
        sent_at: Date | null;
        idempotency_key: string | null;
        cost: number | null;
        refunded: boolean | null;
      }>`
        select r.id, r.mailing_id, r.account_id, r.variant, r.block_id, r.step, r.attempt, r.state, r.entered_at,
               r.first_sent_at, r.message_id, msg.channel, msg.state as msg_state, msg.statuses, msg.replies,
               msg.ivr_digits, msg.error_reason, msg.sent_at, msg.idempotency_key, msg.cost, msg.refunded
        from mailing_recipients r
        join mailings m on m.id = r.mailing_id
        left join messages msg on msg.id = r.message_id
        where r.state in ('waiting', 'delay') and r.due_at <= ${iso(now)}::timestamptz and m.status = 'running'
        order by r.due_at
        limit ${this.batch}
        for update of r skip locked`.execute(trx);
      if (rows.rows.length === 0) return 0;
      const mailings = await this.cache.load(
        trx,
        rows.rows.map((r) => r.mailing_id),
      );

      const moves: RecipientMove[] = [];
      const decided: { id: number; link: string | null; final: string | null }[] = [];
      const refunds = new Map<number, string[]>();
      const captures = new Map<number, string[]>();
      const settle = (accountId: number, key: string, delivered: boolean) => {
        const into = delivered ? captures : refunds;
        into.set(accountId, [...(into.get(accountId) ?? []), key]);
      };

      for (const r of rows.rows) {
        const mailing = mailings.get(r.mailing_id);
        const variant = mailing?.variants.get(r.variant);
        const block = variant?.blocks.get(r.block_id);
        if (!mailing || !variant || !block) {
          moves.push(endMove(r.id, r.block_id, r.step, 'finished', now));
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
          // Voice redial: an unanswered call is tried again (same block, next attempt) before deciding.
          const retry =
            block.channel === 'voice'
              ? (block.content as { retry?: { attempts: number; intervalSec: number } }).retry
              : undefined;
          if (
            retry &&
            !r.error_reason &&
            statuses.has('no_answer') &&
            !reached &&
            r.attempt < retry.attempts
          ) {
            if (r.idempotency_key && !r.refunded && (r.cost ?? 0) > 0)
              settle(r.account_id, `msg:${r.idempotency_key}`, false);
            decided.push({ id: r.message_id!, link: null, final: 'no_answer' });
            moves.push({
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
            decided.push({
              id: r.message_id,
              link: decision.action === 'follow' ? decision.linkId : null,
              final: finalStatus(block.channel, statuses, r.error_reason),
            });
            if (r.msg_state === 'submitted' && r.idempotency_key && !r.refunded && (r.cost ?? 0) > 0) {
              settle(r.account_id, `msg:${r.idempotency_key}`, reached);
            }
          }
        } else {
          moves.push(endMove(r.id, r.block_id, r.step, 'finished', now));
          continue;
        }
        if (decision.action === 'wait') {
          const until = decision.until ?? new Date(now.getTime() + this.leaseMs);
          moves.push({ ...stay(r), due_at: iso(until) });
        } else if (decision.action === 'finish') {
          moves.push(endMove(r.id, r.block_id, r.step, 'finished', now));
        } else {
          const link = variant.linksById.get(decision.linkId);
          const target = link ? variant.blocks.get(link.to) : undefined;
          moves.push(
            target
              ? enter(r.id, target, r.step + 1, now)
              : endMove(r.id, r.block_id, r.step, 'finished', now),
          );
        }
      }

      await applyMoves(trx, moves);
      if (decided.length > 0) {
        await sql`
          update messages m set link_id = u.link, final_status = coalesce(u.final, m.final_status), decided_at = ${iso(now)}::timestamptz
          from jsonb_to_recordset(${json(decided)}::jsonb) as u(id bigint, link text, final text)
          where m.id = u.id`.execute(trx);
      }
      for (const [accountId, keys] of refunds) {
        await refundMany(trx, clock, accountId, keys, { reason: 'undelivered' });
        await sql`update messages set refunded = true where idempotency_key = any(${keys.map((k) => k.slice(4))}::text[])`.execute(
          trx,
        );
      }
      for (const [accountId, keys] of captures) await captureMany(trx, clock, accountId, keys);
      return rows.rows.length;
    });
  }

  /**
   * Recipients due to send (and sends whose lease expired): phase 1 in a transaction, the provider calls,
   * then phase 2 in another transaction.
   */
  async sendDue(): Promise<number> {
    const { db, clock } = this.deps;
    const now = this.now();
    const plan = await db.transaction().execute(async (trx) => {
      const rows = await sql<{
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
        state: RecipientState;
        message_id: number | null;
      }>`
        select r.id, r.mailing_id, r.account_id, r.phone, r.timezone, r.vars, r.variant, r.block_id, r.step,
               r.attempt, r.state, r.message_id
        from mailing_recipients r
        join mailings m on m.id = r.mailing_id
        where r.state in ('send', 'sending') and r.due_at <= ${iso(now)}::timestamptz and m.status = 'running'
        order by r.due_at
        limit ${this.batch}
        for update of r skip locked`.execute(trx);
      if (rows.rows.length === 0) return null;
      const mailings = await this.cache.load(
        trx,
        rows.rows.map((r) => r.mailing_id),
      );
      const leaseUntil = iso(new Date(now.getTime() + this.leaseMs));

      // Sends whose lease expired: resubmit the queued message as it is (same key).
      const expired = rows.rows.filter((r) => r.state === 'sending' && r.message_id !== null);
      const resubmit: PlannedSend[] = [];
      if (expired.length > 0) {
        const queued = await trx
          .selectFrom('messages')
          .select([
            'id',
            'idempotency_key',
            'channel',
            'phone',
            'recipient_id',
            'account_id',
            'block_id',
            'mailing_id',
            'variant',
          ])
          .where(
            'id',
            'in',
            expired.map((r) => r.message_id!),
          )
          .where('state', '=', 'queued')
          .execute();
        const byRecipient = new Map(expired.map((r) => [r.id, r]));
        for (const q of queued) {
          const r = byRecipient.get(q.recipient_id)!;
          const block = mailings.get(q.mailing_id)?.variants.get(q.variant)?.blocks.get(q.block_id);
          if (block?.kind !== 'send') continue;
          resubmit.push(planned(q.id, q.idempotency_key, r, block));
        }
        const stillQueued = new Set(queued.map((q) => q.id));
        const stale = expired.filter((r) => !stillQueued.has(r.message_id!)).map((r) => r.id);
        // The message was recorded but the recipient not moved on: decide it now.
        if (stale.length > 0) {
          await trx
            .updateTable('mailing_recipients')
            .set({ state: 'waiting', due_at: now })
            .where('id', 'in', stale)
            .execute();
        }
        if (resubmit.length > 0) {
          await trx
            .updateTable('mailing_recipients')
            .set({ due_at: new Date(leaseUntil) })
            .where(
              'id',
              'in',
              resubmit.map((p) => p.recipientId),
            )
            .execute();
        }
      }

      // New sends.
      const fresh = rows.rows.filter((r) => r.state === 'send');
      const reschedule: { id: number; due_at: string }[] = [];
      const candidates: { r: (typeof fresh)[number]; block: SendBlock; mailing: CompiledMailing }[] = [];
      for (const r of fresh) {
        const mailing = mailings.get(r.mailing_id);
        const block = mailing?.variants.get(r.variant)?.blocks.get(r.block_id);
        if (!mailing || !block || block.kind !== 'send') continue;
        const zone = r.timezone ?? mailing.settings.senderTimezone;
        const allowedAt = nextAllowed(now, mailing.settings.window, zone);
        if (!allowedAt || allowedAt.getTime() > now.getTime()) {
          reschedule.push({ id: r.id, due_at: iso(allowedAt ?? new Date(now.getTime() + 24 * 3600_000)) });
          continue;
        }
        candidates.push({ r, block, mailing });
      }
      if (reschedule.length > 0) {
        await sql`update mailing_recipients r set due_at = u.due_at
          from jsonb_to_recordset(${json(reschedule)}::jsonb) as u(id bigint, due_at timestamptz) where r.id = u.id`.execute(
          trx,
        );
      }

      const newSends: PlannedSend[] = [];
      if (candidates.length > 0) {
        const stopped = await stopListed(
          trx,
          candidates.map((c) => ({ accountId: c.r.account_id, phone: c.r.phone })),
        );
        const keyOf = (c: (typeof candidates)[number]) => `r${c.r.id}s${c.r.step}a${c.r.attempt}`;
        const failures = new Map<string, ErrorReason>();
        const prices = new Map<string, number>();
        const groups = new Map<string, (typeof candidates)[number][]>();
        for (const c of candidates) {
          if (stopped.has(`${c.r.account_id}:${c.r.phone}`)) {
            failures.set(keyOf(c), 'stop_listed');
            continue;
          }
          const g = `${c.r.account_id}:${c.block.channel}`;
          groups.set(g, [...(groups.get(g) ?? []), c]);
        }
        for (const [g, list] of groups) {
          const [accountIdText, channel] = g.split(':') as [string, SendChannel];
          const accountId = Number(accountIdText);
          const price = await getPrice(trx, accountId, channel);
          prices.set(g, price);
          const result = await reserveMany(trx, clock, {
            accountId,
            channel,
            items: list.map((c) => ({ key: `msg:${keyOf(c)}`, amount: price })),
          });
          for (const key of result.insufficient) failures.set(key.slice(4), 'insufficient_funds');
        }
        const inserts = candidates.map((c) => {
          const key = keyOf(c);
          const failure = failures.get(key) ?? null;
          return {
            account_id: c.r.account_id,
            mailing_id: c.r.mailing_id,
            recipient_id: c.r.id,
            variant: c.r.variant,
            block_id: c.block.id,
            step: c.r.step,
            attempt: c.r.attempt,
            channel: c.block.channel,
            key,
            phone: c.r.phone,
            state: failure ? 'failed' : 'queued',
            error_reason: failure,
            cost: failure ? 0 : (prices.get(`${c.r.account_id}:${c.block.channel}`) ?? 0),
          };
        });
        const inserted = await sql<{
          id: number;
          idempotency_key: string;
          recipient_id: number;
          state: string;
        }>`
          insert into messages (account_id, mailing_id, recipient_id, variant, block_id, step, attempt, channel,
                                idempotency_key, phone, state, error_reason, cost, created_at)
          select account_id, mailing_id, recipient_id, variant, block_id, step, attempt, channel, key, phone, state,
                 error_reason, cost, ${iso(now)}::timestamptz
          from jsonb_to_recordset(${json(inserts)}::jsonb) as x(account_id bigint, mailing_id bigint, recipient_id bigint,
            variant smallint, block_id text, step int, attempt int, channel text, key text, phone text, state text,
            error_reason text, cost bigint)
          on conflict (idempotency_key) do update set idempotency_key = excluded.idempotency_key
          returning id, idempotency_key, recipient_id, state`.execute(trx);
        const byKey = new Map(inserted.rows.map((m) => [m.idempotency_key, m]));
        const leased: { id: number; message_id: number; state: string; due_at: string }[] = [];
        for (const c of candidates) {
          const m = byKey.get(keyOf(c))!;
          if (m.state === 'queued') {
            leased.push({ id: c.r.id, message_id: m.id, state: 'sending', due_at: leaseUntil });
            newSends.push(planned(m.id, m.idempotency_key, c.r, c.block));
          } else {
            leased.push({ id: c.r.id, message_id: m.id, state: 'waiting', due_at: iso(now) });
          }
        }
        await sql`update mailing_recipients r set state = u.state, message_id = u.message_id, due_at = u.due_at
          from jsonb_to_recordset(${json(leased)}::jsonb) as u(id bigint, message_id bigint, state text, due_at timestamptz)
          where r.id = u.id`.execute(trx);
      }
      return { sends: [...resubmit, ...newSends], touched: rows.rows.length };
    });
    if (!plan) return 0;
    if (plan.sends.length > 0) await this.submitAndRecord(plan.sends);
    return plan.touched;
  }

  private async submitAndRecord(sends: PlannedSend[]): Promise<void> {
    const { db, clock, adapters } = this.deps;
    const byChannel = new Map<SendChannel, PlannedSend[]>();
    for (const s of sends) byChannel.set(s.message.channel, [...(byChannel.get(s.message.channel) ?? []), s]);
    const results: { send: PlannedSend; result: SubmitResult; provider: string }[] = [];
    for (const [channel, list] of byChannel) {
      const adapter = adapters[channel];
      let answers: SubmitResult[];
      try {
        answers = await adapter.submit(
          list.map((s) => s.message),
          { db, clock },
        );
      } catch (err) {
        // A provider outage: leave the messages queued; the lease expiry retries them with the same keys.
        this.deps.logger?.warn({ err, channel, count: list.length }, 'provider submit failed; will retry');
        continue;
      }
      const byKey = new Map(answers.map((a) => [a.key, a]));
      for (const s of list) {
        const result = byKey.get(s.message.key);
        if (result) results.push({ send: s, result, provider: adapter.provider });
      }
    }
    if (results.length === 0) return;
    const now = this.now();
    await db.transaction().execute(async (trx) => {
      const rows = results.map(({ send, result, provider }) => ({
        message_id: send.message.messageId,
        recipient_id: send.recipientId,
        ok: result.ok,
        provider,
        provider_message_id: result.ok ? result.providerMessageId : null,
        error_reason: result.ok ? null : result.error,
        decision_at: iso(new Date(now.getTime() + send.decisionTimeSec * 1000)),
      }));
      await sql`
        with u as (
          select * from jsonb_to_recordset(${json(rows)}::jsonb) as x(message_id bigint, recipient_id bigint, ok boolean,
            provider text, provider_message_id text, error_reason text, decision_at timestamptz)
        ), msg as (
          update messages m set
            state = case when u.ok then 'submitted' else 'failed' end,
            provider = u.provider, provider_message_id = u.provider_message_id, error_reason = u.error_reason,
            sent_at = case when u.ok then ${iso(now)}::timestamptz else null end
          from u where m.id = u.message_id and m.state = 'queued'
          returning m.id
        )
        update mailing_recipients r set
          state = 'waiting',
          first_sent_at = case when u.ok then coalesce(r.first_sent_at, ${iso(now)}::timestamptz) else r.first_sent_at end,
          due_at = case when u.ok then coalesce(r.first_sent_at, ${iso(now)}::timestamptz)
                     + (u.decision_at - ${iso(now)}::timestamptz) else ${iso(now)}::timestamptz end
        from u join msg on msg.id = u.message_id
        where r.id = u.recipient_id and r.state = 'sending' and r.message_id = u.message_id`.execute(trx);
      const failed = results.filter((x) => !x.result.ok);
      const byAccount = new Map<number, string[]>();
      for (const f of failed) {
        byAccount.set(f.send.message.accountId, [
          ...(byAccount.get(f.send.message.accountId) ?? []),
          `msg:${f.send.message.key}`,
        ]);
      }
      for (const [accountId, keys] of byAccount) {
        await refundMany(trx, clock, accountId, keys, { reason: 'send failed' });
        await sql`update messages set refunded = true where idempotency_key = any(${keys.map((k) => k.slice(4))}::text[])`.execute(
          trx,
        );
      }
    });
  }
}

interface PlannedSend {
  recipientId: number;
  decisionTimeSec: number;
  message: OutboundMessage;
}

function planned(
  messageId: number,
  key: string,
  r: { id: number; account_id: number; phone: string; vars: Record<string, string> },
  block: SendBlock,
): PlannedSend {
  return {
    recipientId: r.id,
    decisionTimeSec: block.decisionTimeSec,
    message: {
      key,
      accountId: r.account_id,
      messageId,
      channel: block.channel,
      to: r.phone,
      content: renderContent(block.content, r.vars ?? {}),
    },
  };
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

function stay(r: {
  id: number;
  state: RecipientState;
  block_id: string;
  step: number;
  attempt: number;
  entered_at: Date;
  message_id: number | null;
  first_sent_at: Date | null;
}): RecipientMove {
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

async function applyMoves(db: Kysely<DB>, moves: RecipientMove[]): Promise<void> {
  if (moves.length === 0) return;
  await sql`
    update mailing_recipients r set
      state = u.state, block_id = u.block_id, step = u.step, attempt = u.attempt, due_at = u.due_at,
      entered_at = u.entered_at, end_reason = u.end_reason, finished_at = u.finished_at,
      message_id = u.message_id, first_sent_at = u.first_sent_at
    from jsonb_to_recordset(${json(moves)}::jsonb) as u(id bigint, state text, block_id text, step int, attempt int,
      due_at timestamptz, entered_at timestamptz, end_reason text, finished_at timestamptz, message_id bigint,
      first_sent_at timestamptz)
    where r.id = u.id`.execute(db);
}

async function stopListed(
  db: Kysely<DB>,
  items: { accountId: number; phone: string }[],
): Promise<Set<string>> {
  const result = await sql<{ account_id: number; phone: string }>`
    select s.account_id, s.phone from stop_list s
    join jsonb_to_recordset(${json(items.map((i) => ({ a: i.accountId, p: i.phone })))}::jsonb) as x(a bigint, p text)
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
