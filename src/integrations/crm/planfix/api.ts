import { type CallEffect, CrmError, notConfigured } from '../errors.ts';
import type { HttpResponse, VendorError } from '../http.ts';
import { joinUrl } from '../settings.ts';
import type { CrmContext } from '../types.ts';

/**
 * The two Planfix interfaces the connector speaks (sources in ./index.ts):
 * - the chat API, `POST {account}/webchat/api`, form-encoded, `cmd` + `providerId` + `planfix_token`,
 *   answers JSON (`{data: {number}}`, `{error: "Invalid token"}` with 401, `{error: …}` with 400);
 * - REST v2, `{account}/rest/…`, `Authorization: Bearer`, JSON, errors `{result, code, error}`.
 */

export interface PlanfixConnection {
  account: string;
  providerId: string;
  planfixToken: string;
  restToken?: string | undefined;
  apiBaseUrl?: string | undefined;
}

export function planfixBaseUrl(settings: Pick<PlanfixConnection, 'account' | 'apiBaseUrl'>): string {
  if (settings.apiBaseUrl) return settings.apiBaseUrl;
  return `https://${settings.account.includes('.') ? settings.account : `${settings.account}.planfix.ru`}`;
}

function chatError(response: HttpResponse): VendorError | null {
  const error = (response.body as { error?: unknown } | undefined)?.error;
  return typeof error === 'string' ? { message: error, vendorCode: error } : null;
}

/** A chat API command. `accept` lists statuses that are answers (getContact's 400 "unknown contact"). */
export async function chatCommand(
  ctx: CrmContext<PlanfixConnection>,
  cmd: string,
  params: Record<string, string | undefined>,
  effect: CallEffect,
  accept: readonly number[] = [],
): Promise<HttpResponse> {
  const form = new URLSearchParams({
    cmd,
    providerId: ctx.settings.providerId,
    planfix_token: ctx.settings.planfixToken,
  });
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== '') form.append(key, value);
  return ctx.http.call(
    {
      method: 'POST',
      url: joinUrl(planfixBaseUrl(ctx.settings), '/webchat/api'),
      form,
      effect,
      label: `Planfix chat API: ${cmd}`,
    },
    { accept, vendorError: chatError },
  );
}

// REST error codes (planfix-docs REST_API_Коды_ошибок.md): 1/2 bad or inactive token, 5/6 no access,
// 20/21 unpaid or free account, 22 daily limit spent.
function restError(response: HttpResponse): VendorError | null {
  const body = response.body as Record<string, unknown> | undefined;
  if (!body) return null;
  const code = Number(body.code ?? body.Code);
  const message = String(body.error ?? body.Error ?? '');
  const base = { message, vendorCode: Number.isFinite(code) ? String(code) : null };
  if (code === 1 || code === 2) return { ...base, kind: 'permanent', reason: 'unauthorized' };
  if (code === 5 || code === 6) return { ...base, kind: 'permanent', reason: 'forbidden' };
  if (code === 20 || code === 21) return { ...base, kind: 'permanent', reason: 'payment_required' };
  if (code === 22) return { ...base, kind: 'retryable', reason: 'rate_limited', retryAfterMs: 3600_000 };
  return base;
}

/** A REST call: a body is POSTed as JSON, without one the call is a GET. */
export async function rest<T>(
  ctx: CrmContext<PlanfixConnection>,
  path: string,
  body: unknown,
  effect: CallEffect,
  label: string,
): Promise<T> {
  if (!ctx.settings.restToken) throw notConfigured('Planfix REST API token is not set', 'restToken');
  // "Для GET запросов токен авторизации передается параметром access_token" (REST_API_Авторизация.md).
  const request = {
    method: body === undefined ? ('GET' as const) : ('POST' as const),
    url: joinUrl(planfixBaseUrl(ctx.settings), `/rest${path}`),
    headers: { authorization: `Bearer ${ctx.settings.restToken}` },
    ...(body === undefined ? { query: { access_token: ctx.settings.restToken } } : { json: body }),
    effect,
    label,
  };
  const response = await ctx.http.call(request, { vendorError: restError });
  const parsed = response.body as { result?: string } | undefined;
  if (parsed?.result && parsed.result !== 'success') {
    throw ctx.http.errorFor(request, { ...response, status: 400 }, restError(response));
  }
  if (!parsed)
    throw new CrmError(`${label}: empty answer`, {
      kind: effect === 'create' ? 'unknown_outcome' : 'retryable',
      reason: 'bad_response',
    });
  return parsed as T;
}
