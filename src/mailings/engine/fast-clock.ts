import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';

/**
 * A fast clock shared through the database: every worker of a simulated run reads the same virtual
 * "now" (refreshed before each tick), and a worker with nothing to do moves it forward to the next due
 * moment, so decision times and delays pass at once and several processes stay in step.
 */
export class SharedFastClock implements Clock {
  private current: Date;
  private constructor(
    private readonly db: Kysely<DB>,
    start: Date,
  ) {
    this.current = start;
  }

  /** Creates (or joins) the shared clock; the first caller's start time wins. */
  static async open(
    db: Kysely<DB>,
    start: Date,
    options: { reset?: boolean } = {},
  ): Promise<SharedFastClock> {
    if (options.reset) {
      await sql`insert into engine_clock (id, now) values (1, ${start.toISOString()}::timestamptz)
        on conflict (id) do update set now = excluded.now`.execute(db);
    } else {
      await sql`insert into engine_clock (id, now) values (1, ${start.toISOString()}::timestamptz)
        on conflict (id) do nothing`.execute(db);
    }
    const clock = new SharedFastClock(db, start);
    await clock.refresh();
    return clock;
  }

  now(): Date {
    return new Date(this.current);
  }

  async refresh(): Promise<Date> {
    const row = await this.db
      .selectFrom('engine_clock')
      .select('now')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    this.current = new Date(row.now);
    return this.now();
  }

  /** Moves the shared time forward (never back) and returns it. */
  async advanceTo(at: Date): Promise<Date> {
    const row = await sql<{
      now: Date;
    }>`update engine_clock set now = greatest(now, ${at.toISOString()}::timestamptz)
      where id = 1 returning now`.execute(this.db);
    this.current = new Date(row.rows[0]!.now);
    return this.now();
  }
}
