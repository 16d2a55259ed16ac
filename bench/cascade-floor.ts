/**
 * bench/cascade-floor — the least database work workload W1 takes with our tables, whatever the engine.
 *
 * W1 (bench/cascade.ts) on N recipients writes, at the very least: N recipient rows; 1.4·N messages,
 * each remembered by the provider (sandbox_submissions) and reported back through the ingest path (a
 * provider_events row inserted and consumed); each message's status applied; each recipient moved to
 * "waiting" after a send and on to its next block or its end after the decision (2.4·N moves). This
 * bench issues exactly those writes as large set-based SQL statements on one connection, with the real
 * schema and indexes, and no engine at all: no claims, no locks, no decisions, nothing sent to or
 * parsed by Node per row. Its time is a floor for any engine that keeps these rows durable on the
 * machine it runs on (the engine's own time is in bench/cascade.ts).
 *
 * It also measures a machine floor, below any engine whatever its tables: W1's row writes on the narrowest
 * tables that can hold them (primary keys only, no index to find a message by the provider's id, no
 * sandbox memory), each phase one statement over the whole mailing, events joined by primary key. A
 * durable engine cannot do less than this on the same database and machine.
 *
 *   node --import tsx bench/cascade-floor.ts [--recipients 1000000] [--chunk 50000] [--only pglite|pg]
 *     [--parallel 2] [--machine-only]
 *     [--out bench/results/cascade-floor.json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { createAccount } from '../src/accounts/accounts.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import type { DB } from '../src/db/schema.ts';
import { systemClock } from '../src/shared/clock.ts';
import { createScratchDatabase, dropScratchDatabase } from '../test/support/db.ts';
import { serverSettings } from './server-settings.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(arg('recipients') ?? 1_000_000);
const CHUNK = Number(arg('chunk') ?? 50_000);
/** Connections the parallel machine floor (PostgreSQL) splits each phase over: one per core by default. */
const PARALLEL = Number(arg('parallel') ?? os.cpus().length);
const only = arg('only');
/** Only the machine floors, not the floor on our tables. */
const machineOnly = args.includes('--machine-only');
const pgBase = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || null;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outArg = arg('out');
const outFile = outArg ? path.resolve(outArg) : path.join(root, 'bench/results/cascade-floor.json');

/** Runs `step` over id ranges of CHUNK rows, [from, to]. */
async function chunked(first: number, last: number, step: (from: number, to: number) => Promise<unknown>) {
  for (let from = first; from <= last; from += CHUNK) await step(from, Math.min(last, from + CHUNK - 1));
}

