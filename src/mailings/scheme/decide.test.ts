import { describe, expect, it } from 'vitest';
import {
  type DecisionTrigger,
  decideDelayBlock,
  decideSendBlock,
  type MessageState,
  resolveStatusLink,
  statusRoutes,
} from './decide.ts';
import type { Link } from './model.ts';
import {
  channelStatuses,
  type ErrorReason,
  type MessageStatus,
  type SendChannel,
  sendChannels,
  statusClass,
} from './vocabulary.ts';

const SENT = new Date('2026-03-01T10:00:00Z');
const DECISION_SEC = 3600;
const BEFORE = new Date(SENT.getTime() + 10 * 60_000);
const DEADLINE = new Date(SENT.getTime() + DECISION_SEC * 1000);
const AFTER = new Date(DEADLINE.getTime() + 1);

const statusLink = (status: MessageStatus): Link => ({
  id: `on-${status}`,
  from: 'b',
  to: 'x',
  kind: 'status',
  status,
});
const responseLink = (words: string[]): Link => ({
  id: 'on-reply',
  from: 'b',
  to: 'x',
  kind: 'response',
  words,
});
const ivrLink = (digits: ('1' | '2' | '3')[]): Link => ({
  id: 'on-key',
  from: 'b',
  to: 'x',
  kind: 'ivr',
  digits,
});
const errorLink = (errors?: ErrorReason[]): Link => ({
  id: 'on-error',
  from: 'b',
  to: 'x',
  kind: 'error',
  ...(errors ? { errors } : {}),
});

const block = (channel: SendChannel) => ({ id: 'b', channel, decisionTimeSec: DECISION_SEC });
const state = (
  channel: SendChannel,
  statuses: MessageStatus[],
  more: Partial<MessageState> = {},
): MessageState => ({
  channel,
  sentAt: SENT,
  statuses: new Set(statuses),
  ...more,
});
const decide = (channel: SendChannel, links: Link[], s: MessageState, now = AFTER) =>
  decideSendBlock(block(channel), links, s, now);

const follows = (linkId: string, trigger: DecisionTrigger) => ({
  action: 'follow',
  linkId,
  trigger,
});
const finishes = (trigger: DecisionTrigger) => ({ action: 'finish', trigger });

describe('decideSendBlock at decision time: every status of every channel', () => {
  /** Statuses a message has when its final state is `status` (a flag comes on top of a delivery). */
  const reached = (status: MessageStatus): MessageStatus[] =>
    statusClass[status] === 'flag'
      ? ['delivered', status]
      : statusClass[status] === 'failure'
        ? [status]
        : [status];

  const rows = sendChannels.flatMap((channel) =>
    (channelStatuses[channel] as readonly MessageStatus[]).map((status) => ({ channel, status })),
  );

  it.each(rows)('$channel: $status takes its own link', ({ channel, status }) => {
    const links = (channelStatuses[channel] as readonly MessageStatus[]).map(statusLink);
    expect(decide(channel, links, state(channel, reached(status)))).toEqual(
      follows(`on-${status}`, 'decision_time'),
    );
  });

  it.each(rows)(
    '$channel: $status with no link for it and nothing to fall back to finishes',
    ({ channel, status }) => {
      const others = (channelStatuses[channel] as readonly MessageStatus[])
        .filter((other) => other !== status)
        .filter((other) => statusClass[status] !== 'milestone' || statusClass[other] !== 'milestone');
      const decision = decide(channel, others.map(statusLink), state(channel, reached(status)));
      expect(decision).toEqual(finishes('decision_time'));
    },
  );
});

