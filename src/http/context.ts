import type { Kysely } from 'kysely';
import type { CountryCode } from 'libphonenumber-js';
import type { Logger } from 'pino';
import type { SecretBox } from '../accounts/secrets.ts';
import type { Database } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';

/** What every route and worker needs; built once per process. */
export interface AppContext {
  database: Database;
  db: Kysely<DB>;
  clock: Clock;
  logger: Logger;
  secrets: SecretBox;
  defaultRegion: CountryCode;
  dataDir: string;
  /** Cookies marked Secure when served over https. */
  secureCookies: boolean;
  /** PUBLIC_URL: the address users and external systems reach (OAuth redirect URLs are built on it). */
  publicUrl?: string | null;
}
