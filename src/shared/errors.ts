/** One error family for the whole product. HTTP maps `code` to a status in src/http/errors.ts. */
export const errorCodes = {
  validation_failed: 400,
  invalid_json: 400,
  unknown_field: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  insufficient_funds: 402,
  rate_limited: 429,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly field: string | null;
  constructor(code: ErrorCode, message: string, options: { field?: string | null; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.field = options.field ?? null;
  }
  get status(): number {
    return errorCodes[this.code];
  }
}

export const notFound = (what: string, field?: string) =>
  new AppError('not_found', `${what} not found`, { field: field ?? null });

export const invalid = (field: string, message: string) =>
  new AppError('validation_failed', message, { field });

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${String(value)}`);
}
