import { z } from 'zod';
import {
  displayName,
  emailKey,
  isPlaceholderName,
  matchesLookup,
  phoneDigits,
  phoneKey,
  splitName,
} from '../contact.ts';
import { type CallEffect, CrmError } from '../errors.ts';
import type { HttpRequest, HttpResponse, QueryValue, VendorError } from '../http.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-3 AdvantShop (crm-apis.md §10). The admin copies the "Создание лида" URL from Настройки → API; it
 * carries the key (`?apikey=`), which also opens the customers and managers API. A lead is created with
 * `POST /api/leads/add`; lookups go through customers (the lead handler itself does not deduplicate).
 * There is no note or comment API, so dialogs are appended to the customer's `adminComment`.
 *
 * From promo-recruits/Advantshop-10.0 (AdvantShop.Web/Areas/Api/…) beyond crm-apis.md:
 * Controllers/CustomersController.cs (GET api/customers, GET api/customers/{id}, POST api/customers/{id}),
 * Handlers/Customers/GetCustomers.cs (`phone` matched as a standardised number with LIKE, `email` with
 * LIKE; answer `{pagination, customers}`; at most 100 per page), Models/Customers/CustomerModel.cs
 * (`id` GUID, `email`, `phone` as a number, `firstName`, `lastName`, `adminComment`, `managerId`),
 * Handlers/Customers/AddUpdateCustomer.cs (an update always overwrites `email` — a missing one empties it
 * — and other fields only when present; one phone per customer), Attributes/AuthApiAttribute.cs
 * (`apikey` parameter or `Authorization` header; errors "Check apikey", "Invalid apikey" as an
 * ApiError JSON), Handlers/Managers/GetManagers.cs (managers `{id, name}`). The managers envelope name
 * (`managers`) and GET api/customers/{id} answering the customer object are assumed.
 */

export const advantshopSettings = z
  .object({
    domain: field(hostInput(), { label: { ru: 'Домен', en: 'Domain' } }),
    leadUrl: field(z.url({ protocol: /^https?$/ }), {
      label: { ru: 'Создание лида', en: '"Create lead" URL' },
      help: {
        ru: 'Ссылка из «Настройки — API» панели AdvantShop',
        en: 'The link from "Settings — API" in the AdvantShop admin',
      },
      secret: true,
    }),
    source: field(z.string().trim().min(1).default('Онлайн-чат'), {
      label: { ru: 'Источник лида', en: 'Lead source' },
      advanced: true,
    }),
    apiBaseUrl: apiBaseUrlField,
  })
  .refine((s) => new URL(s.leadUrl).searchParams.get('apikey'), {
    message: 'the "create lead" URL has no apikey',
    path: ['leadUrl'],
  });
export type AdvantshopSettings = z.infer<typeof advantshopSettings>;
type Ctx = CrmContext<AdvantshopSettings>;

function baseUrl(settings: AdvantshopSettings): string {
  return settings.apiBaseUrl ?? `https://${settings.domain}`;
}

const apiKeyOf = (settings: AdvantshopSettings) => new URL(settings.leadUrl).searchParams.get('apikey') ?? '';

/** AdvantShop answers errors as `{status: "error", errors: "…"}`, usually with HTTP 200. */
function advantError(response: HttpResponse): VendorError | null {
  const body = response.body as { status?: unknown; errors?: unknown } | undefined;
  if (body?.status !== 'error') return null;
  const message = Array.isArray(body.errors) ? body.errors.join('; ') : String(body.errors ?? 'error');
  if (/apikey/i.test(message))
    return { message, kind: 'permanent', reason: 'unauthorized', field: 'leadUrl' };
  if (/не найден/i.test(message)) return { message, kind: 'permanent', reason: 'not_found' };
  return { message, kind: 'permanent', reason: 'validation' };
}

async function call<T>(
  ctx: Ctx,
  method: 'GET' | 'POST',
  path: string,
  init: { query?: Record<string, QueryValue>; json?: unknown; effect: CallEffect; label: string },
): Promise<T> {
  const request: HttpRequest = {
    method,
    url: joinUrl(baseUrl(ctx.settings), path),
    query: { ...init.query, apikey: apiKeyOf(ctx.settings) },
    ...(init.json === undefined ? {} : { json: init.json }),
    effect: init.effect,
    label: init.label,
  };
  const response = await ctx.http.call(request, { vendorError: advantError });
  const vendor = advantError(response);
  if (vendor) throw ctx.http.errorFor(request, { ...response, status: 400 }, vendor);
  return response.body as T;
}

interface AdvantCustomer {
  id: string;
  email?: string | null;
  phone?: number | string | null;
  firstName?: string | null;
  lastName?: string | null;
  adminComment?: string | null;
  managerId?: number | null;
}

const storedOf = (c: AdvantCustomer) => ({
  phones: [c.phone == null ? null : String(c.phone)],
  emails: [c.email],
});

async function searchCustomers(
  ctx: Ctx,
  lookup: { phones: string[]; emails: string[] },
): Promise<AdvantCustomer[]> {
  const searches = [
    ...lookup.phones.map((p) => ({ phone: phoneDigits(p) })),
    ...lookup.emails.map((e) => ({ email: emailKey(e) ?? e })),
  ];
  for (const query of searches) {
    const body = await call<{ customers?: AdvantCustomer[] }>(ctx, 'GET', '/api/customers', {
      query: { ...query, itemsPerPage: 100 },
      effect: 'read',
      label: 'AdvantShop: search customers',
    });
    const matches = (body?.customers ?? []).filter((c) => matchesLookup(lookup, storedOf(c)));
    if (matches.length) return matches;
  }
  return [];
}

