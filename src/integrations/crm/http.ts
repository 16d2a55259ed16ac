import { type Clock, systemClock } from '../../shared/clock.ts';
import {
  type CallEffect,
  CrmError,
  type CrmErrorKind,
  type CrmErrorReason,
  errorForStatus,
  lostAnswerKind,
} from './errors.ts';

/**
 * One small HTTP helper for every connector, over Node's fetch (undici): timeouts, JSON and form bodies,
 * and the error classification the outbox runner needs (errors.ts). Messages never contain URLs or
 * bodies, because several CRMs carry the API key in the URL (U-ON path, AdvantShop/envyCRM query).
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type QueryValue = string | number | boolean | null | undefined | ReadonlyArray<string | number>;

export interface HttpRequest {
  method: HttpMethod;
  url: string;
  query?: Record<string, QueryValue> | URLSearchParams;
  headers?: Record<string, string>;
  /** A JSON body (Content-Type: application/json). */
  json?: unknown;
  /** A form body (application/x-www-form-urlencoded). */
  form?: URLSearchParams | Record<string, string>;
  /** What a lost answer means: a `create` whose answer is lost has an unknown outcome. */
  effect: CallEffect;
  /** A short name for errors and logs, e.g. "amoCRM: search contacts". */
  label: string;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, otherwise undefined. */
  body: unknown;
}

/** A connector's reading of an error answer: its message, its own code, and optionally its own class. */
export interface VendorError {
  message?: string;
  vendorCode?: string | null;
  field?: string | null;
  kind?: CrmErrorKind;
  reason?: CrmErrorReason;
  /** A wait the vendor implies without a Retry-After header (Bitrix24's bucket drains 2 req/s). */
  retryAfterMs?: number;
}

export interface CallOptions {
  /** Statuses that are answers, not errors (amoCRM's 204 "nothing found", U-ON's 404 on empty search). */
  accept?: readonly number[];
  /** Reads the vendor's error body; returning kind/reason overrides the status-based class. */
  vendorError?: (response: HttpResponse) => VendorError | null;
}

export interface HttpClientOptions {
  fetch?: typeof fetch;
  /** Per request unless the request says otherwise. */
  timeoutMs?: number;
  clock?: Clock;
  userAgent?: string;
}

// Errors raised while connecting: the request never reached the CRM, so even a create is safe to repeat.
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  const visit = (value: unknown, depth: number) => {
    if (!value || typeof value !== 'object' || depth > 4) return;
    const code = (value as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    visit((value as { cause?: unknown }).cause, depth + 1);
    const nested = (value as { errors?: unknown }).errors;
    if (Array.isArray(nested)) for (const item of nested) visit(item, depth + 1);
  };
  visit(error, 0);
  return codes;
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now.getTime());
}

function buildUrl(url: string, query: HttpRequest['query']): string {
  if (!query) return url;
  const target = new URL(url);
  const params = query instanceof URLSearchParams ? query : toSearchParams(query);
  for (const [key, value] of params) target.searchParams.append(key, value);
  return target.toString();
}

