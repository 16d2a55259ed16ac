import { z } from 'zod';
import { emailKey, matchesLookup, missingValues, phoneDigits, splitName } from '../contact.ts';
import { type CallEffect, CrmError } from '../errors.ts';
import type { HttpResponse, VendorError } from '../http.ts';
import { field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-8 U-ON.Travel (crm-apis.md §6). The API key is a path segment, `https://api.u-on.ru/{key}/{method}.json`
 * (so URLs never reach logs or errors); POST bodies are form-encoded. The seed's rule, applied to all
 * CRMs: "when the visitor leaves a phone/email, first look for an обращение/заявка; if one is found no new
 * обращение is created and dialogs attach to it; otherwise an обращение is created". So: the client
 * by phone, then by email; their latest lead (обращение), else latest request (заявка); else a new lead.
 * Dialogs become request actions (касания) of type 0, "comment".
 *
 * Beyond crm-apis.md: managers `GET manager.json` (DrTeamRocks/uon src/Endpoints/Managers.php); the phone
 * in `user/phone/{phone}` is sent as digits without "+" (a third-party U-ON CLI notes "phone endpoint
 * требует sanitize"); lead records carry `client_id`, `client_phone`, `client_email` (MindCloud's U-ON
 * "List Leads by Client" reference). Conflicting field names between sources — `email` vs `u_email` for
 * `user/email`, `u_phone` vs `u_phone_mobile`, `r_u_id` vs `manager_id` for the lead's manager — are
 * sent both ways where harmless (search) and as crm-apis.md names them otherwise; answer envelopes
 * (`users`, `leads`, `requests`) are read tolerantly.
 */

export const uonSettings = z.object({
  domain: field(hostInput(), {
    label: { ru: 'Аккаунт', en: 'Account' },
    help: { ru: 'Адрес вашего U-ON, например agency.u-on.ru', en: 'Your U-ON address, e.g. agency.u-on.ru' },
  }),
  apiKey: field(
    z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_-]+$/, 'the API key has letters and digits only'),
    { label: { ru: 'API Key', en: 'API key' }, secret: true },
  ),
  source: field(z.string().trim().min(1).default('Онлайн-чат'), {
    label: { ru: 'Источник обращений', en: 'Lead source' },
    advanced: true,
  }),
  timeZone: field(z.string().default('Europe/Moscow'), {
    label: { ru: 'Часовой пояс аккаунта', en: 'Account time zone' },
    advanced: true,
  }),
  apiBaseUrl: field(z.url({ protocol: /^https?$/ }).default('https://api.u-on.ru'), {
    label: { ru: 'Адрес API', en: 'API address' },
    advanced: true,
  }),
});
export type UonSettings = z.infer<typeof uonSettings>;
type Ctx = CrmContext<UonSettings>;

/** The API host; the key is a path segment added per call, so this is safe to show. */
const baseUrl = (settings: UonSettings) => settings.apiBaseUrl;

function uonError(response: HttpResponse): VendorError | null {
  const body = response.body as { message?: unknown; result?: unknown; error?: unknown } | undefined;
  const message = [body?.message, body?.error].find((v) => typeof v === 'string');
  return typeof message === 'string'
    ? { message, vendorCode: body?.result === undefined ? null : String(body.result) }
    : null;
}

async function call(
  ctx: Ctx,
  method: 'GET' | 'POST',
  path: string,
  form: Record<string, string> | undefined,
  effect: CallEffect,
  label: string,
  accept: readonly number[] = [],
): Promise<HttpResponse> {
  return ctx.http.call(
    {
      method,
      url: joinUrl(baseUrl(ctx.settings), `/${ctx.settings.apiKey}/${path}.json`),
      ...(form ? { form } : {}),
      effect,
      label,
    },
    { accept, vendorError: uonError },
  );
}

/** The first array in an answer (`{users: […]}`, `{leads: […]}`, …), tolerant of the envelope name. */
function records<T>(response: HttpResponse, preferred: string): T[] {
  if (response.status === 404) return [];
  const body = response.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return [];
  const named = body[preferred];
  if (Array.isArray(named)) return named as T[];
  if (named && typeof named === 'object') return [named as T];
  const list = Object.values(body).find(Array.isArray);
  return (list ?? []) as T[];
}

interface UonUser {
  u_id: number | string;
  u_name?: string;
  u_surname?: string;
  u_phone?: string;
  u_phone_mobile?: string;
  u_email?: string;
}
interface UonRecord {
  id: number | string;
  client_id?: number | string;
  client_phone?: string;
  client_email?: string;
}

const userContacts = (u: UonUser) => ({ phones: [u.u_phone, u.u_phone_mobile], emails: [u.u_email] });

async function findUsers(ctx: Ctx, lookup: { phones: string[]; emails: string[] }): Promise<UonUser[]> {
  for (const phone of lookup.phones) {
    // 404 with result 404 means "nothing found", not an error (crm-apis.md §6).
    const response = await call(
      ctx,
      'GET',
      `user/phone/${phoneDigits(phone)}`,
      undefined,
      'read',
      'U-ON: user by phone',
      [404],
    );
    const users = records<UonUser>(response, 'users').filter((u) => matchesLookup(lookup, userContacts(u)));
    if (users.length) return users;
  }
  for (const email of lookup.emails) {
    const value = emailKey(email) ?? email;
    const response = await call(
      ctx,
      'POST',
      'user/email',
      { email: value, u_email: value },
      'read',
      'U-ON: user by email',
      [404],
    );
    const users = records<UonUser>(response, 'users').filter((u) => matchesLookup(lookup, userContacts(u)));
    if (users.length) return users;
  }
  return [];
}

