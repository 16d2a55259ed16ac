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
import { PROTOCOL_VERSION } from './protocol.ts';
import {
  type ContactView,
  dialogsQuery,
  dialogView,
  type MessageRow,
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
  /** Sends a frame already serialised (with `v`) by `prepare`: one JSON.stringify for many sockets. */
  sendPrepared?(json: string): void;
}

export interface VisitorSink extends Sink {
  visitorId: number;
}

/**
 * Which messages an operator socket is sent live: `all` (the default) every message of the account;
 * `assigned` only those of dialogs assigned to this operator and of waiting (unassigned) dialogs — the
 * scope for an operator app on a busy account. Dialog, presence and visitor-card frames go to all.
 */
export type OperatorScope = 'all' | 'assigned';

export interface OperatorSink extends Sink {
  accountId: number;
  userId: number | null;
  scope?: OperatorScope;
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
  /** Notices received and not yet delivered, in arrival order. */
  private pending: BusSignal[] = [];
  private pumping: Promise<void> | null = null;
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(readonly deps: HubDeps) {
    this.unsubscribe = deps.bus.subscribe((event) => {
      this.pending.push(event);
      this.pumping ??= this.pump();
    });
  }

  /**
   * Delivers what arrived, in order. Whatever piled up while a delivery ran is taken at once: runs of
   * message notices are read with one query, so a busy process does less work per message, not more.
   */
  private async pump(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      let k = 0;
      while (k < batch.length) {
        const event = batch[k]!;
        if (event.t === 'message' || event.t === 'messages') {
          let end = k + 1;
          while (end < batch.length && (batch[end]!.t === 'message' || batch[end]!.t === 'messages')) end++;
          const run = batch.slice(k, end) as Extract<BusSignal, { t: 'message' | 'messages' }>[];
          await this.deliverMessages(run).catch((err) =>
            this.deps.logger.error({ err, notices: run.length }, 'chat delivery failed'),
          );
          k = end;
          continue;
        }
        await this.dispatch(event).catch((err) =>
          this.deps.logger.error({ err, event }, 'chat delivery failed'),
        );
        k++;
      }
    }
    this.pumping = null;
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
    while (this.pumping) await this.pumping;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
    await this.ticking;
    await this.drain();
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
    if (event.t === 'message' || event.t === 'messages') return this.deliverMessages([event]);
    const operators = this.operators.get(event.a);
    switch (event.t) {
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
      case 'notify':
        broadcast(
          operators,
          {
            type: 'notification',
            kind: event.kind,
            dialog_id: event.d,
            text: event.text,
            phone: event.phone,
          },
          (sink) => sink.userId === event.u,
        );
        return;
    }
  }

  private toVisitor(visitorId: number, frame: Record<string, unknown>): void {
    const sinks = this.visitors.get(visitorId);
    if (sinks) for (const sink of sinks) sink.send(frame);
  }

  /** Message notices (single or grouped): the rows they name, read once, each to whoever may see it. */
  private async deliverMessages(events: Extract<BusSignal, { t: 'message' | 'messages' }>[]): Promise<void> {
    if (this.visitors.size === 0 && this.operators.size === 0) return;
    const updated = new Set<number>();
    const ids: number[] = [];
    for (const event of events) {
      if (event.t === 'messages') {
        if (event.o === this.serverId) continue; // delivered by deliverWritten
        ids.push(...event.m);
        continue;
      }
      if (event.upd) {
        // Skip the read when no socket of this process can want it.
        if (!this.operators.has(event.a)) continue;
        updated.add(event.m);
      }
      ids.push(event.m);
    }
    if (ids.length === 0) return;
    const rows = await messagesQuery(this.deps.db)
      .innerJoin('dialogs as d', 'd.id', 'm.dialog_id')
      .select(['d.visitor_id as dialog_visitor_id', 'd.operator_id as dialog_operator_id'])
      .where('m.id', 'in', [...new Set(ids)])
      .execute();
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const id of ids) {
      const row = byId.get(id);
      if (row) this.deliverRow(row, updated.has(id) ? 'message.updated' : 'message.new');
    }
  }

  /**
   * Messages this process wrote with its serverId as the notice's origin (ChatWriter): their rows are
   * in hand, so they go to this process's sockets without a read; other processes read them.
   */
  deliverWritten(written: { message: MessageRow; dialogOperatorId: number | null }[]): void {
    for (const { message, dialogOperatorId } of written)
      this.deliverRow(
        { ...message, dialog_visitor_id: message.visitor_id, dialog_operator_id: dialogOperatorId },
        'message.new',
      );
  }

  private deliverRow(
    row: MessageRow & { dialog_visitor_id: number | null; dialog_operator_id: number | null },
    type: 'message.new' | 'message.updated',
  ): void {
    const operators = this.operators.get(row.account_id);
    if (operators)
      broadcast(
        operators,
        { type, message: messageView(row) },
        (sink) =>
          sink.scope !== 'assigned' ||
          row.dialog_operator_id === null ||
          row.dialog_operator_id === sink.userId,
      );
    // Visitors see a message once; delivery states of channel answers are the operators' business.
    const visitorId = row.dialog_visitor_id;
    if (visitorId === null || type !== 'message.new') return;
    const visitorSinks = this.visitors.get(visitorId);
    if (visitorSinks) broadcast(visitorSinks, { type, message: visitorMessageView(row, visitorId) });
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

/** The wire form of a frame (what SocketSession.send writes). */
export function prepareFrame(frame: Record<string, unknown>): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, ...frame });
}

/** Sends one frame to many sockets, serialising it once. */
function broadcast<S extends Sink>(
  sinks: Set<S> | undefined,
  frame: Record<string, unknown>,
  filter: (sink: S) => boolean = () => true,
): void {
  if (!sinks) return;
  let json: string | null = null;
  for (const sink of sinks) {
    if (!filter(sink)) continue;
    if (!sink.sendPrepared) {
      sink.send(frame);
      continue;
    }
    json ??= prepareFrame(frame);
    sink.sendPrepared(json);
  }
}
