import type { Logger } from 'pino';
import { isSingleConnection } from '../../db/database.ts';
import { CascadeEngine, type EngineDeps, idleTick } from './engine.ts';
import { SharedFastClock } from './fast-clock.ts';
import { EngineVacuum } from './vacuum.ts';

export interface EngineLoop {
  engine: CascadeEngine;
  /** Resolves when the loop ends: after stop(), or when `untilIdle` and nothing is left. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the engine in a worker: tick while there is work, otherwise sleep until the next due moment (at
 * most `maxSleepMs`, so work created by other processes is picked up soon). With a SharedFastClock the
 * idle worker moves the shared time to the next due moment instead of sleeping.
 */
export function startEngineLoop(
  deps: EngineDeps & { logger: Logger },
  options: {
    maxSleepMs?: number;
    untilIdle?: boolean;
    fastClockQuantumMs?: number;
    onTick?: () => void | Promise<void>;
    /**
     * How many tick loops run side by side in this process, sharing the engine: by default 2 on
     * PostgreSQL, 1 on PGlite. On PostgreSQL each lane claims its own batches (SKIP LOCKED), as another
     * worker process would, so the server has the next batch to work on while the worker is busy with the
     * last one's rows. Measured with bench/cascade.ts (W1, one worker, stock server, one run each, back to
     * back): 300k recipients 96.9 s with one lane, 68.7 s with two, 78.0 s with three; 1M 388 s and 314 s.
     * On a single-connection database (PGlite) lanes would only queue for the one connection.
     */
    lanes?: number;
  } = {},
): EngineLoop {
  const engine = new CascadeEngine(deps);
  const maxSleep = options.maxSleepMs ?? 1000;
  const quantum = options.fastClockQuantumMs ?? 10_000;
  const fast = deps.clock instanceof SharedFastClock ? deps.clock : null;
  const vacuum = new EngineVacuum(deps.db, deps.logger);
  let stopped = false;
  const sleepers = new Set<() => void>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });
  const lane = async () => {
    while (!stopped) {
      try {
        if (fast) await fast.refresh();
        const r = await engine.tick();
        await options.onTick?.();
        await vacuum.processed(r.events + r.advanced + r.sent);
        if (!idleTick(r)) continue;
        const next = await engine.nextDueAt();
        if (!next) {
          if (options.untilIdle) return;
          await sleep(maxSleep);
          continue;
        }
        if (fast) {
          // Jump a little past the next due moment so each tick moves a batch, not one event: simulated
          // times may be up to `fastClockQuantumMs` late, which is nothing next to decision times.
          await fast.advanceTo(new Date(next.getTime() + quantum));
          continue;
        }
        const wait = Math.max(0, next.getTime() - deps.clock.now().getTime());
        await sleep(Math.min(Math.max(wait, 20), maxSleep));
      } catch (err) {
        deps.logger.error({ err }, 'engine tick failed');
        await sleep(maxSleep);
      }
    }
  };
  const done = (async () => {
    try {
      const lanes = options.lanes ?? (isSingleConnection(deps.db) ? 1 : 2);
      await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
    } finally {
      // A VACUUM still running on its own connection must end before the caller closes the database.
      await vacuum.settle();
    }
  })();
  return {
    engine,
    done,
    async stop() {
      stopped = true;
      for (const wake of [...sleepers]) wake();
      await done;
    },
  };
}
