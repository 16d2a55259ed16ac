import { z } from 'zod';
import {
  emailKey,
  isPlaceholderName,
  matchesLookup,
  missingValues,
  nationalNumber,
  splitName,
} from '../contact.ts';
import { type CallEffect, CrmError } from '../errors.ts';
import type { HttpRequest, HttpResponse, QueryValue, VendorError } from '../http.ts';
import { foundMarker, markedText } from '../notes.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-7 RetailCRM (Simla.com), API v5 (crm-apis.md §3): key in the `X-API-KEY` header, POST bodies
 * form-encoded with nested objects as one JSON-encoded field (`customer={…}`), answers
 * `{success, …}`. Creates a customer; the dialog goes in as a customer note.
 * Beyond crm-apis.md, from retailcrm/api-client-go: `/api/credentials` is unversioned (client.go
 * APICredentials), GET /api/v5/customers/{id}?by=id and POST /customers/{id}/edit with `by`
 * (retailcrm/api-client-php Methods/V3/Customers.php), and the error texts `Wrong "apiKey" value.`,
 * `"apiKey" is missing.`, `Access denied.`, `Account does not exist.` (error_test.go).
 */

export const retailcrmSettings = z.object({
  domain: field(hostInput(), {
    label: { ru: 'Домен', en: 'Domain' },
    help: { ru: 'Например, mycompany.retailcrm.ru', en: 'For example, mycompany.retailcrm.ru' },
  }),
  apiKey: field(z.string().trim().min(1), { label: { ru: 'API Key', en: 'API key' }, secret: true }),
  site: field(z.string().trim().min(1).optional(), {
    label: { ru: 'Код магазина', en: 'Store code' },
    help: {
      ru: 'Нужен, если ключ открывает несколько магазинов',
      en: 'Needed when the key gives access to several stores',
    },
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type RetailcrmSettings = z.infer<typeof retailcrmSettings>;
type Ctx = CrmContext<RetailcrmSettings>;

function baseUrl(settings: RetailcrmSettings): string {
  if (settings.apiBaseUrl) return settings.apiBaseUrl;
  // "mycompany" alone is an account name on the default domain.
  return `https://${settings.domain.includes('.') ? settings.domain : `${settings.domain}.retailcrm.ru`}`;
}

/** Methods the key must allow (the seed asks the admin to tick them under "Разрешенные методы API"). */
const REQUIRED_METHODS = [
  '/api/v5/customers',
  '/api/v5/customers/create',
  '/api/v5/customers/notes/create',
  // Listing notes lets a retried note find itself instead of attaching the dialog twice.
  '/api/v5/customers/notes',
];

function retailError(response: HttpResponse, effect: CallEffect): VendorError | null {
  const body = response.body as { errorMsg?: unknown; errors?: unknown } | undefined;
  // An HTML page instead of JSON: the account does not exist (api-client-go error_test.go).
  if (!body && /^\s*</.test(response.text)) {
    return { message: 'Account does not exist', kind: 'permanent', reason: 'not_found' };
  }
  const message = typeof body?.errorMsg === 'string' ? body.errorMsg : undefined;
  const errors = body?.errors;
  const entries =
    errors && typeof errors === 'object'
      ? Object.entries(errors as Record<string, unknown>)
      : ([] as [string, unknown][]);
  const first = entries[0];
  const field = first && !/^\d+$/.test(first[0]) ? first[0] : null;
  const full = [message, ...entries.map(([, v]) => String(v))].filter(Boolean).join('; ');
  if (message && /apiKey/.test(message))
    return { message: full, kind: 'permanent', reason: 'unauthorized', field: 'apiKey' };
  // Over the 10 req/s limit RetailCRM is expected to answer 503 (crm-apis.md §3, UNCONFIRMED). A read is
  // safely retried; a create keeps the unknown-outcome class so the runner searches before repeating.
  if (response.status === 503 && effect !== 'create') {
    return { message: full, kind: 'retryable', reason: 'rate_limited', retryAfterMs: 1000 };
  }
  return { message: full || undefined, field };
}

interface CallInit {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, QueryValue>;
  form?: Record<string, string>;
  effect: CallEffect;
  label: string;
}

async function api<T>(ctx: Ctx, init: CallInit): Promise<T> {
  const request: HttpRequest = {
    method: init.method,
    url: joinUrl(baseUrl(ctx.settings), init.path),
    query: init.query,
    form: init.form,
    headers: { 'x-api-key': ctx.settings.apiKey },
    effect: init.effect,
    label: init.label,
  };
  const response = await ctx.http.call(request, { vendorError: (r) => retailError(r, init.effect) });
  const body = response.body as { success?: boolean } | undefined;
  if (body?.success !== true) {
    throw ctx.http.errorFor(
      request,
      { ...response, status: Math.max(400, response.status) },
      retailError(response, init.effect),
    );
  }
  return body as T;
}

/** Writes carry the store code when the key spans several stores. */
const withSite = (ctx: Ctx, form: Record<string, string>) =>
  ctx.settings.site ? { ...form, site: ctx.settings.site } : form;

interface RetailCustomer {
  id: number;
  firstName?: string;
  lastName?: string;
  email?: string;
  phones?: { number?: string }[];
}

const storedOf = (c: RetailCustomer) => ({
  phones: (c.phones ?? []).map((p) => p.number),
  emails: c.email ? [c.email] : [],
});

/** A customer's notes are few; a retried note is among the latest, so a few pages are enough. */
const NOTE_PAGES = 20;

/**
 * The marker of a customer's note matching `lookFor` (crm/notes.ts): GET /api/v5/customers/notes with
 * `filter[customerIds][]` (crm-apis.md §3; retailcrm/api-client-go filters.go NotesFilter), 100 a page.
 * The text filter is not used: how it matches is not documented, so the text is checked here.
 */
async function findMarkedNote(ctx: Ctx, customerId: string, lookFor: string): Promise<string | null> {
  for (let page = 1; page <= NOTE_PAGES; page++) {
    const body = await api<{ notes?: { text?: unknown }[]; pagination?: { totalPageCount?: number } }>(ctx, {
      method: 'GET',
      path: '/api/v5/customers/notes',
      query: { 'filter[customerIds][]': Number(customerId), limit: 100, page },
      effect: 'read',
      label: 'RetailCRM: list notes',
    });
    for (const note of body.notes ?? []) {
      const found = foundMarker(note.text, lookFor);
      if (found) return found;
    }
    if (page >= (body.pagination?.totalPageCount ?? 1)) return null;
  }
  return null;
}

export const retailcrm = {
  id: 'retailcrm',
  title: { ru: 'RetailCRM', en: 'RetailCRM (Simla.com)' },
  creates: { ru: 'Клиент с заметкой', en: 'Customer with a note' },
  settingsSchema: retailcrmSettings,
  rateLimit: {
    requestsPerSecond: 10,
    source: 'crm-apis.md §3: 10 req/s per API key (retailcrm/api-client-go rate.go)',
  },
  baseUrl,

  async testConnection(ctx) {
    const body = await api<{ credentials?: string[]; siteAccess?: string; sitesAvailable?: string[] }>(ctx, {
      method: 'GET',
      path: '/api/credentials',
      effect: 'read',
      label: 'RetailCRM: credentials',
    });
    const granted = new Set(body.credentials ?? []);
    const missing = REQUIRED_METHODS.filter((m) => !granted.has(m));
    if (missing.length) {
      throw new CrmError(`RetailCRM: the API key does not allow ${missing.join(', ')}`, {
        kind: 'permanent',
        reason: 'forbidden',
        field: 'apiKey',
      });
    }
    const sites = body.sitesAvailable ?? [];
    if (ctx.settings.site && body.siteAccess === 'access_selective' && !sites.includes(ctx.settings.site)) {
      throw new CrmError(`RetailCRM: the API key has no access to store "${ctx.settings.site}"`, {
        kind: 'permanent',
        reason: 'forbidden',
        field: 'site',
      });
    }
    if (!ctx.settings.site && sites.length > 1) {
      throw new CrmError('RetailCRM: the key opens several stores; choose the store code', {
        kind: 'permanent',
        reason: 'validation',
        field: 'site',
      });
    }
    return { accountName: ctx.settings.domain };
  },

  async findContact(ctx, lookup) {
    // filter[name] searches by full name or phone; filter[email] by email. Results are verified.
    const searches: Record<string, string>[] = [
      ...lookup.phones.map((p) => ({ 'filter[name]': nationalNumber(p) })),
      ...lookup.emails.map((e) => ({ 'filter[email]': emailKey(e) ?? e })),
    ];
    for (const filter of searches) {
      const body = await api<{ customers?: RetailCustomer[] }>(ctx, {
        method: 'GET',
        path: '/api/v5/customers',
        query: { ...filter, limit: 20 },
        effect: 'read',
        label: 'RetailCRM: search customers',
      });
      const matches = (body.customers ?? []).filter((c) => matchesLookup(lookup, storedOf(c)));
      if (matches.length) {
        return { kind: 'customer', id: String(Math.min(...matches.map((c) => c.id))) } satisfies CrmRef;
      }
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    const { firstName, lastName } = splitName(contact.name);
    const customer = {
      ...(firstName
        ? { firstName }
        : { firstName: contact.phones[0] ?? contact.emails[0] ?? 'Посетитель чата' }),
      ...(lastName ? { lastName } : {}),
      ...(contact.emails[0] ? { email: contact.emails[0] } : {}),
      ...(contact.phones.length ? { phones: contact.phones.map((number) => ({ number })) } : {}),
      ...(options.responsibleUserId ? { managerId: Number(options.responsibleUserId) } : {}),
      source: { source: 'online-chat', medium: contact.siteName ?? 'chat' },
    };
    const body = await api<{ id?: number }>(ctx, {
      method: 'POST',
      path: '/api/v5/customers/create',
      form: withSite(ctx, { customer: JSON.stringify(customer) }),
      effect: 'create',
      label: 'RetailCRM: create customer',
    });
    if (!body.id)
      throw new CrmError('RetailCRM: create answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    return { kind: 'customer', id: String(body.id) };
  },

  async updateEntity(ctx, ref, contact) {
    const { customer } = await api<{ customer?: RetailCustomer }>(ctx, {
      method: 'GET',
      path: `/api/v5/customers/${encodeURIComponent(ref.id)}`,
      query: { by: 'id', ...(ctx.settings.site ? { site: ctx.settings.site } : {}) },
      effect: 'read',
      label: 'RetailCRM: get customer',
    });
    if (!customer)
      throw new CrmError(`RetailCRM: customer ${ref.id} not found`, {
        kind: 'permanent',
        reason: 'not_found',
      });
    const missing = missingValues(contact, storedOf(customer));
    const patch: Record<string, unknown> = {};
    // `phones` replaces the list, so the stored numbers go along; a customer has one email, which is
    // filled only when empty (a manager's choice is not overwritten).
    if (missing.phones.length) {
      patch.phones = [
        ...(customer.phones ?? []).map((p) => ({ number: p.number })),
        ...missing.phones.map((number) => ({ number })),
      ];
    }
    if (missing.emails.length && !customer.email) patch.email = missing.emails[0];
    if (contact.name && !customer.lastName && isPlaceholderName(customer.firstName, contact)) {
      Object.assign(patch, splitName(contact.name));
    }
    if (Object.keys(patch).length === 0) return;
    await api(ctx, {
      method: 'POST',
      path: `/api/v5/customers/${encodeURIComponent(ref.id)}/edit`,
      form: withSite(ctx, { customer: JSON.stringify({ id: Number(ref.id), ...patch }), by: 'id' }),
      effect: 'write',
      label: 'RetailCRM: edit customer',
    });
  },

  async attachNote(ctx, ref, note) {
    const payload = {
      customer: { id: Number(ref.id) },
      text: markedText(note),
      ...(note.authorUserId ? { managerId: Number(note.authorUserId) } : {}),
    };
    await api(ctx, {
      method: 'POST',
      path: '/api/v5/customers/notes/create',
      form: withSite(ctx, { note: JSON.stringify(payload) }),
      effect: 'create',
      label: 'RetailCRM: create note',
    });
    return ref;
  },

  findNote(ctx, ref, lookFor) {
    return findMarkedNote(ctx, ref.id, lookFor);
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    for (let page = 1; page <= 50; page++) {
      const body = await api<{
        users?: { id: number; firstName?: string; lastName?: string; email?: string; active?: boolean }[];
        pagination?: { totalPageCount?: number };
      }>(ctx, {
        method: 'GET',
        path: '/api/v5/users',
        query: { limit: 100, page },
        effect: 'read',
        label: 'RetailCRM: users',
      });
      for (const u of body.users ?? []) {
        users.push({
          id: String(u.id),
          name: [u.firstName, u.lastName].filter(Boolean).join(' '),
          email: u.email ?? null,
          active: u.active !== false,
        });
      }
      if (page >= (body.pagination?.totalPageCount ?? 1)) break;
    }
    return users;
  },
} satisfies CrmConnector<RetailcrmSettings>;
