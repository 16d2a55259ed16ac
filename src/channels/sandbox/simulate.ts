import type { IvrMenu } from '../../mailings/scheme/content.ts';
import {
  type ChannelStatus,
  channelStatuses,
  type ErrorReason,
  errorReasons,
  type IvrKey,
  ivrKeys,
  type SendChannel,
  statusClass,
} from '../../mailings/scheme/vocabulary.ts';
import type { ProviderEvent } from '../types.ts';
import { drawDelayMs, pickWeighted, seededRandom } from './random.ts';
import type { DelayRange, SandboxSettings } from './settings.ts';

/**
 * The sandbox's story of one message (NF-3): a pure function of the settings, the channel, the
 * idempotency key and the submit time. The same inputs always tell the same story, so a resubmitted
 * key (after a crash) is simulated exactly as before, and tests and benchmarks can predict it.
 */

/** A provider event before it is tied to a provider message id. */
export type SimulatedEvent = Omit<ProviderEvent, 'provider' | 'providerMessageId'>;

export type Simulation =
  | {
      ok: true;
      /** The status the message stops at (its highest milestone, its flag, or its failure). */
      outcome: ChannelStatus;
      /** In time order, every time strictly after the submit. */
      events: SimulatedEvent[];
    }
  | { ok: false; error: ErrorReason; message: string };

export interface SimulationOptions {
  /**
   * Voice only: the call's IVR menu. Key presses are drawn among its keys (an "unsubscribe" key for
   * the unsubscribed outcome, the others for ivr); `null` means the call has no menu, so nobody can
   * press anything and those outcomes become a plain answered call. Left out: any key may be pressed.
   */
  ivrMenu?: IvrMenu | null;
}

/**
 * The statuses a message passes through to reach each outcome, in order. Reaching a milestone implies
 * the lower ones; the flags are raised by someone who has seen the message; a failure comes alone.
 * Voice: `unsubscribed` is a key press after answering (see the ivr handling below).
 */
const ladders: { [C in SendChannel]: Record<ChannelStatus<C>, readonly ChannelStatus<C>[]> } = {
  sms: {
    delivered: ['delivered'],
    clicked: ['delivered', 'clicked'],
    undelivered: ['undelivered'],
  },
  viber: {
    delivered: ['delivered'],
    viewed: ['delivered', 'viewed'],
    clicked: ['delivered', 'viewed', 'clicked'],
    spam: ['delivered', 'viewed', 'spam'],
    unsubscribed: ['delivered', 'viewed', 'unsubscribed'],
    undelivered: ['undelivered'],
  },
  voice: {
    answered: ['answered'],
    ivr: ['answered', 'ivr'],
    unsubscribed: ['answered', 'unsubscribed'],
    no_answer: ['no_answer'],
  },
  vk: { delivered: ['delivered'], viewed: ['delivered', 'viewed'], undelivered: ['undelivered'] },
  ok: { delivered: ['delivered'], viewed: ['delivered', 'viewed'], undelivered: ['undelivered'] },
};

/**
 * Draws come in a fixed order whatever the branch, so changing one setting (say, the reply rate)
 * never reshuffles the others' outcomes for the same keys.
 */
interface Draws {
  submitError: number;
  errorReason: number;
  outcome: number;
  digit: number;
  reply: number;
  replyText: number;
  replyDelay: number;
  steps: number[];
}

const MAX_STEPS = 3;

function draw(seed: number, channel: SendChannel, key: string): Draws {
  const next = seededRandom(seed, channel, key);
  return {
    submitError: next(),
    errorReason: next(),
    outcome: next(),
    digit: next(),
    reply: next(),
    replyText: next(),
    replyDelay: next(),
    steps: Array.from({ length: MAX_STEPS }, next),
  };
}

