import type { FetchedJob } from './boss.ts';

/**
 * Keeps up to `concurrency` jobs of one queue in flight, fetching a new one as soon as one ends.
 *
 * Why not pg-boss's `work()`: it fetches a batch, hands it to one handler and fetches again only when
 * the whole batch is done. A drain is mostly waiting (for the integration's rate limiter, for the CRM,
 * for the database), so one drain at a time per integration reaches the CRM's rate only while a drain's
 * own latency stays below the limiter's interval; on a busy machine it does not (issue 5's benchmark lost
 * a quarter of the budget that way). With several drains in flight the limiter is the only pace-setter:
 * they queue on it and it spends every token. Drains of one contact never overlap (singleton jobs).
 *
 * Completions are batched: a finished job joins a list that the loop completes in one statement before
 * its next fetch. A job is failed (for pg-boss's retry with backoff) as soon as its drain says so.
 */
export interface PumpOptions<T> {
  concurrency: number;
  /** How long an idle pump waits before looking again (a notify cuts it short). */
  pollMs: number;
  fetch(limit: number): Promise<FetchedJob<T>[]>;
  /** Runs one job; resolves with failure data when pg-boss should retry it. */
  run(job: FetchedJob<T>): Promise<{ retry: Record<string, unknown> } | undefined>;
  complete(ids: string[]): Promise<void>;
  fail(id: string, data: Record<string, unknown>): Promise<void>;
  onError(err: unknown): void;
}

export class DrainPump<T> {
  readonly #o: PumpOptions<T>;
  readonly #inflight = new Map<string, Promise<void>>();
  #finished: string[] = [];
  #stopping = false;
  #notified = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;

  constructor(options: PumpOptions<T>) {
    this.#o = options;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** New jobs may be due (or a slot freed): look now instead of at the next poll. */
  notify(): void {
    this.#notified = true;
    this.#wake?.();
  }

  /**
   * Stops fetching, waits up to `timeoutMs` for drains in flight, completes what finished and fails what
   * did not (as pg-boss's own graceful stop does), so another runner retries it.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.#stopping = true;
    this.notify();
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inflight.values()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await this.#flush();
    for (const id of this.#inflight.keys()) {
      await this.#o.fail(id, { message: 'runner stopped while the drain was running' }).catch((err) => {
        this.#o.onError(err);
      });
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      this.#notified = false;
      try {
        await this.#flush();
        const free = this.#o.concurrency - this.#inflight.size;
        if (free > 0) {
          for (const job of await this.#o.fetch(free)) this.#start(job);
        }
      } catch (err) {
        this.#o.onError(err);
      }
      if (this.#stopping || this.#notified) continue;
      // Full: a finishing drain notifies. Not full: the queue had nothing due; poll (or be notified).
      await this.#sleep(this.#inflight.size >= this.#o.concurrency ? null : this.#o.pollMs);
    }
  }

  #start(job: FetchedJob<T>): void {
    const done = (async () => {
      try {
        const outcome = await this.#o.run(job);
        if (outcome) await this.#o.fail(job.id, outcome.retry);
        else this.#finished.push(job.id);
      } catch (err) {
        this.#o.onError(err);
        await this.#o.fail(job.id, { message: String(err) }).catch((e) => this.#o.onError(e));
      } finally {
        this.#inflight.delete(job.id);
        this.notify();
      }
    })();
    this.#inflight.set(job.id, done);
  }

  async #flush(): Promise<void> {
    if (this.#finished.length === 0) return;
    const ids = this.#finished;
    this.#finished = [];
    try {
      await this.#o.complete(ids);
    } catch (err) {
      // Left active, the jobs expire and are retried; their drains find nothing open and end at once.
      this.#o.onError(err);
    }
  }

  #sleep(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === null ? undefined : setTimeout(finish, ms);
      const self = this;
      function finish() {
        clearTimeout(timer);
        self.#wake = null;
        resolve();
      }
      this.#wake = finish;
    });
  }
}