describe('decideSendBlock: the final state', () => {
  const table: {
    name: string;
    channel: SendChannel;
    links: MessageStatus[];
    statuses: MessageStatus[];
    expected: MessageStatus | null;
  }[] = [
    // fallback to the next lower milestone with a link
    {
      name: 'click falls back to viewed',
      channel: 'viber',
      links: ['viewed', 'delivered'],
      statuses: ['clicked'],
      expected: 'viewed',
    },
    {
      name: 'click falls back to delivered',
      channel: 'viber',
      links: ['delivered', 'undelivered'],
      statuses: ['clicked'],
      expected: 'delivered',
    },
    {
      name: 'view falls back to delivered',
      channel: 'vk',
      links: ['delivered'],
      statuses: ['viewed'],
      expected: 'delivered',
    },
    {
      name: 'OK view falls back to delivered',
      channel: 'ok',
      links: ['delivered'],
      statuses: ['delivered', 'viewed'],
      expected: 'delivered',
    },
    {
      name: 'SMS click falls back to delivered',
      channel: 'sms',
      links: ['delivered'],
      statuses: ['clicked'],
      expected: 'delivered',
    },
    {
      name: 'IVR key falls back to answered',
      channel: 'voice',
      links: ['answered', 'no_answer'],
      statuses: ['ivr'],
      expected: 'answered',
    },
    {
      name: 'highest milestone wins',
      channel: 'viber',
      links: ['clicked', 'viewed', 'delivered'],
      statuses: ['delivered', 'viewed'],
      expected: 'viewed',
    },
    {
      name: 'never falls up',
      channel: 'viber',
      links: ['clicked', 'viewed'],
      statuses: ['delivered'],
      expected: null,
    },
    {
      name: 'delivered is not undelivered',
      channel: 'sms',
      links: ['undelivered'],
      statuses: ['delivered'],
      expected: null,
    },
    // nothing delivered
    {
      name: 'no status counts as undelivered',
      channel: 'viber',
      links: ['delivered', 'undelivered'],
      statuses: [],
      expected: 'undelivered',
    },
    {
      name: 'no status counts as no_answer',
      channel: 'voice',
      links: ['answered', 'no_answer'],
      statuses: [],
      expected: 'no_answer',
    },
    {
      name: 'no status, no undelivered link',
      channel: 'sms',
      links: ['delivered'],
      statuses: [],
      expected: null,
    },
    // terminal flags first
    {
      name: 'spam beats a click',
      channel: 'viber',
      links: ['spam', 'clicked'],
      statuses: ['delivered', 'clicked', 'spam'],
      expected: 'spam',
    },
    {
      name: 'spam before unsubscribed',
      channel: 'viber',
      links: ['spam', 'unsubscribed'],
      statuses: ['delivered', 'unsubscribed', 'spam'],
      expected: 'spam',
    },
    {
      name: 'a raised flag with a link wins',
      channel: 'viber',
      links: ['unsubscribed'],
      statuses: ['delivered', 'unsubscribed', 'spam'],
      expected: 'unsubscribed',
    },
    {
      name: 'a flag without a link finishes',
      channel: 'viber',
      links: ['viewed', 'delivered'],
      statuses: ['viewed', 'spam'],
      expected: null,
    },
    {
      name: 'voice unsubscribe beats answered',
      channel: 'voice',
      links: ['unsubscribed', 'answered'],
      statuses: ['answered', 'ivr', 'unsubscribed'],
      expected: 'unsubscribed',
    },
    // statuses of other channels are ignored
    {
      name: 'foreign status ignored',
      channel: 'sms',
      links: ['delivered', 'undelivered'],
      statuses: ['answered'],
      expected: 'undelivered',
    },
  ];

  it.each(table)('$channel: $name', ({ channel, links, statuses, expected }) => {
    const decision = decide(channel, links.map(statusLink), state(channel, statuses));
    expect(decision).toEqual(
      expected ? follows(`on-${expected}`, 'decision_time') : finishes('decision_time'),
    );
    expect(resolveStatusLink(channel, new Set(statuses), links.map(statusLink))?.status ?? null).toBe(
      expected,
    );
  });
});

