import crypto from 'node:crypto';
import os from 'node:os';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ChannelAdapter } from '../channels/types.ts';
import type { DB } from '../db/schema.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';
import type { Clock } from '../shared/clock.ts';
import type { BusEvent, BusSignal, ChatBus } from './bus.ts';
import { retryPendingAnswers } from './channel-replies.ts';
import { heartbeat, listPresence } from './presence.ts';
import {
  type ContactView,
  dialogsQuery,
  dialogView,
  messagesQuery,
  messageView,
  visitorDialogView,
  visitorMessageView,
} from './views.ts';
import { HEARTBEAT_MS } from './vocabulary.ts';

/**
 * This process's share of the live chat: the sockets it holds, and delivery to them of every notice on
 * the bus, whichever server wrote the change. Notices are handled one at a time in arrival order (the
 * order their transactions committed); each reads the rows it names once, and only when a local
 * socket wants it.
 */

export interface Sink {
  send(frame: Record<string, unknown>): void;
}

export interface VisitorSink extends Sink {
  visitorId: number;
}

export interface OperatorSink extends Sink {
  accountId: number;
  userId: number | null;
}

export interface HubDeps {
  db: Kysely<DB>;
  clock: Clock;
  logger: Logger;
  bus: ChatBus;
  adapters?: Record<SendChannel, ChannelAdapter>;
}

export class ChatHub {
  /** Names this process in operator_connections. */
  readonly serverId = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private readonly visitors = new Map<number, Set<VisitorSink>>();
  private readonly operators = new Map<number, Set<OperatorSink>>();
  private queue: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(readonly deps: HubDeps) {
    this.unsubscribe = deps.bus.subscribe((event) => {
      this.queue = this.queue.then(() =>
        this.dispatch(event).catch((err) => deps.logger.error({ err, event }, 'chat delivery failed')),
      );
    });
  }

  /** Starts the heartbeat (presence of this server's operators, retry of pending channel answers). */
  start(): void {
    this.timer = setInterval(() => void this.tick(), HEARTBEAT_MS);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    const { db, clock, logger, adapters } = this.deps;
    this.ticking = (async () => {
      try {
        await heartbeat(db, clock, this.serverId);
        await retryPendingAnswers(db, clock, adapters);
      } catch (err) {
        logger.error({ err }, 'chat heartbeat failed');
      } finally {
        this.ticking = null;
      }
    })();
    return this.ticking;
  }

  /** Resolves once every notice received so far was delivered (tests, shutdown). */
  async drain(): Promise<void> {
    await this.queue;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
    await this.ticking;
    await this.queue;
  }

  addVisitor(sink: VisitorSink): () => void {
    return add(this.visitors, sink.visitorId, sink);
  }

  addOperator(sink: OperatorSink): () => void {
    return add(this.operators, sink.accountId, sink);
  }

  /** Sockets of this process (metrics, tests). */
  counts(): { visitors: number; operators: number } {
    let visitors = 0;
    let operators = 0;
    for (const set of this.visitors.values()) visitors += set.size;
    for (const set of this.operators.values()) operators += set.size;
    return { visitors, operators };
  }

  private async dispatch(event: BusSignal): Promise<void> {
    if (event.t === 'resync') {
      for (const set of [...this.visitors.values(), ...this.operators.values()])
        for (const sink of set) sink.send({ type: 'resync' });
      return;
    }
    const operators = this.operators.get(event.a);
    switch (event.t) {
      case 'message':
        return this.deliverMessage(event, operators);
      case 'dialog':
        return this.deliverDialog(event, operators);
      case 'typing': {
        const frame = { type: 'typing', dialog_id: event.d, by: event.by, user_id: event.u, on: event.on };
        if (event.by === 'operator' && event.v !== null)
          this.toVisitor(event.v, { type: 'typing', dialog_id: event.d, by: 'operator', on: event.on });
        broadcast(operators, frame, (s) => !(event.by === 'operator' && s.userId === event.u));
        return;
      }
      case 'read': {
        const frame = { type: 'read', dialog_id: event.d, by: event.by, up_to: event.up };
        if (event.v !== null) this.toVisitor(event.v, frame);
        broadcast(operators, frame);
        return;
      }
      case 'presence': {
        if (!operators?.size) return;
        const [operator] = await listPresence(this.deps.db, this.deps.clock, event.a, [event.u]);
        if (operator) broadcast(operators, { type: 'presence', operator });
        return;
      }
      case 'visitor':
        return this.deliverVisitorCard(event, operators);
    }
  }

