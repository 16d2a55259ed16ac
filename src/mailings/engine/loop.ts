import type { Logger } from 'pino';
import { CascadeEngine, type EngineDeps, idleTick } from './engine.ts';

export interface EngineLoop {
  engine: CascadeEngine;
  stop(): Promise<void>;
}

/**
 * Runs the engine in a worker: tick while there is work, otherwise sleep until the next due moment (at
 * most `maxSleepMs`, so work created by other processes is picked up soon).
 */
export function startEngineLoop(deps: EngineDeps & { logger: Logger }, options: { maxSleepMs?: number } = {}): EngineLoop {
  const engine = new CascadeEngine(deps);
  const maxSleep = options.maxSleepMs ?? 1000;
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
    while (!stopped) {
      try {
        const r = await engine.tick();
        if (!idleTick(r)) continue;
        const next = await engine.nextDueAt();
        const wait = next ? Math.max(0, next.getTime() - deps.clock.now().getTime()) : maxSleep;
        await sleep(Math.min(Math.max(wait, 50), maxSleep));
      } catch (err) {
        deps.logger.error({ err }, 'engine tick failed');
        await sleep(maxSleep);
      }
    }
  })();
  return {
    engine,
    async stop() {
      stopped = true;
      wake?.();
      await done;
    },
  };
}
