import { z } from 'zod';
import {
  displayName,
  emailKey,
  isPlaceholderName,
  matchesLookup,
  missingValues,
  nationalNumber,
} from '../contact.ts';
import { type CallEffect, CrmError, notConfigured } from '../errors.ts';
import {
  type HttpResponse,
  type QueryValue,
  reauthorizationRequired,
  type TokenRefresh,
  type VendorError,
  withTokens,
} from '../http.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-2 AlfaCRM, API v2 ("v2api", crm-apis.md §8): `POST /v2api/auth/login {email, api_key}` gives a
 * token for the `X-ALFACRM-TOKEN` header that lives about 15 minutes; the email and API key are what
 * we store (no password), and the short-lived token is a session kept in the token store. Every call
 * is a POST scoped to a branch: `/v2api/{branch}/{object}/{index|create|update}`. Creates a lead
 * (customer with `is_study: 0`); the dialog becomes a communication on it.
 *
 * From mircicn/aioalfacrm beyond crm-apis.md: the list body is `{page, …filters}` with `per-page` in
 * the query and answers `{total, count, page, items}`; getting one record is `index` with `{id}`
 * (core/entity_manager.py); update takes `?id=` and answers `{model}`; communications take
 * `?class=Customer&related_id=` (managers/communication.py) and have `type_id`, `comment`
 * (entities/communication.py); errors are 4xx with `{errors}` or `{message}` (core/utils.py); the
 * library refreshes the token every 14 minutes (core/auth.py). Customer phone/email filter keys
 * (`phone`, `email`) and the communication type id are UNCONFIRMED, so results are verified and the
 * type id is a setting.
 */

