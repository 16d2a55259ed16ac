/**
 * bench/chat — the live chat under load (issue 4): N visitor sockets (default 10,000) and 50 operator
 * sockets on one `omnitalk server` process (a child; PostgreSQL when TEST_DATABASE_URL is set, else
 * PGlite), visitors sending at a target rate (default 1,000 msg/s). Measures delivered messages per
 * second and the delivery latency visitor → the dialog's operator (p50/p99). Then the same load through
 * a bare `ws` relay with no persistence (bench/bare-relay.ts) as the ceiling, and our throughput as a
 * ratio of it. Prints JSON and writes bench/results/chat.json. Never part of `npm test`.
 *
 *   node --import tsx bench/chat.ts [--visitors 10000] [--operators 50] [--rate 1000] [--seconds 20]
 *     [--warmup 3] [--fresh 200] [--open-rate 20] [--only ours|bare] [--out bench/results/chat.json]
 *
 * The visitors and their open dialogs are made before the server starts (see prepareOmnitalk); the
 * measured phase sends `rate` messages per second for `seconds`, spread over the visitors round robin.
 * Then (ours only) `--fresh` new visitors (default 200) each open a dialog at `--open-rate` per second
 * (default 20): opening a dialog assigns an operator, which the server serialises per site, so it is
 * reported apart. Client sockets connect from several loopback addresses (127.0.1.x) so the per-IP
 * HTTP rate limit of the upgrade requests is not what is measured.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import WebSocket from 'ws';
import { createAccount, createApiToken, createUser } from '../src/accounts/accounts.ts';
import { sendVisitorMessage } from '../src/chat/messages.ts';
import { createSite, siteByPublicKey } from '../src/chat/sites.ts';
import { identifyVisitor } from '../src/chat/visitors.ts';
import { loadConfig } from '../src/config/config.ts';
import { openRuntime } from '../src/runtime.ts';
import { createLogger } from '../src/shared/logger.ts';
import { createScratchDatabase, dropScratchDatabase } from '../test/support/db.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let VISITORS = Number(arg('visitors') ?? 10_000);
const OPERATORS = Number(arg('operators') ?? 50);
/** One rate, or several (ascending) measured one after another on the same sockets; the last is the headline. */
const RATES = (arg('rate') ?? '1000').split(',').map(Number);
const SECONDS = Number(arg('seconds') ?? 20);
/** Unmeasured seconds at the target rate first (plan caches, JIT, first writes). */
const WARMUP = Number(arg('warmup') ?? 3);
const ONLY = arg('only');
const FRESH = Number(arg('fresh') ?? 200);
const OPEN_RATE = Number(arg('open-rate') ?? 20);
const OUT = arg('out') ?? path.join(root, 'bench/results/chat.json');
const pgBase = process.env.TEST_DATABASE_URL || null;
const SOCKETS_PER_SOURCE_IP = 2000;
const CONNECT_CONCURRENCY = 100;
const DRAIN_IDLE_MS = 10_000;

function fileDescriptorLimit(): number {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
}

const fdLimit = fileDescriptorLimit();
if (VISITORS + OPERATORS + 500 > fdLimit) {
  const capped = Math.max(100, fdLimit - OPERATORS - 500);
  process.stderr.write(`ulimit -n is ${fdLimit}: visitors capped at ${capped} (raise it with ulimit -n)\n`);
  VISITORS = capped;
}

// --- processes -------------------------------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  base: string;
  /** Set when the process ended before it was stopped (a crash under load). */
  crashed: () => { code: number | null; signal: string | null; logTail: string } | null;
  stop(): Promise<void>;
}

