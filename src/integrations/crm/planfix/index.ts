import { z } from 'zod';
import {
  displayName,
  emailKey,
  matchesLookup,
  missingValues,
  nationalNumber,
  phoneKey,
  splitName,
} from '../contact.ts';
import { CrmError } from '../errors.ts';
import { accepted, readBody, rejected, sameSecret, str } from '../inbound.ts';
import { apiBaseUrlField, field, hostInput } from '../settings.ts';
import type { CrmConnector, CrmContactData, CrmContext, CrmRef, CrmUser, InboundRequest } from '../types.ts';
import { chatCommand, planfixBaseUrl, rest } from './api.ts';

/**
 * IN-10 Planfix, through "API ПланФикса для чатов" (crm-apis.md §5): we are a third-party chat. The
 * visitor's conversation is one Planfix chat whose `chatId` and `contactId` are our contact id; Planfix
 * creates the contact and the task from `cmd=newMessage`, and managers answer with a task comment,
 * which Planfix POSTs to our receiver URL as `cmd=newMessage` carrying the key we gave it (`token`).
 *
 * Facts beyond crm-apis.md come from the Planfix help mirrored in electronic777/planfix-docs:
 * - Интеграции/Список_команд_API_для_чатов.md: the full command list both ways — newMessage,
 *   getTask → `{data: {number}}`, getContact → `{data: {number}}` or 400 `{error: "unknown contact"}`,
 *   updateContact, messageStatus; 401 `{error: "Invalid token"}`; Planfix → us: newMessage with
 *   `chatId` (absent for a first message started from Planfix, then `contactPhone`), `token`,
 *   `message`, `messageId`, `userName`, `userLastName`, `attachments[…]`, and we answer JSON
 *   `{chatId, contactId}`.
 * - Интеграции/API_для_чатов.md: form-encoded both ways, JSON answers, HTTPS only.
 * - REST: Интеграции/REST_API_Введение.md (`/rest/`, 1 request/s, 100 items per list),
 *   REST_API_Авторизация.md (Bearer token made in "Доступ к API — REST API"), REST_API_Коды_ошибок.md
 *   (`{result, code, error}`), Контакты/REST_API__Сложные_фильтры_контактов.md (filter 4003 phone,
 *   4005 email, "contains"). popstas/planfix-mcp-server src/tools/planfix_search_contact.ts and
 *   planfix_search_manager.ts: POST /rest/contact/list and /rest/user/list with
 *   `{offset, pageSize, fields, filters}`.
 *
 * Deviation from the seed: the seed asks for a Planfix login and password, which fed the legacy XML
 * API session (planfix-docs "Авторизация по логину и паролю": kept only for backward compatibility,
 * token authorisation preferred). We take a REST API token instead, so no password is ever asked for.
 */

