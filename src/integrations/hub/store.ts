import { type Kysely, type Selectable, sql } from 'kysely';
import type { SecretBox } from '../../accounts/secrets.ts';
import type { DB, IntegrationsTable } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { CrmError } from '../crm/errors.ts';
import { HttpClient, reauthorizationRequired, type TokenSet, type TokenStore } from '../crm/http.ts';
import { crmConnector } from '../crm/registry.ts';
import { openSettings, type SettingsShape } from '../crm/settings.ts';
import { type CrmConnector, type CrmContext, type CrmSystem, crmSystems } from '../crm/types.ts';
import type { RequestLimiter } from './limiter.ts';

export type IntegrationRow = Selectable<IntegrationsTable>;

export const isCrmSystem = (value: string): value is CrmSystem =>
  (crmSystems as readonly string[]).includes(value);

/** Associated data binding sealed values to their row, so a ciphertext cannot move to another one. */
export const settingsAad = (id: number) => `integration:${id}`;
export const tokensAad = (id: number) => `integration:${id}:tokens`;

export async function loadIntegration(db: Kysely<DB>, id: number): Promise<IntegrationRow | null> {
  const row = await db.selectFrom('integrations').selectAll().where('id', '=', id).executeTakeFirst();
  return (row as IntegrationRow | undefined) ?? null;
}

export function connectorOf(row: Pick<IntegrationRow, 'system'>): CrmConnector<unknown> {
  if (!isCrmSystem(row.system)) throw new Error(`unknown CRM system ${row.system}`);
  return crmConnector(row.system);
}

/**
 * Errors that are the integration's, not an event's: no event can get through until someone grants
 * access again or fixes the settings. The runner then pauses the integration's deliveries instead of
 * parking (or retrying) every event: its events stay pending, and flow again once the OAuth callback or a
 * settings save that passes its test call marks the integration connected.
 */
export const pausingReasons = ['reauthorization_required', 'not_configured'] as const;

export function isDeliveryPaused(row: Pick<IntegrationRow, 'status' | 'last_error'>): boolean {
  const reason = (row.last_error as { reason?: unknown } | null)?.reason;
  return row.status === 'error' && (pausingReasons as readonly unknown[]).includes(reason);
}

/** The stored settings, decrypted and validated by the connector's schema. */
export function storedSettings(row: IntegrationRow, box: SecretBox): Record<string, unknown> {
  const connector = connectorOf(row);
  return openSettings(
    connector.settingsSchema as unknown as SettingsShape,
    { plain: row.settings, sealed: row.settings_sealed },
    box,
    settingsAad(row.id),
  ) as Record<string, unknown>;
}

/**
 * The stored settings for the runner: a row that no longer opens (sealed with another key, or no longer
 * valid for the connector's schema after an upgrade) is a permanent, integration-wide error, not something
 * a retry can fix. The message names no value (a schema error could quote a secret).
 */
export function runnerSettings(row: IntegrationRow, box: SecretBox): Record<string, unknown> {
  try {
    return storedSettings(row, box);
  } catch (error) {
    throw new CrmError('The stored settings cannot be read: save the integration settings again', {
      kind: 'permanent',
      reason: 'not_configured',
      cause: error,
    });
  }
}

/**
 * Tokens of one integration in its row, sealed. On PostgreSQL a refresh takes the row lock (SELECT …
 * FOR UPDATE) so processes do not race a single-use refresh token; the token manager re-reads inside the
 * lock. On PGlite (one process) the in-process single-flight in http.ts is enough, and a lock would hold
 * the only connection during an HTTP call.
 */
export class IntegrationTokenStore implements TokenStore {
  readonly key: string;
  #db: Kysely<DB>;
  constructor(
    db: Kysely<DB>,
    private readonly box: SecretBox,
    private readonly integrationId: number,
    multiProcess: boolean,
    private readonly clock: Clock,
  ) {
    this.#db = db;
    this.key = `integration:${integrationId}`;
    if (multiProcess) {
      this.withRefreshLock = <T>(fn: () => Promise<T>) =>
        this.#db.transaction().execute(async (trx) => {
          await sql`select id from integrations where id = ${this.integrationId} for update`.execute(trx);
          const outer = this.#db;
          this.#db = trx;
          try {
            return await fn();
          } finally {
            this.#db = outer;
          }
        });
    }
  }
  withRefreshLock?: <T>(fn: () => Promise<T>) => Promise<T>;
  async load(): Promise<TokenSet | null> {
    const row = await this.#db
      .selectFrom('integrations')
      .select('tokens_sealed')
      .where('id', '=', this.integrationId)
      .executeTakeFirst();
    if (!row?.tokens_sealed) return null;
    try {
      return JSON.parse(this.box.decrypt(row.tokens_sealed, tokensAad(this.integrationId))) as TokenSet;
    } catch {
      // Sealed with another key: only a new grant helps.
      throw reauthorizationRequired('The stored access tokens cannot be read: grant access again');
    }
  }
  async save(tokens: TokenSet): Promise<void> {
    await this.#db
      .updateTable('integrations')
      .set({
        tokens_sealed: this.box.encrypt(JSON.stringify(tokens), tokensAad(this.integrationId)),
        updated_at: this.clock.now(),
      })
      .where('id', '=', this.integrationId)
      .execute();
  }
}

export interface ContextDeps {
  db: Kysely<DB>;
  box: SecretBox;
  clock: Clock;
  multiProcess: boolean;
  limiter?: RequestLimiter;
  timeoutMs?: number;
}

/** An HTTP client whose every request first takes a token from the integration's rate limiter. */
export function limitedHttp(
  limiter: RequestLimiter | undefined,
  clock: Clock,
  timeoutMs?: number,
): HttpClient {
  const limitedFetch: typeof fetch = async (input, init) => {
    await limiter?.take();
    return fetch(input, init);
  };
  return new HttpClient({ fetch: limitedFetch, clock, timeoutMs: timeoutMs ?? 15_000 });
}

export function contextFor(
  row: IntegrationRow,
  settings: Record<string, unknown>,
  deps: ContextDeps,
): CrmContext<unknown> {
  return {
    settings,
    http: limitedHttp(deps.limiter, deps.clock, deps.timeoutMs),
    tokens: new IntegrationTokenStore(deps.db, deps.box, row.id, deps.multiProcess, deps.clock),
    clock: deps.clock,
  };
}
