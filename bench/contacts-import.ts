/**
 * Contacts import benchmark: generates a CSV of N rows (~1% bad, ~0.5% duplicates) and imports it on PGlite
 * (a fresh data directory) and, when DATABASE_URL or TEST_DATABASE_URL is set, on PostgreSQL (a scratch
 * database, dropped afterwards). A smaller file is imported too, so the two peak RSS values show whether
 * memory grows with the file. Each import runs in its own child process so its peak RSS is its own.
 *
 *   node --import tsx bench/contacts-import.ts [--rows 1000000] [--small 100000] [--batch 5000]
 *                                              [--backends pglite,postgres]
 *
 * Prints one JSON object and writes it to bench/results/contacts-import.json.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { createImport, DEFAULT_BATCH_SIZE, runImport } from '../src/contacts/import/index.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { systemClock } from '../src/shared/clock.ts';
import { createScratchDatabase, dropScratchDatabase } from '../test/support/db.ts';

type Backend = 'pglite' | 'postgres';

interface RunResult {
  backend: Backend;
  rows: number;
  fileMB: number;
  batchSize: number;
  seconds: number;
  rowsPerSecond: number;
  /** Highest RSS sampled every 100 ms during the import. */
  peakRssMB: number;
  /** RSS after opening and migrating the database, before the import. */
  startRssMB: number;
  /** The OS's own peak RSS of the child process (includes start-up). */
  maxRssMB: number;
  /** CPU time of the importing process during the import (on PGlite this includes the database). */
  processCpuSeconds: number;
  /** JS heap still in use after the import and a full GC: what the import retained. */
  heapAfterGcMB: number;
  summary: { total: number; created: number; updated: number; duplicates: number; errors: number };
}

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), '..');
const MB = 1024 * 1024;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const cities = [
  'Москва',
  'Санкт-Петербург',
  'Казань',
  'Новосибирск',
  'Екатеринбург',
  'Самара',
  'Омск',
  'Тула',
];
const zones = ['Europe/Moscow', 'Asia/Yekaterinburg', 'Asia/Novosibirsk', 'Europe/Samara'];

/** Row i of the generated file: varied phone spellings, ~1% bad rows, ~0.5% repeats of an earlier phone. */
function csvRow(i: number): string {
  const national = String(9_000_000_000 + i);
  let phone: string;
  switch (i % 4) {
    case 0:
      phone = `8 ${national.slice(0, 3)} ${national.slice(3, 6)}-${national.slice(6, 8)}-${national.slice(8)}`;
      break;
    case 1:
      phone = `"+7 (${national.slice(0, 3)}) ${national.slice(3, 6)}-${national.slice(6, 8)}-${national.slice(8)}"`;
      break;
    case 2:
      phone = `7${national}`;
      break;
    default:
      phone = national;
  }
  let email = i % 2 === 0 ? `user${i}@example.com` : '';
  let zone = i % 3 === 0 ? zones[i % zones.length]! : '';
  if (i % 100 === 50) {
    // the bad ~1%: a short phone, a broken email or an unknown zone
    if (i % 300 === 50) phone = String(i % 100_000);
    else if (i % 300 === 150) email = `user${i}@@example`;
    else zone = 'Mars/Olympus';
  } else if (i % 200 === 101) {
    phone = String(9_000_000_000 + i - 100); // a repeat of an earlier row's phone
  }
  return `${phone},${email},Имя Фамилия ${i},${cities[i % cities.length]},${zone}\n`;
}

