import { describe, expect, it } from 'vitest';
import { sendChannels } from '../mailings/scheme/vocabulary.ts';
import { channelAdapters, describeProviders } from './registry.ts';
import type { ChannelAdapter } from './types.ts';

describe('channel registry', () => {
  it('serves every channel, each adapter on its own channel; a fresh install uses the sandbox', () => {
    const adapters = channelAdapters();
    expect(Object.keys(adapters).sort()).toEqual([...sendChannels].sort());
    for (const channel of sendChannels) {
      expect(adapters[channel]).toMatchObject({ channel, provider: `sandbox-${channel}`, sandbox: true });
    }
  });

  it('describes the providers for the API and the cabinet, sandbox ones labelled', () => {
    expect(describeProviders()).toEqual([
      { channel: 'sms', provider: 'sandbox-sms', sandbox: true },
      { channel: 'viber', provider: 'sandbox-viber', sandbox: true },
      { channel: 'voice', provider: 'sandbox-voice', sandbox: true },
      { channel: 'vk', provider: 'sandbox-vk', sandbox: true },
      { channel: 'ok', provider: 'sandbox-ok', sandbox: true },
    ]);
    const real: ChannelAdapter = { provider: 'smpp', channel: 'sms', sandbox: false, submit: async () => [] };
    expect(describeProviders({ ...channelAdapters(), sms: real })[0]).toEqual({
      channel: 'sms',
      provider: 'smpp',
      sandbox: false,
    });
  });
});
