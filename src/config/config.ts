import path from 'node:path';
import { z } from 'zod';

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().optional(),
  OMNITALK_SECRET_KEY: z.string().optional(),
  OMNITALK_DEMO: z.enum(['0', '1']).default('1'),
  OMNITALK_DEMO_TOKEN: z.string().min(16).optional(),
  OMNITALK_DEFAULT_REGION: z.string().length(2).default('RU'),
  /** Simulation only: workers share a virtual clock that jumps to the next due moment (benchmarks, crash tests). */
  OMNITALK_FAST_CLOCK: z.enum(['0', '1']).default('0'),
  /** Recipients (and events) the engine moves per statement; unset: defaultEngineBatch. */
  OMNITALK_ENGINE_BATCH: z.coerce.number().int().min(1).max(100_000).optional(),
  /**
   * Engine loops per worker process, side by side (PostgreSQL only; PGlite has one connection). Unset:
   * 2 on PostgreSQL, 1 on PGlite.
   */
  OMNITALK_ENGINE_LANES: z.coerce.number().int().min(1).max(16).optional(),
  /** The embedded database's buffer pool (PostgreSQL units); see DEFAULT_PGLITE_BUFFERS. */
  OMNITALK_PGLITE_SHARED_BUFFERS: z
    .string()
    .regex(/^[1-9]\d*(kB|MB|GB)$/, 'a size such as 512MB or 1GB')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  port: number;
  host: string;
  publicUrl: string | null;
  dataDir: string;
  databaseUrl: string | null;
  secretKey: string | null;
  demo: boolean;
  demoToken: string | null;
  defaultRegion: string;
  logLevel: string;
  fastClock: boolean;
  /** Null: defaultEngineBatch for the database. */
  engineBatch: number | null;
  /** Null: the default for the database (see OMNITALK_ENGINE_LANES). */
  engineLanes: number | null;
  /** Null: DEFAULT_PGLITE_BUFFERS. */
  pgliteSharedBuffers: string | null;
}

/** Reads and validates the environment once; a bad variable stops the process with its name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set" (shell scripts and compose files often export VAR= ).
  const given = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = envSchema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`Invalid environment variable ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL ?? null,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL || null,
    secretKey: e.OMNITALK_SECRET_KEY ?? null,
    demo: e.OMNITALK_DEMO === '1',
    demoToken: e.OMNITALK_DEMO_TOKEN ?? null,
    defaultRegion: e.OMNITALK_DEFAULT_REGION.toUpperCase(),
    logLevel: e.LOG_LEVEL,
    fastClock: e.OMNITALK_FAST_CLOCK === '1',
    engineBatch: e.OMNITALK_ENGINE_BATCH ?? null,
    engineLanes: e.OMNITALK_ENGINE_LANES ?? null,
    pgliteSharedBuffers: e.OMNITALK_PGLITE_SHARED_BUFFERS ?? null,
  };
}

/**
 * Rows per engine statement when OMNITALK_ENGINE_BATCH is unset. On PostgreSQL a worker runs two engine
 * lanes, each with its batches in flight, and its memory grows with rows in flight: measured with
 * bench/cascade.ts (W1, 1,000,000 recipients, one worker with two lanes, stock server, one run each),
 * 5000 rows took 305.0 s with a peak RSS of 392 MB, 2500 rows 311.4 s and 338 MB. PGlite has one lane
 * and one connection, where fewer, larger statements win.
 */
export function defaultEngineBatch(kind: 'pglite' | 'postgres'): number {
  return kind === 'postgres' ? 2500 : 5000;
}