async function generateCsv(file: string, rows: number): Promise<void> {
  const out = fs.createWriteStream(file);
  out.write('Телефон,Email,Имя,Город,Часовой пояс\n');
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    chunk += csvRow(i);
    if (chunk.length > 256 * 1024) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = '';
    }
  }
  out.write(chunk);
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** One import in this (child) process; prints its RunResult as JSON. */
async function child(): Promise<void> {
  const backend = arg('backend') as Backend;
  const file = arg('file')!;
  const batchSize = Number(arg('batch') ?? DEFAULT_BATCH_SIZE);
  const baseUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || '';
  let database: Database;
  let cleanup: () => Promise<void>;
  if (backend === 'postgres') {
    const url = await createScratchDatabase(baseUrl);
    database = await openDatabase({ databaseUrl: url, poolSize: 4 });
    cleanup = () => dropScratchDatabase(baseUrl, url);
  } else {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-bench-pglite-'));
    database = await openDatabase({ pgliteDir: dataDir });
    cleanup = async () => fs.rmSync(dataDir, { recursive: true, force: true });
  }
  try {
    await migrate(database.db);
    if (backend === 'postgres') {
      // Start from clean buffers, so an earlier run's dirty pages are not flushed on this one's time.
      await sql`checkpoint`.execute(database.db).catch(() => {}); // needs a superuser; best effort
    }
    const clock = systemClock;
    const account = await database.db
      .insertInto('accounts')
      .values({ name: 'bench', created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const group = await database.db
      .insertInto('contact_groups')
      .values({ account_id: account.id, name: 'bench', created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const record = await createImport(database.db, clock, {
      accountId: account.id,
      fileName: path.basename(file),
      format: 'csv',
    });

    global.gc?.();
    const startRss = process.memoryUsage().rss;
    let peakRss = startRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const summary = await runImport(database.db, clock, {
      importId: record.id,
      accountId: account.id,
      groupId: group.id,
      filePath: file,
      mapping: {
        phone: 'Телефон',
        email: 'Email',
        name: 'Имя',
        timezone: 'Часовой пояс',
        vars: { city: 'Город' },
      },
      region: 'RU',
      batchSize,
    });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    global.gc?.();
    const heapAfterGc = process.memoryUsage().heapUsed;

    const result: RunResult = {
      backend,
      rows: summary.total,
      fileMB: round(fs.statSync(file).size / MB),
      batchSize,
      seconds: round(seconds, 2),
      rowsPerSecond: Math.round(summary.total / seconds),
      peakRssMB: round(peakRss / MB),
      startRssMB: round(startRss / MB),
      maxRssMB: round((process.resourceUsage().maxRSS * 1024) / MB),
      processCpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
      heapAfterGcMB: round(heapAfterGc / MB),
      summary,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await database.close();
    await cleanup();
  }
}

async function runChild(backend: Backend, file: string, batchSize: number): Promise<RunResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '--expose-gc',
      self,
      '--child',
      '--backend',
      backend,
      '--file',
      file,
      '--batch',
      String(batchSize),
    ],
    { cwd: root, env: process.env, maxBuffer: 16 * MB },
  );
  const line = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as RunResult;
}

async function parent(): Promise<void> {
  const rows = Number(arg('rows') ?? 1_000_000);
  const smallRows = Number(arg('small') ?? Math.min(100_000, Math.max(1, Math.floor(rows / 10))));
  const batchSize = Number(arg('batch') ?? DEFAULT_BATCH_SIZE);
  const hasPostgres = Boolean(process.env.DATABASE_URL || process.env.TEST_DATABASE_URL);
  const wanted = (arg('backends') ?? 'pglite,postgres').split(',') as Backend[];
  const backends = wanted.filter((b) => b === 'pglite' || (b === 'postgres' && hasPostgres));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-bench-import-'));
  const id = crypto.randomBytes(3).toString('hex');
  const bigFile = path.join(dir, `contacts-${rows}-${id}.csv`);
  const smallFile = path.join(dir, `contacts-${smallRows}-${id}.csv`);
  try {
    process.stderr.write(`generating ${rows} and ${smallRows} rows in ${dir}\n`);
    await generateCsv(bigFile, rows);
    await generateCsv(smallFile, smallRows);

    // Other processes on the machine skew the numbers; the load average says how quiet it was.
    const loadAtStart = os.loadavg()[0]!;
    const results: RunResult[] = [];
    for (const backend of backends) {
      for (const file of [smallFile, bigFile]) {
        process.stderr.write(`importing ${path.basename(file)} on ${backend}…\n`);
        const result = await runChild(backend, file, batchSize);
        process.stderr.write(`  ${result.rowsPerSecond} rows/s, peak RSS ${result.peakRssMB} MB\n`);
        results.push(result);
      }
    }

    const memory: Record<string, unknown> = {};
    for (const backend of backends) {
      const [small, big] = results.filter((r) => r.backend === backend);
      memory[backend] = {
        smallRows: small!.rows,
        smallPeakRssMB: small!.peakRssMB,
        largeRows: big!.rows,
        largePeakRssMB: big!.peakRssMB,
        growthMB: round(big!.peakRssMB - small!.peakRssMB),
        ratio: round(big!.peakRssMB / small!.peakRssMB, 2),
      };
    }
    const postgresLarge = results.filter((r) => r.backend === 'postgres').at(-1) ?? null;
    const report = {
      benchmark: 'contacts-import',
      at: new Date().toISOString(),
      machine: {
        node: process.version,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? '',
        loadAverageAtStart: round(loadAtStart, 2),
        loadAverageAtEnd: round(os.loadavg()[0]!, 2),
      },
      rows,
      smallRows,
      batchSize,
      badRowsShare: 0.01,
      results,
      memory,
      goal: {
        postgresRowsPerSecond: 50_000,
        postgresLargeRowsPerSecond: postgresLarge?.rowsPerSecond ?? null,
        met: postgresLarge ? postgresLarge.rowsPerSecond >= 50_000 : null,
      },
    };
    const json = JSON.stringify(report, null, 2);
    process.stdout.write(`${json}\n`);
    const resultsDir = path.join(root, 'bench', 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, 'contacts-import.json'), `${json}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await (process.argv.includes('--child') ? child() : parent());
