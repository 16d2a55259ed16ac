import { z } from 'zod';
import {
  displayName,
  isPlaceholderName,
  matchesLookup,
  missingValues,
  nationalNumber,
  splitName,
} from '../contact.ts';
import { CrmError, notConfigured } from '../errors.ts';
import {
  type CallOptions,
  type HttpRequest,
  type HttpResponse,
  reauthorizationRequired,
  type TokenRefresh,
  tokensFromOAuth,
  type VendorError,
  withTokens,
} from '../http.ts';
import { foundMarker, markedText } from '../notes.ts';
import { apiBaseUrlField, field, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-4 amoCRM, API v4 with an OAuth2 "external integration" (crm-apis.md §1): the admin creates the
 * integration in amoCRM, gives us its id and secret key, and grants access from the cabinet; amoCRM
 * redirects back with `code` and `referer` (the account host). Contacts carry PHONE/EMAIL multi-fields;
 * the dialog goes in as a "common" note on the contact.
 */

// `referer` arrives in a redirect anyone can forge; only amoCRM/Kommo hosts may receive our client secret.
const AMO_HOST = /^[a-z0-9][a-z0-9-]*\.(amocrm\.ru|amocrm\.com|kommo\.com)$/;

export const amocrmSettings = z.object({
  clientId: field(z.string().trim().min(1), { label: { ru: 'ID интеграции', en: 'Integration ID' } }),
  clientSecret: field(z.string().trim().min(1), {
    label: { ru: 'Секретный ключ', en: 'Secret key' },
    secret: true,
  }),
  redirectUri: field(z.url(), {
    label: { ru: 'Ссылка для перенаправления', en: 'Redirect URI' },
    hidden: true,
  }),
  accountHost: field(z.string().regex(AMO_HOST, 'not an amoCRM account host').optional(), {
    label: { ru: 'Аккаунт amoCRM', en: 'amoCRM account' },
    hidden: true,
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type AmocrmSettings = z.infer<typeof amocrmSettings>;
type Ctx = CrmContext<AmocrmSettings>;

function baseUrl(settings: AmocrmSettings): string {
  if (settings.apiBaseUrl) return settings.apiBaseUrl;
  if (!settings.accountHost) throw notConfigured('amoCRM access is not granted yet', 'accountHost');
  return `https://${settings.accountHost}`;
}

/** amoCRM errors are application/problem+json: {title, type, status, detail, validation-errors?, hint?}. */
function amoError(response: HttpResponse): VendorError | null {
  const body = response.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return null;
  const validation = body['validation-errors'] as
    | { errors?: { code?: string; path?: string; detail?: string }[] }[]
    | undefined;
  const first = validation?.[0]?.errors?.[0];
  const detail = [body.detail, body.hint, first?.detail].filter((v) => typeof v === 'string' && v !== '');
  return {
    message: detail.join('; ') || (typeof body.title === 'string' ? body.title : undefined),
    vendorCode: first?.code ?? (body.status !== undefined ? String(body.status) : null),
    field: first?.path ?? null,
  };
}

async function tokenRequest(ctx: Ctx, grant: Record<string, string>, label: string) {
  const { settings } = ctx;
  const response = await ctx.http.call(
    {
      method: 'POST',
      url: joinUrl(baseUrl(settings), '/oauth2/access_token'),
      json: {
        client_id: settings.clientId,
        client_secret: settings.clientSecret,
        redirect_uri: settings.redirectUri,
        ...grant,
      },
      effect: 'write',
      label,
    },
    {
      vendorError: (r) => {
        const vendor = amoError(r);
        // 400/401 here: the code or refresh token is spent, revoked or older than 3 months.
        if (r.status === 400 || r.status === 401) {
          return { ...vendor, kind: 'permanent', reason: 'reauthorization_required' };
        }
        return vendor;
      },
    },
  );
  const tokens = tokensFromOAuth(response.body, ctx.clock.now());
  if (!tokens)
    throw new CrmError(`${label}: no access_token in the answer`, {
      kind: 'retryable',
      reason: 'bad_response',
    });
  return tokens;
}

// Refresh tokens are single-use (crm-apis.md §1): http.ts keeps one refresh per integration in flight.
const refresher =
  (ctx: Ctx): TokenRefresh =>
  async (current) => {
    if (!current?.refreshToken)
      throw reauthorizationRequired('amoCRM access is not granted: grant access again');
    return tokenRequest(
      ctx,
      { grant_type: 'refresh_token', refresh_token: current.refreshToken },
      'amoCRM: refresh token',
    );
  };

type ApiRequest = Omit<HttpRequest, 'url' | 'headers'> & { path: string };

async function api(ctx: Ctx, request: ApiRequest, options: CallOptions = {}): Promise<HttpResponse> {
  const url = joinUrl(baseUrl(ctx.settings), request.path);
  return withTokens(ctx, refresher(ctx), (tokens) =>
    ctx.http.call(
      { ...request, url, headers: { authorization: `Bearer ${tokens.accessToken}` } },
      { vendorError: amoError, ...options },
    ),
  );
}

interface AmoFieldValue {
  field_id?: number;
  field_code?: string | null;
  values?: { value?: unknown; enum_id?: number; enum_code?: string }[];
}
interface AmoContact {
  id: number;
  name?: string;
  custom_fields_values?: AmoFieldValue[] | null;
}

function fieldValues(contact: AmoContact, code: 'PHONE' | 'EMAIL'): AmoFieldValue['values'] {
  return contact.custom_fields_values?.find((f) => f.field_code === code)?.values ?? [];
}

const storedOf = (contact: AmoContact) => ({
  phones: (fieldValues(contact, 'PHONE') ?? []).map((v) => v.value),
  emails: (fieldValues(contact, 'EMAIL') ?? []).map((v) => v.value),
});

function embedded<T>(response: HttpResponse, key: string): T[] {
  const list = (response.body as { _embedded?: Record<string, unknown> } | undefined)?._embedded?.[key];
  return Array.isArray(list) ? (list as T[]) : [];
}

function multiField(code: 'PHONE' | 'EMAIL', existing: AmoFieldValue['values'], added: string[]) {
  return {
    field_code: code,
    values: [
      ...(existing ?? []).map((v) =>
        v.enum_id ? { value: v.value, enum_id: v.enum_id } : { value: v.value },
      ),
      ...added.map((value) => ({ value, enum_code: 'WORK' })),
    ],
  };
}

async function getContact(ctx: Ctx, id: string): Promise<AmoContact> {
  // GET /api/v4/contacts/{id} answers 204 when the contact does not exist (any more).
  const response = await api(ctx, {
    method: 'GET',
    path: `/api/v4/contacts/${encodeURIComponent(id)}`,
    effect: 'read',
    label: 'amoCRM: get contact',
  });
  if (response.status === 204 || !response.body) {
    throw new CrmError(`amoCRM: contact ${id} not found`, {
      kind: 'permanent',
      reason: 'not_found',
      status: 204,
    });
  }
  return response.body as AmoContact;
}

/** Notes we add are recent: newest first, a few pages at most (250 a page, crm_platform/events-and-notes.md). */
const NOTE_PAGES = 4;

/**
 * The marker of a common note on the contact matching `lookFor` (crm/notes.ts): GET
 * /api/v4/contacts/{id}/notes, the list of one entity's notes (events-and-notes.md "Список примечаний по
 * конкретной сущности"), newest first; 204 when there are none.
 */
async function findMarkedNote(ctx: Ctx, contactId: string, lookFor: string): Promise<string | null> {
  for (let page = 1; page <= NOTE_PAGES; page++) {
    const response = await api(
      ctx,
      {
        method: 'GET',
        path: `/api/v4/contacts/${encodeURIComponent(contactId)}/notes`,
        query: { 'filter[note_type]': 'common', 'order[id]': 'desc', limit: 250, page },
        effect: 'read',
        label: 'amoCRM: list notes',
      },
      { accept: [204] },
    );
    if (response.status === 204) return null;
    for (const note of embedded<{ params?: { text?: unknown } }>(response, 'notes')) {
      const found = foundMarker(note.params?.text, lookFor);
      if (found) return found;
    }
    const links = (response.body as { _links?: { next?: unknown } } | undefined)?._links;
    if (!links?.next) return null;
  }
  return null;
}

export const amocrm = {
  id: 'amocrm',
  title: { ru: 'amoCRM', en: 'amoCRM' },
  creates: { ru: 'Контакт с примечанием', en: 'Contact with a note' },
  settingsSchema: amocrmSettings,
  rateLimit: {
    requestsPerSecond: 7,
    source: 'crm-apis.md §1: 7 req/s per integration (Kommo limitations page)',
  },
  baseUrl,

  oauth: {
    authorizeUrl(settings, state) {
      const url = new URL('https://www.amocrm.ru/oauth');
      url.searchParams.set('client_id', settings.clientId);
      url.searchParams.set('state', state);
      url.searchParams.set('mode', 'post_message');
      return url.toString();
    },
    async exchangeCode(ctx, redirect) {
      if (redirect.get('error')) {
        throw new CrmError(`amoCRM: access was not granted (${redirect.get('error')})`, {
          kind: 'permanent',
          reason: 'reauthorization_required',
        });
      }
      const code = redirect.get('code');
      const referer = (redirect.get('referer') ?? '').toLowerCase();
      if (!code) throw notConfigured('amoCRM redirect has no code', 'code');
      if (!AMO_HOST.test(referer))
        throw notConfigured('amoCRM redirect names an unknown account host', 'referer');
      const settings = { ...ctx.settings, accountHost: referer };
      const next = { ...ctx, settings };
      const tokens = await tokenRequest(
        next,
        { grant_type: 'authorization_code', code },
        'amoCRM: exchange code',
      );
      await ctx.tokens.save(tokens);
      return settings;
    },
  },

  async testConnection(ctx) {
    const response = await api(ctx, {
      method: 'GET',
      path: '/api/v4/account',
      effect: 'read',
      label: 'amoCRM: account',
    });
    const body = response.body as { name?: string } | undefined;
    return { accountName: body?.name ?? null };
  },

  async findContact(ctx, lookup) {
    // `query` is a full-text search over filled fields; the national number is a substring of every
    // way a phone is written (+7…, 8…, with brackets). Results are verified, because the search also
    // returns loosely related contacts (amocrm-api-php #38).
    const queries = [...lookup.phones.map(nationalNumber), ...lookup.emails];
    for (const query of [...new Set(queries)]) {
      const response = await api(
        ctx,
        {
          method: 'GET',
          path: '/api/v4/contacts',
          query: { query, limit: 250 },
          effect: 'read',
          label: 'amoCRM: search contacts',
        },
        { accept: [204] },
      );
      if (response.status === 204) continue;
      const matches = embedded<AmoContact>(response, 'contacts').filter((c) =>
        matchesLookup(lookup, storedOf(c)),
      );
      if (matches.length > 0) {
        const oldest = matches.reduce((a, b) => (a.id <= b.id ? a : b));
        return { kind: 'contact', id: String(oldest.id) } satisfies CrmRef;
      }
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    const { firstName, lastName } = splitName(contact.name);
    const fields = [];
    if (contact.phones.length) fields.push(multiField('PHONE', [], contact.phones));
    if (contact.emails.length) fields.push(multiField('EMAIL', [], contact.emails));
    const payload = {
      name: displayName(contact),
      ...(contact.name ? { first_name: firstName, last_name: lastName } : {}),
      ...(options.responsibleUserId ? { responsible_user_id: Number(options.responsibleUserId) } : {}),
      custom_fields_values: fields,
      request_id: contact.contactId,
    };
    const response = await api(ctx, {
      method: 'POST',
      path: '/api/v4/contacts',
      json: [payload],
      effect: 'create',
      label: 'amoCRM: create contact',
    });
    const created = embedded<{ id?: number }>(response, 'contacts')[0];
    if (!created?.id) {
      throw new CrmError('amoCRM: create contact answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    }
    return { kind: 'contact', id: String(created.id) };
  },

  async updateEntity(ctx, ref, contact) {
    const current = await getContact(ctx, ref.id);
    const missing = missingValues(contact, storedOf(current));
    const patch: Record<string, unknown> = {};
    const fields = [];
    // Sending a multi-field replaces its values, so existing values go along with the new ones.
    if (missing.phones.length)
      fields.push(multiField('PHONE', fieldValues(current, 'PHONE'), missing.phones));
    if (missing.emails.length)
      fields.push(multiField('EMAIL', fieldValues(current, 'EMAIL'), missing.emails));
    if (fields.length) patch.custom_fields_values = fields;
    if (contact.name && contact.name !== current.name && isPlaceholderName(current.name, contact)) {
      const { firstName, lastName } = splitName(contact.name);
      Object.assign(patch, { name: contact.name, first_name: firstName, last_name: lastName });
    }
    if (Object.keys(patch).length === 0) return;
    await api(ctx, {
      method: 'PATCH',
      path: `/api/v4/contacts/${encodeURIComponent(ref.id)}`,
      json: patch,
      effect: 'write',
      label: 'amoCRM: update contact',
    });
  },

  async attachNote(ctx, ref, note) {
    await api(ctx, {
      method: 'POST',
      path: `/api/v4/contacts/${encodeURIComponent(ref.id)}/notes`,
      json: [{ note_type: 'common', params: { text: markedText(note) } }],
      effect: 'create',
      label: 'amoCRM: add note',
    });
    return ref;
  },

  findNote(ctx, ref, lookFor) {
    return findMarkedNote(ctx, ref.id, lookFor);
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    for (let page = 1; page <= 40; page++) {
      const response = await api(ctx, {
        method: 'GET',
        path: '/api/v4/users',
        query: { page, limit: 250 },
        effect: 'read',
        label: 'amoCRM: users',
      });
      for (const u of embedded<{
        id: number;
        name?: string;
        email?: string;
        rights?: { is_active?: boolean };
      }>(response, 'users')) {
        users.push({
          id: String(u.id),
          name: u.name ?? '',
          email: u.email ?? null,
          active: u.rights?.is_active !== false,
        });
      }
      const links = (response.body as { _links?: { next?: unknown } } | undefined)?._links;
      if (!links?.next) break;
    }
    return users;
  },
} satisfies CrmConnector<AmocrmSettings>;
