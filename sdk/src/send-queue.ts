import type { Connection } from './connection.ts';
import { isRetryable, type OmnitalkError } from './errors.ts';
import type { Outbox, PendingMessage } from './outbox.ts';
import { setTimer } from './runtime.ts';

/**
 * Sends messages through the outbox: each is stored first, sent when online, sent again after every
 * reconnect until acknowledged (the server keeps one copy per client_id), and dropped only when the
 * server refuses it for good (e.g. too long). Promises resolve with the stored message.
 */
export class SendQueue<M> {
  private readonly waiting = new Map<
    string,
    { resolve: (m: M) => void; reject: (e: OmnitalkError) => void }
  >();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly connection: Connection,
    readonly outbox: Outbox,
    private readonly frameOf: (p: PendingMessage) => Record<string, unknown>,
    private readonly onSent: (message: M, pending: PendingMessage) => void,
    private readonly onRefused: (error: OmnitalkError, pending: PendingMessage) => void,
  ) {}

  enqueue(pending: PendingMessage): Promise<M> {
    const promise = new Promise<M>((resolve, reject) =>
      this.waiting.set(pending.client_id, { resolve, reject }),
    );
    this.outbox.add(pending);
    if (this.connection.state === 'online') this.transmit(pending);
    return promise;
  }

  /** After (re)connecting: everything not yet acknowledged, in order. */
  flush(): void {
    for (const pending of this.outbox.list()) this.transmit(pending);
  }

  private transmit(pending: PendingMessage): void {
    if (this.inFlight.has(pending.client_id)) return;
    this.inFlight.add(pending.client_id);
    this.connection
      .request({ type: 'message.send', ...this.frameOf(pending) })
      .then((data) => {
        this.inFlight.delete(pending.client_id);
        this.outbox.remove(pending.client_id);
        const message = data.message as M;
        this.waiting.get(pending.client_id)?.resolve(message);
        this.waiting.delete(pending.client_id);
        this.onSent(message, pending);
      })
      .catch((error: OmnitalkError) => {
        this.inFlight.delete(pending.client_id);
        if (isRetryable(error)) {
          // Disconnects resend on the next welcome; a busy server gets a moment first.
          if (error.code === 'rate_limited' || error.code === 'internal')
            setTimer(() => {
              if (this.connection.state === 'online' && this.outbox.has(pending.client_id))
                this.transmit(pending);
            }, 1000);
          return;
        }
        this.outbox.remove(pending.client_id);
        this.waiting.get(pending.client_id)?.reject(error);
        this.waiting.delete(pending.client_id);
        this.onRefused(error, pending);
      });
  }
}