export const planfixSettings = z.object({
  account: field(hostInput(), {
    label: { ru: 'Аккаунт', en: 'Account' },
    help: { ru: 'Из адреса: mycompany.planfix.ru', en: 'From the address: mycompany.planfix.ru' },
  }),
  providerId: field(
    z
      .string()
      .trim()
      .min(1)
      .regex(/^[^~]+$/, 'providerId cannot contain "~"'),
    { label: { ru: 'providerId', en: 'providerId' }, hidden: true },
  ),
  // Ours, not Planfix's: generated with the integration (the same value as its receiver URL token, which
  // the admin sees anyway) and shown, because the admin enters it in Planfix's chat settings; Planfix
  // sends it back as `token` with every reply. providerId is generated and shown the same way.
  chatApiKey: field(z.string().min(20), {
    label: { ru: 'Ключ авторизации для API чата', en: 'Our chat API key' },
    hidden: true,
  }),
  planfixToken: field(z.string().trim().min(1), {
    label: { ru: 'Ключ авторизации ПланФикса', en: 'Planfix chat API key' },
    secret: true,
  }),
  restToken: field(z.string().trim().min(1).optional(), {
    label: { ru: 'Токен REST API', en: 'REST API token' },
    help: {
      ru: 'Для поиска контактов и списка сотрудников (Управление аккаунтом — Доступ к API — REST API)',
      en: 'To look contacts up and list employees (Account management — API access — REST API)',
    },
    secret: true,
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type PlanfixSettings = z.infer<typeof planfixSettings>;
type Ctx = CrmContext<PlanfixSettings>;

interface RestContact {
  id: number;
  name?: string;
  lastname?: string;
  email?: string;
  phones?: { number?: string }[];
}

const storedOf = (c: RestContact) => ({ phones: (c.phones ?? []).map((p) => p.number), emails: [c.email] });

/** The contact fields of newMessage/updateContact; the rest of what we know goes into contactData. */
function contactFields(
  contact: Pick<CrmContactData, 'name' | 'phones' | 'emails' | 'comment'>,
): Record<string, string | undefined> {
  const { firstName, lastName } = splitName(contact.name);
  const extra = [
    ...contact.phones.slice(1).map((p) => `Телефон: ${p}`),
    ...contact.emails.slice(1).map((e) => `Email: ${e}`),
  ];
  return {
    contactName: firstName || displayName(contact),
    contactLastName: lastName || undefined,
    contactEmail: contact.emails[0],
    // Planfix's own example writes the number as digits ("79051234567").
    contactPhone: contact.phones[0]?.replace(/\D/g, ''),
    contactData: extra.join('\n') || undefined,
  };
}

const chatIdOf = (ref: CrmRef) => ref.related?.chatId ?? ref.id;

async function postMessage(
  ctx: Ctx,
  chatId: string,
  fields: Record<string, string | undefined>,
  message: string,
  title?: string,
) {
  await chatCommand(ctx, 'newMessage', { chatId, contactId: chatId, ...fields, message, title }, 'create');
}

function parseReply(ctx: Ctx, request: InboundRequest) {
  if (request.method !== 'POST') return rejected(400, 'Planfix posts its commands');
  const body = readBody(request);
  if (!body) return rejected(400, 'unreadable body');
  if (!sameSecret(str(body.token), ctx.settings.chatApiKey)) return rejected(401, 'Invalid token');
  if (str(body.providerId) !== ctx.settings.providerId) return rejected(403, 'unknown providerId');
  if (body.cmd !== 'newMessage') return accepted([{ type: 'ignored', reason: `cmd ${String(body.cmd)}` }]);
  // A first message started from Planfix has no chatId, only the contact's phone.
  const phone = phoneKey(body.contactPhone);
  const conversationRef = str(body.chatId) ?? (phone ? `phone:${phone}` : null);
  const text = str(body.message);
  if (!conversationRef || text === null) return rejected(400, 'Invalid parameters');
  const params = new URLSearchParams(request.rawBody);
  const names = params.getAll('attachments[name]');
  const links = params.getAll('attachments[url]').map((url, i) => `${names[i] ?? 'файл'}: ${url}`);
  const author = [str(body.userName), str(body.userLastName)].filter(Boolean).join(' ');
  return accepted(
    [
      {
        type: 'staff_message',
        conversationRef,
        crmUserId: null,
        crmUserName: author || null,
        text: [text, ...links].filter(Boolean).join('\n'),
        externalMessageId: str(body.messageId),
      },
    ],
    { body: JSON.stringify({ chatId: conversationRef, contactId: conversationRef }) },
  );
}

export const planfix = {
  id: 'planfix',
  title: { ru: 'ПланФикс', en: 'Planfix' },
  creates: {
    ru: 'Контакт и задача, ответы менеджеров — в чат',
    en: 'Contact and task; managers reply into the chat',
  },
  settingsSchema: planfixSettings,
  rateLimit: {
    requestsPerSecond: 1,
    source: 'planfix-docs REST_API_Введение.md: 1 request/s (chat API limit not documented)',
  },
  baseUrl: planfixBaseUrl,

  async testConnection(ctx) {
    // getContact for an id nobody has: 400 "unknown contact" proves the chat API key, 401 refutes it.
    await chatCommand(ctx, 'getContact', { contactId: 'omnitalk-connection-test' }, 'read', [400]);
    if (ctx.settings.restToken) {
      await rest(ctx, '/user/list', { offset: 0, pageSize: 1, fields: 'id' }, 'read', 'Planfix REST: users');
    }
    return { accountName: ctx.settings.account };
  },

  async findContact(ctx, lookup) {
    if (lookup.contactId) {
      const response = await chatCommand(ctx, 'getContact', { contactId: lookup.contactId }, 'read', [400]);
      const number = (response.body as { data?: { number?: unknown } } | undefined)?.data?.number;
      if (response.status === 200 && number !== undefined) {
        return {
          kind: 'task',
          id: lookup.contactId,
          related: { chatId: lookup.contactId, planfixContact: String(number) },
        } satisfies CrmRef;
      }
    }
    if (!ctx.settings.restToken) return null;
    const filters = [
      ...lookup.phones.map((p) => ({ type: 4003, operator: 'equal', value: nationalNumber(p) })),
      ...lookup.emails.map((e) => ({ type: 4005, operator: 'equal', value: emailKey(e) ?? e })),
    ];
    for (const filter of filters) {
      const body = await rest<{ contacts?: RestContact[] }>(
        ctx,
        '/contact/list',
        { offset: 0, pageSize: 100, fields: 'id,name,lastname,email,phone', filters: [filter] },
        'read',
        'Planfix REST: search contacts',
      );
      const matches = (body.contacts ?? []).filter((c) => matchesLookup(lookup, storedOf(c)));
      if (matches.length) {
        const found = matches.reduce((a, b) => (a.id <= b.id ? a : b));
        const related: Record<string, string> = {
          name: [found.name, found.lastname].filter(Boolean).join(' '),
        };
        if (lookup.contactId) related.chatId = lookup.contactId;
        if (found.email) related.email = found.email;
        if (found.phones?.[0]?.number) related.phone = found.phones[0].number;
        return { kind: 'contact', id: String(found.id), related } satisfies CrmRef;
      }
    }
    return null;
  },

  async createEntity(ctx, contact, _options) {
    const message = contact.comment || 'Посетитель оставил контакты в онлайн-чате';
    const title = `Онлайн-чат${contact.siteName ? ` ${contact.siteName}` : ''}: ${displayName(contact)}`;
    await postMessage(ctx, contact.contactId, contactFields(contact), message, title);
    return {
      kind: 'task',
      id: contact.contactId,
      related: { chatId: contact.contactId, name: displayName(contact) },
    };
  },

  async updateEntity(ctx, ref, contact) {
    if (ref.kind === 'contact') {
      // A contact Planfix already had (found over REST): add what it lacks through REST.
      const { contact: current } = await rest<{ contact?: RestContact }>(
        ctx,
        `/contact/${encodeURIComponent(ref.id)}?fields=id,name,lastname,email,phone`,
        undefined,
        'read',
        'Planfix REST: get contact',
      ).catch((error: unknown) => {
        if (error instanceof CrmError && error.vendorCode === '2000') {
          throw new CrmError(`Planfix: contact ${ref.id} not found`, {
            kind: 'permanent',
            reason: 'not_found',
          });
        }
        throw error;
      });
      if (!current)
        throw new CrmError(`Planfix: contact ${ref.id} not found`, {
          kind: 'permanent',
          reason: 'not_found',
        });
      const missing = missingValues(contact, storedOf(current));
      const patch: Record<string, unknown> = {};
      if (missing.phones.length) {
        patch.phones = [...(current.phones ?? []), ...missing.phones.map((number) => ({ number, type: 1 }))];
      }
      if (missing.emails.length && !current.email) patch.email = missing.emails[0];
      if (Object.keys(patch).length === 0) return;
      await rest(
        ctx,
        `/contact/${encodeURIComponent(ref.id)}`,
        patch,
        'write',
        'Planfix REST: update contact',
      );
      return;
    }
    await chatCommand(ctx, 'updateContact', { contactId: chatIdOf(ref), ...contactFields(contact) }, 'write');
  },

  async attachNote(ctx, ref, note) {
    // Not idempotent: the chat API has no command that lists a chat's messages (Список_команд_API_для_
    // чатов.md), and REST task comments are UNCONFIRMED (crm-apis.md §5), so a retry after a lost answer
    // (timeout, 5xx: unknown outcome) may post the same message into the task twice.
    const chatId = chatIdOf(ref);
    if (ref.kind === 'contact') {
      // The first message for a contact Planfix already had: pass what identifies it, so Planfix
      // links the chat to that contact; from now on the chat is ours.
      const { firstName, lastName } = splitName(ref.related?.name ?? null);
      await postMessage(
        ctx,
        chatId,
        {
          contactName: firstName || 'Посетитель чата',
          contactLastName: lastName || undefined,
          contactEmail: ref.related?.email,
          contactPhone: phoneKey(ref.related?.phone)?.replace(/\D/g, ''),
        },
        note.text,
        'Онлайн-чат',
      );
      return { kind: 'task', id: chatId, related: { chatId, planfixContact: ref.id } };
    }
    // newMessage needs a contact name; the one we gave at creation keeps Planfix's card unchanged.
    await postMessage(ctx, chatId, { contactName: ref.related?.name ?? 'Посетитель чата' }, note.text);
    return ref;
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    for (let offset = 0; offset < 5000; offset += 100) {
      const body = await rest<{
        users?: { id: number | string; name?: string; lastname?: string; email?: string; status?: string }[];
      }>(
        ctx,
        '/user/list',
        { offset, pageSize: 100, fields: 'id,name,lastname,email,status' },
        'read',
        'Planfix REST: users',
      );
      const page = body.users ?? [];
      for (const u of page) {
        users.push({
          id: String(u.id),
          name: [u.name, u.lastname].filter(Boolean).join(' '),
          email: u.email ?? null,
          active: u.status !== 'INACTIVE',
        });
      }
      if (page.length < 100) break;
    }
    return users;
  },

  parseInbound: parseReply,

  // Planfix takes our answer `{chatId, contactId}` as the chat's ids: a chat it started by phone then
  // continues under our contact id, the chat we push the visitor's messages into.
  inboundReply({ ref, contactId }) {
    const chatId = ref.startsWith('phone:') ? String(contactId) : ref;
    return {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ chatId, contactId: chatId }),
    };
  },
} satisfies CrmConnector<PlanfixSettings>;
