import { z } from 'zod';
import { isPlaceholderName, matchesLookup, missingValues, nationalNumber, splitName } from '../contact.ts';
import { type CallEffect, CrmError } from '../errors.ts';
import {
  type HttpResponse,
  reauthorizationRequired,
  type TokenRefresh,
  tokensFromOAuth,
  type VendorError,
  withTokens,
} from '../http.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';

/**
 * IN-9 Megaplan, API v3 (crm-apis.md §7). The seed: "пароль используется только для авторизации и в
 * нашей системе не сохраняется". prepareSettings exchanges login + password for a token
 * (`POST /api/v3/auth/access_token`, grant_type=password), saves the token in the token store and
 * returns settings without the password; the password field is `transient`, so storableSettings drops
 * it as well. A 401 later tries the refresh grant (UNCONFIRMED for Megaplan) and otherwise asks the
 * admin to enter the password again.
 *
 * From sergey-preobrazhensky/megaplansdk beyond crm-apis.md: GET parameters are one URL-encoded JSON
 * object as the whole query string, requests carry `X-USE-INCLUDED-RESPONSE: true`
 * (src/MegaplanRequest.php); an object is updated by POST to its own URL with the changed fields
 * (examples/entityRequests/contractor/update.php); employees list with `fields`, `limit`, `pageAfter`
 * (examples/entityRequests/employee/list.php). That `contactInfo` sent in an update replaces the list is
 * assumed, so stored items go along with the new ones.
 */

export const megaplanSettings = z.object({
  domain: field(hostInput(), {
    label: { ru: 'Ваш домен', en: 'Your domain' },
    help: { ru: 'Например, company.megaplan.ru', en: 'For example, company.megaplan.ru' },
  }),
  login: field(z.string().trim().min(1), { label: { ru: 'Логин', en: 'Login' } }),
  password: field(z.string().min(1).optional(), {
    label: { ru: 'Пароль', en: 'Password' },
    help: {
      ru: 'Используется только для авторизации и не сохраняется',
      en: 'Used only to sign in; never stored',
    },
    transient: true,
  }),
  apiBaseUrl: apiBaseUrlField,
});
export type MegaplanSettings = z.infer<typeof megaplanSettings>;
type Ctx = CrmContext<MegaplanSettings>;

function baseUrl(settings: MegaplanSettings): string {
  if (settings.apiBaseUrl) return settings.apiBaseUrl;
  return `https://${settings.domain.includes('.') ? settings.domain : `${settings.domain}.megaplan.ru`}`;
}

/** `{meta: {status, errors: [{field, message}]}, data}` (crm-apis.md §7). */
function megaplanError(response: HttpResponse): VendorError | null {
  const body = response.body as
    | {
        meta?: { errors?: { field?: unknown; message?: unknown }[] };
        error?: unknown;
        error_description?: unknown;
      }
    | undefined;
  const errors = body?.meta?.errors ?? [];
  if (errors.length) {
    return {
      message: errors.map((e) => [e.field, e.message].filter(Boolean).join(': ')).join('; '),
      field: typeof errors[0]?.field === 'string' ? errors[0].field : null,
    };
  }
  if (typeof body?.error === 'string') {
    return {
      message: [body.error, body.error_description].filter(Boolean).join(': '),
      vendorCode: body.error,
    };
  }
  return null;
}

