import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { SecretBox } from '../../accounts/secrets.ts';
import type { DB } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { CrmError, isCrmError } from '../crm/errors.ts';
import type { CrmContext, RateLimit } from '../crm/types.ts';
import { applyEvent } from './apply.ts';
import { bossDb, createBoss, type FetchedJob, fetchSingletonJobs, type PgBoss, queueName } from './boss.ts';
import { RateLimiter, type RequestLimiter, SharedRateLimiter } from './limiter.ts';
import { DrainPump } from './pump.ts';
import {
  connectorOf,
  contextFor,
  isDeliveryPaused,
  loadIntegration,
  pausingReasons,
  runnerSettings,
} from './store.ts';

/**
 * The CRM hub's outbox runner (SPEC IN-0, issue 5).
 *
 * 1. Fan-out: reads the chat outbox in (txid, id) order, only below the snapshot's xmin (see
 *    0008_integrations.sql), writes one integration_events row per (integration of the site, event) and,
 *    in the same transaction, one pg-boss job per (integration, contact): "drain this contact".
 * 2. Drain: one pg-boss queue per integration; a job drains its contact's open events in id order.
 *    Jobs carry singletonKey = contact id on a `singleton` queue, so pg-boss never has two jobs of one
 *    contact active at once (a unique index, across processes): two events of one contact never race
 *    to create. Retryable errors fail the job and pg-boss retries it with exponential backoff and
 *    jitter; the event stays at the head of its contact's log, so order holds. A permanent error (or
 *    the last retry) parks the event (status failed + last error), holding back that contact only.
 *    A pump per integration (pump.ts) keeps `concurrency` drains of different contacts in flight, so the
 *    integration's rate limiter, not a drain's own latency, sets the pace.
 * 3. Sweep: enqueues a drain for any contact with pending events and no live job (after a REST retry
 *    or discard, after a crash that expired a job, or for events of an integration created mid-tick).
 * An integration-wide error (access to grant again, settings that no longer work: store.ts
 * pausingReasons) pauses the integration instead: its events stay pending, drains end at once, the sweep
 * leaves it alone, and the OAuth callback or a settings save that passes its test call resumes it.
 *
 * An unknown outcome (a create that timed out or got 5xx) is retried like a retryable error, and the
 * retry calls pushContact with no stored ref, which searches the CRM before it creates: a create the CRM
 * did carry out is found, not repeated.
 */
export interface HubRunnerOptions {
  db: Kysely<DB>;
  box: SecretBox;
  clock: Clock;
  logger: Logger;
  /** PostgreSQL: several processes may run; PGlite: one. */
  multiProcess: boolean;
  tickMs?: number;
  sweepMs?: number;
  /** How long an integration's idle pump waits before looking for jobs again (in-process enqueues wake it). */
  pollMs?: number;
  /** Overrides every connector's declared rate (the benchmark's fake allows 7 req/s). */
  rateLimit?: Pick<RateLimit, 'requestsPerSecond' | 'burst'>;
  timeoutMs?: number;
  retryLimit?: number;
  retryDelaySec?: number;
  /** Drains (of different contacts) in flight per integration; they all queue on its rate limiter. */
  concurrency?: number;
}

const CURSOR = 'crm-hub';
const FANOUT_BATCH = 1000;
const CONTACT_KINDS = new Set(['contact.captured', 'contact.updated']);
/** Open events a drain reads at once (a contact rarely has more than a few). */
const DRAIN_READ = 20;

interface DrainJob {
  contactId: number;
}

/** held: the integration's deliveries are paused (store.ts isDeliveryPaused); the events stay pending. */
type DrainResult =
  | { kind: 'done' }
  | { kind: 'parked' }
  | { kind: 'held' }
  | { kind: 'retry'; error: CrmError };

export class HubRunner {
  readonly boss: PgBoss;
  readonly #o: Required<Omit<HubRunnerOptions, 'rateLimit' | 'timeoutMs'>> &
    Pick<HubRunnerOptions, 'rateLimit' | 'timeoutMs'>;
  readonly #workers = new Map<number, { limiter: RequestLimiter; pump: DrainPump<DrainJob> }>();
  #timer: NodeJS.Timeout | null = null;
  #lastSweep = 0;
  #ticking: Promise<void> | null = null;
  #stopped = false;

  constructor(options: HubRunnerOptions) {
    this.#o = {
      tickMs: 250,
      sweepMs: 2000,
      retryLimit: 8,
      retryDelaySec: 1,
      pollMs: 500,
      concurrency: 4,
      ...options,
    };
    this.boss = createBoss(options.db);
    this.boss.on('error', (err) => this.#o.logger.warn({ err }, 'pg-boss error'));
  }

