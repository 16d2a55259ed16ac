/**
 * bench/peer-bullmq — the peer for workload W1 (issue 3): the same cascade written the way a Node team
 * usually would, with BullMQ on Redis. One job per recipient step:
 *
 *   send-viber → (delayed) decide-viber → undelivered? → send-sms → (delayed) decide-sms → goal / done
 *
 * - One Queue and one Worker in this process; `concurrency` (default 100) as BullMQ's docs suggest for
 *   I/O-bound processors; the initial jobs go in with `addBulk` in chunks of 1,000; completed jobs are
 *   auto-removed (`removeOnComplete`), as the docs recommend for high volumes.
 * - The provider is simulated deterministically from the recipient, with the sandbox's seeded random
 *   (`seededRandom(seed, channel, key)`, the outcome being the third draw as in simulate.ts):
 *   Viber delivered 60% / undelivered 40%, SMS delivered 95% / undelivered 5%.
 * - State lives in Redis the usual way: a hash per recipient (`w1:r:<id>`: viber, sms, result) and
 *   counters in `w1:stats`; no PostgreSQL.
 * - Fast clock: BullMQ has no injectable clock, so the decision time (600 s in the scheme) is scaled down
 *   to `decisionDelayMs` (default 1 ms). The decide jobs are still real delayed jobs (they go through
 *   BullMQ's delayed set and are promoted by the worker), they are just due almost at once, like our
 *   fast clock's "decision times pass at once".
 * - Redis db 15 (by default) is flushed before and after the run; the process's peak RSS is sampled
 *   every 100 ms (the Redis server's memory is not counted, as the PostgreSQL server's is not in
 *   cascade.ts).
 *
 *   node --import tsx bench/peer-bullmq.ts [--recipients 100000] [--concurrency 100]
 *     [--redis redis://127.0.0.1:6379/15] [--decision-delay-ms 1]
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq';
import { seededRandom } from '../src/channels/sandbox/random.ts';

export interface BullmqW1Options {
  recipients: number;
  redisUrl?: string;
  concurrency?: number;
  /** The scheme's 600 s decision time, scaled down (BullMQ has no injectable clock). */
  decisionDelayMs?: number;
}

export interface BullmqW1Result {
  peer: 'bullmq';
  bullmq: string;
  recipients: number;
  finished: number;
  goals: number;
  messages: number;
  wallSeconds: number;
  recipientsPerSecond: number;
  messagesPerSecond: number;
  peakRssMB: number;
  concurrency: number;
  decisionDelayMs: number;
}

type Step = 'send-viber' | 'decide-viber' | 'send-sms' | 'decide-sms';
interface RecipientData {
  id: number;
  phone: string;
  name: string;
}

const SEED = 1;
const TEXT = '{{name}}, ваш заказ готов к выдаче';
const QUEUE = 'w1';

/**
 * The few plain Redis commands used for state, on the Queue's own connection. `queue.client` is BullMQ's
 * ioredis proxy (typed as its narrow IRedisClient); these calls are forwarded to ioredis unchanged, so a
 * local interface spares importing ioredis, which is BullMQ's dependency rather than ours.
 */
interface StateTransaction {
  hset(key: string, data: Record<string, string>): StateTransaction;
  hincrby(key: string, field: string, by: number): StateTransaction;
  exec(): Promise<unknown>;
}
interface StateClient {
  flushdb(): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  multi(): StateTransaction;
}
const CHUNK = 1_000;

/** The sandbox's outcome draw: the third value of seededRandom(seed, channel, key). */
function providerOutcome(channel: 'viber' | 'sms', recipientId: number): 'delivered' | 'undelivered' {
  const next = seededRandom(SEED, channel, `r${recipientId}s0a0`);
  next(); // submit error (probability 0 in W1)
  next(); // error reason
  const u = next();
  return u < (channel === 'viber' ? 0.6 : 0.95) ? 'delivered' : 'undelivered';
}

function connectionFrom(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number(u.pathname.replace('/', '') || 0),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    maxRetriesPerRequest: null, // required by BullMQ for workers
  };
}

function bullmqVersion(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('bullmq/package.json');
  return (JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as { version: string }).version;
}

