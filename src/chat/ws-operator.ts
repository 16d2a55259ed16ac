import crypto from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { authenticateApiToken, authenticateSession, type Principal } from '../accounts/accounts.ts';
import type { ChannelAdapter } from '../channels/types.ts';
import type { OperatorStatus } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';
import { assignWaiting } from './assignment.ts';
import {
  type Actor,
  closeDialog,
  getDialog,
  historyOf,
  listDialogs,
  takeDialog,
  transferDialog,
} from './dialogs.ts';
import type { ChatHub } from './hub.ts';
import { announceTyping, markRead, sendOperatorMessage } from './messages.ts';
import {
  type ConnectionRef,
  listPresence,
  registerConnection,
  setOperatorStatus,
  unregisterConnection,
} from './presence.ts';
import { closeCodes, type FrameOf, HELLO_TIMEOUT_MS, operatorFrames, PROTOCOL_VERSION } from './protocol.ts';
import { ProtocolFailure, SocketSession } from './socket-session.ts';
import { dialogView, messageView } from './views.ts';
import { chatLimits } from './vocabulary.ts';

type OperatorFrame = FrameOf<typeof operatorFrames>;

async function principalFromToken(ctx: AppContext, token: string): Promise<Principal | null> {
  return (
    (await authenticateApiToken(ctx.db, ctx.clock, token)) ??
    (await authenticateSession(ctx.db, ctx.clock, token))
  );
}

/**
 * /ws/operator: the operator app's socket. Authenticated by the session cookie or an
 * `Authorization: Bearer` header at the upgrade, or by `token` in hello (an API token or a session
 * token, for clients that cannot set headers). An API token may act as one operator of its account
 * (`user_id`); without one it observes the account and writes as "API".
 */
