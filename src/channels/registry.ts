import { type SendChannel, sendChannels } from '../mailings/scheme/vocabulary.ts';
import { createSandboxAdapter } from './sandbox/adapter.ts';
import type { SandboxSettingsProvider } from './sandbox/settings.ts';
import type { ChannelAdapter } from './types.ts';

/**
 * The channel registry as a data table (ARCHITECTURE "Models to learn from"): which adapter serves
 * each channel. A fresh install sends everything through the sandbox (NF-1); a real provider replaces
 * its channel's line here and nothing else changes — the engine only ever sees ChannelAdapter.
 */

export interface ChannelRegistryDeps {
  /** Where sandbox adapters read each account's settings; the database by default. */
  sandboxSettings?: SandboxSettingsProvider;
}

const registry: Record<SendChannel, (deps: ChannelRegistryDeps) => ChannelAdapter> = {
  sms: (deps) => createSandboxAdapter('sms', deps.sandboxSettings),
  viber: (deps) => createSandboxAdapter('viber', deps.sandboxSettings),
  voice: (deps) => createSandboxAdapter('voice', deps.sandboxSettings),
  vk: (deps) => createSandboxAdapter('vk', deps.sandboxSettings),
  ok: (deps) => createSandboxAdapter('ok', deps.sandboxSettings),
};

/** One adapter per channel, as the engine takes them (EngineDeps.adapters). */
export function channelAdapters(deps: ChannelRegistryDeps = {}): Record<SendChannel, ChannelAdapter> {
  const adapters = {} as Record<SendChannel, ChannelAdapter>;
  for (const channel of sendChannels) adapters[channel] = registry[channel](deps);
  return adapters;
}

export interface ProviderDescription {
  channel: SendChannel;
  provider: string;
  /** The API and the cabinet label sandbox providers as such. */
  sandbox: boolean;
}

/** Which provider serves each channel, in the channels' canonical order. */
export function describeProviders(
  adapters: Record<SendChannel, ChannelAdapter> = channelAdapters(),
): ProviderDescription[] {
  return sendChannels.map((channel) => ({
    channel,
    provider: adapters[channel].provider,
    sandbox: adapters[channel].sandbox,
  }));
}