function startChild(argv: string[], env: NodeJS.ProcessEnv): Promise<Child> {
  return new Promise((resolve, reject) => {
    // BENCH_NODE_ARGS: extra node flags for the children (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
    const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const proc = spawn(process.execPath, [...nodeArgs, ...argv], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let out = '';
    let ready = false;
    const timer = setTimeout(() => reject(new Error(`not ready in time:\n${out}`)), 120_000);
    const log = process.env.BENCH_SERVER_LOG ? fs.createWriteStream(process.env.BENCH_SERVER_LOG) : null;
    let tail = '';
    let stopping = false;
    let crash: { code: number | null; signal: string | null; logTail: string } | null = null;
    const keep = (d: Buffer) => {
      log?.write(d);
      tail = (tail + d).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    proc.on('exit', (code, signal) => {
      if (!stopping && ready) {
        crash = { code, signal, logTail: tail.slice(-4000) };
        process.stderr.write(`server exited (${code ?? signal}) under load:\n${tail.slice(-4000)}\n`);
      }
    });
    const onData = (d: Buffer) => {
      if (ready) return; // keep reading so the child never blocks on a full pipe
      out += d;
      const base = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (base) {
        ready = true;
        clearTimeout(timer);
        resolve({
          proc,
          base: base.replace('localhost', '127.0.0.1'),
          crashed: () => crash,
          stop: () =>
            new Promise((res) => {
              stopping = true;
              if (proc.exitCode !== null || proc.signalCode !== null) return res();
              proc.once('exit', () => res());
              proc.kill('SIGTERM');
              setTimeout(() => proc.kill('SIGKILL'), 15_000).unref();
            }),
        });
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (d: Buffer) => {
      out += d;
      if (out.length > 20_000) out = out.slice(-10_000);
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${out}`));
    });
  });
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
function processUsage(pid: number): { cpuSeconds: number; rssMB: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: ticks / 100, rssMB: Math.round(rss / 102.4) / 10 };
  } catch {
    return { cpuSeconds: 0, rssMB: 0 };
  }
}

// --- the omnitalk server under test ----------------------------------------------------------------

interface Fixture {
  siteKey: string;
  token: string;
  operatorIds: number[];
  /** Visitors made before the server starts, each with an open dialog assigned round robin. */
  visitorTokens: string[];
  setupSeconds: number;
}

/**
 * The account, its operators, site and N visitors with one message each (so an open dialog), made with
 * the chat's own functions before the server starts; then the dialogs are assigned to the operators
 * round robin (nobody was online yet). The measured load is the steady state: messages in open dialogs.
 */
async function prepareOmnitalk(env: NodeJS.ProcessEnv): Promise<Fixture> {
  const t0 = performance.now();
  const ctx = await openRuntime(loadConfig(env), { logger: createLogger('warn') });
  try {
    const account = await createAccount(ctx.db, ctx.clock, `Chat bench ${Date.now()}`);
    const operatorIds: number[] = [];
    for (let i = 0; i < OPERATORS; i++) {
      const user = await createUser(ctx.db, ctx.clock, {
        accountId: account.id,
        email: `operator-${i + 1}@bench.test`,
        password: crypto.randomBytes(12).toString('hex'),
        role: 'operator',
        name: `Оператор ${i + 1}`,
      });
      operatorIds.push(user.id);
    }
    const { token } = await createApiToken(ctx.db, ctx.clock, account.id, { name: 'bench' });
    const created = await createSite(ctx.db, ctx.clock, account.id, { name: 'Bench shop' });
    const site = await siteByPublicKey(ctx.db, created.public_key);
    const visitorTokens = new Array<string>(VISITORS);
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= VISITORS) return;
        const { visitor, token: visitorToken } = await identifyVisitor(
          ctx.db,
          ctx.clock,
          site,
          undefined,
          'bench',
        );
        await sendVisitorMessage(ctx.db, ctx.clock, visitor, { clientId: `w${i}`, text: 'Здравствуйте' });
        visitorTokens[i] = visitorToken!;
        if ((i + 1) % 2000 === 0) process.stderr.write(`  ${i + 1} visitors with dialogs\n`);
      }
    };
    await Promise.all(Array.from({ length: pgBase ? 8 : 1 }, worker));
    for (let k = 0; k < operatorIds.length; k++)
      await sql`update dialogs set operator_id = ${operatorIds[k]!}, assigned_at = now()
        where site_id = ${created.id} and operator_id is null and id % ${operatorIds.length} = ${k}`.execute(
        ctx.db,
      );
    return {
      siteKey: created.public_key,
      token,
      operatorIds,
      visitorTokens,
      setupSeconds: round((performance.now() - t0) / 1000),
    };
  } finally {
    await ctx.database.close();
  }
}

// --- the load ------------------------------------------------------------------------------------

interface PhaseResult {
  sent: number;
  /** From the first send until the drain ended. */
  wallSeconds: number;
  delivered: number;
  lost: number;
  seconds: number;
  messagesPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  p50BySecond: number[];
  ackLatencyMs: { acked: number; p50: number; p99: number };
}

interface RunResult {
  target: string;
  backend?: string;
  visitors: number;
  operators: number;
  connectSeconds: number;
  setupSeconds?: number;
  measured: PhaseResult & { rate: number; serverCpuShare: number };
  phases: (PhaseResult & { rate: number; serverCpuShare: number })[];
  /** The highest measured rate delivered completely with p99 under a second. */
  maxRateKeptUp: number;
  /** New visitors opening dialogs (operator assignment included); ours only. */
  dialogOpening?: PhaseResult;
  /** Frames the operator sockets received per measured message (the protocol fans out to every operator). */
  operatorFramesPerMessage: number;
  server: { rssMB: number };
  errors: Record<string, number>;
  serverCrashed?: { code: number | null; signal: string | null; logTail: string };
  visitorFrames: number;
  operatorFrames: Record<string, number>;
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

class Load {
  readonly visitors: WebSocket[] = [];
  readonly operators: WebSocket[] = [];
  /** seq → when it was sent (performance.now()), and when the dialog's operator got it. */
  sentAt = new Float64Array(0);
  gotAt = new Float64Array(0);
  ackAt = new Float64Array(0);
  seq = 0;
  operatorFrames = 0;
  readonly operatorFrameTypes: Record<string, number> = {};
  visitorFrames = 0;
  readonly dialogOwner = new Map<number, number>();
  readonly errors: Record<string, number> = {};
  private closing = false;

  constructor(
    private readonly base: string,
    private readonly fixture: Fixture | null,
  ) {}

  private count(error: string): void {
    this.errors[error] = (this.errors[error] ?? 0) + 1;
  }

  private open(path: string, index: number, hello: Record<string, unknown>): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const localAddress = `127.0.1.${1 + Math.floor(index / SOCKETS_PER_SOURCE_IP)}`;
      const ws = new WebSocket(this.base.replace(/^http/, 'ws') + path, {
        localAddress,
        perMessageDeflate: false,
      });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('hello timeout'));
      }, 60_000);
      ws.once('open', () => ws.send(JSON.stringify({ v: 1, id: 'h', ...hello })));
      const onFrame = (data: WebSocket.RawData) => {
        const text = String(data);
        if (text.includes('"type":"welcome"')) {
          clearTimeout(timer);
          ws.off('message', onFrame);
          resolve(ws);
        } else if (text.includes('"type":"error"')) {
          clearTimeout(timer);
          ws.terminate();
          reject(new Error(`no welcome: ${text.slice(0, 200)}`));
        }
      };
      ws.on('message', onFrame);
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
    });
  }

  async connect(): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < OPERATORS; i++) {
      const userId = this.fixture?.operatorIds[i];
      const ws = await this.open('/ws/operator', i, {
        type: 'hello',
        ...(this.fixture && {
          token: this.fixture.token,
          user_id: userId,
          status: 'online',
          scope: 'assigned',
        }),
      });
      ws.on('message', (data) => this.onOperatorFrame(String(data), userId ?? -1));
      ws.on('error', () => this.count('operator socket error'));
      ws.on('close', (code) => {
        if (!this.closing) this.count(`operator socket closed ${code}`);
      });
      this.operators.push(ws);
    }
    await this.connectVisitors(VISITORS, this.visitors, (i) => this.fixture?.visitorTokens[i]);
    return (performance.now() - t0) / 1000;
  }

  /** Opens `count` visitor sockets (with the given tokens, or as new visitors) into `into`. */
  async connectVisitors(
    count: number,
    into: WebSocket[],
    tokenOf: (i: number) => string | undefined,
    offset = 0,
  ): Promise<void> {
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        try {
          const token = tokenOf(i);
          const ws = await this.open('/ws/visitor', OPERATORS + offset + i, {
            type: 'hello',
            site_key: this.fixture?.siteKey ?? 'bare',
            ...(token && { visitor_token: token }),
          });
          ws.on('message', (data) => {
            const text = String(data);
            this.visitorFrames++;
            const acked = /"type":"ack","re":"m(\d+)"|"re":"m(\d+)","type":"ack"/.exec(text);
            if (acked) {
              const seq = Number(acked[1] ?? acked[2]);
              if (seq < this.ackAt.length && this.ackAt[seq] === 0) this.ackAt[seq] = performance.now();
            }
            if (text.includes('"type":"error"'))
              this.count(`visitor error frame: ${/"code":"(\w+)"/.exec(text)?.[1]}`);
          });
          ws.on('error', () => this.count('visitor socket error'));
          ws.on('close', () => {
            if (!this.closing) this.count('visitor socket closed');
          });
          into.push(ws);
        } catch (error) {
          this.count(`connect: ${(error as Error).message.slice(0, 60)}`);
        }
        if ((i + 1) % 2000 === 0) process.stderr.write(`  ${i + 1} visitors connected\n`);
      }
    };
    await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  }

  private onOperatorFrame(text: string, userId: number): void {
    const now = performance.now();
    this.operatorFrames++;
    const type = /"type":"([\w.]+)"/.exec(text)?.[1] ?? '?';
    this.operatorFrameTypes[type] = (this.operatorFrameTypes[type] ?? 0) + 1;
    if (text.includes('"type":"dialog.updated"')) {
      const frame = JSON.parse(text) as { dialog: { id: number; operator_id: number | null } };
      if (frame.dialog.operator_id !== null) this.dialogOwner.set(frame.dialog.id, frame.dialog.operator_id);
      return;
    }
    if (!text.includes('"type":"message.new"')) return;
    const seq = Number(/"text":"b(\d+)"/.exec(text)?.[1] ?? -1);
    if (seq < 0 || seq >= this.gotAt.length || this.gotAt[seq]! > 0) return;
    // The dialog's operator when the assignment is known; the first operator to see it otherwise.
    const dialogId = Number(/"dialog_id":(\d+)/.exec(text)?.[1] ?? 0);
    const owner =
      this.dialogOwner.get(dialogId) ??
      (this.fixture ? this.fixture.operatorIds[dialogId % this.fixture.operatorIds.length] : undefined);
    if (owner === undefined || owner === userId) this.gotAt[seq] = now;
  }

  /** Sends `total` messages at `rate` per second, round robin over the visitors; waits for deliveries. */
  async phase(total: number, rate: number, sockets: WebSocket[] = this.visitors): Promise<PhaseResult> {
    const first = this.seq;
    const sentAt = new Float64Array(first + total);
    sentAt.set(this.sentAt);
    const gotAt = new Float64Array(first + total);
    gotAt.set(this.gotAt);
    const ackAt = new Float64Array(first + total);
    ackAt.set(this.ackAt);
    this.sentAt = sentAt;
    this.gotAt = gotAt;
    this.ackAt = ackAt;
    const start = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
        while (sent < due) {
          const ws = sockets[(first + sent) % sockets.length]!;
          const seq = this.seq++;
          sent++;
          this.sentAt[seq] = performance.now();
          if (ws.readyState === WebSocket.OPEN)
            ws.send(`{"v":1,"type":"message.send","id":"m${seq}","client_id":"c${seq}","text":"b${seq}"}`);
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 2);
      };
      tick();
    });
    // Drain: wait until everything arrived, or nothing more arrives for 10 seconds.
    let delivered = 0;
    let lastChange = performance.now();
    for (;;) {
      let now = 0;
      for (let s = first; s < first + total; s++) if (this.gotAt[s]! > 0) now++;
      if (now !== delivered) {
        delivered = now;
        lastChange = performance.now();
      }
      if (delivered === total || performance.now() - lastChange > DRAIN_IDLE_MS) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const latencies = new Float64Array(delivered);
    let lastDelivery = start;
    let sum = 0;
    let k = 0;
    for (let s = first; s < first + total; s++) {
      const got = this.gotAt[s]!;
      if (got <= 0) continue;
      const ms = got - this.sentAt[s]!;
      latencies[k++] = ms;
      sum += ms;
      if (got > lastDelivery) lastDelivery = got;
    }
    latencies.sort();
    const seconds = (lastDelivery - start) / 1000;
    // Latency by the second the message was sent in: a growing line is a server falling behind.
    const buckets: number[][] = [];
    for (let s = first; s < first + total; s++) {
      const b = Math.floor((this.sentAt[s]! - start) / 1000);
      const bucket = buckets[b] ?? [];
      buckets[b] = bucket;
      bucket.push(this.gotAt[s]! > 0 ? this.gotAt[s]! - this.sentAt[s]! : Number.NaN);
    }
    const timeline = buckets.map((ms) => {
      const got = Float64Array.from(ms.filter((m) => !Number.isNaN(m))).sort();
      return round(percentile(got, 50), 0);
    });
    const acks: number[] = [];
    for (let s = first; s < first + total; s++)
      if (this.ackAt[s]! > 0) acks.push(this.ackAt[s]! - this.sentAt[s]!);
    const ackLatencies = Float64Array.from(acks).sort();
    return {
      sent: total,
      wallSeconds: round((performance.now() - start) / 1000, 2),
      delivered,
      lost: total - delivered,
      seconds: round(seconds, 2),
      messagesPerSecond: round(delivered / Math.max(seconds, 1e-3), 0),
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p90: round(percentile(latencies, 90)),
        p99: round(percentile(latencies, 99)),
        max: round(percentile(latencies, 100)),
        mean: round(delivered ? sum / delivered : 0),
      },
      /** p50 delivery latency (ms) of the messages sent in each second of the phase. */
      p50BySecond: timeline,
      /** Visitor send → its ack (the message is stored). */
      ackLatencyMs: {
        acked: ackLatencies.length,
        p50: round(percentile(ackLatencies, 50)),
        p99: round(percentile(ackLatencies, 99)),
      },
    };
  }

  readonly fresh: WebSocket[] = [];

  /** Waits until the sockets have been quiet for 3 s (a backlog drained), at most a minute. */
  async settle(): Promise<void> {
    const start = performance.now();
    let last = -1;
    let quietSince = performance.now();
    while (performance.now() - start < 60_000) {
      const now = this.operatorFrames + this.visitorFrames;
      if (now !== last) {
        last = now;
        quietSince = performance.now();
      } else if (performance.now() - quietSince > 3000) return;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const ws of [...this.visitors, ...this.fresh, ...this.operators]) ws.terminate();
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function run(target: 'ours' | 'bare', child: Child, fixture: Fixture | null): Promise<RunResult> {
  process.stderr.write(
    `${target}: connecting ${OPERATORS} operators and ${VISITORS} visitors to ${child.base}\n`,
  );
  const load = new Load(child.base, fixture);
  const connectSeconds = await load.connect();
  process.stderr.write(`${target}: connected in ${round(connectSeconds)} s\n`);
  await new Promise((r) => setTimeout(r, 2000));
  if (WARMUP > 0) {
    process.stderr.write(`${target}: warming up ${WARMUP} s at ${RATES[0]} msg/s\n`);
    await load.phase(Math.round(RATES[0]! * WARMUP), RATES[0]!);
    await load.settle();
  }
  const phases: (PhaseResult & { rate: number; serverCpuShare: number })[] = [];
  for (const rate of RATES) {
    process.stderr.write(`${target}: measuring ${SECONDS} s at ${rate} msg/s\n`);
    const before = processUsage(child.proc.pid!);
    const result = await load.phase(Math.round(rate * SECONDS), rate);
    const after = processUsage(child.proc.pid!);
    const cpu = after.cpuSeconds - before.cpuSeconds;
    phases.push({ rate, ...result, serverCpuShare: round(cpu / Math.max(result.wallSeconds, 1e-3), 2) });
    process.stderr.write(
      `${target}: ${rate} msg/s → delivered ${result.messagesPerSecond} msg/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, lost ${result.lost}\n`,
    );
    await load.settle();
  }
  const measured = phases[phases.length - 1]!;
  let dialogOpening: PhaseResult | undefined;
  if (fixture && FRESH > 0) {
    process.stderr.write(`${target}: ${FRESH} new visitors open dialogs at ${OPEN_RATE}/s\n`);
    await load.connectVisitors(FRESH, load.fresh, () => undefined, VISITORS);
    dialogOpening = await load.phase(load.fresh.length, OPEN_RATE, load.fresh);
  }
  await load.close();
  return {
    target,
    ...(target === 'ours' && { backend: pgBase ? 'postgres' : 'pglite' }),
    visitors: load.visitors.length,
    operators: load.operators.length,
    connectSeconds: round(connectSeconds),
    ...(fixture && { setupSeconds: fixture.setupSeconds }),
    measured,
    phases,
    ...(dialogOpening && { dialogOpening }),
    maxRateKeptUp: Math.max(
      0,
      ...phases.filter((p) => p.lost === 0 && p.latencyMs.p99 < 1000).map((p) => p.rate),
    ),
    operatorFramesPerMessage: round((load.operatorFrameTypes['message.new'] ?? 0) / Math.max(1, load.seq)),
    server: { rssMB: processUsage(child.proc.pid!).rssMB },
    errors: load.errors,
    ...(child.crashed() && { serverCrashed: child.crashed()! }),
    visitorFrames: load.visitorFrames,
    operatorFrames: load.operatorFrameTypes,
  };
}

async function runOurs(): Promise<RunResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-chat-bench-'));
  const databaseUrl = pgBase ? await createScratchDatabase(pgBase) : '';
  const env = {
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    OMNITALK_DEMO: '0',
    OMNITALK_SECRET_KEY: '',
    LOG_LEVEL: 'warn',
    PORT: '0',
    HOST: '127.0.0.1',
  };
  try {
    const fixture = await prepareOmnitalk(env);
    const server = await startChild([path.join(root, 'bin/omnitalk.js'), 'server'], env);
    try {
      return await run('ours', server, fixture);
    } finally {
      await server.stop();
    }
  } finally {
    if (pgBase && databaseUrl) await dropScratchDatabase(pgBase, databaseUrl).catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function runBare(): Promise<RunResult> {
  const relay = await startChild(['--import', 'tsx', path.join(root, 'bench/bare-relay.ts')], {});
  try {
    return await run('bare', relay, null);
  } finally {
    await relay.stop();
  }
}

const ours = ONLY === 'bare' ? null : await runOurs();
const bare = ONLY === 'ours' ? null : await runBare();
const result = {
  benchmark: 'chat',
  at: new Date().toISOString(),
  machine: {
    node: process.version,
    cpus: os.cpus().length,
    fdLimit,
    loadAverage: os.loadavg().map((l) => round(l, 2)),
  },
  params: {
    visitors: VISITORS,
    operators: OPERATORS,
    rates: RATES,
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    fresh: FRESH,
    openRate: OPEN_RATE,
  },
  note: 'Client (this process) and server share the machine; latency is visitor send → the dialog operator socket receiving message.new.',
  ours,
  bare,
  ratio:
    ours && bare
      ? {
          throughput: round(
            ours.measured.messagesPerSecond / Math.max(1, bare.measured.messagesPerSecond),
            2,
          ),
          p99: round(ours.measured.latencyMs.p99 / Math.max(0.1, bare.measured.latencyMs.p99), 1),
          /** Highest rate each kept up with (everything delivered, p99 under a second). */
          keptUp: round(ours.maxRateKeptUp / Math.max(1, bare.maxRateKeptUp), 2),
          /** Best delivered msg/s of any phase. */
          peakDelivered: round(
            Math.max(...ours.phases.map((p) => p.messagesPerSecond)) /
              Math.max(1, ...bare.phases.map((p) => p.messagesPerSecond)),
            2,
          ),
        }
      : null,
  goals: ours
    ? {
        p99UnderFiftyMs: ours.measured.latencyMs.p99 < 50,
        atLeastThousandPerSecond: ours.measured.messagesPerSecond >= 1000 * 0.98,
        keptUpAtThousand: ours.maxRateKeptUp >= 1000,
        tenThousandSockets: ours.visitors >= 10_000,
        ratioAtLeastHalf:
          ours && bare ? ours.measured.messagesPerSecond / bare.measured.messagesPerSecond >= 0.5 : null,
      }
    : null,
};
const json = JSON.stringify(result, null, 2);
process.stdout.write(`${json}\n`);
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, `${json}\n`);
process.exit(0);