  private toVisitor(visitorId: number, frame: Record<string, unknown>): void {
    const sinks = this.visitors.get(visitorId);
    if (sinks) for (const sink of sinks) sink.send(frame);
  }

  private async deliverMessage(
    event: Extract<BusEvent, { t: 'message' }>,
    operators: Set<OperatorSink> | undefined,
  ): Promise<void> {
    const { db } = this.deps;
    const dialog =
      this.visitors.size > 0
        ? await db.selectFrom('dialogs').select('visitor_id').where('id', '=', event.d).executeTakeFirst()
        : undefined;
    const visitorId = dialog?.visitor_id ?? null;
    const visitorSinks = visitorId !== null ? this.visitors.get(visitorId) : undefined;
    if (!operators?.size && !visitorSinks?.size) return;
    const row = await messagesQuery(db).where('m.id', '=', event.m).executeTakeFirst();
    if (!row) return;
    const type = event.upd ? 'message.updated' : 'message.new';
    broadcast(operators, { type, message: messageView(row) });
    // Visitors see a message once; delivery states of channel answers are the operators' business.
    if (visitorSinks && visitorId !== null && !event.upd)
      for (const sink of visitorSinks) sink.send({ type, message: visitorMessageView(row, visitorId) });
  }

  private async deliverDialog(
    event: Extract<BusEvent, { t: 'dialog' }>,
    operators: Set<OperatorSink> | undefined,
  ): Promise<void> {
    if (!operators?.size && this.visitors.size === 0) return;
    const row = await dialogsQuery(this.deps.db).where('d.id', '=', event.d).executeTakeFirst();
    if (!row) return;
    broadcast(operators, { type: 'dialog.updated', dialog: dialogView(row) });
    if (row.visitor_id !== null)
      this.toVisitor(row.visitor_id, { type: 'dialog.updated', dialog: visitorDialogView(row) });
  }

  private async deliverVisitorCard(
    event: Extract<BusEvent, { t: 'visitor' }>,
    operators: Set<OperatorSink> | undefined,
  ): Promise<void> {
    if (!operators?.size) return;
    const { db } = this.deps;
    const visitor = await db
      .selectFrom('visitors as v')
      .leftJoin('contacts as c', 'c.id', 'v.contact_id')
      .select(['v.id', 'v.site_id', 'v.contact_id', 'c.name', 'c.phone', 'c.email'])
      .where('v.id', '=', event.v)
      .executeTakeFirst();
    if (!visitor) return;
    const page = await db
      .selectFrom('visitor_pages')
      .select(['url', 'title', 'visited_at'])
      .where('visitor_id', '=', event.v)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const contact: ContactView | null =
      visitor.contact_id === null
        ? null
        : {
            id: visitor.contact_id,
            name: visitor.name ?? '',
            phone: visitor.phone ?? null,
            email: visitor.email ?? null,
          };
    broadcast(operators, {
      type: 'visitor.updated',
      visitor: { id: visitor.id, site_id: visitor.site_id, contact, last_page: page ?? null },
    });
  }
}

function add<S>(map: Map<number, Set<S>>, key: number, sink: S): () => void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(sink);
  return () => {
    set.delete(sink);
    if (set.size === 0 && map.get(key) === set) map.delete(key);
  };
}

function broadcast<S extends Sink>(
  sinks: Set<S> | undefined,
  frame: Record<string, unknown>,
  filter: (sink: S) => boolean = () => true,
): void {
  if (!sinks) return;
  for (const sink of sinks) if (filter(sink)) sink.send(frame);
}