async function getCustomer(ctx: Ctx, id: string): Promise<AdvantCustomer> {
  const body = await call<AdvantCustomer & { customer?: AdvantCustomer }>(
    ctx,
    'GET',
    `/api/customers/${encodeURIComponent(id)}`,
    {
      effect: 'read',
      label: 'AdvantShop: get customer',
    },
  );
  const customer = body?.customer ?? body;
  if (!customer?.id)
    throw new CrmError(`AdvantShop: customer ${id} not found`, { kind: 'permanent', reason: 'not_found' });
  return customer;
}

/** An update always rewrites `email` (AddUpdateCustomer.cs), so the current one is sent back. */
async function updateCustomer(
  ctx: Ctx,
  current: AdvantCustomer,
  patch: Record<string, unknown>,
  label: string,
) {
  await call(ctx, 'POST', `/api/customers/${encodeURIComponent(current.id)}`, {
    json: { email: current.email ?? '', ...patch },
    effect: 'write',
    label,
  });
}

const customerIdOf = (ref: CrmRef) => (ref.kind === 'customer' ? ref.id : ref.related?.customerId);

export const advantshop = {
  id: 'advantshop',
  title: { ru: 'AdvantShop', en: 'AdvantShop' },
  creates: { ru: 'Лид', en: 'Lead' },
  settingsSchema: advantshopSettings,
  rateLimit: { requestsPerSecond: 2, source: 'UNCONFIRMED: AdvantShop documents no limit; 2 req/s assumed' },
  baseUrl,

  async testConnection(ctx) {
    await call(ctx, 'GET', '/api/managers', { effect: 'read', label: 'AdvantShop: managers' });
    return { accountName: ctx.settings.domain };
  },

  async findContact(ctx, lookup) {
    const [first] = (await searchCustomers(ctx, lookup)).sort((a, b) => a.id.localeCompare(b.id));
    return first ? ({ kind: 'customer', id: first.id } satisfies CrmRef) : null;
  },

  async createEntity(ctx, contact, options) {
    const { firstName, lastName } = splitName(contact.name);
    const extra = [
      ...contact.phones.slice(1).map((p) => `Телефон: ${p}`),
      ...contact.emails.slice(1).map((e) => `Email: ${e}`),
    ];
    const leadPath = new URL(ctx.settings.leadUrl).pathname;
    const body = await call<{ leadId?: number | string }>(ctx, 'POST', leadPath, {
      json: {
        title: `Онлайн-чат: ${displayName(contact)}`,
        firstName: firstName || displayName(contact),
        ...(lastName ? { lastName } : {}),
        ...(contact.phones[0] ? { phone: phoneDigits(contact.phones[0]) } : {}),
        ...(contact.emails[0] ? { email: contact.emails[0] } : {}),
        ...(contact.comment || extra.length
          ? { description: [contact.comment, ...extra].filter(Boolean).join('\n') }
          : {}),
        source: ctx.settings.source,
        ...(options.responsibleUserId ? { managerId: Number(options.responsibleUserId) } : {}),
      },
      effect: 'create',
      label: 'AdvantShop: create lead',
    });
    if (body?.leadId === undefined)
      throw new CrmError('AdvantShop: create answered without a leadId', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    // The lead made a customer; remembering it lets later updates and dialogs reach that card.
    const [customer] = await searchCustomers(ctx, contact);
    return {
      kind: 'lead',
      id: String(body.leadId),
      ...(customer ? { related: { customerId: customer.id } } : {}),
    };
  },

  async updateEntity(ctx, ref, contact) {
    const id = customerIdOf(ref);
    if (!id) return;
    const current = await getCustomer(ctx, id);
    const patch: Record<string, unknown> = {};
    const email = contact.emails.find((e) => !matchesLookup({ phones: [], emails: [e] }, storedOf(current)));
    if (email && !current.email) patch.email = email;
    const phone = contact.phones.find(
      (p) => phoneKey(p) !== phoneKey(current.phone == null ? null : String(current.phone)),
    );
    if (phone && current.phone == null) patch.phone = Number(phoneDigits(phone));
    if (contact.name && !current.lastName && isPlaceholderName(current.firstName, contact))
      Object.assign(patch, splitName(contact.name));
    if (Object.keys(patch).length === 0) return;
    await updateCustomer(ctx, current, patch, 'AdvantShop: update customer');
  },

  async attachNote(ctx, ref, note) {
    const id = customerIdOf(ref);
    if (!id)
      throw new CrmError('AdvantShop: the lead has no customer to note the dialog on', {
        kind: 'permanent',
        reason: 'not_found',
      });
    const current = await getCustomer(ctx, id);
    const comment = current.adminComment ?? '';
    // Appended once: a repeated attach finds the text already there.
    if (!comment.includes(note.text)) {
      await updateCustomer(
        ctx,
        current,
        { adminComment: [comment, note.text].filter(Boolean).join('\n\n') },
        'AdvantShop: add dialog',
      );
    }
    return ref;
  },

  async listUsers(ctx) {
    const body = await call<{ managers?: { id: number; name?: string }[] }>(ctx, 'GET', '/api/managers', {
      effect: 'read',
      label: 'AdvantShop: managers',
    });
    return (body?.managers ?? []).map(
      (m): CrmUser => ({ id: String(m.id), name: m.name ?? '', email: null, active: true }),
    );
  },
} satisfies CrmConnector<AdvantshopSettings>;
