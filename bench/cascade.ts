/**
 * bench/cascade — workload W1 (issue 3): N recipients (default 1,000,000), scheme Viber (decision 10 min)
 * → on undelivered → SMS (decision 10 min) → on delivered → goal; sandbox Viber delivered 60%, SMS
 * delivered 95%; shared fast clock. Runs on PGlite (in process) and, when DATABASE_URL or
 * TEST_DATABASE_URL is set, on PostgreSQL with 1 and 2 `omnitalk worker` processes. Prints JSON and
 * writes bench/results/cascade.json.
 *
 * Then, unless --no-peer is given and when Redis answers on 127.0.0.1:6379, it runs the peer: the same
 * W1 with BullMQ (bench/peer-bullmq.ts, in a child process so its RSS is its own) with the same N, and
 * adds `peer` and `ratios` (our recipients/s over the peer's, per result) to the output.
 *
 *   node --import tsx bench/cascade.ts [--recipients 1000000] [--only pglite,pg1,pg2] [--no-peer] [--batch N]
 *     [--lanes 2]
 *     [--out bench/results/cascade.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pino from 'pino';
import { createAccount } from '../src/accounts/accounts.ts';
import { topUp } from '../src/billing/ledger.ts';
import { channelAdapters } from '../src/channels/registry.ts';
import { setSandboxSettings } from '../src/channels/sandbox/settings.ts';
import { defaultEngineBatch } from '../src/config/config.ts';
import { createGroup } from '../src/contacts/groups.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { SharedFastClock } from '../src/mailings/engine/fast-clock.ts';
import { startEngineLoop } from '../src/mailings/engine/loop.ts';
import { createMailing, startMailing } from '../src/mailings/mailings.ts';
import { mailingInputSchema } from '../src/mailings/settings.ts';
import { systemClock } from '../src/shared/clock.ts';
import { createScratchDatabase, dropScratchDatabase } from '../test/support/db.ts';
import type { BullmqW1Result } from './peer-bullmq.ts';
import { serverSettings } from './server-settings.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(arg('recipients') ?? 1_000_000);
const only = arg('only')?.split(',');
const runs = (name: string) => !only || only.includes(name);
const withPeer = !args.includes('--no-peer');
/** Rows per engine statement: by default what `omnitalk worker` uses (5000 on PGlite, 2500 on PostgreSQL). */
const batchArg = arg('batch');
/** Engine lanes per PostgreSQL worker process (OMNITALK_ENGINE_LANES; the worker's default is 2). */
const lanes = Number(arg('lanes') ?? process.env.OMNITALK_ENGINE_LANES ?? 2);
const pgBase = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || null;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
// Trial runs write elsewhere, so they do not overwrite the committed results.
const outArg = arg('out');
const outFile = outArg ? path.resolve(outArg) : path.join(root, 'bench/results/cascade.json');
const scheme = JSON.parse(fs.readFileSync(path.join(root, 'examples/w1-viber-sms.json'), 'utf8'));

const w1Sandbox = {
  seed: 1,
  viber: {
    outcomes: { delivered: 0.6, undelivered: 0.4 },
    submitError: { probability: 0 },
    reply: { probability: 0 },
  },
  sms: {
    outcomes: { delivered: 0.95, undelivered: 0.05 },
    submitError: { probability: 0 },
    reply: { probability: 0 },
  },
};

async function prepare(
  database: Database,
): Promise<{ accountId: number; mailingId: number; setupSeconds: number }> {
  const t0 = performance.now();
  const db = database.db;
  await migrate(db);
  const clock = systemClock;
  const account = await createAccount(db, clock, `W1 ${Date.now()}`);
  await topUp(db, clock, { accountId: account.id, amount: 1_000_000_000_000 });
  await setSandboxSettings(db, clock, account.id, w1Sandbox);
  const group = await createGroup(db, clock, account.id, 'W1');
  await sql`insert into contacts (account_id, phone, name, created_at, updated_at)
    select ${account.id}, '+7900' || lpad(g::text, 7, '0'), 'Клиент ' || g, now(), now() from generate_series(1, ${N}) g`.execute(
    db,
  );
  await sql`insert into contact_group_members (group_id, contact_id) select ${group.id}, id from contacts where account_id = ${account.id}`.execute(
    db,
  );
  await sql`analyze`.execute(db);
  const input = mailingInputSchema.parse({ scheme, recipients: { group_ids: [group.id] } });
  const mailing = await createMailing(db, clock, account.id, input);
  return { accountId: account.id, mailingId: mailing.id, setupSeconds: (performance.now() - t0) / 1000 };
}