describe('decideSendBlock: events fire at once', () => {
  it('follows a response link on a matching reply, before the decision time', () => {
    const links = [statusLink('delivered'), responseLink(['да', 'хочу'])];
    const s = state('sms', ['delivered'], { replies: ['Привет', 'Да, ХОЧУ!'] });
    expect(decide('sms', links, s, BEFORE)).toEqual(follows('on-reply', 'response'));
  });

  it('ignores a reply that matches no link', () => {
    const links = [statusLink('delivered'), responseLink(['да'])];
    const s = state('viber', ['delivered'], { replies: ['Дает'] });
    expect(decide('viber', links, s, BEFORE)).toEqual({ action: 'wait', until: DEADLINE });
  });

  it('follows an ivr link on a pressed key in the list', () => {
    const links = [statusLink('answered'), ivrLink(['1', '2'])];
    const s = state('voice', ['answered', 'ivr'], { ivrDigits: ['3', '2'] });
    expect(decide('voice', links, s, BEFORE)).toEqual(follows('on-key', 'ivr'));
  });

  it('ignores a key that no link lists', () => {
    const links = [statusLink('ivr'), ivrLink(['1'])];
    const s = state('voice', ['answered', 'ivr'], { ivrDigits: ['3'] });
    expect(decide('voice', links, s, BEFORE)).toEqual({ action: 'wait', until: DEADLINE });
    expect(decide('voice', links, s, AFTER)).toEqual(follows('on-ivr', 'decision_time'));
  });

  it.each([
    {
      name: 'a listed reason',
      link: errorLink(['insufficient_funds', 'stop_listed']),
      expected: follows('on-error', 'error'),
    },
    { name: 'any reason', link: errorLink(), expected: follows('on-error', 'error') },
    { name: 'an unlisted reason', link: errorLink(['invalid_number']), expected: finishes('error') },
  ])('a failed send follows an error link for $name, or finishes', ({ link, expected }) => {
    const s: MessageState = { channel: 'viber', sentAt: null, statuses: new Set(), error: 'stop_listed' };
    expect(decide('viber', [statusLink('undelivered'), link], s, BEFORE)).toEqual(expected);
  });

  it('a failed send with no error link finishes', () => {
    const s: MessageState = { channel: 'sms', sentAt: null, statuses: new Set(), error: 'invalid_number' };
    expect(decide('sms', [statusLink('undelivered')], s, BEFORE)).toEqual(finishes('error'));
  });
});

