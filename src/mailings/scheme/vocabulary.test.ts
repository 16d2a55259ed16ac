import { describe, expect, it } from 'vitest';
import {
  channelFailure,
  channelFlags,
  channelLinkKinds,
  channelMilestones,
  channelStatuses,
  decisionTimeBounds,
  type MessageStatus,
  messageStatuses,
  sendChannels,
  statusClass,
} from './vocabulary.ts';

describe('vocabulary', () => {
  it('lists the statuses of SPEC CS per channel, exactly', () => {
    expect(channelStatuses).toEqual({
      viber: ['spam', 'unsubscribed', 'clicked', 'viewed', 'delivered', 'undelivered'],
      voice: ['unsubscribed', 'ivr', 'answered', 'no_answer'],
      sms: ['clicked', 'delivered', 'undelivered'],
      vk: ['viewed', 'delivered', 'undelivered'],
      ok: ['viewed', 'delivered', 'undelivered'],
    });
    expect(new Set(Object.values(channelStatuses).flat())).toEqual(new Set(messageStatuses));
  });

  it.each(sendChannels)('%s: flags, milestones and failure partition its statuses', (channel) => {
    const own = channelStatuses[channel] as readonly MessageStatus[];
    const parts: MessageStatus[] = [
      ...channelFlags[channel],
      ...channelMilestones[channel],
      channelFailure[channel],
    ];
    expect([...parts].sort()).toEqual([...own].sort());
    for (const flag of channelFlags[channel]) expect(statusClass[flag]).toBe('flag');
    for (const milestone of channelMilestones[channel]) expect(statusClass[milestone]).toBe('milestone');
    expect(statusClass[channelFailure[channel]]).toBe('failure');
  });

  it('allows ivr links from voice only and response links from all but voice', () => {
    for (const channel of sendChannels) {
      const kinds: readonly string[] = channelLinkKinds[channel];
      expect(kinds.includes('ivr')).toBe(channel === 'voice');
      expect(kinds.includes('response')).toBe(channel !== 'voice');
    }
  });

  it('bounds the decision time to 1 minute .. 72 hours', () => {
    expect(decisionTimeBounds).toEqual({ minSec: 60, maxSec: 259_200 });
  });
});
