import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { AppError, type ErrorCode } from '../shared/errors.ts';
import {
  closeCodes,
  type FrameOf,
  type FrameSchemas,
  PROTOCOL_VERSION,
  type ProtocolError,
  type ProtocolErrorCode,
  parseFrame,
} from './protocol.ts';

/**
 * One WebSocket's protocol plumbing, the same for visitors and operators: frames are parsed and
 * validated before any handler sees them, handled one at a time in arrival order (a client's messages
 * keep their order), rate limited, and answered; a bad frame gets an error frame and the socket stays
 * open, until the errors pile up (then close 4400). A handler's failure never escapes to the server.
 */

export const SESSION_LIMITS = {
  /** Token bucket: burst and refill per second. */
  burst: 30,
  perSecond: 10,
  /** Frames waiting to be handled before new ones are refused. */
  queue: 50,
  /** Protocol errors tolerated per window before the socket is closed. */
  abuseErrors: 20,
  abuseWindowMs: 60_000,
  /** A client that does not read its frames is dropped. */
  maxBufferedBytes: 8 * 1024 * 1024,
  keepAliveMs: 30_000,
} as const;

/** Errors that mean the client misbehaves (counted towards closing the socket). */
const abusive = new Set<ProtocolErrorCode>([
  'bad_frame',
  'unsupported_version',
  'unknown_type',
  'invalid_message',
  'too_large',
  'unauthorized',
  'forbidden',
  'not_found',
  'rate_limited',
]);

const appToProtocol: Record<ErrorCode, ProtocolErrorCode> = {
  validation_failed: 'invalid_message',
  invalid_json: 'invalid_message',
  unknown_field: 'invalid_message',
  unsupported_media_type: 'invalid_message',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  not_found: 'not_found',
  conflict: 'conflict',
  payload_too_large: 'too_large',
  insufficient_funds: 'conflict',
  rate_limited: 'rate_limited',
  internal: 'internal',
};

/** Thrown by handlers to answer with a protocol error (and optionally close). */
export class ProtocolFailure extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly options: { field?: string | null; close?: { code: number; reason: string } } = {},
  ) {
    super(message);
  }
}

/** Resolves with the ack's data, or null when the handler answered itself (hello answers with welcome). */
export type FrameHandler<S extends FrameSchemas> = (
  frame: FrameOf<S>,
) => Promise<Record<string, unknown> | null>;

export class SocketSession<S extends FrameSchemas> {
  private tokens: number = SESSION_LIMITS.burst;
  private refilledAt = Date.now();
  private errors: number[] = [];
  private pending = 0;
  private chain: Promise<void> = Promise.resolve();
  private alive = true;
  private readonly keepAlive: NodeJS.Timeout;
  closed = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly schemas: S,
    private readonly handler: FrameHandler<S>,
    private readonly logger: Logger,
    onClose: () => void,
  ) {
    socket.on('message', (data: RawData, isBinary: boolean) => this.receive(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('error', (err) => logger.debug({ err }, 'chat socket error'));
    socket.on('close', () => {
      this.closed = true;
      clearInterval(this.keepAlive);
      onClose();
    });
    // Dead peers (a laptop lid closed) never send a close; pings find them.
    this.keepAlive = setInterval(() => {
      if (!this.alive) {
        socket.terminate();
        return;
      }
      this.alive = false;
      socket.ping();
    }, SESSION_LIMITS.keepAliveMs);
    this.keepAlive.unref();
  }

  send(frame: Record<string, unknown>): void {
    this.sendPrepared(JSON.stringify({ v: PROTOCOL_VERSION, ...frame }));
  }

  /** Writes a frame serialised once for many sockets (ChatHub's broadcasts). */
  sendPrepared(json: string): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > SESSION_LIMITS.maxBufferedBytes) {
      this.close(1013, 'client too slow');
      return;
    }
    this.socket.send(json);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(code, reason);
  }

  private sendError(error: ProtocolError): void {
    this.send({ type: 'error', re: error.re, code: error.code, message: error.message, field: error.field });
    if (!abusive.has(error.code)) return;
    const now = Date.now();
    this.errors = this.errors.filter((t) => now - t < SESSION_LIMITS.abuseWindowMs);
    this.errors.push(now);
    if (this.errors.length > SESSION_LIMITS.abuseErrors)
      this.close(closeCodes.abuse, 'too many protocol errors');
  }

  private takeToken(): boolean {
    const now = Date.now();
    this.tokens = Math.min(
      SESSION_LIMITS.burst,
      this.tokens + ((now - this.refilledAt) / 1000) * SESSION_LIMITS.perSecond,
    );
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    const buffer = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    const parsed = parseFrame(buffer, isBinary, this.schemas);
    if (!parsed.ok) {
      this.sendError(parsed.error);
      return;
    }
    const re = parsed.frame.id ?? null;
    if (!this.takeToken() || this.pending >= SESSION_LIMITS.queue) {
      this.sendError({ code: 'rate_limited', message: 'Too many frames; slow down', field: null, re });
      return;
    }
    this.pending++;
    this.chain = this.chain.then(async () => {
      try {
        if (this.closed) return;
        const data = await this.handler(parsed.frame);
        if (re !== null && data !== null) this.send({ type: 'ack', re, data });
      } catch (error) {
        this.fail(error, re);
      } finally {
        this.pending--;
      }
    });
  }

  private fail(error: unknown, re: string | null): void {
    if (error instanceof ProtocolFailure) {
      this.sendError({ code: error.code, message: error.message, field: error.options.field ?? null, re });
      if (error.options.close) this.close(error.options.close.code, error.options.close.reason);
      return;
    }
    if (error instanceof AppError) {
      this.sendError({ code: appToProtocol[error.code], message: error.message, field: error.field, re });
      return;
    }
    this.logger.error({ err: error }, 'chat frame failed');
    this.sendError({ code: 'internal', message: 'Internal server error', field: null, re });
  }
}
