import { z } from 'zod';
import { displayName, isPlaceholderName, missingValues, splitName } from '../contact.ts';
import { type CallEffect, CrmError, notConfigured } from '../errors.ts';
import {
  type HttpResponse,
  reauthorizationRequired,
  type TokenRefresh,
  type TokenSet,
  tokensFromOAuth,
  type VendorError,
  withTokens,
} from '../http.ts';
import { apiBaseUrlField, field, hostInput, joinUrl } from '../settings.ts';
import type { CrmConnector, CrmContext, CrmRef, CrmUser } from '../types.ts';
import { parseBitrixEvent } from './events.ts';

/**
 * IN-5 Bitrix24 REST (crm-apis.md §2). Two ways in: an inbound webhook URL the admin copies
 * (`https://{portal}/rest/{user}/{code}/`), or a local/market application with OAuth 2.0 (tokens from
 * oauth.bitrix24.tech, an hour each, refreshed with a 180-day refresh token). Creates a lead
 * (`crm.lead.add`), finds duplicates with `crm.duplicate.findbycomm`, saves dialogs as timeline
 * comments; the responsible user is the manager mapped to the operator. Optional Open Lines two-way:
 * operator replies arrive as ONIMCONNECTORMESSAGEADD events.
 */

export const bitrix24Settings = z
  .object({
    portal: field(hostInput(), { label: { ru: 'Домен портала', en: 'Portal domain' } }),
    webhookUrl: field(z.url({ protocol: /^https?$/ }).optional(), {
      label: { ru: 'Входящий вебхук', en: 'Inbound webhook URL' },
      help: {
        ru: 'Или установите приложение (OAuth) — тогда поле не нужно',
        en: 'Or install the application (OAuth) and leave this empty',
      },
      secret: true,
    }),
    clientId: field(z.string().trim().min(1).optional(), {
      label: { ru: 'Код приложения (client_id)', en: 'Application client_id' },
      advanced: true,
    }),
    clientSecret: field(z.string().trim().min(1).optional(), {
      label: { ru: 'Ключ приложения (client_secret)', en: 'Application client_secret' },
      secret: true,
      advanced: true,
    }),
    openLines: field(z.boolean().default(false), {
      label: { ru: 'Передавать диалоги в чат Битрикс', en: 'Pass dialogs to Bitrix24 chat (Open Lines)' },
    }),
    applicationToken: field(z.string().min(1).optional(), {
      label: { ru: 'Токен приложения', en: 'Application token' },
      secret: true,
      hidden: true,
    }),
    oauthServerUrl: field(z.url({ protocol: /^https?$/ }).default('https://oauth.bitrix24.tech'), {
      label: { ru: 'Сервер авторизации', en: 'OAuth server' },
      advanced: true,
    }),
    apiBaseUrl: apiBaseUrlField,
  })
  .refine((s) => s.webhookUrl !== undefined || (s.clientId !== undefined && s.clientSecret !== undefined), {
    message: 'give an inbound webhook URL or the application client_id and client_secret',
    path: ['webhookUrl'],
  });
export type Bitrix24Settings = z.infer<typeof bitrix24Settings>;
type Ctx = CrmContext<Bitrix24Settings>;

function baseUrl(settings: Bitrix24Settings): string {
  if (settings.webhookUrl) return settings.webhookUrl.replace(/\/+$/, '');
  return (settings.apiBaseUrl ?? `https://${settings.portal}`).replace(/\/+$/, '') + '/rest';
}

/** Bitrix24 answers `{error, error_description}`; the code decides, not the text (b24 error-codes.md). */
function bitrixError(response: HttpResponse): VendorError | null {
  const body = response.body as { error?: unknown; error_description?: unknown } | undefined;
  if (!body || typeof body !== 'object' || !('error' in body)) return null;
  const code = String(body.error ?? '');
  const message = [code, body.error_description].filter((v) => typeof v === 'string' && v !== '').join(': ');
  const base = { message, vendorCode: code || null };
  switch (code) {
    case 'QUERY_LIMIT_EXCEEDED':
      // The leaky bucket drains 2 requests a second and sends no Retry-After.
      return { ...base, kind: 'retryable', reason: 'rate_limited', retryAfterMs: 1000 };
    case 'OPERATION_TIME_LIMIT':
      return { ...base, kind: 'retryable', reason: 'rate_limited', retryAfterMs: 60_000 };
    case 'OVERLOAD_LIMIT':
    case 'PORTAL_DELETED':
      // A manual block and a closed portal: repeating cannot help.
      return { ...base, kind: 'permanent', reason: 'forbidden' };
    case 'expired_token':
    case 'invalid_token':
    case 'NO_AUTH_FOUND':
      return { ...base, kind: 'permanent', reason: 'unauthorized' };
    case 'invalid_grant':
    case 'invalid_client':
      return { ...base, kind: 'permanent', reason: 'reauthorization_required' };
    case 'PAYMENT_REQUIRED':
      return { ...base, kind: 'permanent', reason: 'payment_required' };
    default:
      if (code === '' && /not found/i.test(String(body.error_description))) {
        return { ...base, kind: 'permanent', reason: 'not_found' };
      }
      return base;
  }
}

