import type { ClientErrorCode, ProtocolErrorCode } from './protocol.ts';

/** A refused request (the server's error frame) or a failure of the connection itself. */
export class OmnitalkError extends Error {
  readonly code: ProtocolErrorCode | ClientErrorCode;
  readonly field: string | null;
  constructor(code: ProtocolErrorCode | ClientErrorCode, message: string, field: string | null = null) {
    super(message);
    this.name = 'OmnitalkError';
    this.code = code;
    this.field = field;
  }
}

/** Whether sending the same frame again later may succeed (the outbox keeps such messages). */
export const isRetryable = (error: OmnitalkError): boolean =>
  error.code === 'disconnected' ||
  error.code === 'timeout' ||
  error.code === 'rate_limited' ||
  error.code === 'internal';
