import { pathToken, rejected, sameSecret, str } from '../inbound.ts';
import type { InboundEvent, InboundRequest, InboundResult } from '../types.ts';
import { imMessageRef } from './open-lines.ts';

/**
 * Bitrix24 events (crm-apis.md §2): Bitrix POSTs `event`, `data`, `ts` and `auth{…, application_token}`,
 * form-encoded with PHP-style nested keys (`data[MESSAGES][0][message][text]=…`); the docs print the same
 * structure as JSON (b24-rest-docs api-reference/imopenlines/imconnector/events/
 * on-im-connector-message-add.md), so both encodings are accepted. They reach the URL we bound with
 * event.bind, whose last segment is an unguessable token; `auth[application_token]` is then compared with
 * the token learnt from the first verified event (index.ts, api-reference/events/safe-event-handlers.md).
 */

type Nested = { [key: string]: Nested | string };

/** `a[b][0][c]=v` → { a: { b: { '0': { c: 'v' } } } }. */
export function parseNestedForm(params: URLSearchParams): Nested {
  const root: Nested = {};
  for (const [rawKey, value] of params) {
    const match = /^([^[]+)((?:\[[^\]]*\])*)$/.exec(rawKey);
    if (!match) continue;
    const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!)];
    let node: Nested = root;
    path.forEach((segment, i) => {
      if (segment === '__proto__' || segment === 'constructor' || segment === 'prototype') return;
      if (i === path.length - 1) {
        node[segment] = value;
        return;
      }
      const next = node[segment];
      if (typeof next === 'object') node = next;
      else {
        const created: Nested = {};
        node[segment] = created;
        node = created;
      }
    });
  }
  return root;
}

function bodyOf(request: InboundRequest): Record<string, unknown> | null {
  const type = request.headers['content-type'] ?? '';
  if (/json/i.test(type)) {
    try {
      const parsed = JSON.parse(request.rawBody) as unknown;
      return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }
  return parseNestedForm(new URLSearchParams(request.rawBody));
}

const asList = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : value && typeof value === 'object' ? Object.values(value) : [];

const asRecord = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/** Operator text arrives as BBCode ("[b]Name:[/b] [br]Hello"); the widget shows plain text. */
export function bbcodeToText(text: string): string {
  return text
    .replace(/\[br\]/gi, '\n')
    .replace(/\[\/?(b|i|u|s|quote|code|color[^\]]*|size[^\]]*|url[^\]]*)\]/gi, '')
    .trim();
}

export interface BitrixEvent {
  /** Upper case, as Bitrix24 sends it (ONIMCONNECTORMESSAGEADD). */
  name: string;
  data: Record<string, unknown>;
  auth: Record<string, unknown>;
}

export type ReadEvent =
  | { kind: 'event'; event: BitrixEvent }
  /** Bitrix24 opening our PLACEMENT_HANDLER (the connector's settings slider), not an event. */
  | { kind: 'placement' }
  | { kind: 'rejected'; result: InboundResult };

/** The URL token first (nothing is parsed for a wrong URL), then the body. */
export function readBitrixEvent(request: InboundRequest, webhookToken: string | undefined): ReadEvent {
  const reject = (status: 400 | 401 | 403, reason: string): ReadEvent => ({
    kind: 'rejected',
    result: rejected(status, reason),
  });
  if (request.method !== 'POST') return reject(400, 'Bitrix24 events are POSTed');
  if (!sameSecret(pathToken(request), webhookToken)) return reject(401, 'unknown event URL token');
  const body = bodyOf(request);
  if (!body) return reject(400, 'unreadable event body');
  if (body.event === undefined && body.PLACEMENT !== undefined) return { kind: 'placement' };
  return {
    kind: 'event',
    event: {
      name: String(body.event ?? '').toUpperCase(),
      data: asRecord(body.data),
      auth: asRecord(body.auth),
    },
  };
}

/**
 * Operators' replies of ONIMCONNECTORMESSAGEADD for our connector on our line; an app's handler receives
 * the event of every line and connector of the app, so others' are skipped (the tutorial checks CONNECTOR
 * too). `externalMessageId` keeps both Open Line ids: the delivery confirmation needs them.
 */
export function staffMessages(event: BitrixEvent, connector: string, line: number): InboundEvent[] {
  if (event.name !== 'ONIMCONNECTORMESSAGEADD') return [];
  if (String(event.data.CONNECTOR ?? '').toLowerCase() !== connector) return [];
  if (Number(event.data.LINE) !== line) return [];
  const events: InboundEvent[] = [];
  for (const item of asList(event.data.MESSAGES)) {
    const m = item as {
      im?: Record<string, unknown>;
      message?: Record<string, unknown>;
      chat?: Record<string, unknown>;
    };
    const chatId = str(m.chat?.id);
    const text = str(m.message?.text);
    if (!chatId || text === null) continue;
    const imChat = str(m.im?.chat_id);
    const imMessage = str(m.im?.message_id);
    events.push({
      type: 'staff_message',
      conversationRef: chatId,
      crmUserId: str(m.message?.user_id),
      text: bbcodeToText(text),
      externalMessageId: imChat && imMessage ? imMessageRef(imChat, imMessage) : imMessage,
    });
  }
  return events;
}