async function floor(db: Kysely<DB>) {
  await migrate(db);
  const account = await createAccount(db, systemClock, `W1 floor ${Date.now()}`);
  const mailing = await sql<{ id: number }>`
    insert into mailings (account_id, name, status, settings, created_at)
    values (${account.id}, 'W1 floor', 'running', '{}'::jsonb, now()) returning id`.execute(db);
  const mailingId = mailing.rows[0]!.id;
  const phases: Record<string, number> = {};
  // Each chunk is a transaction with the engine's planner settings (index nested loops, see batchPlanner in
  // src/mailings/engine/engine.ts): a hash join would read all of messages for every chunk.
  const inBatch = <T>(f: (trx: Kysely<DB>) => Promise<T>) =>
    db.transaction().execute(async (trx) => {
      await sql`select set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
        set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true)`.execute(trx);
      return f(trx);
    });
  const timed = async (name: string, f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    phases[name] = Number(((performance.now() - t0) / 1000).toFixed(2));
  };
  const t0 = performance.now();
  await timed('recipients', () =>
    sql`insert into mailing_recipients (mailing_id, account_id, phone, vars, block_id, state, due_at, entered_at)
      select ${mailingId}, ${account.id}, '+7900' || lpad(g::text, 7, '0'), '{}'::jsonb, 'viber', 'send', now(), now()
      from generate_series(1, ${N}) g`.execute(db),
  );
  const range = await sql<{ lo: number; hi: number }>`
    select min(id)::int8 as lo, max(id)::int8 as hi from mailing_recipients where mailing_id = ${mailingId}`.execute(
    db,
  );
  const lo = Number(range.rows[0]!.lo);
  const hi = Number(range.rows[0]!.hi);
  // Recipients whose Viber message is not delivered (40%) go on to SMS; of those, 95% are delivered.
  const toSms = sql`(r.id % 5) in (0, 1)`;

  const send = async (channel: 'viber' | 'sms', step: number, who: ReturnType<typeof sql>) => {
    await timed(`${channel}: send`, () =>
      chunked(lo, hi, (from, to) =>
        inBatch(async (db) => {
          await sql`insert into sandbox_submissions (idempotency_key, provider, provider_message_id, account_id, created_at)
          select 'r' || r.id || 's' || ${step} || 'a0', ${`sandbox-${channel}`}, 'sbx-' || r.id || '-' || ${step}, r.account_id, now()
          from mailing_recipients r where r.id between ${from} and ${to} and ${who}`.execute(db);
          await sql`insert into provider_events (provider, provider_message_id, kind, status, occurs_at, received_at)
          select ${`sandbox-${channel}`}, 'sbx-' || r.id || '-' || ${step}, 'status',
                 case when ${channel === 'viber' ? toSms : sql`r.id % 20 = 0`} then 'undelivered' else 'delivered' end,
                 now(), now()
          from mailing_recipients r where r.id between ${from} and ${to} and ${who}`.execute(db);
          await sql`
          with inserted as (
            insert into messages (account_id, mailing_id, recipient_id, variant, block_id, step, attempt, channel,
                                  idempotency_key, phone, state, cost, provider, provider_message_id, created_at, sent_at)
            select r.account_id, r.mailing_id, r.id, 0, ${channel}, ${step}, 0, ${channel}, 'r' || r.id || 's' || ${step} || 'a0',
                   r.phone, 'submitted', 0, ${`sandbox-${channel}`}, 'sbx-' || r.id || '-' || ${step}, now(), now()
            from mailing_recipients r where r.id between ${from} and ${to} and ${who}
            returning id, recipient_id)
          update mailing_recipients r set state = 'waiting', message_id = i.id, first_sent_at = now(),
            due_at = now() + interval '10 minutes'
          from inserted i where r.id = i.recipient_id`.execute(db);
        }),
      ),
    );
  };
  const apply = async (channel: 'viber' | 'sms', step: number) => {
    const next = sql`m.status = 'undelivered' and ${step} = 0`;
    await timed(`${channel}: events`, async () => {
      for (;;) {
        const r = await inBatch((trx) =>
          sql`
          with e as (
            delete from provider_events where id in (
              select id from provider_events where provider = ${`sandbox-${channel}`} order by id limit ${CHUNK})
            returning provider, provider_message_id, status),
          m as (
            update messages m set statuses = m.statuses || e.status, status_at = now(), decided_at = now(),
              final_status = e.status
            from e where m.provider = e.provider and m.provider_message_id = e.provider_message_id
            returning m.recipient_id, e.status)
          update mailing_recipients r set
            state = case when ${next} then 'send' else 'done' end,
            block_id = case when ${next} then 'sms' else r.block_id end,
            step = case when ${next} then 1 else r.step end,
            due_at = case when ${next} then now() end,
            end_reason = case when ${next} then null when m.status = 'delivered' and ${step} = 1 then 'goal'
                              else 'finished' end,
            finished_at = case when ${next} then null else now() end,
            message_id = case when ${next} then null else r.message_id end
          from m where r.id = m.recipient_id`.execute(trx),
        );
        if (Number(r.numAffectedRows ?? 0) === 0) break;
      }
    });
  };
  await send('viber', 0, sql`true`);
  await apply('viber', 0);
  await send('sms', 1, sql`r.state = 'send'`);
  await apply('sms', 1);
  const seconds = (performance.now() - t0) / 1000;
  const counts = await sql<{ messages: number; done: number }>`select
    (select count(*) from messages where mailing_id = ${mailingId})::int8 as messages,
    (select count(*) from mailing_recipients where mailing_id = ${mailingId} and state = 'done')::int8 as done`.execute(
    db,
  );
  return {
    recipients: N,
    messages: Number(counts.rows[0]!.messages),
    done: Number(counts.rows[0]!.done),
    wallSeconds: Number(seconds.toFixed(2)),
    phases,
  };
}

/**
 * W1's least writes on the narrowest tables: recipients inserted, each send a message row and a move of
 * its recipient to waiting, each receipt an event row written, applied to its message and deleted, each
 * decision a move of the recipient. One statement per phase over every recipient, no claims, no indexes
 * beyond primary keys, message ids chosen so that every join is by primary key.
 *
 * With `lanes` > 1 each phase is split into that many id ranges, run side by side on as many connections
 * (PostgreSQL only; PGlite has one): the floor for a database given several statements at once.
 */