async function tokenRequest(ctx: Ctx, grant: Record<string, string>, label: string) {
  const response = await ctx.http.call(
    {
      method: 'POST',
      url: joinUrl(baseUrl(ctx.settings), '/api/v3/auth/access_token'),
      json: grant,
      effect: 'write',
      label,
    },
    {
      vendorError: (r) => {
        const vendor = megaplanError(r);
        return r.status === 400 || r.status === 401
          ? { ...vendor, kind: 'permanent', reason: 'reauthorization_required' }
          : vendor;
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

const refresher =
  (ctx: Ctx): TokenRefresh =>
  async (current) => {
    if (!current?.refreshToken) throw reauthorizationRequired('Megaplan: sign in with the password again');
    return tokenRequest(
      ctx,
      { grant_type: 'refresh_token', refresh_token: current.refreshToken },
      'Megaplan: refresh token',
    );
  };

interface ApiCall {
  method: 'GET' | 'POST';
  path: string;
  /** GET: one JSON object, URL-encoded as the whole query string. POST: the JSON body. */
  params?: unknown;
  effect: CallEffect;
  label: string;
}

async function api<T>(ctx: Ctx, call: ApiCall): Promise<T> {
  const url =
    call.method === 'GET' && call.params !== undefined
      ? `${joinUrl(baseUrl(ctx.settings), call.path)}?${encodeURIComponent(JSON.stringify(call.params))}`
      : joinUrl(baseUrl(ctx.settings), call.path);
  const response = await withTokens(ctx, refresher(ctx), (tokens) =>
    ctx.http.call(
      {
        method: call.method,
        url,
        headers: { authorization: `Bearer ${tokens.accessToken}`, 'x-use-included-response': 'true' },
        ...(call.method === 'POST' ? { json: call.params ?? {} } : {}),
        effect: call.effect,
        label: call.label,
      },
      { vendorError: megaplanError },
    ),
  );
  return response.body as T;
}

interface ContactInfo {
  contentType: 'ContactInfo';
  id?: string | number;
  type: string;
  value: string;
  isMain?: boolean;
}
interface Contractor {
  id: string | number;
  contentType?: string;
  firstName?: string;
  lastName?: string;
  name?: string;
  contactInfo?: ContactInfo[];
}

const storedOf = (c: Contractor) => ({
  phones: (c.contactInfo ?? []).filter((i) => i.type === 'phone').map((i) => i.value),
  emails: (c.contactInfo ?? []).filter((i) => i.type === 'email').map((i) => i.value),
});

const info = (type: 'phone' | 'email', value: string, isMain = false): ContactInfo => ({
  contentType: 'ContactInfo',
  type,
  value,
  ...(isMain ? { isMain: true } : {}),
});

export const megaplan = {
  id: 'megaplan',
  title: { ru: 'Мегаплан', en: 'Megaplan' },
  creates: { ru: 'Клиент', en: 'Client' },
  settingsSchema: megaplanSettings,
  rateLimit: {
    requestsPerSecond: 5,
    source: 'crm-apis.md §7: 5 req/s and 1000 req/h per account (third-party client, UNCONFIRMED)',
  },
  baseUrl,

  async prepareSettings(ctx) {
    const { password, ...rest } = ctx.settings;
    if (password) {
      const tokens = await tokenRequest(
        ctx,
        { username: ctx.settings.login, password, grant_type: 'password' },
        'Megaplan: sign in',
      );
      await ctx.tokens.save(tokens);
    } else if (!(await ctx.tokens.load())) {
      throw new CrmError('Megaplan: enter the password to sign in', {
        kind: 'permanent',
        reason: 'validation',
        field: 'password',
      });
    }
    return rest;
  },

  async testConnection(ctx) {
    await api(ctx, {
      method: 'GET',
      path: '/api/v3/employee',
      params: { limit: 1 },
      effect: 'read',
      label: 'Megaplan: employees',
    });
    return { accountName: ctx.settings.domain };
  },

  async findContact(ctx, lookup) {
    // `q` is a full-text search that can lag behind fresh records; matches are verified on contactInfo.
    const queries = [...lookup.phones.map(nationalNumber), ...lookup.emails];
    for (const q of [...new Set(queries)]) {
      const body = await api<{ data?: Contractor[] }>(ctx, {
        method: 'GET',
        path: '/api/v3/contractor',
        params: { q, limit: 50 },
        effect: 'read',
        label: 'Megaplan: search clients',
      });
      const matches = (body.data ?? []).filter((c) => matchesLookup(lookup, storedOf(c)));
      if (matches.length) {
        const first = matches.reduce((a, b) => (Number(a.id) <= Number(b.id) ? a : b));
        const kind = first.contentType === 'ContractorCompany' ? 'contractorCompany' : 'contractorHuman';
        return { kind: 'client', id: String(first.id), related: { type: kind } } satisfies CrmRef;
      }
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    const { firstName, lastName } = splitName(contact.name);
    const body = await api<{ data?: { id?: string | number } }>(ctx, {
      method: 'POST',
      path: '/api/v3/contractorHuman',
      params: {
        contentType: 'ContractorHuman',
        firstName: firstName || contact.phones[0] || contact.emails[0] || 'Посетитель чата',
        lastName,
        ...(contact.comment ? { description: contact.comment } : {}),
        contactInfo: [
          ...contact.phones.map((p, i) => info('phone', p, i === 0)),
          ...contact.emails.map((e, i) => info('email', e, contact.phones.length === 0 && i === 0)),
        ],
        ...(options.responsibleUserId
          ? { responsibles: [{ contentType: 'Employee', id: options.responsibleUserId }] }
          : {}),
      },
      effect: 'create',
      label: 'Megaplan: create client',
    });
    if (body.data?.id === undefined)
      throw new CrmError('Megaplan: create answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    return { kind: 'client', id: String(body.data.id), related: { type: 'contractorHuman' } };
  },

  async updateEntity(ctx, ref, contact) {
    const path = `/api/v3/${ref.related?.type ?? 'contractorHuman'}/${encodeURIComponent(ref.id)}`;
    const body = await api<{ data?: Contractor }>(ctx, {
      method: 'GET',
      path,
      effect: 'read',
      label: 'Megaplan: get client',
    }).catch((error: unknown) => {
      if (error instanceof CrmError && error.status === 404) {
        throw new CrmError(`Megaplan: client ${ref.id} not found`, {
          kind: 'permanent',
          reason: 'not_found',
          status: 404,
        });
      }
      throw error;
    });
    const current = body.data;
    if (!current)
      throw new CrmError(`Megaplan: client ${ref.id} not found`, { kind: 'permanent', reason: 'not_found' });
    const missing = missingValues(contact, storedOf(current));
    const patch: Record<string, unknown> = {};
    if (missing.phones.length || missing.emails.length) {
      patch.contactInfo = [
        ...(current.contactInfo ?? []),
        ...missing.phones.map((p) => info('phone', p)),
        ...missing.emails.map((e) => info('email', e)),
      ];
    }
    if (
      current.contentType !== 'ContractorCompany' &&
      contact.name &&
      isPlaceholderName(current.firstName, contact) &&
      !current.lastName
    ) {
      Object.assign(patch, splitName(contact.name));
    }
    if (Object.keys(patch).length === 0) return;
    await api(ctx, {
      method: 'POST',
      path,
      params: patch,
      effect: 'write',
      label: 'Megaplan: update client',
    });
  },

  async attachNote(ctx, ref, note) {
    // Not idempotent: crm-apis.md §7 documents only adding a comment, no list of an entity's comments,
    // so a retry after a lost answer (timeout, 5xx: unknown outcome) may add the same comment twice.
    const escaped = note.text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/\n/g, '<br>');
    await api(ctx, {
      method: 'POST',
      path: `/api/v3/${ref.related?.type ?? 'contractorHuman'}/${encodeURIComponent(ref.id)}/comments`,
      params: { contentType: 'Comment', content: `<p>${escaped}</p>` },
      effect: 'create',
      label: 'Megaplan: add comment',
    });
    return ref;
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    let pageAfter: { id: string | number; contentType: 'Employee' } | undefined;
    for (let page = 0; page < 50; page++) {
      const body = await api<{
        data?: {
          id: string | number;
          firstName?: string;
          lastName?: string;
          isWorking?: boolean;
          contactInfo?: ContactInfo[];
        }[];
        meta?: { pagination?: { hasMoreNext?: boolean } };
      }>(ctx, {
        method: 'GET',
        path: '/api/v3/employee',
        params: {
          onlyRequestedFields: true,
          fields: ['firstName', 'lastName', 'isWorking', 'contactInfo'],
          limit: 100,
          ...(pageAfter ? { pageAfter } : {}),
        },
        effect: 'read',
        label: 'Megaplan: employees',
      });
      const items = body.data ?? [];
      for (const e of items) {
        users.push({
          id: String(e.id),
          name: [e.firstName, e.lastName].filter(Boolean).join(' '),
          email: e.contactInfo?.find((i) => i.type === 'email')?.value ?? null,
          active: e.isWorking !== false,
        });
      }
      const last = items.at(-1);
      if (!body.meta?.pagination?.hasMoreNext || !last) break;
      pageAfter = { id: last.id, contentType: 'Employee' };
    }
    return users;
  },
} satisfies CrmConnector<MegaplanSettings>;