/** Keys a caller may press for the ivr outcome and the key that unsubscribes, given the menu. */
function menuKeys(menu: IvrMenu | null | undefined): {
  press: readonly IvrKey[];
  unsubscribe: IvrKey | null;
} {
  if (menu === undefined) return { press: ivrKeys, unsubscribe: null };
  if (menu === null) return { press: [], unsubscribe: null };
  const entries = Object.entries(menu) as [IvrKey, NonNullable<IvrMenu[IvrKey]>][];
  return {
    press: entries.filter(([, action]) => action.action !== 'unsubscribe').map(([key]) => key),
    unsubscribe: entries.find(([, action]) => action.action === 'unsubscribe')?.[0] ?? null,
  };
}

/** A key among `allowed`, weighted by the settings' digit shares (uniform when none of them has a share). */
function pressKey(
  shares: Readonly<Record<IvrKey, number>>,
  allowed: readonly IvrKey[],
  u: number,
): IvrKey | null {
  if (allowed.length === 0) return null;
  return (
    pickWeighted(shares, allowed, u) ?? allowed[Math.min(allowed.length - 1, Math.floor(u * allowed.length))]!
  );
}

const at = (from: Date, ms: number) => new Date(from.getTime() + ms);

/**
 * Simulates one message: either a submit error, or the timeline of provider events it will cause.
 *
 * @example
 * simulateMessage(defaultSandboxSettings, 'viber', 'r17s0a0', sentAt)
 * // → { ok: true, outcome: 'viewed', events: [
 * //      { kind: 'status', status: 'delivered', occursAt: +4s }, { kind: 'status', status: 'viewed', occursAt: +9m } ] }
 */
export function simulateMessage(
  settings: SandboxSettings,
  channel: SendChannel,
  key: string,
  sentAt: Date,
  options: SimulationOptions = {},
): Simulation {
  const d = draw(settings.seed, channel, key);
  const own = settings[channel];

  if (d.submitError < own.submitError.probability) {
    const error = pickWeighted(own.submitError.reasons, errorReasons, d.errorReason) ?? 'invalid_number';
    return { ok: false, error, message: `sandbox: simulated submit error (${error})` };
  }

  const statuses = channelStatuses[channel] as readonly ChannelStatus[];
  const outcomes = own.outcomes as Readonly<Record<ChannelStatus, number>>;
  let outcome: ChannelStatus = pickWeighted(outcomes, statuses, d.outcome) ?? statuses[statuses.length - 1]!;

  // Voice: the key pressed, if the outcome involves one and the menu allows it.
  let pressed: IvrKey | null = null;
  if (channel === 'voice') {
    const keys = menuKeys(options.ivrMenu);
    if (outcome === 'ivr') {
      pressed = pressKey(settings.voice.ivrDigits, keys.press, d.digit);
      if (pressed === null) outcome = 'answered';
    } else if (outcome === 'unsubscribed') {
      if (options.ivrMenu === null || (options.ivrMenu !== undefined && keys.unsubscribe === null)) {
        outcome = 'answered';
      }
      pressed = keys.unsubscribe;
    }
  }

  const ladder = (ladders[channel] as Record<ChannelStatus, readonly ChannelStatus[]>)[outcome];
  const delays = own.delaysSec as Readonly<Record<ChannelStatus, DelayRange>>;
  const events: SimulatedEvent[] = [];
  let time = sentAt;
  ladder.forEach((status, i) => {
    time = at(time, drawDelayMs(delays[status], d.steps[i]!));
    if (channel === 'voice' && pressed !== null && (status === 'ivr' || status === 'unsubscribed')) {
      // A key press is reported as the digits and as the `ivr` milestone, at the moment of the press.
      events.push({ kind: 'ivr', digits: pressed, occursAt: time });
      if (status === 'unsubscribed') events.push({ kind: 'status', status: 'ivr', occursAt: time });
    }
    events.push({ kind: 'status', status, occursAt: time });
  });

  const reply = 'reply' in own ? own.reply : null;
  const replyable = statusClass[outcome] === 'milestone';
  if (reply && replyable && d.reply < reply.probability) {
    const text = reply.texts[Math.min(reply.texts.length - 1, Math.floor(d.replyText * reply.texts.length))]!;
    events.push({ kind: 'reply', text, occursAt: at(time, drawDelayMs(reply.delaySec, d.replyDelay)) });
  }
  return { ok: true, outcome, events };
}
