import type { RateLimit } from '../crm/types.ts';

/**
 * A token bucket per CRM account (one per integration): every HTTP request a connector makes for that
 * integration takes a token first. `pause` honours a Retry-After: no request leaves before it ends.
 * In-process: with several worker processes each keeps its own bucket (see the hub README note).
 */
export class RateLimiter {
  readonly #intervalMs: number;
  readonly #burst: number;
  #tokens: number;
  #refilledAt = Date.now();
  #pausedUntil = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(limit: Pick<RateLimit, 'requestsPerSecond' | 'burst'>) {
    this.#intervalMs = 1000 / limit.requestsPerSecond;
    // A small client-side burst absorbs our own processing gaps without ever exceeding the CRM's budget.
    this.#burst = Math.max(1, Math.min(limit.burst ?? 2, Math.floor(limit.requestsPerSecond / 2) || 1));
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
