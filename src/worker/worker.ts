import type { AppContext } from '../http/context.ts';

/** A periodic background task; each run must be safe to repeat and to run in several processes at once. */
export interface WorkerTask {
  name: string;
  intervalMs: number;
  run(ctx: AppContext): Promise<void>;
}

const tasks: WorkerTask[] = [
  {
    name: 'expire-sessions',
    intervalMs: 60_000,
    async run(ctx) {
      await ctx.db.deleteFrom('sessions').where('expires_at', '<', ctx.clock.now()).execute();
    },
  },
];

export function registerWorkerTask(task: WorkerTask): void {
  tasks.push(task);
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** Runs every registered task on its interval until stopped; a failing run is logged and retried next tick. */
export function startWorker(ctx: AppContext): RunningWorker {
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const timers = tasks.map((task) => {
    const tick = () => {
      if (stopped) return;
      const run = task
        .run(ctx)
        .catch((err) => ctx.logger.error({ err, task: task.name }, 'worker task failed'))
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    };
    setImmediate(tick);
    return setInterval(tick, task.intervalMs);
  });
  ctx.logger.info({ tasks: tasks.map((t) => t.name) }, 'worker started');
  return {
    async stop() {
      stopped = true;
      timers.forEach(clearInterval);
      await Promise.allSettled([...inFlight]);
    },
  };
}