const latest = <T extends { id: number | string }>(items: T[]): T | undefined =>
  items.reduce<T | undefined>((a, b) => (a && Number(a.id) >= Number(b.id) ? a : b), undefined);

/** `Y-m-d H:i:s` in the account's time zone. */
function localDateTime(date: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

export const uon = {
  id: 'uon',
  title: { ru: 'U-ON.Travel', en: 'U-ON.Travel' },
  creates: { ru: 'Обращение или заявка', en: 'Lead or request' },
  settingsSchema: uonSettings,
  rateLimit: {
    requestsPerSecond: 10,
    source: 'crm-apis.md §6: about 10 req/s, 429 without Retry-After (empirical, UNCONFIRMED)',
  },
  baseUrl,

  async testConnection(ctx) {
    await call(ctx, 'GET', 'manager', undefined, 'read', 'U-ON: managers');
    return { accountName: ctx.settings.domain };
  },

  async findContact(ctx, lookup) {
    for (const user of await findUsers(ctx, lookup)) {
      const leads = records<UonRecord>(
        await call(
          ctx,
          'GET',
          `lead-by-client/${user.u_id}/1`,
          undefined,
          'read',
          'U-ON: leads of client',
          [404],
        ),
        'leads',
      );
      const lead = latest(leads);
      if (lead)
        return { kind: 'lead', id: String(lead.id), related: { userId: String(user.u_id) } } satisfies CrmRef;
      const requests = records<UonRecord>(
        await call(
          ctx,
          'GET',
          `request-by-client/${user.u_id}/1`,
          undefined,
          'read',
          'U-ON: requests of client',
          [404],
        ),
        'requests',
      );
      const request = latest(requests);
      if (request)
        return {
          kind: 'request',
          id: String(request.id),
          related: { userId: String(user.u_id) },
        } satisfies CrmRef;
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    // A known client without an обращение gets one under their card instead of a duplicate client.
    const [known] = await findUsers(ctx, contact);
    const { firstName, lastName } = splitName(contact.name);
    const form: Record<string, string> = { source: ctx.settings.source };
    if (known) form.u_id = String(known.u_id);
    if (firstName) form.u_name = firstName;
    if (lastName) form.u_surname = lastName;
    if (contact.phones[0]) form.u_phone = phoneDigits(contact.phones[0]);
    if (contact.emails[0]) form.u_email = contact.emails[0];
    const extra = [
      ...contact.phones.slice(1).map((p) => `Телефон: ${p}`),
      ...contact.emails.slice(1).map((e) => `Email: ${e}`),
    ];
    const note = [contact.comment, ...extra].filter(Boolean).join('\n');
    if (note) form.note = note;
    if (options.responsibleUserId) form.r_u_id = options.responsibleUserId;
    const response = await call(ctx, 'POST', 'lead/create', form, 'create', 'U-ON: create lead');
    const id = (response.body as { id?: unknown } | undefined)?.id;
    if (id === undefined || id === null || id === '') {
      throw new CrmError('U-ON: create answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    }
    return { kind: 'lead', id: String(id), ...(known ? { related: { userId: String(known.u_id) } } : {}) };
  },

  async updateEntity(ctx, ref, contact) {
    const response = await call(
      ctx,
      'GET',
      `${ref.kind === 'request' ? 'request' : 'lead'}/${ref.id}`,
      undefined,
      'read',
      'U-ON: get record',
      [404],
    );
    const [record] = records<UonRecord>(response, ref.kind === 'request' ? 'request' : 'lead');
    if (!record)
      throw new CrmError(`U-ON: ${ref.kind} ${ref.id} not found`, { kind: 'permanent', reason: 'not_found' });
    const clientId = record.client_id ?? ref.related?.userId;
    if (!clientId) return;
    const missing = missingValues(contact, { phones: [record.client_phone], emails: [record.client_email] });
    // A client card has one phone and one email field here; only empty ones are filled.
    const form: Record<string, string> = {};
    if (missing.emails.length && !record.client_email) form.u_email = missing.emails[0]!;
    if (missing.phones.length && !record.client_phone) form.u_phone = phoneDigits(missing.phones[0]!);
    if (Object.keys(form).length === 0) return;
    await call(ctx, 'POST', `user/update/${clientId}`, form, 'write', 'U-ON: update client');
  },

  async attachNote(ctx, ref, note) {
    // Not idempotent: crm-apis.md §6 documents only request-action/create, no list of a request's
    // actions, so a retry after a lost answer (timeout, 5xx: unknown outcome) may add the action twice.
    await call(
      ctx,
      'POST',
      'request-action/create',
      {
        r_id: ref.id,
        type_id: '0',
        datetime: localDateTime(ctx.clock.now(), ctx.settings.timeZone),
        text: note.text,
        ...(note.authorUserId ? { u_id: note.authorUserId } : {}),
      },
      'create',
      'U-ON: add request action',
    );
    return ref;
  },

  async listUsers(ctx) {
    const response = await call(ctx, 'GET', 'manager', undefined, 'read', 'U-ON: managers');
    return records<{
      u_id?: number | string;
      id?: number | string;
      u_name?: string;
      u_surname?: string;
      u_email?: string;
      is_active?: unknown;
    }>(response, 'users').map(
      (m): CrmUser => ({
        id: String(m.u_id ?? m.id),
        name: [m.u_name, m.u_surname].filter(Boolean).join(' '),
        email: m.u_email || null,
        active: m.is_active !== 0 && m.is_active !== '0',
      }),
    );
  },
} satisfies CrmConnector<UonSettings>;
