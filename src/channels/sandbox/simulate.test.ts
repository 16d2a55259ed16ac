import { describe, expect, it } from 'vitest';
import {
  type ChannelStatus,
  channelFailure,
  channelFlags,
  channelMilestones,
  channelStatuses,
  type MessageStatus,
  type SendChannel,
  sendChannels,
  statusClass,
} from '../../mailings/scheme/vocabulary.ts';
import { defaultSandboxSettings, parseSandboxSettings, type SandboxSettings } from './settings.ts';
import { type SimulatedEvent, type Simulation, simulateMessage } from './simulate.ts';

const sentAt = new Date('2026-03-02T09:00:00Z');
const keys = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => `${prefix}${i}s0a0`);
const N = 20_000;
/** 20,000 draws: a share's standard error is at most 0.0035; 0.015 is over four of them. */
const TOLERANCE = 0.015;

const accepted = (s: Simulation) => {
  if (!s.ok) throw new Error(`expected an accepted message, got ${s.error}`);
  return s;
};
const statusesOf = (events: SimulatedEvent[]) =>
  events.filter((e) => e.kind === 'status').map((e) => e.status!);
/** Settings from `input` with no submit errors on any channel. */
const noErrors = (input: Partial<Record<SendChannel, Record<string, unknown>>> = {}) =>
  parseSandboxSettings(
    Object.fromEntries(sendChannels.map((c) => [c, { submitError: { probability: 0 }, ...input[c] }])),
  );

function shares<T extends string>(values: T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return new Map([...counts].map(([k, n]) => [k, n / values.length]));
}

/**
 * What is wrong with an accepted message's timeline, if anything: times must not go back and must
 * follow the submit; a failure is final and alone (no receipts, no replies); reaching a milestone
 * means every lower one was reported first; a flag is the last status; each status at most once.
 */
function storyProblems(channel: SendChannel, s: Extract<Simulation, { ok: true }>): string[] {
  const problems: string[] = [];
  const times = s.events.map((e) => e.occursAt.getTime());
  if (!(times[0]! > sentAt.getTime())) problems.push('first event not after the submit');
  if (times.some((t, i) => i > 0 && t < times[i - 1]!)) problems.push('events out of time order');
  const statuses = statusesOf(s.events);
  if (!statuses.includes(s.outcome)) problems.push(`outcome ${s.outcome} not reported`);
  if (new Set(statuses).size !== statuses.length) problems.push(`a status twice: ${statuses}`);
  if (statusClass[s.outcome] === 'failure') {
    if (s.outcome !== channelFailure[channel]) problems.push(`wrong failure ${s.outcome}`);
    if (s.events.length !== 1)
      problems.push(`failure not alone: ${s.events.map((e) => e.kind + ':' + e.status)}`);
    return problems;
  }
  const milestones = channelMilestones[channel] as readonly MessageStatus[];
  const reached = statuses.filter((status) => milestones.includes(status));
  const highest = milestones.findIndex((m) => reached.includes(m));
  const implied = [...milestones.slice(highest)].reverse();
  if (reached.join() !== implied.join()) problems.push(`milestones ${reached}, expected ${implied}`);
  const statusEvents = s.events.filter((e) => e.kind === 'status');
  for (let i = 1; i < statusEvents.length; i++) {
    // One key press reports `ivr` and `unsubscribed` at the same moment; other steps take time.
    const keyPress = statusEvents[i]!.status === 'unsubscribed' && statusEvents[i - 1]!.status === 'ivr';
    if (!keyPress && !(statusEvents[i]!.occursAt > statusEvents[i - 1]!.occursAt)) {
      problems.push(`${statusEvents[i]!.status} not after ${statusEvents[i - 1]!.status}`);
    }
  }
  for (const flag of channelFlags[channel] as readonly MessageStatus[]) {
    if (statuses.includes(flag) && statuses.at(-1) !== flag) problems.push(`${flag} not the last status`);
  }
  return problems;
}

