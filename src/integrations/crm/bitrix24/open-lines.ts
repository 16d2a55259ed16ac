import { splitName } from '../contact.ts';
import { CrmError, isCrmError, notConfigured } from '../errors.ts';
import type { CrmChatMessage, CrmDeliveredMessage } from '../types.ts';
import { appRest, type Ctx, vendorError } from './rest.ts';

/**
 * Bitrix24 Open Lines through our own connector (crm-apis.md §2 "Two-way"; b24-rest-docs
 * api-reference/imopenlines/imconnector/*, tutorials/openlines/example-connector.md):
 * 1. connect (the settings' test call): `imconnector.register`, `imconnector.activate` on the configured
 *    line, and `event.bind` of OnImConnectorMessageAdd to our event URL, which is also the connector's
 *    PLACEMENT_HANDLER (as in the tutorial);
 * 2. visitors' messages: `imconnector.send.messages` (hub/relay.ts calls it through the runner);
 * 3. operators' replies arrive as ONIMCONNECTORMESSAGEADD (events.ts) and, once filed into the dialog,
 *    are confirmed with `imconnector.send.status.delivery`.
 * All of it needs the application's context: webhook calls get WRONG_AUTH_TYPE.
 */

/** Lowercase letters, digits and `_`, no dots (imconnector-register.md). One per app, activated per line. */
export const CONNECTOR_ID = 'omnitalk';
export const MESSAGE_EVENT = 'OnImConnectorMessageAdd';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#fff" d="M4 4h16v11H8l-4 4z"/></svg>';
/** DATA_IMAGE is an SVG data URI (imconnector-register.md, parameter ICON). */
const icon = (COLOR: string) => ({
  DATA_IMAGE: `data:image/svg+xml,${encodeURIComponent(ICON_SVG)}`,
  COLOR,
  SIZE: '90%',
  POSITION: 'center',
});

/** Messages per imconnector.send.messages call: the docs state no maximum, so we stay small (UNCONFIRMED). */
const SEND_BATCH = 20;

function lineOf(ctx: Ctx): number {
  const line = ctx.settings.openLinesLine;
  if (!line) throw notConfigured('Bitrix24 Open Lines: the line ID is not set', 'openLinesLine');
  return line;
}

function handlerOf(ctx: Ctx): string {
  if (!ctx.settings.inboundUrl)
    throw notConfigured(
      'Bitrix24 Open Lines need our public address for events: set PUBLIC_URL and connect again',
      'openLines',
    );
  return ctx.settings.inboundUrl;
}

/** imconnector.register answers errors as HTTP 200 `{result: {result: false, error, error_description}}`. */
function checkRegistered(body: { result?: unknown }): void {
  const result = body.result as { result?: unknown; error?: unknown; error_description?: unknown } | unknown;
  if (result === true) return;
  if (result && typeof result === 'object' && (result as { result?: unknown }).result === true) return;
  const r = (result ?? {}) as { error?: unknown; error_description?: unknown };
  const vendor = vendorError(String(r.error ?? ''), r.error_description);
  throw new CrmError(`Bitrix24: imconnector.register: ${vendor.message || 'not registered'}`, {
    kind: vendor.kind ?? 'permanent',
    reason: vendor.reason ?? 'validation',
    vendorCode: vendor.vendorCode ?? null,
    field: 'openLines',
  });
}

/**
 * Registers our connector, activates it on the configured line and binds OnImConnectorMessageAdd to our
 * URL. Safe to repeat: register with the same ID updates the connector, activate is a setting, and the
 * handler is bound only when event.get does not list it yet (other integrations of the same app on the
 * portal keep their own bindings).
 */
export async function connectOpenLines(ctx: Ctx): Promise<void> {
  const handler = handlerOf(ctx);
  const line = lineOf(ctx);
  checkRegistered(
    await appRest<{ result?: unknown }>(
      ctx,
      'imconnector.register',
      {
        ID: CONNECTOR_ID,
        NAME: 'omnitalk',
        ICON: icon('#2f80ed'),
        ICON_DISABLED: icon('#99adb3'),
        PLACEMENT_HANDLER: handler,
        // One chat per external user (our contact), so Bitrix24's CRM tracker links the lead
        // (imconnector-register.md, CHAT_GROUP).
        CHAT_GROUP: false,
      },
      'write',
    ),
  );
  // ACTIVE is a string: "1" turns the connector on (imconnector-activate.md).
  await appRest(ctx, 'imconnector.activate', { CONNECTOR: CONNECTOR_ID, LINE: line, ACTIVE: '1' }, 'write');
  const bound = await appRest<{ result?: { event?: unknown; handler?: unknown }[] }>(
    ctx,
    'event.get',
    {},
    'read',
  );
  const already = (bound.result ?? []).some(
    (h) => String(h.event).toUpperCase() === MESSAGE_EVENT.toUpperCase() && h.handler === handler,
  );
  if (already) return;
  try {
    await appRest(ctx, 'event.bind', { event: MESSAGE_EVENT, handler }, 'write');
  } catch (error) {
    // Bound by a concurrent save in between: Bitrix24 answers ERROR_CORE "Handler already binded".
    if (!(isCrmError(error) && error.vendorCode === 'ERROR_CORE' && /already binded/i.test(error.message)))
      throw error;
  }
}

