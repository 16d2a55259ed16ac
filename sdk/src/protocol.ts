/**
 * The omnitalk chat protocol, version 1, as the SDK sees it (the server's docs/chat-protocol.md is the
 * reference). Every frame is a JSON object `{ v: 1, type, id?, ...fields }`; a client frame with an
 * `id` gets exactly one answer with `re: id`: `ack` (with `data`) or `error`.
 */

export const PROTOCOL_VERSION = 1;

export const protocolErrorCodes = [
  'bad_frame',
  'unsupported_version',
  'unknown_type',
  'invalid_message',
  'too_large',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'rate_limited',
  'internal',
] as const;
export type ProtocolErrorCode = (typeof protocolErrorCodes)[number];

/** Errors the SDK itself reports (the connection, not the server, failed). */
export type ClientErrorCode = 'disconnected' | 'timeout' | 'closed';

export const closeCodes = {
  abuse: 4400,
  unauthorized: 4401,
  originForbidden: 4403,
  helloTimeout: 4408,
  tooLarge: 1009,
} as const;

/** Frame types a visitor client may send (the server refuses others with unknown_type). */
export const visitorClientFrameTypes = [
  'hello',
  'message.send',
  'typing',
  'read',
  'contact.submit',
  'page.view',
  'history',
  'ping',
] as const;

/** Frame types an operator client may send. */
export const operatorClientFrameTypes = [
  'hello',
  'status.set',
  'message.send',
  'typing',
  'read',
  'dialog.take',
  'dialog.transfer',
  'dialog.close',
  'history',
  'ping',
] as const;

export const serverFrameTypes = [
  'welcome',
  'ack',
  'error',
  'message.new',
  'message.updated',
  'dialog.updated',
  'typing',
  'read',
  'presence',
  'visitor.updated',
  'notification',
  'resync',
] as const;

/** A personal notice to one operator (a call from the PBX: Gravitel). */
export interface OperatorNotification {
  kind: 'call';
  dialog_id: number | null;
  text: string;
  phone: string | null;
}

export type OperatorStatus = 'online' | 'away' | 'offline';
/** `phone`: a caller's calls from the PBX, written as system messages (answers there are notes). */
export type ChatChannel = 'web' | 'sms' | 'viber' | 'vk' | 'ok' | 'phone';
export type MessageAuthor = 'visitor' | 'operator' | 'system';
/** Dates travel as ISO 8601 strings. */
export type IsoDate = string;

export interface Attachment {
  id: number;
  file_name: string;
  content_type: string;
  size: number;
}

/** A message as a visitor sees it (no operator ids, no delivery internals). */
export interface VisitorMessage {
  id: number;
  dialog_id: number;
  author: MessageAuthor;
  author_name: string | null;
  text: string;
  attachment: Attachment | null;
  /** Set on the visitor's own messages only. */
  client_id: string | null;
  created_at: IsoDate;
}

/** A message as an operator sees it. */
export interface OperatorMessage extends VisitorMessage {
  operator_id: number | null;
  /** Answers in channel dialogs: pending until the channel provider took them. */
  delivery: 'pending' | 'sent' | 'failed' | null;
  delivery_error: string | null;
}

export interface VisitorDialog {
  id: number;
  status: 'open' | 'closed';
  operator: { name: string } | null;
  operator_read_up_to: number;
  visitor_read_up_to: number;
  last_message_id: number | null;
  created_at: IsoDate;
  closed_at: IsoDate | null;
}

export interface Contact {
  id: number;
  name: string;
  phone: string | null;
  email: string | null;
}

export interface OperatorDialog {
  id: number;
  site_id: number | null;
  channel: ChatChannel;
  status: 'open' | 'closed';
  visitor_id: number | null;
  address: string | null;
  contact: Contact | null;
  mailing_id: number | null;
  operator_id: number | null;
  assigned_at: IsoDate | null;
  visitor_read_up_to: number;
  operator_read_up_to: number;
  last_message_id: number | null;
  last_message_at: IsoDate | null;
  created_at: IsoDate;
  closed_at: IsoDate | null;
}

export interface OperatorPresence {
  user_id: number;
  name: string;
  email: string;
  role: 'owner' | 'admin' | 'operator';
  status: OperatorStatus;
  chosen_status: OperatorStatus;
  connected: boolean;
}

export interface Limits {
  text: number;
  frame_bytes: number;
  attachment_bytes: number;
}

export interface VisitorWelcome {
  type: 'welcome';
  protocol: number;
  visitor: { id: number; token: string | null };
  site: { name: string; settings: Record<string, unknown> };
  dialog: VisitorDialog | null;
  messages: VisitorMessage[];
  next_before: number | null;
  operators_online: boolean;
  limits: Limits;
}

export interface OperatorWelcome {
  type: 'welcome';
  protocol: number;
  account_id: number;
  user: { id: number; name: string; email: string; role: string } | null;
  status: OperatorStatus;
  operators: OperatorPresence[];
  dialogs: OperatorDialog[];
  limits: Limits;
}

export interface HistoryPage<M> {
  /** Oldest first within the page. */
  items: M[];
  /** Pass as `before` for the next older page; null at the beginning. */
  next_before: number | null;
}

export interface TypingEvent {
  dialog_id: number;
  by: 'visitor' | 'operator';
  user_id?: number | null;
  on: boolean;
}

export interface ReadEvent {
  dialog_id: number;
  by: 'visitor' | 'operator';
  up_to: number;
}

export interface VisitorCardUpdate {
  id: number;
  site_id: number;
  contact: Contact | null;
  last_page: { url: string; title: string; visited_at: IsoDate } | null;
}

/** Any server frame, loosely typed; the clients narrow by `type`. */
export interface ServerFrame {
  v: number;
  type: string;
  re?: string | null;
  [field: string]: unknown;
}