describe('decideSendBlock: waiting and moving on early', () => {
  it('waits for the decision time while the outcome is open', () => {
    const links = [statusLink('delivered'), statusLink('undelivered')];
    expect(decide('sms', links, state('sms', []), BEFORE)).toEqual({ action: 'wait', until: DEADLINE });
    expect(decide('sms', links, state('sms', []), DEADLINE)).toEqual(
      follows('on-undelivered', 'decision_time'),
    );
  });

  it('waits with no deadline while the message is not sent', () => {
    const s: MessageState = { channel: 'sms', sentAt: null, statuses: new Set() };
    expect(decide('sms', [], s, AFTER)).toEqual({ action: 'wait', until: null });
  });

  const early: {
    name: string;
    channel: SendChannel;
    links: Link[];
    statuses: MessageStatus[];
    closed?: boolean;
    expected: object;
  }[] = [
    {
      name: 'a final undelivered goes on at once',
      channel: 'viber',
      links: [statusLink('delivered'), statusLink('undelivered')],
      statuses: ['undelivered'],
      expected: follows('on-undelivered', 'early'),
    },
    {
      name: 'no answer after the last redial goes on at once',
      channel: 'voice',
      links: [statusLink('answered'), statusLink('no_answer'), ivrLink(['1'])],
      statuses: ['no_answer'],
      expected: follows('on-no_answer', 'early'),
    },
    {
      name: 'delivered with only an undelivered link finishes at once',
      channel: 'viber',
      links: [statusLink('undelivered')],
      statuses: ['delivered'],
      expected: finishes('early'),
    },
    {
      name: 'SMS delivered when a click would fall back to delivered anyway',
      channel: 'sms',
      links: [statusLink('delivered'), statusLink('undelivered')],
      statuses: ['delivered'],
      expected: follows('on-delivered', 'early'),
    },
    {
      name: 'the highest milestone reached',
      channel: 'sms',
      links: [statusLink('clicked'), statusLink('delivered')],
      statuses: ['delivered', 'clicked'],
      expected: follows('on-clicked', 'early'),
    },
    {
      name: 'a raised spam flag with its link',
      channel: 'viber',
      links: [statusLink('spam'), statusLink('viewed')],
      statuses: ['delivered', 'spam'],
      expected: follows('on-spam', 'early'),
    },
    {
      name: 'a block with no links finishes once sent',
      channel: 'ok',
      links: [],
      statuses: [],
      expected: finishes('early'),
    },
    {
      name: 'a closed call decides on what it reached',
      channel: 'voice',
      links: [statusLink('answered'), ivrLink(['1'])],
      statuses: ['answered'],
      closed: true,
      expected: follows('on-answered', 'early'),
    },
    {
      name: 'SMS delivered while a click could still come',
      channel: 'sms',
      links: [statusLink('clicked'), statusLink('delivered')],
      statuses: ['delivered'],
      expected: { action: 'wait', until: DEADLINE },
    },
    {
      name: 'Viber delivered while a spam flag could still end the path',
      channel: 'viber',
      links: [statusLink('delivered'), statusLink('undelivered')],
      statuses: ['delivered'],
      expected: { action: 'wait', until: DEADLINE },
    },
    {
      name: 'delivered while a reply could still come',
      channel: 'sms',
      links: [statusLink('delivered'), responseLink(['да'])],
      statuses: ['delivered'],
      expected: { action: 'wait', until: DEADLINE },
    },
    {
      name: 'a reply can still come after the provider closed the message',
      channel: 'vk',
      links: [statusLink('delivered'), responseLink(['да'])],
      statuses: ['delivered'],
      closed: true,
      expected: { action: 'wait', until: DEADLINE },
    },
    {
      name: 'answered while a key could still be pressed',
      channel: 'voice',
      links: [statusLink('answered'), ivrLink(['1'])],
      statuses: ['answered'],
      expected: { action: 'wait', until: DEADLINE },
    },
  ];

  it.each(early)('$channel: $name', ({ channel, links, statuses, closed, expected }) => {
    const s = state(channel, statuses, closed ? { closed } : {});
    expect(decide(channel, links, s, BEFORE)).toEqual(expected);
  });

  it('ignores links of other blocks', () => {
    const foreign: Link = { id: 'other', from: 'z', to: 'x', kind: 'status', status: 'delivered' };
    expect(decide('sms', [foreign], state('sms', ['delivered']), AFTER)).toEqual(finishes('decision_time'));
  });

  it('refuses a message of another channel', () => {
    expect(() => decide('sms', [], state('viber', []), AFTER)).toThrow(/does not match/);
  });
});

describe('decideDelayBlock', () => {
  const delay = { id: 'd', durationSec: 600 };
  const next: Link = { id: 'n', from: 'd', to: 'x', kind: 'next' };

  it('waits for the delay, then follows its link', () => {
    expect(decideDelayBlock(delay, [next], SENT, BEFORE)).toEqual(follows('n', 'delay'));
    const early = new Date(SENT.getTime() + 599_000);
    expect(decideDelayBlock(delay, [next], SENT, early)).toEqual({
      action: 'wait',
      until: new Date(SENT.getTime() + 600_000),
    });
  });

  it('finishes when it has no link (never in a valid scheme)', () => {
    expect(decideDelayBlock(delay, [], SENT, AFTER)).toEqual(finishes('delay'));
  });
});

describe('statusRoutes', () => {
  it('gives the link each final state takes, for a set-based engine', () => {
    const links = [statusLink('viewed'), statusLink('undelivered'), statusLink('unsubscribed')];
    expect(statusRoutes('viber', links)).toEqual({
      spam: null,
      unsubscribed: 'on-unsubscribed',
      clicked: 'on-viewed',
      viewed: 'on-viewed',
      delivered: null,
      undelivered: 'on-undelivered',
    });
  });
});
