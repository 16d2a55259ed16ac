import type { ImportBatch } from './batch.ts';

/**
 * Writes batches in file order with up to `depth` of them in flight at once (each is one statement on its
 * own connection), so the database keeps working while the importer parses further. Memory stays bounded
 * by depth + 1 batches.
 *
 * Concurrent batches must not be able to see or touch each other's contacts, or the first occurrence in
 * the file would no longer be sure to win. So before a batch goes out, its rows whose phone an earlier
 * in-flight batch carries are dropped as duplicates (batches by phone then touch disjoint contacts), and
 * a batch with rows matched by email — which may reach any contact — only runs alone.
 */
export class WritePipeline {
  private readonly inflight: { batch: ImportBatch; done: Promise<void> }[] = [];

  constructor(
    private readonly depth: number,
    private readonly write: (batch: ImportBatch) => Promise<void>,
  ) {}

  async push(batch: ImportBatch): Promise<void> {
    while (this.inflight.length >= this.limitFor(batch)) await this.settleOldest();
    for (const earlier of this.inflight) batch.dropKeysOf(earlier.batch);
    const done = this.write(batch);
    done.catch(() => {}); // surfaces when awaited in settleOldest, not as an unhandled rejection
    this.inflight.push({ batch, done });
  }

  /** Waits for every batch; the first failure is thrown. */
  async drain(): Promise<void> {
    while (this.inflight.length > 0) await this.settleOldest();
  }

  /** Waits for the batches in flight without caring how they end (after a failure elsewhere). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inflight.map((f) => f.done));
    this.inflight.length = 0;
  }

  private limitFor(batch: ImportBatch): number {
    const byEmail = batch.byEmail.length > 0 || this.inflight.some((f) => f.batch.byEmail.length > 0);
    return byEmail ? 1 : this.depth;
  }

  private async settleOldest(): Promise<void> {
    const oldest = this.inflight[0]!;
    try {
      await oldest.done;
    } finally {
      this.inflight.shift();
    }
  }
}
