import type { Logger } from 'pino';
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
  } = {},
): EngineLoop {
  const engine = new CascadeEngine(deps);
  const maxSleep = options.maxSleepMs ?? 1000;
  const quantum = options.fastClockQuantumMs ?? 10_000;
  const fast = deps.clock instanceof SharedFastClock ? deps.clock : null;
  const vacuum = new EngineVacuum(deps.db, deps.logger);
  let stopped = false;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const done = (async () => {
    try {
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
      wake?.();
      await done;
    },
  };
}