async function machineFloor(db: Kysely<DB>, lanes = 1) {
  const phases: Record<string, number> = {};
  const ranges = Array.from({ length: lanes }, (_, i) => ({
    lo: Math.floor((N * i) / lanes) + 1,
    hi: Math.floor((N * (i + 1)) / lanes),
  }));
  const run = async (name: string, statement: (lo: number, hi: number) => ReturnType<typeof sql>) => {
    const t0 = performance.now();
    await Promise.all(
      ranges.map(({ lo, hi }) =>
        db.transaction().execute(async (trx) => {
          await sql`select set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)`.execute(
            trx,
          );
          await statement(lo, hi).execute(trx);
        }),
      ),
    );
    phases[name] = Number(((performance.now() - t0) / 1000).toFixed(2)) + (phases[name] ?? 0);
  };
  await sql`drop table if exists floor_r, floor_m, floor_e`.execute(db);
  await sql`create table floor_r (id int8 primary key, phone text not null, state text not null, block_id text not null,
    step int4 not null, due_at timestamptz, message_id int8, end_reason text) with (fillfactor = 50)`.execute(
    db,
  );
  await sql`create table floor_m (id int8 primary key, recipient_id int8 not null, channel text not null,
    provider_message_id text not null, statuses text[] not null default '{}', final_status text)
    with (fillfactor = 70)`.execute(db);
  await sql`create table floor_e (id int8 primary key, message_id int8 not null, status text not null)`.execute(
    db,
  );
  const t0 = performance.now();
  await run(
    'recipients',
    (lo, hi) => sql`insert into floor_r (id, phone, state, block_id, step, due_at)
      select g, '+7900' || lpad(g::text, 7, '0'), 'send', 'viber', 0, now() from generate_series(${lo}::int8, ${hi}::int8) g`,
  );
  // Viber for everyone (message id = recipient id), SMS for the 40% not delivered (message id = N + recipient id).
  for (const [channel, offset, undelivered] of [
    ['viber', 0, sql`(r.id % 5) in (0, 1)`],
    ['sms', N, sql`r.id % 20 = 0`],
  ] as const) {
    await run(
      `${channel}: send`,
      (lo, hi) => sql`insert into floor_m (id, recipient_id, channel, provider_message_id)
        select r.id + ${offset}, r.id, ${channel}, 'sbx-' || (r.id + ${offset}) from floor_r r
        where r.state = 'send' and r.id between ${lo} and ${hi}`,
    );
    await run(
      `${channel}: send`,
      (
        lo,
        hi,
      ) => sql`update floor_r set state = 'waiting', message_id = id + ${offset}, due_at = now() + interval '10 minutes'
        where state = 'send' and id between ${lo} and ${hi}`,
    );
    await run(
      `${channel}: events`,
      (lo, hi) => sql`insert into floor_e (id, message_id, status)
        select r.message_id, r.message_id, case when ${undelivered} then 'undelivered' else 'delivered' end
        from floor_r r where r.state = 'waiting' and r.id between ${lo} and ${hi}`,
    );
    await run(
      `${channel}: events`,
      (
        lo,
        hi,
      ) => sql`update floor_m m set statuses = m.statuses || e.status, final_status = e.status from floor_e e
        where m.id = e.id and e.id between ${lo + offset} and ${hi + offset}`,
    );
    await run(
      `${channel}: events`,
      (lo, hi) => sql`delete from floor_e where id between ${lo + offset} and ${hi + offset}`,
    );
    await run(`${channel}: decide`, (lo, hi) =>
      channel === 'viber'
        ? sql`update floor_r r set
            state = case when m.final_status = 'undelivered' then 'send' else 'done' end,
            block_id = case when m.final_status = 'undelivered' then 'sms' else r.block_id end,
            step = case when m.final_status = 'undelivered' then 1 else r.step end,
            due_at = case when m.final_status = 'undelivered' then now() end,
            end_reason = case when m.final_status = 'undelivered' then null else 'finished' end
          from floor_m m where m.id = r.message_id and r.state = 'waiting' and r.id between ${lo} and ${hi}`
        : sql`update floor_r r set state = 'done', due_at = null,
            end_reason = case when m.final_status = 'delivered' then 'goal' else 'finished' end
          from floor_m m where m.id = r.message_id and r.state = 'waiting' and r.id between ${lo} and ${hi}`,
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const counts = await sql<{ messages: number; done: number }>`select
    (select count(*) from floor_m)::int8 as messages,
    (select count(*) from floor_r where state = 'done')::int8 as done`.execute(db);
  await sql`drop table floor_r, floor_m, floor_e`.execute(db);
  return {
    recipients: N,
    connections: lanes,
    messages: Number(counts.rows[0]!.messages),
    done: Number(counts.rows[0]!.done),
    wallSeconds: Number(seconds.toFixed(2)),
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Number(v.toFixed(2))])),
  };
}

const results: Record<string, unknown> = {};
if (!only || only === 'pglite') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-floor-'));
  const database = await openDatabase({ pgliteDir: dir });
  try {
    if (!machineOnly) {
      results.pglite = await floor(database.db);
      process.stderr.write(`pglite ${JSON.stringify(results.pglite)}\n`);
    }
    results.pgliteMachine = await machineFloor(database.db);
    process.stderr.write(`pglite machine ${JSON.stringify(results.pgliteMachine)}\n`);
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
if (pgBase && (!only || only === 'pg')) {
  const url = await createScratchDatabase(pgBase);
  const database = await openDatabase({ databaseUrl: url });
  try {
    if (!machineOnly) {
      results.postgres = await floor(database.db);
      process.stderr.write(`postgres ${JSON.stringify(results.postgres)}\n`);
    }
    results.postgresMachine = await machineFloor(database.db);
    process.stderr.write(`postgres machine ${JSON.stringify(results.postgresMachine)}\n`);
    results.postgresMachineParallel = await machineFloor(database.db, PARALLEL);
    process.stderr.write(
      `postgres machine, ${PARALLEL} connections ${JSON.stringify(results.postgresMachineParallel)}\n`,
    );
    results.server = await serverSettings(database.db);
  } finally {
    await database.close();
    await dropScratchDatabase(pgBase, url);
  }
}
const out = {
  benchmark: 'cascade-w1-floor',
  at: new Date().toISOString(),
  machine: { node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg() },
  chunk: CHUNK,
  parallel: PARALLEL,
  results,
};
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out)}\n`);