export function operatorSocket(
  ctx: AppContext,
  hub: ChatHub,
  adapters?: Record<SendChannel, ChannelAdapter>,
) {
  return (socket: WebSocket, request: FastifyRequest): void => {
    let actor: Actor | null = null;
    let connection: ConnectionRef | null = null;
    let detach = () => {};
    const helloTimer = setTimeout(
      () => session.close(closeCodes.helloTimeout, 'hello expected'),
      HELLO_TIMEOUT_MS,
    );

    const handOutWaiting = (accountId: number) => {
      assignWaiting(ctx.db, ctx.clock, accountId).catch((err) =>
        ctx.logger.error({ err }, 'assigning waiting dialogs failed'),
      );
    };

    const hello = async (frame: Extract<OperatorFrame, { type: 'hello' }>) => {
      if (actor) throw new ProtocolFailure('conflict', 'hello was already accepted on this socket');
      const refuse = (message: string, field = 'token') =>
        new ProtocolFailure('unauthorized', message, {
          field,
          close: { code: closeCodes.unauthorized, reason: 'unauthorized' },
        });
      const principal =
        request.principal ?? (frame.token ? await principalFromToken(ctx, frame.token) : null);
      if (!principal) throw refuse('Authentication required: session cookie, Authorization header or token');
      if (principal.accountId === null) throw refuse('This user belongs to no account');
      let userId = principal.userId;
      if (frame.user_id !== undefined && frame.user_id !== userId) {
        if (principal.via !== 'token') throw refuse('A session acts only as its own user', 'user_id');
        const user = await ctx.db
          .selectFrom('users')
          .select('id')
          .where('id', '=', frame.user_id)
          .where('account_id', '=', principal.accountId)
          .executeTakeFirst();
        if (!user) throw refuse('No such user in this account', 'user_id');
        userId = user.id;
      }
      clearTimeout(helloTimer);
      const me: Actor = { accountId: principal.accountId, userId };
      actor = me;
      detach = hub.addOperator({
        accountId: me.accountId,
        userId: me.userId,
        scope: frame.scope ?? 'all',
        send: (f) => session.send(f),
        sendPrepared: (json) => session.sendPrepared(json),
      });
      let status: OperatorStatus = 'offline';
      if (me.userId !== null) {
        connection = {
          id: crypto.randomUUID(),
          userId: me.userId,
          accountId: me.accountId,
          serverId: hub.serverId,
        };
        await registerConnection(ctx.db, ctx.clock, connection);
        status = frame.status ?? 'online';
        await setOperatorStatus(ctx.db, ctx.clock, me.accountId, me.userId, status);
      }
      const operators = await listPresence(ctx.db, ctx.clock, me.accountId);
      const dialogs = await listDialogs(ctx.db, me.accountId, {
        status: 'open',
        limit: chatLimits.welcomeDialogs,
      });
      const user = operators.find((o) => o.user_id === me.userId);
      session.send({
        type: 'welcome',
        re: frame.id ?? null,
        protocol: PROTOCOL_VERSION,
        account_id: me.accountId,
        user: user ? { id: user.user_id, name: user.name, email: user.email, role: user.role } : null,
        status,
        operators,
        dialogs: dialogs.items,
        limits: {
          text: chatLimits.text,
          frame_bytes: chatLimits.frameBytes,
          attachment_bytes: chatLimits.attachmentBytes,
        },
      });
      if (status === 'online') handOutWaiting(me.accountId);
    };

    const handle = async (frame: OperatorFrame): Promise<Record<string, unknown> | null> => {
      if (frame.type === 'hello') {
        await hello(frame);
        return null;
      }
      if (frame.type === 'ping') return { pong: true };
      const me = actor;
      if (!me) throw new ProtocolFailure('unauthorized', 'Send hello first');
      switch (frame.type) {
        case 'status.set': {
          if (me.userId === null) throw new ProtocolFailure('forbidden', 'An observer has no status');
          await setOperatorStatus(ctx.db, ctx.clock, me.accountId, me.userId, frame.status);
          if (frame.status === 'online') handOutWaiting(me.accountId);
          return { status: frame.status };
        }
        case 'message.send': {
          const sent = await sendOperatorMessage(
            ctx.db,
            ctx.clock,
            me,
            {
              dialogId: frame.dialog_id,
              clientId: frame.client_id,
              text: frame.text,
              attachmentId: frame.attachment_id,
            },
            { adapters },
          );
          return {
            client_id: frame.client_id,
            message: messageView(sent.message),
            duplicate: sent.duplicate,
          };
        }
        case 'typing': {
          const dialog = await getDialog(ctx.db, me.accountId, frame.dialog_id);
          if (dialog.status === 'open')
            await announceTyping(ctx.db, {
              accountId: me.accountId,
              dialogId: dialog.id,
              visitorId: dialog.visitor_id,
              by: 'operator',
              userId: me.userId,
              on: frame.on,
            });
          return {};
        }
        case 'read': {
          const upTo = await markRead(ctx.db, {
            accountId: me.accountId,
            dialogId: frame.dialog_id,
            by: 'operator',
            upTo: frame.up_to,
          });
          return { dialog_id: frame.dialog_id, up_to: upTo };
        }
        case 'dialog.take':
          return { dialog: dialogView(await takeDialog(ctx.db, ctx.clock, me, frame.dialog_id)) };
        case 'dialog.transfer':
          return {
            dialog: dialogView(
              await transferDialog(ctx.db, ctx.clock, me, frame.dialog_id, frame.to_user_id),
            ),
          };
        case 'dialog.close':
          return { dialog: dialogView(await closeDialog(ctx.db, ctx.clock, me, frame.dialog_id)) };
        case 'history': {
          await getDialog(ctx.db, me.accountId, frame.dialog_id);
          const page = await historyOf(ctx.db, [frame.dialog_id], frame);
          return { items: page.items.map(messageView), next_before: page.next_before };
        }
      }
    };

    const session = new SocketSession(socket, operatorFrames, handle, ctx.logger, () => {
      clearTimeout(helloTimer);
      detach();
      const conn = connection;
      if (conn)
        unregisterConnection(ctx.db, conn).catch((err) =>
          ctx.logger.warn({ err }, 'operator disconnect not recorded'),
        );
    });
  };
}