  async start(): Promise<void> {
    await this.boss.start();
    const loop = () => {
      if (this.#stopped) return;
      this.#ticking = this.tick()
        .catch((err) => this.#o.logger.error({ err }, 'crm hub tick failed'))
        .finally(() => {
          this.#ticking = null;
          if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.tickMs);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking;
    await Promise.all([...this.#workers.values()].map((w) => w.pump.stop()));
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
  }

  /** One round: queues and workers for new integrations, fan-out until caught up, sweep now and then. */
  async tick(): Promise<void> {
    await this.syncWorkers();
    while ((await this.fanOut()) === FANOUT_BATCH) {}
    if (Date.now() - this.#lastSweep >= this.#o.sweepMs) {
      this.#lastSweep = Date.now();
      await this.sweep();
    }
  }

  async syncWorkers(): Promise<void> {
    const rows = await this.#o.db.selectFrom('integrations').select(['id', 'system']).execute();
    const live = new Set(rows.map((r) => r.id));
    for (const row of rows) {
      if (this.#workers.has(row.id)) continue;
      const connector = connectorOf(row);
      if (connector.handlesContacts === false) continue;
      const name = queueName(row.id);
      if (!(await this.boss.getQueue(name))) {
        // Another runner may create it at the same moment; its queue is as good as ours.
        await this.boss
          .createQueue(name, {
            name,
            policy: 'singleton',
            retryLimit: this.#o.retryLimit,
            retryDelay: this.#o.retryDelaySec,
            retryBackoff: true,
            expireInSeconds: 600,
          } as never)
          .catch(async (err) => {
            if (!(await this.boss.getQueue(name))) throw err;
          });
      }
      const integrationId = row.id;
      const rate = this.#o.rateLimit ?? connector.rateLimit;
      // Several processes share one budget through the database; one process keeps it in memory.
      const limiter = this.#o.multiProcess
        ? new SharedRateLimiter(this.#o.db, integrationId, rate)
        : new RateLimiter(rate);
      const pump = new DrainPump<DrainJob>({
        concurrency: Math.max(1, this.#o.concurrency),
        pollMs: this.#o.pollMs,
        fetch: (limit) => fetchSingletonJobs<DrainJob>(this.#o.db, name, limit),
        run: (job) => this.#runJob(integrationId, job),
        complete: async (ids) => {
          await this.boss.complete(name, ids);
        },
        fail: async (id, data) => {
          await this.boss.fail(name, id, data);
        },
        onError: (err) => this.#o.logger.warn({ err, integrationId }, 'crm hub pump error'),
      });
      this.#workers.set(row.id, { limiter, pump });
      pump.start();
    }
    for (const [id, worker] of this.#workers) {
      if (live.has(id)) continue;
      this.#workers.delete(id);
      await worker.pump.stop();
      await this.boss.deleteQueue(queueName(id)).catch(() => {});
    }
  }

  /** Moves up to FANOUT_BATCH outbox rows into integration events; returns how many rows it read. */
  async fanOut(): Promise<number> {
    const woken: number[] = [];
    const read = await this.#o.db.transaction().execute(async (trx) => {
      // The horizon first, before this transaction takes an xid of its own by locking the cursor.
      const horizon = await sql<{
        xmin: string;
      }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(trx);
      const cursor = await sql<{ txid: string; outbox_id: number }>`
        select txid::text as txid, outbox_id from integration_cursors where name = ${CURSOR} for update`.execute(
        trx,
      );
      const at = cursor.rows[0]!;
      const rows = await sql<{
        id: number;
        txid: string;
        site_id: number | null;
        kind: string;
        payload: Record<string, unknown>;
      }>`
        select id, txid::text as txid, site_id, kind, payload from outbox
        where (txid, id) > (${at.txid}::xid8, ${at.outbox_id}::bigint)
          and txid < ${horizon.rows[0]!.xmin}::xid8
        order by txid, id limit ${FANOUT_BATCH}`.execute(trx);
      if (rows.rows.length === 0) return 0;
      const siteIds = [...new Set(rows.rows.map((r) => r.site_id).filter((s): s is number => s !== null))];
      const integrations = siteIds.length
        ? await trx
            .selectFrom('integrations')
            .select(['id', 'site_id', 'system'])
            .where('site_id', 'in', siteIds)
            .execute()
        : [];
      const bySite = new Map<number, number[]>();
      for (const i of integrations) {
        if (connectorOf(i).handlesContacts === false) continue;
        bySite.set(i.site_id, [...(bySite.get(i.site_id) ?? []), i.id]);
      }
      const dialogIds = rows.rows
        .filter((r) => r.kind === 'message.created' && r.site_id !== null && bySite.has(r.site_id))
        .map((r) => Number(r.payload.dialog_id))
        .filter((d) => Number.isFinite(d));
      const dialogContacts = new Map<number, number | null>();
      if (dialogIds.length) {
        const dialogs = await trx
          .selectFrom('dialogs')
          .select(['id', 'contact_id'])
          .where('id', 'in', [...new Set(dialogIds)])
          .execute();
        for (const d of dialogs) dialogContacts.set(d.id, d.contact_id);
      }
      const now = this.#o.clock.now();
      const events: {
        integration_id: number;
        contact_id: number;
        outbox_id: number;
        kind: string;
        payload: string;
        status: 'pending';
        created_at: Date;
        updated_at: Date;
      }[] = [];
      for (const row of rows.rows) {
        const targets = row.site_id === null ? undefined : bySite.get(row.site_id);
        if (!targets) continue;
        let contactId: number | null = null;
        if (CONTACT_KINDS.has(row.kind)) {
          contactId = Number((row.payload.contact as { id?: unknown } | undefined)?.id) || null;
        } else if (row.kind === 'message.created') {
          // A message of a dialog without a contact yet: the transcript attached at capture carries it.
          contactId = dialogContacts.get(Number(row.payload.dialog_id)) ?? null;
        }
        if (!contactId) continue;
        for (const integrationId of targets) {
          events.push({
            integration_id: integrationId,
            contact_id: contactId,
            outbox_id: row.id,
            kind: row.kind,
            payload: JSON.stringify(row.payload),
            status: 'pending',
            created_at: now,
            updated_at: now,
          });
        }
      }
      if (events.length) {
        await trx
          .insertInto('integration_events')
          .values(events)
          .onConflict((oc) => oc.columns(['integration_id', 'outbox_id']).doNothing())
          .execute();
        const keys = new Map<string, { integrationId: number; contactId: number }>();
        for (const e of events)
          keys.set(`${e.integration_id}:${e.contact_id}`, {
            integrationId: e.integration_id,
            contactId: e.contact_id,
          });
        woken.push(...(await this.#enqueue(trx, [...keys.values()])));
      }
      const last = rows.rows.at(-1)!;
      await trx
        .updateTable('integration_cursors')
        .set({ txid: sql`${last.txid}::xid8`, outbox_id: last.id })
        .where('name', '=', CURSOR)
        .execute();
      return rows.rows.length;
    });
    // After the commit: a pump woken earlier would find the new jobs not yet visible (on PostgreSQL).
    this.#notify(woken);
    return read;
  }

  /**
   * Drains for contacts whose head event is pending and that have no live job, except on integrations
   * whose deliveries are paused (they resume here once the integration is connected again).
   */
  async sweep(): Promise<number> {
    const known = [...this.#workers.keys()];
    if (known.length === 0) return 0;
    const stale = await sql<{ integration_id: number; contact_id: number }>`
      select distinct e.integration_id, e.contact_id from integration_events e
      where e.status = 'pending' and e.integration_id in (${sql.join(known)})
        and not exists (select 1 from integrations i
          where i.id = e.integration_id and i.status = 'error'
            and i.last_error->>'reason' in (${sql.join([...pausingReasons])}))
        and not exists (select 1 from integration_events f
          where f.integration_id = e.integration_id and f.contact_id = e.contact_id
            and f.status = 'failed' and f.id < e.id)
        and not exists (select 1 from pgboss.job j
          where j.name = 'crm.' || e.integration_id and j.singleton_key = e.contact_id::text
            and j.state < 'completed')
      limit 1000`.execute(this.#o.db);
    this.#notify(
      await this.#enqueue(
        this.#o.db,
        stale.rows.map((r) => ({ integrationId: r.integration_id, contactId: r.contact_id })),
      ),
    );
    return stale.rows.length;
  }

  /** Inserts drain jobs; returns the integrations whose pumps should look (once the jobs are visible). */
  async #enqueue(db: Kysely<DB>, keys: { integrationId: number; contactId: number }[]): Promise<number[]> {
    // Only integrations whose queue exists here; the sweep picks up the rest once it does.
    const ready = keys.filter((k) => this.#workers.has(k.integrationId));
    for (let i = 0; i < ready.length; i += 500) {
      await this.boss.insert(
        ready.slice(i, i + 500).map((k) => ({
          name: queueName(k.integrationId),
          data: { contactId: k.contactId },
          singletonKey: String(k.contactId),
          retryLimit: this.#o.retryLimit,
          retryDelay: this.#o.retryDelaySec,
          retryBackoff: true,
          expireInSeconds: 600,
        })),
        { db: bossDb(db) } as never,
      );
    }
    return [...new Set(ready.map((k) => k.integrationId))];
  }

  #notify(integrationIds: number[]): void {
    for (const id of integrationIds) this.#workers.get(id)?.pump.notify();
  }

  async #runJob(
    integrationId: number,
    job: FetchedJob<DrainJob>,
  ): Promise<{ retry: Record<string, unknown> } | undefined> {
    let result: DrainResult;
    try {
      result = await this.drain(integrationId, job.data.contactId, job.retryCount >= job.retryLimit);
    } catch (err) {
      this.#o.logger.error({ err, integrationId }, 'crm drain crashed');
      result = { kind: 'retry', error: asCrmError(err) };
    }
    return result.kind === 'retry' ? { retry: result.error.toJSON() } : undefined;
  }

  /**
   * Applies a contact's open events in order until done, parked, or a retryable failure. Events that
   * arrive while it runs come with a drain job of their own (fan-out enqueues one per contact it
   * touches; pg-boss starts it once this one ends), so the drain reads the log once, not until empty.
   */
  async drain(integrationId: number, contactId: number, lastAttempt: boolean): Promise<DrainResult> {
    const db = this.#o.db;
    const row = await loadIntegration(db, integrationId);
    const worker = this.#workers.get(integrationId);
    if (!row || !worker) return { kind: 'done' };
    // Paused (access to grant again, settings to fix): the sweep re-enqueues once it is connected again.
    if (isDeliveryPaused(row)) return { kind: 'held' };
    const connector = connectorOf(row);
    let ctx: CrmContext<unknown> | null = null;
    for (;;) {
      const events = await db
        .selectFrom('integration_events')
        .select(['id', 'kind', 'payload', 'status', 'attempts'])
        .where('integration_id', '=', integrationId)
        .where('contact_id', '=', contactId)
        .where('status', 'in', ['pending', 'failed'])
        .orderBy('id')
        .limit(DRAIN_READ)
        .execute();
      for (const event of events) {
        if (event.status === 'failed') return { kind: 'parked' };
        try {
          ctx ??= contextFor(row, runnerSettings(row, this.#o.box), {
            db,
            box: this.#o.box,
            clock: this.#o.clock,
            multiProcess: this.#o.multiProcess,
            limiter: worker.limiter,
            timeoutMs: this.#o.timeoutMs,
          });
          await applyEvent(db, this.#o.clock, connector, ctx, {
            integrationId,
            contactId,
            kind: event.kind,
            payload: event.payload,
            attempts: event.attempts,
          });
          await this.#markDone(integrationId, event.id);
        } catch (err) {
          const error = asCrmError(err);
          const pause = (pausingReasons as readonly string[]).includes(error.reason);
          const park = !pause && (error.kind === 'permanent' || lastAttempt);
          const now = this.#o.clock.now();
          await db
            .updateTable('integration_events')
            .set((eb) => ({
              status: park ? 'failed' : 'pending',
              attempts: eb('attempts', '+', 1),
              last_error: JSON.stringify(error.toJSON()),
              updated_at: now,
            }))
            .where('id', '=', event.id)
            .execute();
          await db
            .updateTable('integrations')
            .set({ status: 'error', last_error: JSON.stringify(error.toJSON()), last_error_at: now })
            .where('id', '=', integrationId)
            .execute();
          if (pause) {
            this.#o.logger.warn({ integrationId, error: error.toJSON() }, 'crm integration paused');
            return { kind: 'held' };
          }
          if (park) {
            this.#o.logger.warn({ integrationId, contactId, error: error.toJSON() }, 'crm event parked');
            return { kind: 'parked' };
          }
          if (error.retryAfterMs) worker.limiter.pause(error.retryAfterMs);
          return { kind: 'retry', error };
        }
      }
      if (events.length < DRAIN_READ) return { kind: 'done' };
    }
  }

  /**
   * The event done and the integration connected, in one statement: a reader that sees the event done
   * also sees the success. An integration already connected gets its last_success_at moved at most once a
   * second, not once per event (a hot row on PostgreSQL, a write per event on PGlite).
   */
  async #markDone(integrationId: number, eventId: number): Promise<void> {
    const now = this.#o.clock.now();
    await sql`
      with done as (
        update integration_events set status = 'done', updated_at = ${now} where id = ${eventId}
      )
      update integrations set status = 'connected', last_success_at = ${now}
      where id = ${integrationId}
        and (status <> 'connected' or last_success_at is null
          or last_success_at < ${now}::timestamptz - interval '1 second')`.execute(this.#o.db);
  }
}

function asCrmError(err: unknown): CrmError {
  if (isCrmError(err)) return err;
  // Our own failures (database, a bug) are retried: the CRM call, if any, is re-run after a search.
  return new CrmError(err instanceof Error ? err.message : String(err), {
    kind: 'retryable',
    reason: 'network',
    cause: err,
  });
}