async function tokenRequest(ctx: Ctx, grant: Record<string, string>, label: string): Promise<TokenSet> {
  const { settings } = ctx;
  if (!settings.clientId || !settings.clientSecret)
    throw notConfigured('Bitrix24 application keys are not set', 'clientId');
  const request = {
    method: 'GET' as const,
    url: joinUrl(settings.oauthServerUrl, '/oauth/token/'),
    query: { ...grant, client_id: settings.clientId, client_secret: settings.clientSecret },
    effect: 'write' as const,
    label,
  };
  const response = await ctx.http.call(request, { vendorError: bitrixError });
  const body = response.body as Record<string, unknown> | undefined;
  if (body && 'error' in body)
    throw ctx.http.errorFor(request, { ...response, status: 400 }, bitrixError(response));
  const tokens = tokensFromOAuth(body, ctx.clock.now(), ['member_id', 'client_endpoint']);
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
    if (!current?.refreshToken) {
      throw reauthorizationRequired('Bitrix24 application is not authorised: install it again');
    }
    return tokenRequest(
      ctx,
      { grant_type: 'refresh_token', refresh_token: current.refreshToken },
      'Bitrix24: refresh token',
    );
  };

/** Calls one REST method: POST JSON to `{base}/{method}`, `auth` in the body for OAuth. */
async function rest<T>(
  ctx: Ctx,
  method: string,
  params: Record<string, unknown>,
  effect: CallEffect,
): Promise<T> {
  const label = `Bitrix24: ${method}`;
  const send = async (auth: string | null) => {
    const request = {
      method: 'POST' as const,
      url: joinUrl(baseUrl(ctx.settings), method),
      json: auth ? { ...params, auth } : params,
      effect,
      label,
    };
    const response = await ctx.http.call(request, { vendorError: bitrixError });
    const body = response.body as { result?: T; error?: unknown } | undefined;
    // Errors are recognised by the body, not the status (a 200 may carry one).
    if (!body || 'error' in body)
      throw ctx.http.errorFor(request, { ...response, status: 400 }, bitrixError(response));
    return body;
  };
  const body = ctx.settings.webhookUrl
    ? await send(null)
    : await withTokens(ctx, refresher(ctx), (tokens) => send(tokens.accessToken));
  return body as T;
}

interface BitrixMulti {
  ID?: string;
  VALUE?: string;
  VALUE_TYPE?: string;
}
interface BitrixEntity {
  ID: string;
  NAME?: string;
  PHONE?: BitrixMulti[];
  EMAIL?: BitrixMulti[];
}

const entityMethod = (ref: CrmRef) => (ref.kind === 'contact' ? 'crm.contact' : 'crm.lead');
const multi = (values: string[]) => values.map((VALUE) => ({ VALUE, VALUE_TYPE: 'WORK' }));

