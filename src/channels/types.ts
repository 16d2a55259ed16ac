import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { SendBlock } from '../mailings/scheme/model.ts';
import type { ErrorReason, MessageStatus, SendChannel } from '../mailings/scheme/vocabulary.ts';
import type { Clock } from '../shared/clock.ts';

/** One message handed to a provider. Text placeholders are already filled in. */
export interface OutboundMessage {
  /** Idempotency key (recipient, step, attempt): the same key on every retry; a provider must not send twice. */
  key: string;
  accountId: number;
  messageId: number;
  channel: SendChannel;
  /** E.164 */
  to: string;
  content: SendBlock['content'];
}

export type SubmitResult =
  | { key: string; ok: true; providerMessageId: string }
  | { key: string; ok: false; error: ErrorReason; message: string };

/** A provider's report about a message, in our vocabulary (vendor codes are mapped at the adapter edge). */
export interface ProviderEvent {
  provider: string;
  providerMessageId: string;
  kind: 'status' | 'reply' | 'ivr';
  status?: MessageStatus;
  text?: string;
  digits?: string;
  occursAt: Date;
}

export interface AdapterContext {
  db: Kysely<DB>;
  clock: Clock;
}

/** Every channel provider — sandbox or real (SMPP, WhatsApp Cloud API, aggregators) — implements this. */
export interface ChannelAdapter {
  /** Stable id stored on messages, e.g. "sandbox-sms" or "smpp". */
  readonly provider: string;
  readonly channel: SendChannel;
  /** Sandbox adapters simulate a provider; reports and the UI label them as such. */
  readonly sandbox: boolean;
  /** Submits a batch; one result per message, in any order. Must be safe to call again with the same keys. */
  submit(messages: OutboundMessage[], ctx: AdapterContext): Promise<SubmitResult[]>;
}