/** `name`/`last_name`: letters, spaces, hyphens and apostrophes, 25 characters at most (send-messages.md). */
const personName = (value: string): string | undefined =>
  value
    .replace(/[^\p{L}\s'-]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 25) || undefined;

const unix = (date: Date) => Math.floor(date.getTime() / 1000);

/** Visitors' messages into the Open Line: user = our contact, chat = our dialog, message = our message. */
export async function sendOpenLinesMessages(ctx: Ctx, messages: CrmChatMessage[]): Promise<void> {
  const line = lineOf(ctx);
  for (let i = 0; i < messages.length; i += SEND_BATCH) {
    const batch = messages.slice(i, i + SEND_BATCH);
    const body = await appRest<{
      result?: { SUCCESS?: unknown; DATA?: { RESULT?: { SUCCESS?: unknown; ERRORS?: unknown }[] } };
    }>(
      ctx,
      'imconnector.send.messages',
      {
        CONNECTOR: CONNECTOR_ID,
        LINE: line,
        MESSAGES: batch.map((m) => {
          const { firstName, lastName } = splitName(m.visitor.name ?? '');
          const name = personName(firstName);
          const lastNameClean = personName(lastName);
          return {
            user: {
              id: `contact-${m.visitor.contactId}`,
              ...(name ? { name } : {}),
              ...(lastNameClean ? { last_name: lastNameClean } : {}),
              ...(m.visitor.phones[0] ? { phone: m.visitor.phones[0] } : {}),
              ...(m.visitor.emails[0] ? { email: m.visitor.emails[0] } : {}),
            },
            message: { id: m.messageId, date: unix(m.sentAt), text: m.text },
            chat: {
              id: m.conversationRef,
              ...(m.visitor.siteName ? { name: `Чат на сайте ${m.visitor.siteName}` } : {}),
            },
          };
        }),
      },
      'create',
    );
    // Each message has its own SUCCESS and ERRORS (imconnector-send-messages.md "Обработка ответа").
    const results = body.result?.DATA?.RESULT ?? [];
    const failed = results.filter((r) => r.SUCCESS === false);
    if (body.result?.SUCCESS !== true || failed.length > 0) {
      const errors = failed.flatMap((r) => (Array.isArray(r.ERRORS) ? r.ERRORS.map(String) : []));
      throw new CrmError(
        `Bitrix24: imconnector.send.messages: not accepted${errors.length ? `: ${errors.join('; ')}` : ''}`,
        { kind: 'permanent', reason: 'validation', field: 'openLinesLine' },
      );
    }
  }
}

/** Our staff_message externalMessageId: the Open Line chat and message (`im.chat_id:im.message_id`). */
export const imMessageRef = (chatId: string, messageId: string) => `${chatId}:${messageId}`;

/** Operators' replies filed into our dialogs: `imconnector.send.status.delivery` (its `im` ids come from the event). */
export async function confirmOpenLinesDelivery(ctx: Ctx, messages: CrmDeliveredMessage[]): Promise<void> {
  const line = lineOf(ctx);
  const items = messages.flatMap((m) => {
    const [chatId, messageId] = m.externalMessageId.split(':');
    if (!chatId || !messageId) return [];
    return [
      {
        im: { chat_id: Number(chatId), message_id: Number(messageId) },
        message: { id: [m.messageId], date: unix(m.deliveredAt) },
        chat: { id: m.conversationRef },
      },
    ];
  });
  if (items.length === 0) return;
  const body = await appRest<{ result?: { SUCCESS?: unknown } }>(
    ctx,
    'imconnector.send.status.delivery',
    { CONNECTOR: CONNECTOR_ID, LINE: line, MESSAGES: items },
    'write',
  );
  if (body.result?.SUCCESS !== true)
    throw new CrmError('Bitrix24: imconnector.send.status.delivery: not accepted', {
      kind: 'permanent',
      reason: 'validation',
    });
}