export const alfacrmSettings = z.object({
  domain: field(hostInput(), {
    label: { ru: 'Домен', en: 'Domain' },
    help: {
      ru: 'Адрес вашей CRM, например school.s20.online',
      en: 'Your CRM address, e.g. school.s20.online',
    },
  }),
  email: field(z.email(), { label: { ru: 'Email', en: 'Email' } }),
  apiKey: field(z.string().trim().min(1), { label: { ru: 'Ключ API', en: 'API key' }, secret: true }),
  branchId: field(z.coerce.number().int().positive().optional(), {
    label: { ru: 'Филиал', en: 'Branch' },
    help: { ru: 'Пусто — первый активный филиал', en: 'Empty: the first active branch' },
    advanced: true,
  }),
  communicationTypeId: field(z.coerce.number().int().positive().default(1), {
    label: { ru: 'Тип коммуникации', en: 'Communication type' },
    advanced: true,
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type AlfacrmSettings = z.infer<typeof alfacrmSettings>;
type Ctx = CrmContext<AlfacrmSettings>;

function baseUrl(settings: AlfacrmSettings): string {
  return settings.apiBaseUrl ?? `https://${settings.domain}`;
}

function alfaError(response: HttpResponse): VendorError | null {
  const body = response.body as { errors?: unknown; message?: unknown; name?: unknown } | undefined;
  if (!body) return null;
  if (body.errors && typeof body.errors === 'object') {
    const entries = Object.entries(body.errors as Record<string, unknown>);
    return {
      message: entries.map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; '),
      field: entries[0]?.[0] ?? null,
    };
  }
  return typeof body.message === 'string' ? { message: body.message } : null;
}

// The token "lives about 15 minutes"; the library renews at 14, and so do we.
const SESSION_MS = 14 * 60_000;

const login =
  (ctx: Ctx): TokenRefresh =>
  async () => {
    const response = await ctx.http.call(
      {
        method: 'POST',
        url: joinUrl(baseUrl(ctx.settings), '/v2api/auth/login'),
        json: { email: ctx.settings.email, api_key: ctx.settings.apiKey },
        effect: 'read',
        label: 'AlfaCRM: login',
      },
      { vendorError: alfaError },
    );
    const token = (response.body as { token?: unknown } | undefined)?.token;
    if (typeof token !== 'string' || token === '')
      throw reauthorizationRequired('AlfaCRM: login answered without a token');
    return { accessToken: token, refreshToken: null, expiresAt: ctx.clock.now().getTime() + SESSION_MS };
  };

async function call<T>(
  ctx: Ctx,
  path: string,
  body: unknown,
  effect: CallEffect,
  label: string,
  query?: Record<string, QueryValue>,
): Promise<T> {
  return withTokens(ctx, login(ctx), async (tokens) => {
    const request = {
      method: 'POST' as const,
      url: joinUrl(baseUrl(ctx.settings), `/v2api${path}`),
      query,
      json: body ?? {},
      headers: { 'x-alfacrm-token': tokens.accessToken },
      effect,
      label,
    };
    const response = await ctx.http.call(request, { vendorError: alfaError });
    const parsed = response.body as { success?: boolean } | undefined;
    // create/update answer `{success: false, errors}` with 200 on validation failures.
    if (parsed?.success === false)
      throw ctx.http.errorFor(request, { ...response, status: 400 }, alfaError(response));
    return (parsed ?? {}) as T;
  });
}

const branchOf = (ctx: Ctx) => {
  if (!ctx.settings.branchId) throw notConfigured('AlfaCRM branch is not chosen', 'branchId');
  return ctx.settings.branchId;
};

interface AlfaCustomer {
  id: number;
  name?: string;
  phone?: string[];
  email?: string[];
}

const storedOf = (c: AlfaCustomer) => ({ phones: c.phone ?? [], emails: c.email ?? [] });

async function branches(ctx: Ctx): Promise<{ id: number; name?: string; is_active?: number | boolean }[]> {
  const body = await call<{ items?: { id: number; name?: string; is_active?: number | boolean }[] }>(
    ctx,
    '/branch/index',
    { page: 0 },
    'read',
    'AlfaCRM: branches',
  );
  return body.items ?? [];
}

export const alfacrm = {
  id: 'alfacrm',
  title: { ru: 'АльфаCRM', en: 'AlfaCRM' },
  creates: { ru: 'Лид', en: 'Lead' },
  settingsSchema: alfacrmSettings,
  rateLimit: { requestsPerSecond: 2, source: 'UNCONFIRMED: AlfaCRM publishes no limit; 2 req/s assumed' },
  baseUrl,

  async prepareSettings(ctx) {
    if (ctx.settings.branchId) return ctx.settings;
    const active = (await branches(ctx)).find((b) => b.is_active !== 0 && b.is_active !== false);
    if (!active)
      throw new CrmError('AlfaCRM: the account has no active branch', {
        kind: 'permanent',
        reason: 'validation',
        field: 'branchId',
      });
    return { ...ctx.settings, branchId: active.id };
  },

  async testConnection(ctx) {
    const list = await branches(ctx);
    const branch = list.find((b) => b.id === ctx.settings.branchId);
    if (ctx.settings.branchId && !branch) {
      throw new CrmError(`AlfaCRM: branch ${ctx.settings.branchId} is not available`, {
        kind: 'permanent',
        reason: 'validation',
        field: 'branchId',
      });
    }
    return { accountName: branch?.name ?? ctx.settings.domain };
  },

  async findContact(ctx, lookup) {
    const branch = branchOf(ctx);
    // Leads and clients alike (is_study is not filtered): a known client is attached to, not duplicated.
    // The national number is a substring of every way staff write a phone; results are verified.
    const searches = [
      ...lookup.phones.map((p) => ({ phone: nationalNumber(p) })),
      ...lookup.emails.map((e) => ({ email: emailKey(e) ?? e })),
    ];
    for (const filter of searches) {
      const body = await call<{ items?: AlfaCustomer[] }>(
        ctx,
        `/${branch}/customer/index`,
        { page: 0, ...filter },
        'read',
        'AlfaCRM: search customers',
        { 'per-page': 50 },
      );
      const matches = (body.items ?? []).filter((c) => matchesLookup(lookup, storedOf(c)));
      if (matches.length)
        return { kind: 'lead', id: String(Math.min(...matches.map((c) => c.id))) } satisfies CrmRef;
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    const branch = branchOf(ctx);
    const body = await call<{ model?: { id?: number } }>(
      ctx,
      `/${branch}/customer/create`,
      {
        name: displayName(contact),
        branch_ids: [branch],
        is_study: 0,
        legal_type: 1,
        phone: contact.phones,
        email: contact.emails,
        ...(contact.comment ? { note: contact.comment } : {}),
        ...(options.responsibleUserId ? { assigned_id: Number(options.responsibleUserId) } : {}),
      },
      'create',
      'AlfaCRM: create lead',
    );
    if (!body.model?.id)
      throw new CrmError('AlfaCRM: create answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    return { kind: 'lead', id: String(body.model.id) };
  },

  async updateEntity(ctx, ref, contact) {
    const branch = branchOf(ctx);
    const body = await call<{ items?: AlfaCustomer[] }>(
      ctx,
      `/${branch}/customer/index`,
      { id: Number(ref.id) },
      'read',
      'AlfaCRM: get customer',
    );
    const current = body.items?.find((c) => String(c.id) === ref.id);
    if (!current)
      throw new CrmError(`AlfaCRM: customer ${ref.id} not found`, { kind: 'permanent', reason: 'not_found' });
    const missing = missingValues(contact, storedOf(current));
    const patch: Record<string, unknown> = {};
    // The lists are replaced as sent, so the stored values go along.
    if (missing.phones.length) patch.phone = [...(current.phone ?? []), ...missing.phones];
    if (missing.emails.length) patch.email = [...(current.email ?? []), ...missing.emails];
    if (contact.name && contact.name !== current.name && isPlaceholderName(current.name, contact))
      patch.name = contact.name;
    if (Object.keys(patch).length === 0) return;
    await call(ctx, `/${branch}/customer/update`, patch, 'write', 'AlfaCRM: update customer', {
      id: Number(ref.id),
    });
  },

  async attachNote(ctx, ref, note) {
    // Not idempotent: crm-apis.md §8 documents no way to list a customer's communications, so a retry
    // after a lost answer (timeout, 5xx: unknown outcome) may add the same communication twice.
    await call(
      ctx,
      `/${branchOf(ctx)}/communication/create`,
      { type_id: ctx.settings.communicationTypeId, comment: note.text },
      'create',
      'AlfaCRM: add communication',
      { class: 'Customer', related_id: Number(ref.id) },
    );
    return ref;
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    for (let page = 0; page < 50; page++) {
      const body = await call<{
        items?: { id: number; name?: string; email?: string[] | string; is_active?: number | boolean }[];
        total?: number;
      }>(ctx, `/${branchOf(ctx)}/employee/index`, { page }, 'read', 'AlfaCRM: employees', {
        'per-page': 100,
      });
      const items = body.items ?? [];
      for (const e of items) {
        const email = Array.isArray(e.email) ? e.email[0] : e.email;
        users.push({
          id: String(e.id),
          name: e.name ?? '',
          email: email || null,
          active: e.is_active !== 0 && e.is_active !== false,
        });
      }
      if (items.length === 0 || users.length >= (body.total ?? 0)) break;
    }
    return users;
  },
} satisfies CrmConnector<AlfacrmSettings>;
