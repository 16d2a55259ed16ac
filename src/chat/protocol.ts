import { z } from 'zod';
import { chatLimits, operatorStatuses } from './vocabulary.ts';

/**
 * The chat WebSocket protocol, version 1 (docs/chat-protocol.md; the SDK in sdk/ speaks it). Every
 * frame is a JSON object `{ "v": 1, "type": "...", "id"?: "..." , ...fields }`. A client frame with an
 * `id` gets exactly one answer carrying `re: id`: `ack` (with `data`) or `error`. Unknown fields are
 * refused, so a typo is an error instead of a silently ignored option.
 */

export const PROTOCOL_VERSION = 1;

export const protocolErrorCodes = [
  /** Not a JSON object, or a binary frame. */
  'bad_frame',
  /** `v` is not a version this server speaks. */
  'unsupported_version',
  /** `type` is not a client frame type of this endpoint. */
  'unknown_type',
  /** A field is missing, of the wrong type, or unknown (`field` names it). */
  'invalid_message',
  /** The frame, a text or a file is over its limit. */
  'too_large',
  /** hello is required first, or its credentials were refused. */
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  /** Too many frames too fast: this frame was dropped. */
  'rate_limited',
  'internal',
] as const;
export type ProtocolErrorCode = (typeof protocolErrorCodes)[number];

/** Close codes the server uses (besides the standard 1000/1001/1009/1011). */
export const closeCodes = {
  /** Too many protocol errors in a short time. */
  abuse: 4400,
  /** hello refused (unknown site key, bad credentials). */
  unauthorized: 4401,
  /** The page's origin is not allowed for this site. */
  originForbidden: 4403,
  /** No hello within HELLO_TIMEOUT_MS. */
  helloTimeout: 4408,
} as const;

export const HELLO_TIMEOUT_MS = 10_000;

const requestId = z.string().min(1).max(64).optional();
const id = z.int().positive().max(Number.MAX_SAFE_INTEGER);
const clientId = z.string().min(1).max(chatLimits.clientId);
// Text length is checked by the service (too_large names `text`); the frame limit bounds it anyway.
const text = z.string().optional();

const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ v: z.literal(PROTOCOL_VERSION), type: z.literal(type), id: requestId, ...shape });

const page = z.strictObject({
  url: z.string().min(1).max(chatLimits.pageUrl),
  title: z.string().max(chatLimits.pageTitle).optional(),
});
const historyPage = {
  before: id.optional(),
  limit: z.int().min(1).max(chatLimits.historyPageMax).optional(),
};

/** Frames a visitor (the widget, a mobile app) sends on /ws/visitor. */
export const visitorFrames = {
  hello: frame('hello', {
    site_key: z.string().min(1).max(100),
    visitor_token: z.string().min(1).max(200).optional(),
    page: page.optional(),
    /** For clients that send no User-Agent header (React Native). */
    user_agent: z.string().max(chatLimits.userAgent).optional(),
  }),
  'message.send': frame('message.send', {
    client_id: clientId,
    text,
    attachment_id: id.optional(),
    dialog_id: id.optional(),
  }),
  typing: frame('typing', { on: z.boolean(), dialog_id: id.optional() }),
  read: frame('read', { up_to: id, dialog_id: id.optional() }),
  'contact.submit': frame('contact.submit', {
    name: z.string().max(200).optional(),
    phone: z.string().max(50).optional(),
    email: z.string().max(320).optional(),
  }),
  'page.view': frame('page.view', page.shape),
  history: frame('history', historyPage),
  ping: frame('ping', {}),
} as const;