export const bitrix24 = {
  id: 'bitrix24',
  title: { ru: 'Битрикс24', en: 'Bitrix24' },
  creates: { ru: 'Лид, диалоги в ленте лида', en: 'Lead, dialogs on its timeline' },
  settingsSchema: bitrix24Settings,
  rateLimit: {
    requestsPerSecond: 2,
    burst: 50,
    source: 'crm-apis.md §2: leaky bucket of 50 draining 2 req/s per portal (Enterprise 250 / 5 req/s)',
  },
  baseUrl,

  oauth: {
    authorizeUrl(settings, state) {
      const url = new URL(`https://${settings.portal}/oauth/authorize/`);
      url.searchParams.set('client_id', settings.clientId ?? '');
      url.searchParams.set('state', state);
      return url.toString();
    },
    async exchangeCode(ctx, redirect) {
      const code = redirect.get('code');
      if (!code) throw notConfigured('Bitrix24 redirect has no code', 'code');
      const tokens = await tokenRequest(
        ctx,
        { grant_type: 'authorization_code', code },
        'Bitrix24: exchange code',
      );
      await ctx.tokens.save(tokens);
      // The portal named by the authorisation server, not by the (forgeable) redirect.
      const endpoint = tokens.extra?.client_endpoint;
      const portal = endpoint ? new URL(endpoint).host : ctx.settings.portal;
      return { ...ctx.settings, portal };
    },
  },

  async testConnection(ctx) {
    // crm.lead.fields needs the crm scope the connector works with.
    await rest(ctx, 'crm.lead.fields', {}, 'read');
    return { accountName: ctx.settings.portal };
  },

  async findContact(ctx, lookup) {
    const searches: [string, string[]][] = [
      ['PHONE', lookup.phones],
      ['EMAIL', lookup.emails],
    ];
    for (const entity of ['LEAD', 'CONTACT'] as const) {
      for (const [type, values] of searches) {
        if (values.length === 0) continue;
        // Bitrix matches phones format-insensitively (b24 crm-duplicate-find-by-comm.md); POST, not GET
        // with a body (b24-rest-docs #223). At most 20 values per call.
        const body = await rest<{ result?: Record<string, number[]> | [] }>(
          ctx,
          'crm.duplicate.findbycomm',
          { entity_type: entity, type, values: values.slice(0, 20) },
          'read',
        );
        const ids = Array.isArray(body.result) ? [] : (body.result?.[entity] ?? []);
        if (ids.length > 0) {
          return {
            kind: entity === 'LEAD' ? 'lead' : 'contact',
            id: String(Math.min(...ids.map(Number))),
          } satisfies CrmRef;
        }
      }
    }
    return null;
  },

  async createEntity(ctx, contact, options) {
    const { firstName, lastName } = splitName(contact.name);
    const fields: Record<string, unknown> = {
      TITLE: `Онлайн-чат: ${displayName(contact)}`,
      ...(contact.name ? { NAME: firstName, LAST_NAME: lastName } : {}),
      ...(contact.phones.length ? { PHONE: multi(contact.phones) } : {}),
      ...(contact.emails.length ? { EMAIL: multi(contact.emails) } : {}),
      ...(options.responsibleUserId ? { ASSIGNED_BY_ID: Number(options.responsibleUserId) } : {}),
      SOURCE_ID: 'WEB',
      SOURCE_DESCRIPTION: contact.siteName ? `Онлайн-чат ${contact.siteName}` : 'Онлайн-чат',
      STATUS_ID: 'NEW',
      OPENED: 'Y',
      ORIGINATOR_ID: 'omnitalk',
      ORIGIN_ID: contact.contactId,
      ...(contact.comment ? { COMMENTS: contact.comment } : {}),
    };
    const body = await rest<{ result?: unknown }>(
      ctx,
      'crm.lead.add',
      { fields, params: { REGISTER_SONET_EVENT: 'Y' } },
      'create',
    );
    if (typeof body.result !== 'number' && typeof body.result !== 'string') {
      throw new CrmError('Bitrix24: crm.lead.add answered without an id', {
        kind: 'unknown_outcome',
        reason: 'bad_response',
      });
    }
    return { kind: 'lead', id: String(body.result) };
  },

  async updateEntity(ctx, ref, contact) {
    const method = entityMethod(ref);
    const { result: current } = await rest<{ result?: BitrixEntity }>(
      ctx,
      `${method}.get`,
      { id: Number(ref.id) },
      'read',
    );
    if (!current)
      throw new CrmError(`Bitrix24: ${ref.kind} ${ref.id} not found`, {
        kind: 'permanent',
        reason: 'not_found',
      });
    const missing = missingValues(contact, {
      phones: (current.PHONE ?? []).map((m) => m.VALUE),
      emails: (current.EMAIL ?? []).map((m) => m.VALUE),
    });
    // Multi-field values sent without an ID are added; existing ones stay untouched.
    const fields: Record<string, unknown> = {};
    if (missing.phones.length) fields.PHONE = multi(missing.phones);
    if (missing.emails.length) fields.EMAIL = multi(missing.emails);
    if (
      contact.name &&
      isPlaceholderName(current.NAME, contact) &&
      current.NAME !== splitName(contact.name).firstName
    ) {
      const { firstName, lastName } = splitName(contact.name);
      Object.assign(fields, { NAME: firstName, LAST_NAME: lastName });
    }
    if (Object.keys(fields).length === 0) return;
    await rest(ctx, `${method}.update`, { id: Number(ref.id), fields }, 'write');
  },

  async attachNote(ctx, ref, note) {
    await rest(
      ctx,
      'crm.timeline.comment.add',
      {
        fields: {
          ENTITY_ID: Number(ref.id),
          ENTITY_TYPE: ref.kind === 'contact' ? 'contact' : 'lead',
          COMMENT: note.text,
        },
      },
      'create',
    );
    return ref;
  },

  async listUsers(ctx) {
    const users: CrmUser[] = [];
    let start: number | undefined = 0;
    for (let page = 0; page < 100 && start !== undefined; page++) {
      const body: {
        result?: { ID: string; NAME?: string; LAST_NAME?: string; EMAIL?: string; ACTIVE?: boolean }[];
        next?: number;
      } = await rest(ctx, 'user.get', { start }, 'read');
      for (const u of body.result ?? []) {
        users.push({
          id: String(u.ID),
          name: [u.NAME, u.LAST_NAME].filter(Boolean).join(' '),
          email: u.EMAIL || null,
          active: u.ACTIVE !== false,
        });
      }
      start = typeof body.next === 'number' ? body.next : undefined;
    }
    return users;
  },

  parseInbound(ctx, request) {
    return parseBitrixEvent(request, ctx.settings.applicationToken);
  },
} satisfies CrmConnector<Bitrix24Settings>;
