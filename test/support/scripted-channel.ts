import type {
  ChannelAdapter,
  OutboundMessage,
  ProviderEvent,
  SubmitResult,
} from '../../src/channels/types.ts';
import { ingestProviderEvents } from '../../src/mailings/engine/ingest.ts';
import type { ErrorReason, MessageStatus, SendChannel } from '../../src/mailings/scheme/vocabulary.ts';

/**
 * A provider whose every outcome the test writes down per phone number: which events arrive how many
 * seconds after the send, or which error the submit returns. Like a real provider it remembers keys it
 * accepted and never sends one twice; `calls` records every submit so tests can prove that.
 */
export interface ScriptStep {
  afterSec: number;
  status?: MessageStatus;
  reply?: string;
  digits?: string;
}

export type Script = { error: ErrorReason } | ScriptStep[];

export class ScriptedProvider {
  readonly calls: OutboundMessage[] = [];
  readonly accepted = new Map<string, string>();
  /** Scripts per attempt: the n-th message to a phone on a channel takes the n-th script (last one repeats). */
  private readonly sequences = new Map<string, Script[]>();
  private readonly seen = new Map<string, number>();

  /**
   * `idOf` names the provider's message id (default: from the key, unique across providers). Real providers
   * number their messages independently, so two of them may well use the same id for different messages.
   */
  constructor(private readonly idOf: (m: OutboundMessage) => string = (m) => `pm-${m.key}`) {}

  script(channel: SendChannel, phone: string, ...scripts: Script[]): this {
    this.sequences.set(`${channel}:${phone}`, scripts);
    return this;
  }

  adapters(): Record<SendChannel, ChannelAdapter> {
    const make = (channel: SendChannel): ChannelAdapter => ({
      provider: `scripted-${channel}`,
      channel,
      sandbox: true,
      submit: async (messages, ctx) => {
        const results: SubmitResult[] = [];
        const events: ProviderEvent[] = [];
        for (const m of messages) {
          this.calls.push(m);
          const known = this.accepted.get(m.key);
          if (known) {
            results.push({ key: m.key, ok: true, providerMessageId: known });
            continue;
          }
          const id = `${channel}:${m.to}`;
          const n = this.seen.get(id) ?? 0;
          this.seen.set(id, n + 1);
          const seq: Script[] = this.sequences.get(id) ?? [[]];
          const script = seq[Math.min(n, seq.length - 1)]!;
          if (!Array.isArray(script)) {
            results.push({ key: m.key, ok: false, error: script.error, message: 'scripted failure' });
            continue;
          }
          const providerMessageId = this.idOf(m);
          this.accepted.set(m.key, providerMessageId);
          results.push({ key: m.key, ok: true, providerMessageId });
          const now = ctx.clock.now().getTime();
          for (const step of script) {
            const occursAt = new Date(now + step.afterSec * 1000);
            const base = { provider: `scripted-${channel}`, providerMessageId, occursAt };
            if (step.status) events.push({ ...base, kind: 'status', status: step.status });
            if (step.reply !== undefined) events.push({ ...base, kind: 'reply', text: step.reply });
            if (step.digits) events.push({ ...base, kind: 'ivr', digits: step.digits });
          }
        }
        await ingestProviderEvents(ctx.db, ctx.clock, events);
        return results;
      },
    });
    return { sms: make('sms'), viber: make('viber'), voice: make('voice'), vk: make('vk'), ok: make('ok') };
  }
}