export async function runBullmqW1(options: BullmqW1Options): Promise<BullmqW1Result> {
  const N = options.recipients;
  const concurrency = options.concurrency ?? 100;
  const decisionDelayMs = options.decisionDelayMs ?? 1;
  const connection = connectionFrom(options.redisUrl ?? 'redis://127.0.0.1:6379/15');
  const jobOptions = { removeOnComplete: true, removeOnFail: 1_000, attempts: 3 };

  const queue = new Queue<RecipientData, unknown, Step>(QUEUE, { connection, defaultJobOptions: jobOptions });
  const redis = (await queue.client) as unknown as StateClient;
  await redis.flushdb();

  let finished = 0;
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const allFinished = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const finish = async (id: number, result: 'goal' | 'done') => {
    await redis
      .multi()
      .hset(`w1:r:${id}`, { result })
      .hincrby('w1:stats', result === 'goal' ? 'goals' : 'finished_without_goal', 1)
      .exec();
    if (++finished === N) settle.resolve();
  };

  const send = async (channel: 'viber' | 'sms', job: Job<RecipientData>) => {
    const r = job.data;
    const text = TEXT.replace('{{name}}', r.name); // the rendering a real send would do
    const status = providerOutcome(channel, r.id);
    await redis
      .multi()
      .hset(`w1:r:${r.id}`, { [channel]: status, [`${channel}_text`]: text })
      .hincrby('w1:stats', 'messages', 1)
      .exec();
    // The decision time: a delayed job, scaled down (see the header).
    await queue.add(channel === 'viber' ? 'decide-viber' : 'decide-sms', r, { delay: decisionDelayMs });
    return { status };
  };

  const worker = new Worker<RecipientData, unknown, Step>(
    QUEUE,
    async (job) => {
      switch (job.name) {
        case 'send-viber':
          return send('viber', job);
        case 'send-sms':
          return send('sms', job);
        case 'decide-viber': {
          const status = await redis.hget(`w1:r:${job.data.id}`, 'viber');
          if (status === 'undelivered') await queue.add('send-sms', job.data);
          else await finish(job.data.id, 'done'); // no link from "delivered": the recipient is done
          return { status };
        }
        case 'decide-sms': {
          const status = await redis.hget(`w1:r:${job.data.id}`, 'sms');
          await finish(job.data.id, status === 'delivered' ? 'goal' : 'done');
          return { status };
        }
      }
    },
    { connection, concurrency },
  );
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) settle.reject(err);
  });
  worker.on('error', (err) => settle.reject(err));
  await worker.waitUntilReady();

  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);

  try {
    const t0 = performance.now();
    for (let start = 1; start <= N; start += CHUNK) {
      const jobs = [];
      for (let id = start; id < Math.min(start + CHUNK, N + 1); id++) {
        jobs.push({
          name: 'send-viber' as const,
          data: { id, phone: `+7900${String(id).padStart(7, '0')}`, name: `Клиент ${id}` },
        });
      }
      await queue.addBulk(jobs);
    }
    if (N > 0) await allFinished;
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());

    const stats = await redis.hgetall('w1:stats');
    const messages = Number(stats.messages ?? 0);
    const goals = Number(stats.goals ?? 0);
    const done = goals + Number(stats.finished_without_goal ?? 0);
    return {
      peer: 'bullmq',
      bullmq: bullmqVersion(),
      recipients: N,
      finished: done,
      goals,
      messages,
      wallSeconds: Number(seconds.toFixed(2)),
      recipientsPerSecond: Math.round(N / seconds),
      messagesPerSecond: Math.round(messages / seconds),
      peakRssMB: Number((peakRss / 1024 / 1024).toFixed(1)),
      concurrency,
      decisionDelayMs,
    };
  } finally {
    clearInterval(sampler);
    await worker.close();
    await redis.flushdb();
    await queue.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const concurrency = arg('concurrency');
  const redisUrl = arg('redis') ?? process.env.BENCH_REDIS_URL;
  const delay = arg('decision-delay-ms');
  const result = await runBullmqW1({
    recipients: Number(arg('recipients') ?? 100_000),
    ...(concurrency ? { concurrency: Number(concurrency) } : {}),
    ...(redisUrl ? { redisUrl } : {}),
    ...(delay ? { decisionDelayMs: Number(delay) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
