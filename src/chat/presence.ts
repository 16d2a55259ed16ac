import { type Kysely, sql } from 'kysely';
import type { DB, OperatorStatus, Role } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { notFound } from '../shared/errors.ts';
import { publish } from './bus.ts';
import { PRESENCE_GRACE_MS } from './vocabulary.ts';

/**
 * Operator status (CH-3): what the operator chose (online/away/offline), effective only while one of its
 * sockets is alive on some server. Each server records its operator sockets and refreshes them; a
 * server that dies stops refreshing, and after PRESENCE_GRACE_MS its operators count as offline (and a
 * heartbeat of any other server announces it).
 */

export interface OperatorPresence {
  user_id: number;
  name: string;
  email: string;
  role: Role;
  /** Effective: the chosen status while connected, offline otherwise. */
  status: OperatorStatus;
  /** What the operator chose, connected or not. */
  chosen_status: OperatorStatus;
  connected: boolean;
}

const cutoffOf = (clock: Clock) => new Date(clock.now().getTime() - PRESENCE_GRACE_MS);

export async function listPresence(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  userIds?: number[],
): Promise<OperatorPresence[]> {
  if (userIds && userIds.length === 0) return [];
  let query = db
    .selectFrom('users as u')
    .leftJoin('operator_presence as p', 'p.user_id', 'u.id')
    .select((eb) => [
      'u.id as user_id',
      'u.name',
      'u.email',
      'u.role',
      eb.fn.coalesce('p.status', sql<OperatorStatus>`'offline'`).as('chosen_status'),
      eb
        .exists(
          eb
            .selectFrom('operator_connections as c')
            .select('c.id')
            .whereRef('c.user_id', '=', 'u.id')
            .where('c.seen_at', '>', cutoffOf(clock)),
        )
        .as('connected'),
    ])
    .where('u.account_id', '=', accountId)
    .orderBy('u.id');
  if (userIds) query = query.where('u.id', 'in', userIds);
  const rows = await query.execute();
  return rows.map((r) => ({
    ...r,
    connected: Boolean(r.connected),
    status: r.connected ? r.chosen_status : 'offline',
  }));
}

export async function setOperatorStatus(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  userId: number,
  status: OperatorStatus,
): Promise<void> {
  const user = await db
    .selectFrom('users')
    .select('id')
    .where('id', '=', userId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  if (!user) throw notFound('User', 'user_id');
  const now = clock.now();
  await db
    .insertInto('operator_presence')
    .values({ user_id: userId, account_id: accountId, status, changed_at: now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ status, changed_at: now }))
    .execute();
  await publish(db, { t: 'presence', a: accountId, u: userId });
}

export interface ConnectionRef {
  id: string;
  userId: number;
  accountId: number;
  serverId: string;
}

export async function registerConnection(db: Kysely<DB>, clock: Clock, conn: ConnectionRef): Promise<void> {
  const now = clock.now();
  await db
    .insertInto('operator_connections')
    .values({
      id: conn.id,
      user_id: conn.userId,
      account_id: conn.accountId,
      server_id: conn.serverId,
      connected_at: now,
      seen_at: now,
    })
    .execute();
  await publish(db, { t: 'presence', a: conn.accountId, u: conn.userId });
}

export async function unregisterConnection(db: Kysely<DB>, conn: ConnectionRef): Promise<void> {
  await db.deleteFrom('operator_connections').where('id', '=', conn.id).execute();
  await publish(db, { t: 'presence', a: conn.accountId, u: conn.userId });
}

/**
 * Refreshes this server's sockets and removes every server's dead ones, announcing the operators who
 * went offline with them.
 */
export async function heartbeat(db: Kysely<DB>, clock: Clock, serverId: string): Promise<void> {
  const now = clock.now();
  await db
    .updateTable('operator_connections')
    .set({ seen_at: now })
    .where('server_id', '=', serverId)
    .execute();
  const dead = await db
    .deleteFrom('operator_connections')
    .where('seen_at', '<=', cutoffOf(clock))
    .returning(['user_id', 'account_id'])
    .execute();
  const users = new Map(dead.map((d) => [d.user_id, d.account_id]));
  for (const [userId, accountId] of users) await publish(db, { t: 'presence', a: accountId, u: userId });
}
