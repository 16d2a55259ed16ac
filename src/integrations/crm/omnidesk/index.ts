import { z } from 'zod';
import {
  displayName,
  emailKey,
  isPlaceholderName,
  matchesLookup,
  missingValues,
  nationalNumber,
  phoneKey,
} from '../contact.ts';
import { type CallEffect, CrmError } from '../errors.ts';
import type { HttpRequest, HttpResponse, QueryValue, VendorError } from '../http.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';
import { parseCustomChannelWebhook } from './webhook.ts';

/**
 * IN-1 Omnidesk (crm-apis.md §4): HTTP Basic with the staff email and an API key, JSON in and out.
 * Creates a case for the visitor (Omnidesk adds the user by email/phone); the dialog is an internal
 * note on the case. Two-way: the admin adds a custom channel whose webhook URL is ours; cases opened
 * in that channel carry `user_custom_id` = our contact id, and staff replies arrive as `message_new`.
 *
 * Beyond crm-apis.md, from palachX/laravel-omnidesk: list answers are objects keyed "0", "1", … with
 * `total_count` (src/Clients/UsersClient.php, StaffsClient.php, CustomChannelsClient.php); case notes
 * are POST /api/cases/{id}/note.json `{note: {content, content_html}}` (src/Clients/NotesClient.php,
 * UseCases/V1/StoreNote); a user's email can be changed only while unconfirmed and `user_phone` only on
 * phone-type users (docs/en/api.md "Update User") — so a phone that cannot be added goes into the note.
 */

const customChannel = z
  .string()
  .trim()
  .regex(/^(cch)?\d+$/i, 'a custom channel id such as cch101')
  .transform((v) => `cch${v.replace(/^cch/i, '')}`);

