/**
 * CRM hub benchmark (issue 5): N contact events over A accounts (integrations, each its own RetailCRM
 * fake) whose fakes allow R requests/s per account (a token bucket of R, answering 429 + Retry-After
 * beyond it). The runner is told the same rate. Reports sustained throughput (requests the fakes
 * accepted, first to last) as a fraction of the combined limit A×R, 429s, and duplicates (records
 * sharing a phone within one fake, and creates beyond one per contact).
 *
 *   node --import tsx bench/crm.ts [--events 10000] [--accounts 20] [--rate 7] [--out file.json]
 *
 * Runs on PGlite, or on PostgreSQL when DATABASE_URL is set. Writes bench/results/crm.json (PGlite) or
 * bench/results/crm-pg.json (PostgreSQL) unless --out names another file. The machine's load average
 * (os.loadavg, as `uptime` shows it) at the start and at the end goes into the result: the runner and
 * the 20 fakes share one Node process, so a busy machine lowers the numbers.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { createAccount } from '../src/accounts/accounts.ts';
import { SecretBox } from '../src/accounts/secrets.ts';
import { createSite } from '../src/chat/sites.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import type { AppContext } from '../src/http/context.ts';
import { queueName } from '../src/integrations/hub/boss.ts';
import { HubRunner } from '../src/integrations/hub/runner.ts';
import { configureIntegration } from '../src/integrations/hub/service.ts';
import { systemClock } from '../src/shared/clock.ts';
import { createLogger } from '../src/shared/logger.ts';
import { RetailCrmFake } from '../test/fakes/retailcrm.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const EVENTS = arg('events', 10_000);
const ACCOUNTS = arg('accounts', 20);
const RATE = arg('rate', 7);
const outIndex = process.argv.indexOf('--out');
const OUT = outIndex >= 0 ? process.argv[outIndex + 1] : undefined;
const loadAverage = () => os.loadavg().map((l) => Number(l.toFixed(2)));

class Bucket {
  #tokens = RATE;
  #at = Date.now();
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(RATE, this.#tokens + ((now - this.#at) / 1000) * RATE);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

async function main() {
  const loadAtStart = loadAverage();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const database = await openDatabase({ databaseUrl: process.env.DATABASE_URL ?? null, pgliteDir: null });
  await migrate(database.db);
  const ctx: AppContext = {
    database,
    db: database.db,
    clock: systemClock,
    logger,
    secrets: new SecretBox(crypto.randomBytes(32)),
    defaultRegion: 'RU',
    dataDir: os.tmpdir(),
    secureCookies: false,
  };
  const account = await createAccount(
    ctx.db,
    ctx.clock,
    `bench-crm-${crypto.randomBytes(3).toString('hex')}`,
  );
  const fakes: { fake: RetailCrmFake; limited: number; stamps: number[] }[] = [];
  const siteIds: number[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const site = await createSite(ctx.db, ctx.clock, account.id, { name: `Bench ${a}` });
    siteIds.push(site.id);
    const fake = await RetailCrmFake.start();
    await configureIntegration(ctx, account.id, site.id, 'retailcrm', {
      domain: `bench${a}.retailcrm.ru`,
      apiKey: fake.apiKey,
      apiBaseUrl: fake.url,
    });
    const entry = { fake, limited: 0, stamps: [] as number[] };
    const bucket = new Bucket();
    fake.server.inject({
      when: () => {
        if (bucket.take()) {
          entry.stamps.push(Date.now());
          return false;
        }
        entry.limited += 1;
        return true;
      },
      respond: {
        status: 429,
        headers: { 'retry-after': '1' },
        body: { success: false, errorMsg: 'Too many' },
      },
      times: Number.MAX_SAFE_INTEGER,
    });
    fakes.push(entry);
  }
  // Contacts and their contact.captured events, spread evenly over the accounts' sites.
  const now = new Date();
  for (let i = 0; i < EVENTS; i += 1000) {
    const n = Math.min(1000, EVENTS - i);
    const contacts = await ctx.db
      .insertInto('contacts')
      .values(
        Array.from({ length: n }, (_, k) => ({
          account_id: account.id,
          phone: `+7916${String(1_000_000 + i + k).padStart(7, '0')}`,
          name: `Bench ${i + k}`,
          vars: '{}',
          created_at: now,
          updated_at: now,
        })),
      )
      .returning('id')
      .execute();
    await ctx.db
      .insertInto('outbox')
      .values(
        contacts.map((c, k) => ({
          account_id: account.id,
          site_id: siteIds[(i + k) % ACCOUNTS]!,
          kind: 'contact.captured' as const,
          payload: JSON.stringify({ contact: { id: c.id } }),
          created_at: now,
        })),
      )
      .execute();
  }
  await ctx.db.updateTable('integrations').set({ last_success_at: null }).execute();
  const runner = new HubRunner({
    db: ctx.db,
    box: ctx.secrets,
    clock: ctx.clock,
    logger,
    multiProcess: database.kind === 'postgres',
    rateLimit: { requestsPerSecond: RATE },
  });
  const started = Date.now();
  await runner.start();
  const pending = async () =>
    Number(
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from integration_events where status <> 'done'`.execute(ctx.db)
      ).rows[0]!.n,
    );
  const fannedOut = async () =>
    Number(
      (await sql<{ n: number }>`select count(*)::int as n from integration_events`.execute(ctx.db)).rows[0]!
        .n,
    );
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const total = await fannedOut();
    const left = await pending();
    if (process.stderr.isTTY) process.stderr.write(`\r${total - left}/${EVENTS} delivered`);
    if (total >= EVENTS && left === 0) break;
    if (Date.now() - started > 30 * 60_000) throw new Error('bench timed out');
  }
  const finished = Date.now();
  await runner.stop();
  const stamps = fakes.flatMap((f) => f.stamps).sort((x, y) => x - y);
  const first = stamps[0]!;
  const last = stamps.at(-1)!;
  const requests = stamps.length;
  const seconds = (last - first) / 1000;
  const throughput = requests / seconds;
  const combined = ACCOUNTS * RATE;
  let duplicates = 0;
  let records = 0;
  for (const { fake } of fakes) {
    const phones = [...fake.customers.values()].map((c) => c.phones[0]?.number ?? '');
    records += phones.length;
    duplicates += phones.length - new Set(phones).size;
  }
  const creates = fakes.reduce(
    (s, f) => s + f.fake.server.find('POST', '/api/v5/customers/create').length,
    0,
  );
  const parked = Number(
    (
      await sql<{
        n: number;
      }>`select count(*)::int as n from integration_events where status = 'failed'`.execute(ctx.db)
    ).rows[0]!.n,
  );
  const result = {
    benchmark: 'crm-hub',
    backend: database.kind,
    queue: 'pg-boss 10 (one queue per integration, singleton per contact)',
    events: EVENTS,
    accounts: ACCOUNTS,
    rate_limit_per_account: RATE,
    combined_rate_limit: combined,
    requests_accepted: requests,
    requests_rate_limited_429: fakes.reduce((s, f) => s + f.limited, 0),
    sustained_seconds: Number(seconds.toFixed(2)),
    sustained_requests_per_second: Number(throughput.toFixed(2)),
    fraction_of_combined_limit: Number((throughput / combined).toFixed(4)),
    wall_seconds: Number(((finished - started) / 1000).toFixed(2)),
    records_created: records,
    create_requests: creates,
    duplicates,
    parked,
    node: process.version,
    cpus: os.cpus().length,
    load_average_start: loadAtStart,
    load_average_end: loadAverage(),
    at: new Date().toISOString(),
  };
  const out = OUT
    ? path.resolve(OUT)
    : path.join(
        path.dirname(fileURLToPath(import.meta.url)),
        'results',
        database.kind === 'postgres' ? 'crm-pg.json' : 'crm.json',
      );
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const { fake } of fakes) await fake.close();
  if (database.kind === 'postgres') {
    // A shared server: leave no queues or rows behind for the next run's runner to poll.
    const ids = await ctx.db
      .selectFrom('integrations')
      .select('id')
      .where('account_id', '=', account.id)
      .execute();
    for (const { id } of ids) {
      await sql`delete from pgboss.job where name = ${queueName(id)}`.execute(ctx.db);
      await sql`select pgboss.delete_queue(${queueName(id)})`.execute(ctx.db);
    }
    await ctx.db.deleteFrom('accounts').where('id', '=', account.id).execute();
  }
  await database.close();
}

await main();
