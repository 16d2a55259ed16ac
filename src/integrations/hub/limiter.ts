import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { RateLimit } from '../crm/types.ts';

/** What a connector's HTTP client waits on before every request to one CRM account. */
export interface RequestLimiter {
  /** Resolves when a request may be sent. */
  take(): Promise<void>;
  /** Honours a Retry-After: no request leaves before it ends. */
  pause(ms: number): void;
}

/** The client-side burst: absorbs our own processing gaps without ever exceeding the CRM's budget. */
function burstOf(limit: Pick<RateLimit, 'requestsPerSecond' | 'burst'>): number {
  return Math.max(1, Math.min(limit.burst ?? 2, Math.floor(limit.requestsPerSecond / 2) || 1));
}

/**
 * A token bucket per CRM account (one per integration): every HTTP request a connector makes for that
 * integration takes a token first. `pause` honours a Retry-After: no request leaves before it ends.
 * In-process: right for one process (PGlite); several processes share SharedRateLimiter instead.
 */
export class RateLimiter implements RequestLimiter {
  readonly #intervalMs: number;
  readonly #burst: number;
  #tokens: number;
  #refilledAt = Date.now();
  #pausedUntil = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(limit: Pick<RateLimit, 'requestsPerSecond' | 'burst'>) {
    this.#intervalMs = 1000 / limit.requestsPerSecond;
    this.#burst = burstOf(limit);
    this.#tokens = this.#burst;
  }

  /** Resolves when a request may be sent; callers are served in arrival order. */
  take(): Promise<void> {
    const next = this.#chain.then(() => this.#wait());
    this.#chain = next.catch(() => {});
    return next;
  }

  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + ms);
  }

  async #wait(): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (now < this.#pausedUntil) {
        this.#tokens = 0;
        this.#refilledAt = this.#pausedUntil;
        await sleep(this.#pausedUntil - now);
        continue;
      }
      const elapsed = now - this.#refilledAt;
      if (elapsed > 0) {
        this.#tokens = Math.min(this.#burst, this.#tokens + elapsed / this.#intervalMs);
        this.#refilledAt = now;
      }
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await sleep(Math.ceil((1 - this.#tokens) * this.#intervalMs));
    }
  }
}

/**
 * The same budget shared by every process through the database (GCRA over integration_rate): each
 * request reserves the next free slot with one atomic upsert and sleeps until it, so two workers on one
 * PostgreSQL together still send at most the CRM's rate. Time is the database's clock, the one clock
 * all processes share.
 */
export class SharedRateLimiter implements RequestLimiter {
  readonly #intervalMs: number;
  readonly #toleranceMs: number;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly integrationId: number,
    limit: Pick<RateLimit, 'requestsPerSecond' | 'burst'>,
  ) {
    this.#intervalMs = 1000 / limit.requestsPerSecond;
    this.#toleranceMs = (burstOf(limit) - 1) * this.#intervalMs;
  }

  async take(): Promise<void> {
    const interval = this.#intervalMs / 1000;
    const tolerance = this.#toleranceMs / 1000;
    const { rows } = await sql<{ wait_ms: number }>`
      insert into integration_rate as r (integration_id, tat)
      values (${this.integrationId}, clock_timestamp() + make_interval(secs => ${interval}))
      on conflict (integration_id) do update
        set tat = greatest(r.tat, clock_timestamp() - make_interval(secs => ${tolerance}))
          + make_interval(secs => ${interval})
      returning greatest(0, extract(epoch from (r.tat - make_interval(secs => ${interval}) - clock_timestamp())) * 1000)::float8
        as wait_ms`.execute(this.db);
    const wait = Number(rows[0]?.wait_ms ?? 0);
    if (wait > 0) await sleep(Math.ceil(wait));
  }

  /** Returns when the pause is stored (callers through RequestLimiter need not wait). */
  pause(ms: number): Promise<void> {
    return sql`update integration_rate
      set tat = greatest(tat, clock_timestamp() + make_interval(secs => ${ms / 1000}))
      where integration_id = ${this.integrationId}`
      .execute(this.db)
      .then(
        () => {},
        () => {
          // The next 429 pauses again; a lost pause costs one refused request, not a wrong send.
        },
      );
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