async function counts(database: Database, mailingId: number) {
  const r = await sql<{ messages: number; done: number }>`select
    (select count(*) from messages where mailing_id = ${mailingId})::int8 as messages,
    (select count(*) from mailing_recipients where mailing_id = ${mailingId} and state = 'done')::int8 as done`.execute(
    database.db,
  );
  return r.rows[0]!;
}

/** CPU seconds (user + system) a process has used so far, from /proc (0 when it is gone). */
function cpuSecondsOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds the whole machine has spent busy so far (all cores, not idle or iowait), from /proc/stat. */
function machineBusySeconds(): number {
  const [, ...v] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = v.map(Number);
  return (n[0]! + n[1]! + n[2]! + n[5]! + n[6]! + n[7]!) / 100;
}

function rssSampler(pids: () => number[]) {
  let peak = 0;
  const read = () => {
    let total = 0;
    for (const pid of pids()) {
      try {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        total = Math.max(total, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
      } catch {
        // process gone
      }
    }
    peak = Math.max(peak, total);
  };
  const timer = setInterval(read, 100);
  return {
    stop: () => {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

async function waitCompleted(database: Database, mailingId: number, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = await database.db
      .selectFrom('mailings')
      .select('status')
      .where('id', '=', mailingId)
      .executeTakeFirstOrThrow();
    if (m.status === 'completed') return;
    if (Date.now() > end) throw new Error(`mailing not completed in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runPglite() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-bench-'));
  const database = await openDatabase({ pgliteDir: dir });
  try {
    const { accountId, mailingId, setupSeconds } = await prepare(database);
    const clock = await SharedFastClock.open(database.db, new Date(), { reset: true });
    const t0 = performance.now();
    const busy0 = machineBusySeconds();
    const cpu0 = cpuSecondsOf(process.pid);
    await startMailing(database.db, clock, accountId, mailingId);
    const sampler = rssSampler(() => [process.pid]);
    const loop = startEngineLoop(
      {
        db: database.db,
        clock,
        adapters: channelAdapters(),
        logger: pino({ level: 'warn' }),
        batchSize: Number(batchArg ?? defaultEngineBatch('pglite')),
      },
      { untilIdle: true },
    );
    await loop.done;
    const seconds = (performance.now() - t0) / 1000;
    const peak = sampler.stop();
    const cpu = { worker: cpuSecondsOf(process.pid) - cpu0, machine: machineBusySeconds() - busy0 };
    const c = await counts(database, mailingId);
    return result('pglite', 1, 1, seconds, c, peak, setupSeconds, cpu);
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runPostgres(workers: number) {
  const url = await createScratchDatabase(pgBase!);
  const database = await openDatabase({ databaseUrl: url });
  const children: ChildProcess[] = [];
  try {
    const { accountId, mailingId, setupSeconds } = await prepare(database);
    await SharedFastClock.open(database.db, new Date(), { reset: true });
    const env = {
      ...process.env,
      DATABASE_URL: url,
      OMNITALK_FAST_CLOCK: '1',
      OMNITALK_DEMO: '0',
      LOG_LEVEL: 'warn',
      OMNITALK_SECRET_KEY: 'bench',
      OMNITALK_ENGINE_BATCH: batchArg ?? String(defaultEngineBatch('postgres')),
      OMNITALK_ENGINE_LANES: String(lanes),
    };
    for (let i = 0; i < workers; i++) {
      // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") go to the workers, for profiling.
      const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
      const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/omnitalk.js'), 'worker'], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) =>
        child.stdout!.on('data', (d) => String(d).includes('worker started') && resolve()),
      );
      children.push(child);
    }
    const sampler = rssSampler(() => children.map((c) => c.pid!));
    const t0 = performance.now();
    const busy0 = machineBusySeconds();
    const cpu0 = children.reduce((sum, c) => sum + cpuSecondsOf(c.pid!), 0);
    await startMailing(database.db, systemClock, accountId, mailingId);
    await waitCompleted(database, mailingId, 30 * 60_000);
    const seconds = (performance.now() - t0) / 1000;
    const peak = sampler.stop();
    const cpu = {
      worker: children.reduce((sum, c) => sum + cpuSecondsOf(c.pid!), 0) - cpu0,
      machine: machineBusySeconds() - busy0,
    };
    const c = await counts(database, mailingId);
    return {
      ...result(`postgres`, workers, lanes, seconds, c, peak, setupSeconds, cpu),
      server: await serverSettings(database.db),
    };
  } finally {
    // Workers first (they hold connections to the scratch database), then our pool, then the database.
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    await database.close();
    await dropScratchDatabase(pgBase!, url);
  }
}

function result(
  backend: string,
  workers: number,
  lanesPerWorker: number,
  seconds: number,
  c: { messages: number; done: number },
  peakRss: number,
  setupSeconds: number,
  cpu: { worker: number; machine: number },
) {
  const r = {
    backend,
    workers,
    lanesPerWorker,
    recipients: N,
    finished: Number(c.done),
    messages: Number(c.messages),
    wallSeconds: Number(seconds.toFixed(2)),
    recipientsPerSecond: Math.round(N / seconds),
    messagesPerSecond: Math.round(Number(c.messages) / seconds),
    peakWorkerRssMB: Number((peakRss / 1024 / 1024).toFixed(1)),
    setupSeconds: Number(setupSeconds.toFixed(1)),
    // Where the time went: the worker processes' CPU, and the whole machine's (the rest is mostly the
    // database server; on PGlite the database runs inside the worker).
    workerCpuSeconds: Number(cpu.worker.toFixed(1)),
    machineCpuSeconds: Number(cpu.machine.toFixed(1)),
  };
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}

const results: (ReturnType<typeof result> & { server?: Record<string, string> })[] = [];
if (runs('pglite')) results.push(await runPglite());
if (pgBase && runs('pg1')) results.push(await runPostgres(1));
if (pgBase && runs('pg2')) results.push(await runPostgres(2));

/** True when a Redis server answers PING on host:port within a second. */
function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(String(d).startsWith('+PONG')));
  });
}

/** The BullMQ peer with the same N, in its own process (bench/peer-bullmq.ts prints one JSON line). */
function runPeer(): Promise<BullmqW1Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'bench/peer-bullmq.ts'), '--recipients', String(N)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`peer-bullmq exited with ${code}`));
      const peer = JSON.parse(stdout.trim().split('\n').pop()!) as BullmqW1Result;
      process.stderr.write(`${JSON.stringify(peer)}\n`);
      resolve(peer);
    });
  });
}

const peer = withPeer && (await redisAnswers('127.0.0.1', 6379)) ? await runPeer() : null;
const ratio = (r: ReturnType<typeof result> | undefined) =>
  peer && r ? Number((r.recipientsPerSecond / peer.recipientsPerSecond).toFixed(2)) : null;
const out = {
  benchmark: 'cascade-w1',
  at: new Date().toISOString(),
  machine: { node: process.version, cpus: os.cpus().length },
  results,
  ...(peer
    ? {
        peer,
        ratios: {
          pglite: ratio(results.find((r) => r.backend === 'pglite')),
          pg1: ratio(results.find((r) => r.backend === 'postgres' && r.workers === 1)),
          pg2: ratio(results.find((r) => r.backend === 'postgres' && r.workers === 2)),
        },
      }
    : {}),
};
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out)}\n`);
