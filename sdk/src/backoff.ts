/** Reconnect delays: exponential with a cap, and jitter so a restarted server is not hit all at once. */
export interface BackoffOptions {
  /** First delay (ms). */
  initialMs: number;
  /** Longest delay (ms). */
  maxMs: number;
  factor: number;
  /** 0..1: the share of each delay that is random (0.5 → between half and the full delay). */
  jitter: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/** Delay before reconnect attempt `attempt` (0 = the first retry). `random` is in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = defaultBackoff,
  random = Math.random(),
): number {
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** Math.max(0, attempt));
  return Math.round(base * (1 - options.jitter * random));
}
