import { createHash } from 'node:crypto';

/**
 * A small deterministic random source for the sandbox: the same (seed, parts) always give the same
 * sequence, different keys give independent-looking ones. The parts are hashed with SHA-256 and the
 * first 128 bits seed sfc32 (Chris Doty-Humphrey's Small Fast Counter, 32-bit), so neighbouring keys
 * ("r1s0a0", "r2s0a0") do not produce correlated draws.
 */
export type Random = () => number;

/** A uniform number in [0, 1) per call. */
export function seededRandom(seed: number, ...parts: string[]): Random {
  const digest = createHash('sha256')
    .update(`${seed}\u0000${parts.join('\u0000')}`)
    .digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // A few rounds mix the counter word into the state, as sfc32's author recommends.
  for (let i = 0; i < 8; i++) next();
  return next;
}

/** A short stable hex digest of a string, for ids derived from keys. */
export function shortHash(value: string, hexChars = 24): string {
  return createHash('sha256').update(value).digest('hex').slice(0, hexChars);
}

/**
 * The entry of `order` that `u` falls into when the weights are laid end to end. Weights need not sum
 * to 1 (they are scaled); entries with weight 0 are never chosen. Null when every weight is 0.
 */
export function pickWeighted<K extends string>(
  weights: Readonly<Partial<Record<K, number>>>,
  order: readonly K[],
  u: number,
): K | null {
  let total = 0;
  for (const key of order) total += weights[key] ?? 0;
  if (total <= 0) return null;
  let threshold = u * total;
  let last: K | null = null;
  for (const key of order) {
    const weight = weights[key] ?? 0;
    if (weight <= 0) continue;
    last = key;
    if (threshold < weight) return key;
    threshold -= weight;
  }
  // Rounding can leave `threshold` a hair above the last weight; that draw belongs to the last entry.
  return last;
}

/** A whole number of milliseconds uniformly in [minSec, maxSec] seconds. */
export function drawDelayMs(range: { min: number; max: number }, u: number): number {
  const minMs = range.min * 1000;
  const maxMs = range.max * 1000;
  return minMs + Math.floor(u * (maxMs - minMs + 1));
}
