import { sameSecret, str } from '../inbound.ts';
import type { InboundEvent, InboundRequest, InboundResult } from '../types.ts';

/**
 * Bitrix24 events (crm-apis.md §2): Bitrix POSTs `event`, `data`, `ts` and `auth{…, application_token}`,
 * form-encoded with PHP-style nested keys (`data[MESSAGES][0][message][text]=…`); the docs print the same
 * structure as JSON (b24-rest-docs api-reference/imopenlines/imconnector/events/
 * on-im-connector-message-add.md), so both encodings are accepted. The only proof of origin is
 * `auth[application_token]`, compared with the token stored at app installation.
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

/** Operator text arrives as BBCode ("[b]Name:[/b] [br]Hello"); the widget shows plain text. */
export function bbcodeToText(text: string): string {
  return text
    .replace(/\[br\]/gi, '\n')
    .replace(/\[\/?(b|i|u|s|quote|code|color[^\]]*|size[^\]]*|url[^\]]*)\]/gi, '')
    .trim();
}

export function parseBitrixEvent(
  request: InboundRequest,
  applicationToken: string | undefined,
): InboundResult {
  if (request.method !== 'POST') return { ok: false, status: 400, reason: 'Bitrix24 events are POSTed' };
  if (!applicationToken)
    return { ok: false, status: 403, reason: 'no application token stored for this integration' };
  const body = bodyOf(request);
  if (!body) return { ok: false, status: 400, reason: 'unreadable event body' };
  const auth = (body.auth ?? {}) as Record<string, unknown>;
  const given = str(auth.application_token);
  if (!sameSecret(given, applicationToken)) {
    return { ok: false, status: 401, reason: 'application_token does not match' };
  }
  const ok = (events: InboundEvent[]): InboundResult => ({
    ok: true,
    events,
    reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'OK' },
  });
  const event = String(body.event ?? '').toUpperCase();
  if (event !== 'ONIMCONNECTORMESSAGEADD')
    return ok([{ type: 'ignored', reason: `event ${event || '(none)'}` }]);
  const data = (body.data ?? {}) as Record<string, unknown>;
  const events: InboundEvent[] = [];
  for (const item of asList(data.MESSAGES)) {
    const m = item as {
      im?: Record<string, unknown>;
      message?: Record<string, unknown>;
      chat?: Record<string, unknown>;
    };
    const chatId = str(m.chat?.id);
    const text = str(m.message?.text);
    if (!chatId || text === null) continue;
    events.push({
      type: 'staff_message',
      conversationRef: chatId,
      crmUserId: str(m.message?.user_id),
      text: bbcodeToText(text),
      externalMessageId: str(m.im?.message_id),
    });
  }
  return ok(events.length ? events : [{ type: 'ignored', reason: 'no messages' }]);
}
