import path from 'node:path';
import type { CountryCode } from 'libphonenumber-js';
import type { Logger } from 'pino';
import { loadMasterKey, SecretBox } from './accounts/secrets.ts';
import type { Config } from './config/config.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import type { AppContext } from './http/context.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import { createLogger } from './shared/logger.ts';

/** Opens the database (PostgreSQL when DATABASE_URL is set, else PGlite under DATA_DIR) and migrates it. */
export async function openRuntime(
  config: Config,
  options: { clock?: Clock; logger?: Logger; migrate?: boolean } = {},
): Promise<AppContext> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const database: Database = await openDatabase({
    databaseUrl: config.databaseUrl,
    pgliteDir: config.databaseUrl ? null : path.join(config.dataDir, 'pglite'),
    ...(config.pgliteSharedBuffers ? { pgliteSharedBuffers: config.pgliteSharedBuffers } : {}),
  });
  if (options.migrate !== false) {
    const ran = await migrate(database.db);
    if (ran.length > 0) logger.info({ migrations: ran }, 'database migrated');
  }
  return {
    database,
    db: database.db,
    clock: options.clock ?? systemClock,
    logger,
    secrets: new SecretBox(loadMasterKey({ secretKey: config.secretKey, dataDir: config.dataDir })),
    defaultRegion: config.defaultRegion as CountryCode,
    dataDir: config.dataDir,
    secureCookies: config.publicUrl?.startsWith('https:') ?? false,
    publicUrl: config.publicUrl,
  };
}
