import type {
  ChatChannel,
  ChatDelivery,
  DialogStatus,
  MessageAuthor,
  OperatorStatus,
  OutboxKind,
} from '../db/schema.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';

/**
 * The chat's closed vocabulary (SPEC CH), defined once. Values are persisted (CHECK constraints in
 * 0007_chat.sql) and sent over the wire, so they are append-only.
 */

/** Where a dialog happens: the site widget, or a messaging channel whose mailing got a reply (CH-5). */
export const chatChannels = [
  'web',
  'sms',
  'viber',
  'vk',
  'ok',
  'phone',
] as const satisfies readonly ChatChannel[];

/** Mailing channels whose replies carry text and so can open a dialog (a call has IVR digits instead). */
export const replyChannels = ['sms', 'viber', 'vk', 'ok'] as const satisfies readonly (SendChannel &
  ChatChannel)[];
export type ReplyChannel = (typeof replyChannels)[number];
export const isReplyChannel = (value: unknown): value is ReplyChannel =>
  typeof value === 'string' && (replyChannels as readonly string[]).includes(value);

export const dialogStatuses = ['open', 'closed'] as const satisfies readonly DialogStatus[];
export const messageAuthors = ['visitor', 'operator', 'system'] as const satisfies readonly MessageAuthor[];
export const chatDeliveries = ['pending', 'sent', 'failed'] as const satisfies readonly ChatDelivery[];
export const operatorStatuses = ['online', 'away', 'offline'] as const satisfies readonly OperatorStatus[];

export const outboxKinds = [
  'contact.captured',
  'contact.updated',
  'dialog.opened',
  'dialog.assigned',
  'dialog.transferred',
  'dialog.closed',
  'message.created',
] as const satisfies readonly OutboxKind[];

/** How a contact became known (CH-4). */
export const captureSources = ['form', 'operator', 'message', 'channel'] as const;
export type CaptureSource = (typeof captureSources)[number];

export const chatLimits = {
  /** Characters of one message's text. */
  text: 5000,
  /** Bytes of one protocol frame; a bigger one is answered with a too_large error. */
  frameBytes: 64 * 1024,
  /** Bytes of one WebSocket frame the transport accepts at all; a bigger one closes the socket (1009). */
  transportBytes: 1024 * 1024,
  /** Bytes of one attachment. */
  attachmentBytes: 10 * 1024 * 1024,
  pageUrl: 2048,
  pageTitle: 500,
  clientId: 64,
  userAgent: 500,
  /** Messages per history page: default and maximum. */
  historyPage: 50,
  historyPageMax: 200,
  /** Open dialogs an operator gets in its welcome frame. */
  welcomeDialogs: 200,
} as const;

/** Content types a chat attachment may have (checked against the file's first bytes where it matters). */
export const attachmentTypes = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'application/pdf',
  'text/plain',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/zip',
] as const;

/** An operator counts as connected while one of its sockets was seen this recently. */
export const PRESENCE_GRACE_MS = 90_000;
/** How often each server refreshes its operator sockets and sweeps the dead ones. */
export const HEARTBEAT_MS = 30_000;
