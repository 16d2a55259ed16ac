/**
 * How a failed CRM call looks to the outbox runner. Three kinds, because the runner does three
 * different things:
 * - `retryable`: the CRM surely did not act (429, a rate-limit answer, a connection that never opened) or
 *   the call is safe to repeat (reads, updates of a known record). Retry with backoff, honouring
 *   `retryAfterMs` when the CRM gave one.
 * - `permanent`: retrying cannot help (bad credentials, validation, payment required). Show the error in
 *   the cabinet and stop until the settings change.
 * - `unknown_outcome`: a create whose answer was lost (timeout, 5xx, a connection cut mid-request). The
 *   CRM may have created the record. The runner must **search again before retrying** — crm-apis.md
 *   records libraries that created duplicates by blindly repeating such calls.
 */
export const crmErrorKinds = ['retryable', 'permanent', 'unknown_outcome'] as const;
export type CrmErrorKind = (typeof crmErrorKinds)[number];

export const crmErrorReasons = [
  'rate_limited',
  'server_error',
  'timeout',
  'network',
  'unauthorized',
  'forbidden',
  'payment_required',
  'validation',
  'not_found',
  'bad_response',
  'not_configured',
  'reauthorization_required',
  'not_supported',
] as const;
export type CrmErrorReason = (typeof crmErrorReasons)[number];

/** What a request does, which decides what a lost answer means. */
export type CallEffect = 'read' | 'write' | 'create';

export interface CrmErrorInit {
  kind: CrmErrorKind;
  reason: CrmErrorReason;
  status?: number | null;
  retryAfterMs?: number | null;
  /** The CRM's own error code or name (e.g. Bitrix24 "QUERY_LIMIT_EXCEEDED", amoCRM 110). */
  vendorCode?: string | null;
  /** The field the CRM complained about, when it named one. */
  field?: string | null;
  cause?: unknown;
}

export class CrmError extends Error {
  readonly kind: CrmErrorKind;
  readonly reason: CrmErrorReason;
  readonly status: number | null;
  readonly retryAfterMs: number | null;
  readonly vendorCode: string | null;
  readonly field: string | null;
  constructor(message: string, init: CrmErrorInit) {
    super(message, { cause: init.cause });
    this.name = 'CrmError';
    this.kind = init.kind;
    this.reason = init.reason;
    this.status = init.status ?? null;
    this.retryAfterMs = init.retryAfterMs ?? null;
    this.vendorCode = init.vendorCode ?? null;
    this.field = init.field ?? null;
  }
  /** What the runner stores as the integration's last error (no secrets: messages never carry settings). */
  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      reason: this.reason,
      status: this.status,
      retryAfterMs: this.retryAfterMs,
      vendorCode: this.vendorCode,
      field: this.field,
      message: this.message,
    };
  }
}

export const isCrmError = (error: unknown): error is CrmError => error instanceof CrmError;

/** True when the runner must look the entity up again before repeating the call. */
export const isUnknownOutcome = (error: unknown): boolean =>
  isCrmError(error) && error.kind === 'unknown_outcome';

export const isRetryable = (error: unknown): boolean => isCrmError(error) && error.kind === 'retryable';

/** A failure whose outcome depends on whether the CRM may have acted on the request. */
export function lostAnswerKind(effect: CallEffect): CrmErrorKind {
  return effect === 'create' ? 'unknown_outcome' : 'retryable';
}

export interface StatusContext {
  status: number;
  effect: CallEffect;
  retryAfterMs: number | null;
  message: string;
  vendorCode?: string | null;
  field?: string | null;
}

/**
 * The default reading of an HTTP status. Connectors map their vendor codes first (Bitrix24 answers a
 * rate limit with 503) and fall back to this.
 */
export function errorForStatus(c: StatusContext): CrmError {
  const base = {
    status: c.status,
    retryAfterMs: c.retryAfterMs,
    vendorCode: c.vendorCode ?? null,
    field: c.field ?? null,
  };
  if (c.status === 429)
    return new CrmError(c.message, { ...base, kind: 'retryable', reason: 'rate_limited' });
  if (c.status === 408)
    return new CrmError(c.message, { ...base, kind: lostAnswerKind(c.effect), reason: 'timeout' });
  if (c.status >= 500) {
    return new CrmError(c.message, { ...base, kind: lostAnswerKind(c.effect), reason: 'server_error' });
  }
  if (c.status === 401)
    return new CrmError(c.message, { ...base, kind: 'permanent', reason: 'unauthorized' });
  if (c.status === 402) {
    return new CrmError(c.message, { ...base, kind: 'permanent', reason: 'payment_required' });
  }
  if (c.status === 403) return new CrmError(c.message, { ...base, kind: 'permanent', reason: 'forbidden' });
  if (c.status === 404) return new CrmError(c.message, { ...base, kind: 'permanent', reason: 'not_found' });
  return new CrmError(c.message, { ...base, kind: 'permanent', reason: 'validation' });
}

export const badResponse = (message: string, effect: CallEffect, cause?: unknown) =>
  // A 2xx we cannot read: the CRM did act, but we do not know on what — same as a lost answer.
  new CrmError(message, { kind: lostAnswerKind(effect), reason: 'bad_response', cause });

export const notSupported = (message: string) =>
  new CrmError(message, { kind: 'permanent', reason: 'not_supported' });

export const notConfigured = (message: string, field?: string) =>
  new CrmError(message, { kind: 'permanent', reason: 'not_configured', field: field ?? null });
