import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import type { DB } from '../db/schema.ts';

/**
 * Live fan-out between server processes (ARCHITECTURE: "LISTEN/NOTIFY fan-out"). A change is written
 * to its tables and announced with pg_notify in the same transaction, so the notice goes out exactly
 * when the change commits; every server process LISTENs and delivers to its own sockets, reading the
 * rows the notice names. Payloads carry ids only (NOTIFY payloads are limited to 8000 bytes, and the
 * row is the truth). PostgreSQL uses a dedicated connection outside the pool; PGlite (one process) has
 * the same LISTEN/NOTIFY on its single connection.
 */

export const CHAT_NOTIFY_CHANNEL = 'omnitalk_chat';

export type Side = 'visitor' | 'operator';

/** What a notice says. Short keys: it travels on every change. */
export type BusEvent =
  /** A message was written (or its delivery state changed: `upd`). */
  | { t: 'message'; a: number; d: number; m: number; upd?: 1 }
  /**
   * Several new messages written in one transaction (the chat's batched hot path), in id order. `o`:
   * the server process that wrote them and delivers them to its own sockets itself.
   */
  | { t: 'messages'; m: number[]; o?: string | null }
  /** A dialog was opened, assigned, transferred or closed. */
  | { t: 'dialog'; a: number; d: number }
  /** Someone types in a dialog (nothing stored). `v` is the dialog's visitor, `u` the typing operator. */
  | { t: 'typing'; a: number; d: number; v: number | null; by: Side; u: number | null; on: boolean }
  /** A read mark moved. */
  | { t: 'read'; a: number; d: number; v: number | null; by: Side; up: number }
  /** An operator's status or connectivity changed. */
  | { t: 'presence'; a: number; u: number }
  /** What the visitor card shows changed (pages, contact). */
  | { t: 'visitor'; a: number; v: number }
  /** A personal notice to one operator's sockets (a call routed to them by the PBX). */
  | { t: 'notify'; a: number; u: number; kind: 'call'; d: number | null; text: string; phone: string | null };

/** Told to subscribers after the listener reconnected: notices may have been missed meanwhile. */
export type BusSignal = BusEvent | { t: 'resync' };

/** Announces an event; call it with the transaction that wrote the change. */
export async function publish(db: Kysely<DB>, event: BusEvent): Promise<void> {
  await sql`select pg_notify(${CHAT_NOTIFY_CHANNEL}, ${JSON.stringify(event)})`.execute(db);
}

export interface ChatBus {
  subscribe(handler: (event: BusSignal) => void): () => void;
  close(): Promise<void>;
}

function parse(payload: string | undefined, logger: Logger): BusEvent | null {
  if (!payload) return null;
  try {
    const event = JSON.parse(payload) as BusEvent;
    return typeof event === 'object' && event !== null && typeof event.t === 'string' ? event : null;
  } catch {
    logger.warn({ payload: payload.slice(0, 200) }, 'chat bus: unreadable notice');
    return null;
  }
}

export async function startChatBus(database: Database, logger: Logger): Promise<ChatBus> {
  const handlers = new Set<(event: BusSignal) => void>();
  const emit = (event: BusSignal) => {
    for (const handler of handlers) {
      try {
        handler(event);
      } catch (err) {
        logger.error({ err }, 'chat bus handler failed');
      }
    }
  };
  const onPayload = (payload: string | undefined) => {
    const event = parse(payload, logger);
    if (event) emit(event);
  };
  const stop =
    database.kind === 'pglite'
      ? await listenPglite(database, onPayload)
      : await listenPostgres(database.url!, onPayload, () => emit({ t: 'resync' }), logger);
  return {
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      await stop();
    },
  };
}

async function listenPglite(
  database: Database,
  onPayload: (p: string) => void,
): Promise<() => Promise<void>> {
  const pglite = database.pglite!;
  // LISTEN goes through the dialect's connection so it never lands inside another caller's open
  // transaction (a rollback there would undo it).
  const unlisten = await database.db
    .connection()
    .execute(() => pglite.listen(CHAT_NOTIFY_CHANNEL, (payload) => onPayload(payload)));
  return async () => {
    if (pglite.closed) return;
    await database.db.connection().execute(() => unlisten());
  };
}

async function listenPostgres(
  url: string,
  onPayload: (p: string | undefined) => void,
  onResync: () => void,
  logger: Logger,
): Promise<() => Promise<void>> {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  let attempt = 0;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (msg) => {
      if (msg.channel === CHAT_NOTIFY_CHANNEL) onPayload(msg.payload);
    });
    c.on('error', (err) => {
      logger.warn({ err }, 'chat bus: listener connection failed; reconnecting');
      reconnect(c);
    });
    c.on('end', () => reconnect(c));
    await c.connect();
    await c.query(`listen ${CHAT_NOTIFY_CHANNEL}`);
    client = c;
    attempt = 0;
  };

  const reconnect = (failed: pg.Client) => {
    if (closed || client !== failed || retry) return;
    client = null;
    failed.end().catch(() => {});
    const delay = Math.min(30_000, 250 * 2 ** attempt++);
    retry = setTimeout(() => {
      retry = null;
      connect()
        .then(() => onResync())
        .catch((err) => {
          logger.warn({ err }, 'chat bus: reconnect failed');
          const stub = new pg.Client({ connectionString: url });
          client = stub;
          reconnect(stub);
        });
    }, delay);
    retry.unref();
  };

  await connect();
  return async () => {
    closed = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = null;
    await c?.end().catch(() => {});
  };
}