export function toSearchParams(values: Record<string, QueryValue>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) for (const item of value) params.append(key, String(item));
    else params.append(key, String(value));
  }
  return params;
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return undefined;
  const looksJson = /json/i.test(contentType ?? '') || /^\s*[[{]/.test(text);
  if (!looksJson) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class HttpClient {
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #userAgent: string;

  constructor(options: HttpClientOptions = {}) {
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#clock = options.clock ?? systemClock;
    this.#userAgent = options.userAgent ?? 'omnitalk-crm/0.1';
  }

  /** Sends a request and returns any answer; throws CrmError only when there is no answer. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: 'application/json' };
    let body: string | undefined;
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.json);
    } else if (request.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = (
        request.form instanceof URLSearchParams ? request.form : new URLSearchParams(request.form)
      ).toString();
    }
    for (const [key, value] of Object.entries(request.headers ?? {})) headers[key.toLowerCase()] = value;
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(buildUrl(request.url, request.query), {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw this.#noAnswer(request, error, timeoutMs);
    }
    return {
      status: response.status,
      headers: response.headers,
      text,
      body: parseBody(text, response.headers.get('content-type')),
    };
  }

  /** Sends a request and throws a classified CrmError unless the answer is 2xx or accepted. */
  async call(request: HttpRequest, options: CallOptions = {}): Promise<HttpResponse> {
    const response = await this.send(request);
    if ((response.status >= 200 && response.status < 300) || options.accept?.includes(response.status)) {
      return response;
    }
    throw this.errorFor(request, response, options.vendorError?.(response) ?? null);
  }

  /** The classified error for an answer (connectors use it for errors hidden in a 200 body, too). */
  errorFor(request: HttpRequest, response: HttpResponse, vendor: VendorError | null): CrmError {
    const retryAfterMs =
      parseRetryAfter(response.headers.get('retry-after'), this.#clock.now()) ?? vendor?.retryAfterMs ?? null;
    const message = `${request.label}: HTTP ${response.status}${vendor?.message ? `: ${vendor.message}` : ''}`;
    const classified = errorForStatus({
      status: response.status,
      effect: request.effect,
      retryAfterMs,
      message,
      vendorCode: vendor?.vendorCode ?? null,
      field: vendor?.field ?? null,
    });
    if (!vendor?.kind && !vendor?.reason) return classified;
    return new CrmError(message, {
      kind: vendor.kind ?? classified.kind,
      reason: vendor.reason ?? classified.reason,
      status: response.status,
      retryAfterMs,
      vendorCode: vendor.vendorCode ?? null,
      field: vendor.field ?? null,
    });
  }

  #noAnswer(request: HttpRequest, error: unknown, timeoutMs: number): CrmError {
    const name = (error as { name?: string } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new CrmError(`${request.label}: no answer within ${timeoutMs} ms`, {
        kind: lostAnswerKind(request.effect),
        reason: 'timeout',
        cause: error,
      });
    }
    const codes = errorCodes(error);
    const neverSent = codes.some((code) => CONNECT_ERRORS.has(code));
    return new CrmError(`${request.label}: network error${codes.length ? ` (${codes.join(', ')})` : ''}`, {
      kind: neverSent ? 'retryable' : lostAnswerKind(request.effect),
      reason: 'network',
      cause: error,
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// OAuth2 and session tokens

/** Tokens of one integration. `expiresAt` is epoch ms; null means "does not expire" (or unknown). */
export interface TokenSet {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number | null;
  /** Vendor extras kept with the tokens (Bitrix24 client_endpoint, member_id). */
  extra?: Record<string, string>;
}

/**
 * Where an integration's tokens live. The runner implements it over the integrations table with
 * SecretBox; tests use MemoryTokenStore. `key` must be unique per integration: within one process only
 * one refresh per key is in flight (several CRMs use single-use refresh tokens and the loser of a race
 * gets "token revoked"). Across processes, `withRefreshLock` (e.g. SELECT … FOR UPDATE on the
 * integration row) serialises refreshes; the manager re-reads the tokens inside the lock and skips the
 * refresh when another process already did it.
 */
export interface TokenStore {
  readonly key: string;
  load(): Promise<TokenSet | null>;
  save(tokens: TokenSet): Promise<void>;
  withRefreshLock?<T>(fn: () => Promise<T>): Promise<T>;
}

export class MemoryTokenStore implements TokenStore {
  readonly key: string;
  /** Every save, oldest first (tests check that a refresh was persisted). */
  readonly saved: TokenSet[] = [];
  #tokens: TokenSet | null;
  constructor(key: string, initial: TokenSet | null = null) {
    this.key = key;
    this.#tokens = initial;
  }
  async load(): Promise<TokenSet | null> {
    return this.#tokens;
  }
  async save(tokens: TokenSet): Promise<void> {
    this.#tokens = tokens;
    this.saved.push(tokens);
  }
}

/**
 * Obtains fresh tokens: a refresh grant from the current ones, or a new login with stored keys
 * (AlfaCRM). `current` is null when nothing is stored yet; OAuth refreshers then ask for
 * re-authorisation, login-based ones simply log in.
 */
export type TokenRefresh = (current: TokenSet | null) => Promise<TokenSet>;

export interface TokenContext {
  tokens: TokenStore;
  clock: Clock;
}

/** Refresh this long before the stated expiry, so a token never expires between check and use. */
export const REFRESH_SKEW_MS = 60_000;

const refreshesInFlight = new Map<string, Promise<TokenSet>>();

const reauthorize = (message: string) =>
  new CrmError(message, { kind: 'permanent', reason: 'reauthorization_required' });

function isFresh(tokens: TokenSet, now: Date): boolean {
  return tokens.expiresAt === null || tokens.expiresAt - REFRESH_SKEW_MS > now.getTime();
}

/** Refreshes the tokens that `stale` came from: at most one refresh per integration at a time. */
export function refreshTokens(
  ctx: TokenContext,
  refresh: TokenRefresh,
  stale: TokenSet | null,
): Promise<TokenSet> {
  const key = ctx.tokens.key;
  const running = refreshesInFlight.get(key);
  if (running) return running;
  const run = async (): Promise<TokenSet> => {
    const current = await ctx.tokens.load();
    // Someone (another caller, another process) refreshed since we read `stale`: use theirs.
    if (current && current.accessToken !== stale?.accessToken && isFresh(current, ctx.clock.now())) {
      return current;
    }
    const next = await refresh(current);
    await ctx.tokens.save(next);
    return next;
  };
  const promise = (ctx.tokens.withRefreshLock ? ctx.tokens.withRefreshLock(run) : run()).finally(() =>
    refreshesInFlight.delete(key),
  );
  refreshesInFlight.set(key, promise);
  return promise;
}

/** The current tokens, refreshed first when they expire within REFRESH_SKEW_MS. */
export async function currentTokens(ctx: TokenContext, refresh: TokenRefresh): Promise<TokenSet> {
  const running = refreshesInFlight.get(ctx.tokens.key);
  if (running) return running;
  const tokens = await ctx.tokens.load();
  if (tokens && isFresh(tokens, ctx.clock.now())) return tokens;
  return refreshTokens(ctx, refresh, tokens);
}

/**
 * Runs an authorised call: refreshes an expiring token first, and when the CRM still answers 401
 * (token revoked or expired early) refreshes once and retries once. A second 401 is permanent.
 */
export async function withTokens<T>(
  ctx: TokenContext,
  refresh: TokenRefresh,
  call: (tokens: TokenSet) => Promise<T>,
): Promise<T> {
  const tokens = await currentTokens(ctx, refresh);
  try {
    return await call(tokens);
  } catch (error) {
    if (!(error instanceof CrmError) || error.reason !== 'unauthorized') throw error;
    const next = await refreshTokens(ctx, refresh, tokens);
    return call(next);
  }
}

/** Tokens from an OAuth2 token answer (`access_token`, `refresh_token`, `expires_in` seconds). */
export function tokensFromOAuth(
  body: unknown,
  now: Date,
  extraKeys: readonly string[] = [],
): TokenSet | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  if (typeof b.access_token !== 'string' || b.access_token === '') return null;
  const expiresIn = typeof b.expires_in === 'number' ? b.expires_in : Number(b.expires_in);
  const extra: Record<string, string> = {};
  for (const key of extraKeys)
    if (typeof b[key] === 'string' || typeof b[key] === 'number') extra[key] = String(b[key]);
  return {
    accessToken: b.access_token,
    refreshToken: typeof b.refresh_token === 'string' && b.refresh_token !== '' ? b.refresh_token : null,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? now.getTime() + expiresIn * 1000 : null,
    ...(extraKeys.length ? { extra } : {}),
  };
}

export { reauthorize as reauthorizationRequired };
