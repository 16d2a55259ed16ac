import { accepted, pathToken, readBody, rejected, sameSecret, str } from '../inbound.ts';
import type { InboundRequest, InboundResult } from '../types.ts';

/**
 * Omnidesk custom channel ("Свои каналы") webhook: Omnidesk POSTs `{type: "message_new", object:
 * {message_id, case_id, staff_id, user_id, custom_user_id, content, note, sent_via_rule}}` to the URL the
 * admin entered (crm-apis.md §4; palachX/laravel-omnidesk docs/en/webhooks.md). Omnidesk signs nothing,
 * so the URL carries an unguessable token (generateInboundToken) as its last segment.
 */
export function parseCustomChannelWebhook(
  request: InboundRequest,
  webhookToken: string | undefined,
): InboundResult {
  if (request.method !== 'POST') return rejected(400, 'Omnidesk webhooks are POSTed');
  if (!sameSecret(pathToken(request), webhookToken)) return rejected(401, 'unknown webhook URL token');
  const body = readBody(request);
  if (!body) return rejected(400, 'unreadable webhook body');
  const object = (body.object ?? {}) as Record<string, unknown>;
  if (body.type !== 'message_new')
    return accepted([{ type: 'ignored', reason: `type ${String(body.type)}` }]);
  // An internal note is for staff only, never for the visitor.
  if (object.note === true || object.note === 1 || object.note === '1') {
    return accepted([{ type: 'ignored', reason: 'internal note' }]);
  }
  const conversationRef = str(object.custom_user_id);
  const text = str(object.content);
  if (!conversationRef || text === null)
    return accepted([{ type: 'ignored', reason: 'not a custom channel message' }]);
  const staffId = str(object.staff_id);
  return accepted([
    {
      type: 'staff_message',
      conversationRef,
      crmUserId: staffId && staffId !== '0' ? staffId : null,
      text,
      externalMessageId: str(object.message_id),
    },
  ]);
}
