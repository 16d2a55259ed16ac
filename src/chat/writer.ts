import type { Kysely } from 'kysely';
import type { CountryCode } from 'libphonenumber-js';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import type { ChatHub } from './hub.ts';
import {
  MAX_SEND_GROUP,
  type SendOutcome,
  type SendResult,
  sendVisitorMessages,
  type VisitorSend,
} from './messages.ts';

/**
 * Group commit for visitors' messages: sends that arrive while a group is being committed wait and
 * go together in the next one (sendVisitorMessages: a fixed number of statements per group). An idle
 * server commits a lone message at once, so batching adds no delay; a busy one does less work per
 * message, which is what keeps latency flat under load. If a whole group fails (a deadlock, a lost
 * connection), its sends are retried one by one, so one bad send cannot fail its neighbours.
 */

export interface WriterOptions {
  db: Kysely<DB>;
  clock: Clock;
  logger: Logger;
  region: CountryCode;
  /** Groups committing at once (1 on PGlite: one connection). */
  concurrency: number;
  /** Sends per group at most. */
  maxGroup?: number;
  /**
   * This process's hub: its notices are tagged with the hub's serverId and the written messages go
   * straight to its sockets (no read); other processes still read them from the notice.
   */
  hub?: { serverId: string; deliverWritten: ChatHub['deliverWritten'] };
}

interface Waiting {
  send: VisitorSend;
  resolve: (result: SendResult) => void;
  reject: (error: unknown) => void;
}

export class ChatWriter {
  private queue: Waiting[] = [];
  private running = 0;
  private readonly idle = new Set<() => void>();

  constructor(private readonly options: WriterOptions) {}

  send(send: VisitorSend): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ send, resolve, reject });
      this.kick();
    });
  }

  /** Resolves once nothing is queued or being written (shutdown). */
  async drain(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  private kick(): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const group = this.queue.splice(0, this.options.maxGroup ?? MAX_SEND_GROUP);
      this.running++;
      void this.write(group).finally(() => {
        this.running--;
        if (this.queue.length > 0) this.kick();
        else if (this.running === 0) {
          for (const resolve of this.idle) resolve();
          this.idle.clear();
        }
      });
    }
  }

  private async write(group: Waiting[]): Promise<void> {
    const { db, clock, region, logger } = this.options;
    let outcomes: SendOutcome[];
    try {
      outcomes = await sendVisitorMessages(
        db,
        clock,
        group.map((w) => w.send),
        region,
        { origin: this.options.hub?.serverId },
      );
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return;
      }
      logger.warn({ err: error, sends: group.length }, 'chat: a message group failed; writing one by one');
      for (const waiting of group) {
        try {
          const [one] = await sendVisitorMessages(db, clock, [waiting.send], region, {
            origin: this.options.hub?.serverId,
          });
          this.deliverLocal([one!]);
          settle(waiting, one!);
        } catch (err) {
          waiting.reject(err);
        }
      }
      return;
    }
    this.deliverLocal(outcomes);
    for (const [i, waiting] of group.entries()) settle(waiting, outcomes[i]!);
  }

  private deliverLocal(outcomes: SendOutcome[]): void {
    const hub = this.options.hub;
    if (!hub) return;
    const written = outcomes.flatMap((o) =>
      o.ok && o.result.local
        ? [{ message: o.result.message, dialogOperatorId: o.result.local.dialogOperatorId }]
        : [],
    );
    if (written.length > 0) hub.deliverWritten(written);
  }
}

function settle(waiting: Waiting, outcome: SendOutcome): void {
  if (outcome.ok) waiting.resolve(outcome.result);
  else waiting.reject(outcome.error);
}
