import { type BackoffOptions, backoffDelay } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { OmnitalkError } from './errors.ts';
import { closeCodes, PROTOCOL_VERSION, type ProtocolErrorCode, type ServerFrame } from './protocol.ts';
import { clearTimer, OPEN, setTimer, type WebSocketFactory, type WebSocketLike } from './runtime.ts';

/**
 * One logical connection over many sockets: opens a socket, says hello, and after any drop reconnects
 * with backoff and says hello again. Requests carry an id and resolve with their ack (or reject with
 * the error frame, a timeout, or the disconnect). A socket that stops answering is dropped and replaced.
 * The server refusing the credentials (4401) or the page's origin (4403) stops it for good.
 */

export type ConnectionState = 'idle' | 'connecting' | 'online' | 'offline' | 'closed';

export interface ConnectionOptions {
  url: string;
  createSocket: WebSocketFactory;
  backoff: BackoffOptions;
  requestTimeoutMs: number;
  /** The hello frame (without v and id), built for every new socket. */
  hello: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

interface ConnectionEvents {
  state: ConnectionState;
  welcome: ServerFrame;
  /** Every server frame that is not an answer to a request. */
  frame: ServerFrame;
  /** An error frame not tied to a request. */
  serverError: OmnitalkError;
  /** The connection stopped for good (credentials or origin refused). */
  fatal: OmnitalkError;
}

interface Pending {
  resolve: (data: Record<string, unknown>) => void;
  reject: (error: OmnitalkError) => void;
  timer: unknown;
}

export class Connection extends Emitter<ConnectionEvents> {
  state: ConnectionState = 'idle';
  private socket: WebSocketLike | null = null;
  private attempt = 0;
  private seq = 0;
  private helloId: string | null = null;
  private lastError: OmnitalkError | null = null;
  private reconnectTimer: unknown = null;
  private stopped = true;
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly options: ConnectionOptions) {
    super();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  /** Closes for good; pending requests reject with `closed`. */
  stop(): void {
    this.stopped = true;
    clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
    const socket = this.socket;
    this.socket = null;
    this.failPending(new OmnitalkError('closed', 'The connection was closed'));
    socket?.close(1000, 'client closed');
    this.setState('closed');
  }

  /**
   * Reconnects at once (the app came to the foreground, the network changed): when waiting for the next
   * attempt it stops waiting; when a socket is open or opening it may be dead without knowing it (a
   * phone that slept), so it is replaced by a new one. Unacknowledged messages are resent as usual.
   */
  reconnectNow(): void {
    if (this.stopped) return;
    clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
    this.attempt = 0;
    const old = this.socket;
    if (old) {
      // Forget the old socket first, so its close event does not schedule another reconnect.
      this.socket = null;
      this.failPending(new OmnitalkError('disconnected', 'Reconnecting'));
      try {
        old.close(4000, 'reconnect');
      } catch {
        // already closed
      }
    }
    this.open();
  }

  request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const socket = this.socket;
    if (this.state !== 'online' || !socket || socket.readyState !== OPEN)
      return Promise.reject(new OmnitalkError('disconnected', 'Not connected'));
    const id = this.nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimer(() => {
        this.pending.delete(id);
        reject(new OmnitalkError('timeout', `No answer to ${String(frame.type)} in time`));
        // A socket that does not answer is as good as dead: replace it.
        if (this.socket === socket) socket.close(4000, 'request timeout');
      }, this.options.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write(socket, { ...frame, id });
    });
  }

  /** Sends without waiting for an answer (typing); dropped when offline. */
  notify(frame: Record<string, unknown>): void {
    if (this.state === 'online' && this.socket) this.write(this.socket, frame);
  }

  private nextId(): string {
    this.seq += 1;
    return `c${this.seq}`;
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private write(socket: WebSocketLike, frame: Record<string, unknown>): void {
    try {
      socket.send(JSON.stringify({ v: PROTOCOL_VERSION, ...frame }));
    } catch {
      // The close event follows and handles it.
    }
  }

  private open(): void {
    this.setState('connecting');
    let socket: WebSocketLike;
    try {
      socket = this.options.createSocket(this.options.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.lastError = null;
    socket.onopen = () => {
      void Promise.resolve(this.options.hello()).then((hello) => {
        if (this.socket !== socket) return;
        this.helloId = this.nextId();
        this.write(socket, { ...hello, id: this.helloId });
      });
    };
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onclose = (event) => this.onClose(socket, event.code, event.reason);
    socket.onerror = () => {};
  }

  private receive(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data)) as ServerFrame;
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return;
    if (frame.type === 'welcome') {
      this.attempt = 0;
      this.setState('online');
      this.emit('welcome', frame);
      return;
    }
    const re = typeof frame.re === 'string' ? frame.re : null;
    if (frame.type === 'error') {
      const error = new OmnitalkError(
        frame.code as ProtocolErrorCode,
        String(frame.message ?? 'error'),
        (frame.field as string | null) ?? null,
      );
      if (re !== null && re === this.helloId) {
        this.lastError = error;
        return;
      }
      const pending = re !== null ? this.pending.get(re) : undefined;
      if (pending && re !== null) {
        this.pending.delete(re);
        clearTimer(pending.timer);
        pending.reject(error);
      } else this.emit('serverError', error);
      return;
    }
    if (frame.type === 'ack' && re !== null) {
      const pending = this.pending.get(re);
      if (pending) {
        this.pending.delete(re);
        clearTimer(pending.timer);
        pending.resolve((frame.data as Record<string, unknown>) ?? {});
      }
      return;
    }
    this.emit('frame', frame);
  }

  private onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.failPending(new OmnitalkError('disconnected', 'The connection dropped'));
    if (this.stopped) {
      this.setState('closed');
      return;
    }
    if (code === closeCodes.unauthorized || code === closeCodes.originForbidden) {
      this.stopped = true;
      this.setState('closed');
      this.emit(
        'fatal',
        this.lastError ??
          new OmnitalkError(
            code === closeCodes.unauthorized ? 'unauthorized' : 'forbidden',
            reason || 'refused',
          ),
      );
      return;
    }
    this.setState('offline');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.setState('offline');
    const delay = backoffDelay(this.attempt, this.options.backoff);
    this.attempt += 1;
    this.reconnectTimer = setTimer(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  private failPending(error: OmnitalkError): void {
    for (const [id, pending] of this.pending) {
      clearTimer(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }
}
