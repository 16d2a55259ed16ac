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
import { joinUrl } from '../settings.ts';
import type { CrmContext } from '../types.ts';
import type { Bitrix24Settings } from './settings.ts';

/**
 * Bitrix24 REST transport (crm-apis.md §2): POST JSON to `{base}/{method}`; a webhook carries its secret
 * in the base URL, an application adds `auth={access_token}` to the body. Tokens come from
 * oauth.bitrix24.tech (an hour each, refreshed with the refresh token).
 */

export type Ctx = CrmContext<Bitrix24Settings>;

/** `https://{portal}/rest`: where application (OAuth) calls go. */
export function appBaseUrl(settings: Bitrix24Settings): string {
  return `${(settings.apiBaseUrl ?? `https://${settings.portal}`).replace(/\/+$/, '')}/rest`;
}

export function baseUrl(settings: Bitrix24Settings): string {
  if (settings.webhookUrl) return settings.webhookUrl.replace(/\/+$/, '');
  return appBaseUrl(settings);
}

/** Bitrix24 answers `{error, error_description}`; the code decides, not the text (b24 error-codes.md). */
export function bitrixError(response: HttpResponse): VendorError | null {
  const body = response.body as { error?: unknown; error_description?: unknown } | undefined;
  if (!body || typeof body !== 'object' || !('error' in body)) return null;
  return vendorError(String(body.error ?? ''), body.error_description);
}

export function vendorError(code: string, description: unknown): VendorError {
  const message = [code, description].filter((v) => typeof v === 'string' && v !== '').join(': ');
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
    // Open Lines: the app has no application context, or the line/connector is not (or no longer) set up
    // (imconnector-send-messages.md, imconnector-activate.md). Saving the settings again re-registers
    // and re-activates the connector, so these pause the integration until then (store.ts).
    case 'WRONG_AUTH_TYPE':
    case 'NOT_ACTIVE_LINE':
    case 'IMCONNECTOR_NO_CORRECT_PROVIDER':
      return { ...base, kind: 'permanent', reason: 'not_configured', field: 'openLinesLine' };
    default:
      if (code === '' && /not found/i.test(String(description))) {
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

export function exchangeCode(ctx: Ctx, code: string): Promise<TokenSet> {
  return tokenRequest(ctx, { grant_type: 'authorization_code', code }, 'Bitrix24: exchange code');
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

async function post<T>(
  ctx: Ctx,
  base: string,
  method: string,
  params: Record<string, unknown>,
  effect: CallEffect,
  auth: string | null,
): Promise<T> {
  const request = {
    method: 'POST' as const,
    url: joinUrl(base, method),
    json: auth ? { ...params, auth } : params,
    effect,
    label: `Bitrix24: ${method}`,
  };
  const response = await ctx.http.call(request, { vendorError: bitrixError });
  const body = response.body as { result?: T; error?: unknown } | undefined;
  // Errors are recognised by the body, not the status (a 200 may carry one).
  if (!body || 'error' in body)
    throw ctx.http.errorFor(request, { ...response, status: 400 }, bitrixError(response));
  return body as T;
}

/** Calls one REST method through the webhook when there is one, otherwise as the application. */
export async function rest<T>(
  ctx: Ctx,
  method: string,
  params: Record<string, unknown>,
  effect: CallEffect,
): Promise<T> {
  if (ctx.settings.webhookUrl) return post(ctx, baseUrl(ctx.settings), method, params, effect, null);
  return appRest(ctx, method, params, effect);
}

/** Calls a method that needs the application's context (`imconnector.*`, `event.*`, `app.info`). */
export async function appRest<T>(
  ctx: Ctx,
  method: string,
  params: Record<string, unknown>,
  effect: CallEffect,
): Promise<T> {
  if (!ctx.settings.clientId || !ctx.settings.clientSecret)
    throw notConfigured(`Bitrix24: ${method} works only through the application (OAuth)`, 'clientId');
  return withTokens(ctx, refresher(ctx), (tokens) =>
    post<T>(ctx, appBaseUrl(ctx.settings), method, params, effect, tokens.accessToken),
  );
}

/**
 * One call with an access token we did not obtain ourselves (the `auth` of an event), sent to the
 * portal of our settings — never to the `client_endpoint` the (unauthenticated) event names.
 */
export function restWithToken<T>(
  ctx: Ctx,
  method: string,
  params: Record<string, unknown>,
  accessToken: string,
): Promise<T> {
  return post<T>(ctx, appBaseUrl(ctx.settings), method, params, 'read', accessToken);
}