/** Frames an operator (the operator app, an integration) sends on /ws/operator. */
export const operatorFrames = {
  hello: frame('hello', {
    /** An API token, when the socket was not authenticated by cookie or Authorization header. */
    token: z.string().min(1).max(300).optional(),
    /** With an API token: act as this operator of the account (none: an observer). */
    user_id: id.optional(),
    status: z.enum(operatorStatuses).optional(),
    /** Which messages this socket is sent live: every one of the account (default), or the dialogs
     * assigned to this operator and the waiting ones. */
    scope: z.enum(['all', 'assigned']).optional(),
  }),
  'status.set': frame('status.set', { status: z.enum(operatorStatuses) }),
  'message.send': frame('message.send', {
    dialog_id: id,
    client_id: clientId,
    text,
    attachment_id: id.optional(),
  }),
  typing: frame('typing', { dialog_id: id, on: z.boolean() }),
  read: frame('read', { dialog_id: id, up_to: id }),
  'dialog.take': frame('dialog.take', { dialog_id: id }),
  'dialog.transfer': frame('dialog.transfer', { dialog_id: id, to_user_id: id }),
  'dialog.close': frame('dialog.close', { dialog_id: id }),
  history: frame('history', { dialog_id: id, ...historyPage }),
  ping: frame('ping', {}),
} as const;

export type FrameSchemas = Record<string, z.ZodType<{ v: 1; type: string; id?: string }>>;
export type FrameOf<S extends FrameSchemas> = { [K in keyof S]: z.infer<S[K]> }[keyof S];

/** Frames the server sends (both endpoints unless noted); docs/chat-protocol.md describes each. */
export const serverFrameTypes = [
  'welcome',
  'ack',
  'error',
  'message.new',
  'message.updated',
  'dialog.updated',
  'typing',
  'read',
  /** operator endpoint only */
  'presence',
  /** operator endpoint only */
  'visitor.updated',
  /** operator endpoint only, to one operator */
  'notification',
  'resync',
] as const;
export type ServerFrameType = (typeof serverFrameTypes)[number];

export interface ProtocolError {
  code: ProtocolErrorCode;
  message: string;
  field: string | null;
  re: string | null;
}

export type Parsed<S extends FrameSchemas> =
  | { ok: true; frame: FrameOf<S> }
  | { ok: false; error: ProtocolError };

const fail = (
  code: ProtocolErrorCode,
  message: string,
  field: string | null = null,
  re: string | null = null,
) => ({ ok: false, error: { code, message, field, re } }) as const;

/** Parses and validates one client frame: nothing reaches a handler that is not a valid frame. */
export function parseFrame<S extends FrameSchemas>(
  data: Buffer | string,
  isBinary: boolean,
  schemas: S,
): Parsed<S> {
  if (isBinary) return fail('bad_frame', 'Binary frames are not supported; send JSON text');
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    if (size > chatLimits.frameBytes)
      return fail('too_large', `A frame must be at most ${chatLimits.frameBytes} bytes`, 'frame');
    return fail('bad_frame', 'A frame must be a JSON object');
  }
  const obj = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<
    string,
    unknown
  >;
  const re = typeof obj.id === 'string' && obj.id.length <= 64 ? obj.id : null;
  // Parsed only to name the request in the answer (the transport already capped the size).
  if (size > chatLimits.frameBytes)
    return fail('too_large', `A frame must be at most ${chatLimits.frameBytes} bytes`, 'frame', re);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail('bad_frame', 'A frame must be a JSON object');
  if (obj.v !== PROTOCOL_VERSION) {
    if (obj.v === undefined) return fail('invalid_message', 'v is required (protocol version 1)', 'v', re);
    return fail('unsupported_version', `Protocol version ${String(obj.v)} is not supported; use 1`, 'v', re);
  }
  if (typeof obj.type !== 'string') return fail('invalid_message', 'type is required', 'type', re);
  if (!Object.hasOwn(schemas, obj.type))
    return fail('unknown_type', `Unknown frame type "${obj.type.slice(0, 50)}"`, 'type', re);
  const parsed = schemas[obj.type]!.safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const field = [...issue.path.map(String), ...keys.slice(0, 1)].join('.') || null;
    if (keys.length > 0) return fail('invalid_message', `Unknown field "${field}"`, field, re);
    return fail('invalid_message', `${field ?? 'frame'}: ${issue.message}`, field, re);
  }
  return { ok: true, frame: parsed.data as FrameOf<S> };
}
