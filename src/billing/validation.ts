import type { PricedChannel } from '../db/schema.ts';
import { invalid } from '../shared/errors.ts';

// A Record keyed by the union makes the compiler insist on every channel, so this list cannot drift.
const pricedChannelSet: Record<PricedChannel, true> = {
  sms: true,
  viber: true,
  voice: true,
  vk: true,
  ok: true,
  whatsapp: true,
  call_password: true,
};

export const pricedChannels = Object.keys(pricedChannelSet) as PricedChannel[];

export function isPricedChannel(value: unknown): value is PricedChannel {
  return typeof value === 'string' && Object.hasOwn(pricedChannelSet, value);
}

export function requireChannel(value: unknown, field = 'channel'): PricedChannel {
  if (!isPricedChannel(value)) throw invalid(field, `Channel must be one of: ${pricedChannels.join(', ')}`);
  return value;
}

export function requireKind(value: unknown, field = 'kind'): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 50 || value.trim() !== value)
    throw invalid(field, 'Kind must be a non-empty name of at most 50 characters');
  return value;
}

/** Money is integer kopecks; `positive` excludes zero (top-ups), otherwise zero is allowed (free prices). */
export function requireKopecks(value: unknown, field: string, options: { positive?: boolean } = {}): number {
  const min = options.positive ? 1 : 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw invalid(field, `${field} must be an integer number of kopecks ≥ ${min}`);
  return value;
}

export function requireReservationKey(value: unknown, field = 'key'): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 200)
    throw invalid(field, 'Reservation key must be a non-empty string of at most 200 characters');
  return value;
}