describe('simulateMessage', () => {
  it('tells the same story for the same seed, channel, key and time', () => {
    for (const channel of sendChannels) {
      for (const key of keys(200)) {
        expect(simulateMessage(defaultSandboxSettings, channel, key, sentAt)).toEqual(
          simulateMessage(defaultSandboxSettings, channel, key, new Date(sentAt)),
        );
      }
    }
  });

  it('another seed tells other stories', () => {
    const reseeded = parseSandboxSettings({ seed: 2 });
    const differ = keys(200).filter(
      (key) =>
        JSON.stringify(simulateMessage(defaultSandboxSettings, 'viber', key, sentAt)) !==
        JSON.stringify(simulateMessage(reseeded, 'viber', key, sentAt)),
    );
    expect(differ.length).toBeGreaterThan(150);
  });

  it('changing the reply rate or the delays keeps every key’s outcome', () => {
    const other = parseSandboxSettings({
      viber: { reply: { probability: 0.9 }, delaysSec: { delivered: { min: 100, max: 200 } } },
    });
    for (const key of keys(2000)) {
      const a = simulateMessage(defaultSandboxSettings, 'viber', key, sentAt);
      const b = simulateMessage(other, 'viber', key, sentAt);
      expect(a.ok ? a.outcome : a.error).toEqual(b.ok ? b.outcome : b.error);
    }
  });

  it('shifts the whole timeline with the submit time', () => {
    const later = new Date(sentAt.getTime() + 3_600_000);
    for (const key of keys(100)) {
      const a = simulateMessage(defaultSandboxSettings, 'sms', key, sentAt);
      const b = simulateMessage(defaultSandboxSettings, 'sms', key, later);
      if (!a.ok || !b.ok) continue;
      expect(b.events.map((e) => e.occursAt.getTime() - 3_600_000)).toEqual(
        a.events.map((e) => e.occursAt.getTime()),
      );
    }
  });

  describe.each(sendChannels)('on %s', (channel) => {
    const all = keys(N).map((key) => simulateMessage(defaultSandboxSettings, channel, key, sentAt));
    const ok = all.filter((s) => s.ok);

    it('spreads outcomes by the configured shares', () => {
      const observed = shares(ok.map((s) => s.outcome));
      const configured = defaultSandboxSettings[channel].outcomes as Record<ChannelStatus, number>;
      for (const status of channelStatuses[channel] as readonly ChannelStatus[]) {
        // Voice: drawn without a known menu here, so no key-press outcome degrades to answered.
        expect(Math.abs((observed.get(status) ?? 0) - configured[status]), status).toBeLessThan(TOLERANCE);
      }
    });

    it('refuses about the configured share at submit, with the configured reason', () => {
      const refused = all.filter((s) => !s.ok);
      expect(
        Math.abs(refused.length / N - defaultSandboxSettings[channel].submitError.probability),
      ).toBeLessThan(0.005);
      for (const s of refused) expect(s).toMatchObject({ ok: false, error: 'invalid_number' });
    });

    it('tells each story in order: implied milestones first, times strictly after the submit', () => {
      const problems = ok.flatMap((s, i) => storyProblems(channel, s).map((p) => `key ${i}: ${p}`));
      expect(problems.slice(0, 5)).toEqual([]);
    });
  });

  it('draws each step’s delay from its range (exact when min = max)', () => {
    const fixed = noErrors({
      viber: {
        outcomes: { clicked: 1 },
        delaysSec: {
          delivered: { min: 5, max: 5 },
          viewed: { min: 60, max: 60 },
          clicked: { min: 7, max: 7 },
        },
        reply: { probability: 1, delaySec: { min: 30, max: 30 }, texts: ['Спасибо'] },
      },
    });
    const s = accepted(simulateMessage(fixed, 'viber', 'k1', sentAt));
    const t = (sec: number) => new Date(sentAt.getTime() + sec * 1000);
    expect(s.events).toEqual([
      { kind: 'status', status: 'delivered', occursAt: t(5) },
      { kind: 'status', status: 'viewed', occursAt: t(65) },
      { kind: 'status', status: 'clicked', occursAt: t(72) },
      { kind: 'reply', text: 'Спасибо', occursAt: t(102) },
    ]);

    const ranged = defaultSandboxSettings.sms.delaysSec.delivered;
    for (const key of keys(2000)) {
      const r = simulateMessage(defaultSandboxSettings, 'sms', key, sentAt);
      if (!r.ok || r.outcome === 'undelivered') continue;
      const ms = r.events[0]!.occursAt.getTime() - sentAt.getTime();
      expect(ms).toBeGreaterThanOrEqual(ranged.min * 1000);
      expect(ms).toBeLessThanOrEqual(ranged.max * 1000);
    }
  });

  describe('voice key presses', () => {
    const voice = (input: Record<string, unknown>) => noErrors({ voice: input });

    it('press keys by the configured digit shares', () => {
      const settings = voice({ outcomes: { ivr: 1 }, ivrDigits: { '1': 0.6, '2': 0.3, '#': 0.1 } });
      const stories = keys(N).map((key) => accepted(simulateMessage(settings, 'voice', key, sentAt)));
      const shapes = new Set(
        stories.map((s) => s.events.map((e) => `${e.kind}:${e.status ?? ''}`).join(' ')),
      );
      // The digits and the ivr milestone are one key press, at one moment.
      expect(shapes).toEqual(new Set(['status:answered ivr: status:ivr']));
      expect(stories.every((s) => s.events[1]!.occursAt.getTime() === s.events[2]!.occursAt.getTime())).toBe(
        true,
      );
      const pressed = stories.map((s) => s.events[1]!.digits!);
      const observed = shares(pressed);
      expect(Math.abs(observed.get('1')! - 0.6)).toBeLessThan(TOLERANCE);
      expect(Math.abs(observed.get('2')! - 0.3)).toBeLessThan(TOLERANCE);
      expect(Math.abs(observed.get('#')! - 0.1)).toBeLessThan(TOLERANCE);
    });

    it('press only keys of the call’s menu, the unsubscribe key to unsubscribe', () => {
      const settings = voice({ outcomes: { ivr: 0.5, unsubscribed: 0.5 }, ivrDigits: { '1': 1 } });
      const ivrMenu = {
        '4': { action: 'record' },
        '5': { action: 'repeat' },
        '9': { action: 'unsubscribe' },
      } as const;
      const seen = new Map<string, Set<string>>();
      for (const key of keys(2000)) {
        const s = accepted(simulateMessage(settings, 'voice', key, sentAt, { ivrMenu }));
        const digits = s.events.filter((e) => e.kind === 'ivr').map((e) => e.digits!);
        expect(digits).toHaveLength(1);
        seen.set(s.outcome, new Set([...(seen.get(s.outcome) ?? []), ...digits]));
        if (s.outcome === 'unsubscribed')
          expect(statusesOf(s.events)).toEqual(['answered', 'ivr', 'unsubscribed']);
      }
      // No menu key has a share, so the caller picks among the menu's keys evenly.
      expect(seen.get('ivr')).toEqual(new Set(['4', '5']));
      expect(seen.get('unsubscribed')).toEqual(new Set(['9']));
    });

    it('a call without a menu cannot press anything: those outcomes are plain answered calls', () => {
      const settings = voice({ outcomes: { ivr: 0.4, unsubscribed: 0.4, no_answer: 0.2 } });
      const outcomes = new Set<string>();
      for (const key of keys(500)) {
        const s = accepted(simulateMessage(settings, 'voice', key, sentAt, { ivrMenu: null }));
        outcomes.add(s.outcome);
        expect(s.events.some((e) => e.kind === 'ivr')).toBe(false);
      }
      expect(outcomes).toEqual(new Set(['answered', 'no_answer']));
    });

    it('a menu with no unsubscribe key turns unsubscribing into a plain answered call', () => {
      const settings = voice({ outcomes: { unsubscribed: 1 } });
      const s = accepted(
        simulateMessage(settings, 'voice', 'k', sentAt, { ivrMenu: { '1': { action: 'record' } } }),
      );
      expect(s.outcome).toBe('answered');
      expect(statusesOf(s.events)).toEqual(['answered']);
    });

    it('calls get no text replies', () => {
      for (const key of keys(2000)) {
        const s = simulateMessage(defaultSandboxSettings, 'voice', key, sentAt);
        if (s.ok) expect(s.events.some((e) => e.kind === 'reply')).toBe(false);
      }
    });
  });

  describe('replies', () => {
    it.each(['sms', 'viber', 'vk', 'ok'] as const)(
      '%s: delivered, unflagged messages get a reply at the configured rate, after their last status',
      (channel) => {
        const texts = ['Да', 'Нет', 'Перезвоните'];
        const settings = noErrors({ [channel]: { reply: { probability: 0.3, texts } } });
        let eligible = 0;
        let replied = 0;
        const problems: string[] = [];
        for (const key of keys(N)) {
          const s = accepted(simulateMessage(settings, channel, key, sentAt));
          const replies = s.events.filter((e) => e.kind === 'reply');
          if (statusClass[s.outcome] !== 'milestone') {
            if (replies.length > 0) problems.push(`${key}: a reply to a ${s.outcome} message`);
            continue;
          }
          eligible++;
          if (replies.length === 0) continue;
          replied++;
          const reply = replies[0]!;
          if (replies.length > 1) problems.push(`${key}: ${replies.length} replies`);
          if (!texts.includes(reply.text!)) problems.push(`${key}: unknown text ${reply.text}`);
          if (s.events.at(-1) !== reply || !(reply.occursAt > s.events.at(-2)!.occursAt)) {
            problems.push(`${key}: reply not after the last status`);
          }
        }
        expect(problems.slice(0, 5)).toEqual([]);
        expect(Math.abs(replied / eligible - 0.3)).toBeLessThan(TOLERANCE);
      },
    );

    it('none at probability 0', () => {
      const settings = noErrors({ sms: { reply: { probability: 0 } } });
      for (const key of keys(2000)) {
        expect(
          accepted(simulateMessage(settings, 'sms', key, sentAt)).events.some((e) => e.kind === 'reply'),
        ).toBe(false);
      }
    });
  });

  it('refuses with the configured reasons, by their shares, and reports nothing', () => {
    const settings: SandboxSettings = parseSandboxSettings({
      ok: { submitError: { probability: 1, reasons: { invalid_number: 0.5, no_approved_template: 0.5 } } },
    });
    const reasons = keys(N).map((key) => {
      const s = simulateMessage(settings, 'ok', key, sentAt);
      if (s.ok || !s.message.includes(s.error))
        throw new Error(`expected a refusal naming its reason for ${key}`);
      return s.error;
    });
    const observed = shares(reasons);
    expect([...observed.keys()].sort()).toEqual(['invalid_number', 'no_approved_template']);
    expect(Math.abs(observed.get('invalid_number')! - 0.5)).toBeLessThan(TOLERANCE);
  });

  it('an outcome with share 1 is the only one', () => {
    for (const channel of sendChannels as readonly SendChannel[]) {
      for (const status of channelStatuses[channel] as readonly ChannelStatus[]) {
        const settings = noErrors({ [channel]: { outcomes: { [status]: 1 } } });
        for (const key of keys(50))
          expect(accepted(simulateMessage(settings, channel, key, sentAt)).outcome).toBe(status);
      }
    }
  });
});