export const omnideskSettings = z.object({
  domain: field(hostInput(), {
    label: { ru: 'Домен', en: 'Domain' },
    help: { ru: 'Например, mycompany.omnidesk.ru', en: 'For example, mycompany.omnidesk.ru' },
  }),
  staffEmail: field(z.email(), { label: { ru: 'Email сотрудника', en: 'Staff email' } }),
  apiKey: field(z.string().trim().min(1), { label: { ru: 'API-ключ', en: 'API key' }, secret: true }),
  customChannelId: field(customChannel.optional(), {
    label: { ru: 'Кастомный канал', en: 'Custom channel' },
    help: {
      ru: 'Канал с нашим Webhook URL: ответы сотрудников придут посетителю',
      en: 'The channel with our webhook URL: staff replies reach the visitor',
    },
  }),
  webhookToken: field(z.string().min(20).optional(), {
    label: { ru: 'Токен Webhook URL', en: 'Webhook URL token' },
    secret: true,
    hidden: true,
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type OmnideskSettings = z.infer<typeof omnideskSettings>;
type Ctx = CrmContext<OmnideskSettings>;

function baseUrl(settings: OmnideskSettings): string {
  if (settings.apiBaseUrl) return settings.apiBaseUrl;
  return `https://${settings.domain.includes('.') ? settings.domain : `${settings.domain}.omnidesk.ru`}`;
}

function omnideskError(response: HttpResponse): VendorError | null {
  const body = response.body as { error?: unknown; description?: unknown } | undefined;
  // The plan's per-minute limit answers with a `retry_after` header (crm-apis.md §4).
  const retry = Number(response.headers.get('retry_after'));
  const message = [body?.error, body?.description]
    .filter((v) => typeof v === 'string' && v !== '')
    .join(': ');
  return {
    ...(message ? { message } : {}),
    vendorCode: typeof body?.error === 'string' ? body.error : null,
    ...(Number.isFinite(retry) && retry > 0 ? { retryAfterMs: retry * 1000 } : {}),
  };
}

interface CallInit {
  method: HttpRequest['method'];
  path: string;
  query?: Record<string, QueryValue>;
  json?: unknown;
  effect: CallEffect;
  label: string;
}

async function api<T>(ctx: Ctx, init: CallInit): Promise<T> {
  const { staffEmail, apiKey } = ctx.settings;
  const response = await ctx.http.call(
    {
      ...init,
      url: joinUrl(baseUrl(ctx.settings), init.path),
      headers: { authorization: `Basic ${Buffer.from(`${staffEmail}:${apiKey}`).toString('base64')}` },
    },
    { vendorError: omnideskError },
  );
  return (response.body ?? {}) as T;
}

/** `{"0": {"user": {…}}, "1": …, "total_count": 2}` → the items. */
function listOf<T>(body: Record<string, unknown>, key: string): T[] {
  return Object.entries(body)
    .filter(([k]) => /^\d+$/.test(k))
    .map(([, v]) => (v as Record<string, T>)[key])
    .filter((v): v is T => v !== undefined);
}

interface OmniUser {
  user_id: number;
  user_full_name?: string;
  user_email?: string;
  user_phone?: string;
  user_note?: string;
  user_custom_id?: string;
  confirmed?: boolean;
  type?: string;
}

const storedOf = (u: OmniUser) => ({ phones: [u.user_phone], emails: [u.user_email] });

function userIdOf(ref: CrmRef): string {
  const id = ref.kind === 'user' ? ref.id : ref.related?.userId;
  if (!id)
    throw new CrmError('Omnidesk: the reference has no user id', { kind: 'permanent', reason: 'validation' });
  return id;
}

async function getUser(ctx: Ctx, userId: string): Promise<OmniUser> {
  const { user } = await api<{ user?: OmniUser }>(ctx, {
    method: 'GET',
    path: `/api/users/${encodeURIComponent(userId)}.json`,
    effect: 'read',
    label: 'Omnidesk: get user',
  });
  if (!user)
    throw new CrmError(`Omnidesk: user ${userId} not found`, { kind: 'permanent', reason: 'not_found' });
  return user;
}

const html = (text: string) =>
  `<p>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, '<br>')}</p>`;

export const omnidesk = {
  id: 'omnidesk',
  title: { ru: 'Omnidesk', en: 'Omnidesk' },
  creates: { ru: 'Пользователь и обращение', en: 'User and case' },
  settingsSchema: omnideskSettings,
  rateLimit: {
    requestsPerSecond: 1,
    source:
      'crm-apis.md §4: a per-minute limit that depends on the plan (numbers UNCONFIRMED); 60/min assumed',
  },
  baseUrl,

  async testConnection(ctx) {
    await api(ctx, {
      method: 'GET',
      path: '/api/staff.json',
      query: { limit: 1 },
      effect: 'read',
      label: 'Omnidesk: staff',
    });
    if (ctx.settings.customChannelId) {
      const body = await api<Record<string, unknown>>(ctx, {
        method: 'GET',
        path: '/api/custom_channels.json',
        effect: 'read',
        label: 'Omnidesk: custom channels',
      });
      const wanted = ctx.settings.customChannelId.replace(/^cch/, '');
      const channel = listOf<{ channel_id: number; active?: boolean }>(body, 'custom_channel').find(
        (c) => String(c.channel_id) === wanted,
      );
      if (!channel || channel.active === false) {
        throw new CrmError(
          `Omnidesk: custom channel ${ctx.settings.customChannelId} is missing or inactive`,
          {
            kind: 'permanent',
            reason: 'validation',
            field: 'customChannelId',
          },
        );
      }
    }
    return { accountName: ctx.settings.domain };
  },

  async findContact(ctx, lookup) {
    // `^value^` asks for an exact match; phones are searched by national number ("contains") because
    // staff type them in any format, and every answer is verified. Our own custom-channel user (a case
    // created earlier, maybe with a lost answer) is looked up by its custom id first.
    const channel = ctx.settings.customChannelId;
    if (channel && lookup.contactId) {
      const body = await api<Record<string, unknown>>(ctx, {
        method: 'GET',
        path: '/api/users.json',
        query: { user_custom_id: `^${lookup.contactId}^`, user_custom_channel: channel, limit: 100 },
        effect: 'read',
        label: 'Omnidesk: search users',
      });
      const own = listOf<OmniUser>(body, 'user').find((u) => u.user_custom_id === lookup.contactId);
      if (own)
        return {
          kind: 'user',
          id: String(own.user_id),
          related: { contactId: lookup.contactId },
        } satisfies CrmRef;
    }
    const searches: Record<string, string>[] = [
      ...lookup.emails.map((e) => ({ user_email: `^${emailKey(e) ?? e}^` })),
      ...lookup.phones.map((p) => ({ user_phone: nationalNumber(p) })),
    ];
    for (const filter of searches) {
      const body = await api<Record<string, unknown>>(ctx, {
        method: 'GET',
        path: '/api/users.json',
        query: { ...filter, limit: 100 },
        effect: 'read',
        label: 'Omnidesk: search users',
      });
      const matches = listOf<OmniUser>(body, 'user').filter((u) => matchesLookup(lookup, storedOf(u)));
      if (matches.length) {
        const id = String(Math.min(...matches.map((u) => u.user_id)));
        return {
          kind: 'user',
          id,
          ...(lookup.contactId ? { related: { contactId: lookup.contactId } } : {}),
        } satisfies CrmRef;
      }
    }
    return null;
  },

  async createEntity(ctx, contact, _options) {
    const channel = ctx.settings.customChannelId;
    const extraPhones = contact.emails.length ? contact.phones : contact.phones.slice(1);
    const text = [
      contact.comment || 'Посетитель оставил контакты в онлайн-чате',
      ...extraPhones.map((p) => `Телефон: ${p}`),
    ].join('\n');
    const body = await api<{ case?: { case_id?: number; user_id?: number } }>(ctx, {
      method: 'POST',
      path: '/api/cases.json',
      json: {
        case: {
          ...(channel ? { user_custom_id: contact.contactId, channel } : {}),
          ...(contact.emails[0] ? { user_email: contact.emails[0] } : {}),
          ...(contact.phones[0] && !contact.emails[0] ? { user_phone: contact.phones[0] } : {}),
          user_full_name: displayName(contact),
          subject: `Онлайн-чат${contact.siteName ? ` ${contact.siteName}` : ''}: ${displayName(contact)}`,
          content: text,
          content_html: html(text),
        },
      },
      effect: 'create',
      label: 'Omnidesk: create case',
    });
    if (!body.case?.case_id || !body.case.user_id) {
      throw new CrmError('Omnidesk: create case answered without ids', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    }
    return { kind: 'case', id: String(body.case.case_id), related: { userId: String(body.case.user_id) } };
  },

  async updateEntity(ctx, ref, contact) {
    const userId = userIdOf(ref);
    const user = await getUser(ctx, userId);
    const missing = missingValues(contact, storedOf(user));
    const patch: Record<string, string> = {};
    if (missing.emails.length && !user.user_email && user.confirmed !== true)
      patch.user_email = missing.emails[0]!;
    // Phones cannot be added to an email user; they go into the user's note, once each.
    const note = user.user_note ?? '';
    const notePhones = missing.phones.filter(
      (p) => !note.split('\n').some((line) => phoneKey(line.replace(/^\D+/, '')) === p),
    );
    if (notePhones.length)
      patch.user_note = [note, ...notePhones.map((p) => `Телефон из чата: ${p}`)].filter(Boolean).join('\n');
    if (
      contact.name &&
      contact.name !== user.user_full_name &&
      isPlaceholderName(user.user_full_name, contact)
    ) {
      patch.user_full_name = contact.name;
    }
    if (Object.keys(patch).length === 0) return;
    await api(ctx, {
      method: 'PUT',
      path: `/api/users/${encodeURIComponent(userId)}.json`,
      json: { user: patch },
      effect: 'write',
      label: 'Omnidesk: update user',
    });
  },

  async attachNote(ctx, ref, note) {
    // Not idempotent: a case's messages can be listed (GET /api/cases/{id}/messages.json, crm-apis.md
    // §4), but whether notes are in that list, and how a case opened by a lost answer could be found
    // again, is not documented; a retry after a lost answer (unknown outcome) may add the note twice.
    if (ref.kind === 'user') {
      // A user found by search has no case of ours yet: the transcript opens one, requested by that
      // user's email or phone (and in our custom channel, so staff replies come back to the chat).
      const user = await getUser(ctx, ref.id);
      const channel = ctx.settings.customChannelId;
      const contactId = ref.related?.contactId;
      const body = await api<{ case?: { case_id?: number; user_id?: number } }>(ctx, {
        method: 'POST',
        path: '/api/cases.json',
        json: {
          case: {
            ...(channel && contactId ? { user_custom_id: contactId, channel } : {}),
            ...(user.user_email
              ? { user_email: user.user_email }
              : user.user_phone
                ? { user_phone: user.user_phone }
                : {}),
            subject: 'Онлайн-чат',
            content: note.text,
            content_html: html(note.text),
          },
        },
        effect: 'create',
        label: 'Omnidesk: create case',
      });
      if (!body.case?.case_id) {
        throw new CrmError('Omnidesk: create case answered without an id', {
          kind: 'unknown_outcome',
          reason: 'bad_response',
        });
      }
      return {
        kind: 'case',
        id: String(body.case.case_id),
        related: { userId: String(body.case.user_id ?? ref.id) },
      };
    }
    if (note.kind === 'message') {
      // A later visitor message goes into the case as the user's own message.
      await api(ctx, {
        method: 'POST',
        path: `/api/cases/${encodeURIComponent(ref.id)}/messages.json`,
        json: { message: { user_id: Number(userIdOf(ref)), content: note.text } },
        effect: 'create',
        label: 'Omnidesk: add message',
      });
      return ref;
    }
    await api(ctx, {
      method: 'POST',
      path: `/api/cases/${encodeURIComponent(ref.id)}/note.json`,
      json: { note: { content: note.text, content_html: html(note.text) } },
      effect: 'create',
      label: 'Omnidesk: add note',
    });
    return ref;
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    for (let page = 1; page <= 50; page++) {
      const body = await api<Record<string, unknown>>(ctx, {
        method: 'GET',
        path: '/api/staff.json',
        query: { page, limit: 100 },
        effect: 'read',
        label: 'Omnidesk: staff',
      });
      const staff = listOf<{
        staff_id: number;
        staff_full_name?: string;
        staff_email?: string;
        active?: boolean;
      }>(body, 'staff');
      for (const s of staff) {
        users.push({
          id: String(s.staff_id),
          name: s.staff_full_name ?? '',
          email: s.staff_email ?? null,
          active: s.active !== false,
        });
      }
      if (users.length >= Number(body.total_count ?? 0) || staff.length === 0) break;
    }
    return users;
  },

  parseInbound(ctx, request) {
    return parseCustomChannelWebhook(request, ctx.settings.webhookToken);
  },
} satisfies CrmConnector<OmnideskSettings>;
