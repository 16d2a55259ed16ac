import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { WebSocket } from 'ws';
import { normalizeEmail, normalizePhone } from '../contacts/phone.ts';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { AppContext } from '../http/context.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { operatorOnline } from './assignment.ts';
import { captureContact } from './capture.ts';
import { historyOf } from './dialogs.ts';
import type { ChatHub } from './hub.ts';
import { announceTyping, markRead, visitorDialog } from './messages.ts';
import { closeCodes, type FrameOf, HELLO_TIMEOUT_MS, PROTOCOL_VERSION, visitorFrames } from './protocol.ts';
import { originAllowed, type PublicSite, siteByPublicKey } from './sites.ts';
import { ProtocolFailure, SocketSession } from './socket-session.ts';
import { dialogsQuery, visitorDialogView, visitorMessageView } from './views.ts';
import { identifyVisitor, recordPageView, type Visitor } from './visitors.ts';
import { chatLimits } from './vocabulary.ts';
import type { ChatWriter } from './writer.ts';

type VisitorFrame = FrameOf<typeof visitorFrames>;

async function visitorDialogIds(db: Kysely<DB>, visitor: Visitor): Promise<number[]> {
  const rows = await db.selectFrom('dialogs').select('id').where('visitor_id', '=', visitor.id).execute();
  return rows.map((r) => r.id);
}

/** /ws/visitor: the widget's (or a mobile app's) socket, authenticated by site key + visitor token. */
export function visitorSocket(ctx: AppContext, hub: ChatHub, writer: ChatWriter) {
  return (socket: WebSocket, request: FastifyRequest): void => {
    let visitor: Visitor | null = null;
    let site: PublicSite | null = null;
    let detach = () => {};
    const helloTimer = setTimeout(
      () => session.close(closeCodes.helloTimeout, 'hello expected'),
      HELLO_TIMEOUT_MS,
    );

    const hello = async (frame: Extract<VisitorFrame, { type: 'hello' }>) => {
      if (visitor) throw new ProtocolFailure('conflict', 'hello was already accepted on this socket');
      const found = await siteByPublicKey(ctx.db, frame.site_key).catch((error: unknown) => {
        if (error instanceof AppError && error.code === 'not_found') return null;
        throw error;
      });
      if (!found)
        throw new ProtocolFailure('unauthorized', 'Unknown site key', {
          field: 'site_key',
          close: { code: closeCodes.unauthorized, reason: 'unknown site key' },
        });
      const origin = request.headers.origin;
      if (!originAllowed(found.allowed_origins, origin))
        throw new ProtocolFailure('forbidden', `Origin ${origin} is not allowed for this site`, {
          field: 'origin',
          close: { code: closeCodes.originForbidden, reason: 'origin not allowed' },
        });
      const identified = await identifyVisitor(
        ctx.db,
        ctx.clock,
        found,
        frame.visitor_token,
        frame.user_agent ?? request.headers['user-agent'] ?? '',
      );
      clearTimeout(helloTimer);
      site = found;
      visitor = identified.visitor;
      const me = visitor;
      detach = hub.addVisitor({
        visitorId: me.id,
        send: (f) => session.send(f),
        sendPrepared: (json) => session.sendPrepared(json),
      });
      if (frame.page) await recordPageView(ctx.db, ctx.clock, me, frame.page).catch(() => {});
      // A new visitor has no dialogs yet: nothing to read.
      const dialog = identified.token
        ? undefined
        : await dialogsQuery(ctx.db)
            .where('d.visitor_id', '=', me.id)
            .orderBy((eb) => eb.case().when('d.status', '=', 'open').then(0).else(1).end())
            .orderBy('d.id', 'desc')
            .limit(1)
            .executeTakeFirst();
      const history = dialog
        ? await historyOf(ctx.db, await visitorDialogIds(ctx.db, me), {})
        : { items: [], next_before: null };
      const online = await operatorOnline(ctx.db, ctx.clock, found.account_id, found.id);
      session.send({
        type: 'welcome',
        re: frame.id ?? null,
        protocol: PROTOCOL_VERSION,
        visitor: { id: me.id, token: identified.token },
        site: { name: found.name, settings: found.settings },
        dialog: dialog ? visitorDialogView(dialog) : null,
        messages: history.items.map((m) => visitorMessageView(m, me.id)),
        next_before: history.next_before,
        operators_online: online,
        limits: {
          text: chatLimits.text,
          frame_bytes: chatLimits.frameBytes,
          attachment_bytes: chatLimits.attachmentBytes,
        },
      });
    };

    const handle = async (frame: VisitorFrame): Promise<Record<string, unknown> | null> => {
      if (frame.type === 'hello') {
        await hello(frame);
        return null;
      }
      if (frame.type === 'ping') return { pong: true };
      const me = visitor;
      if (!me || !site) throw new ProtocolFailure('unauthorized', 'Send hello first');
      switch (frame.type) {
        case 'message.send': {
          const sent = await writer.send({
            visitor: me,
            input: {
              clientId: frame.client_id,
              text: frame.text,
              attachmentId: frame.attachment_id,
              dialogId: frame.dialog_id,
            },
          });
          return {
            client_id: frame.client_id,
            message: visitorMessageView(sent.message, me.id),
            duplicate: sent.duplicate,
          };
        }
        case 'typing': {
          const dialog = await visitorDialog(ctx.db, me, frame.dialog_id);
          if (dialog?.status === 'open')
            await announceTyping(ctx.db, {
              accountId: me.accountId,
              dialogId: dialog.id,
              visitorId: me.id,
              by: 'visitor',
              userId: null,
              on: frame.on,
            });
          return {};
        }
        case 'read': {
          const dialog = await visitorDialog(ctx.db, me, frame.dialog_id);
          if (!dialog) return { up_to: null };
          const upTo = await markRead(ctx.db, {
            accountId: me.accountId,
            dialogId: dialog.id,
            by: 'visitor',
            upTo: frame.up_to,
          });
          return { dialog_id: dialog.id, up_to: upTo };
        }
        case 'contact.submit':
          return submitContact(ctx, me, frame);
        case 'page.view':
          await recordPageView(ctx.db, ctx.clock, me, { url: frame.url, title: frame.title });
          return {};
        case 'history': {
          const page = await historyOf(ctx.db, await visitorDialogIds(ctx.db, me), frame);
          return {
            items: page.items.map((m) => visitorMessageView(m, me.id)),
            next_before: page.next_before,
          };
        }
      }
    };

    const session = new SocketSession(socket, visitorFrames, handle, ctx.logger, () => {
      clearTimeout(helloTimer);
      detach();
    });
  };
}

/** The widget's contact form (CH-4): explicit data, so it replaces what the contact had. */
async function submitContact(
  ctx: AppContext,
  visitor: Visitor,
  frame: Extract<VisitorFrame, { type: 'contact.submit' }>,
): Promise<Record<string, unknown>> {
  let phone: string | null = null;
  let email: string | null = null;
  if (frame.phone?.trim()) {
    const result = normalizePhone(frame.phone, ctx.defaultRegion);
    if (!result.ok) throw invalid('phone', result.message);
    phone = result.e164;
  }
  if (frame.email?.trim()) {
    const result = normalizeEmail(frame.email);
    if (!result.ok) throw invalid('email', result.message);
    email = result.email;
  }
  const name = frame.name?.trim() || null;
  if (!phone && !email) throw invalid('phone', 'Leave a phone or an email');
  await inTransaction(ctx.db, async (trx) => {
    const dialog = await visitorDialog(trx, visitor);
    await captureContact(trx, ctx.clock, {
      accountId: visitor.accountId,
      siteId: visitor.siteId,
      source: 'form',
      visitorId: visitor.id,
      dialogId: dialog?.status === 'open' ? dialog.id : null,
      phone,
      email,
      name,
      overwrite: true,
    });
  });
  // Only what the visitor gave is echoed: the contact it matched may hold someone's other data.
  return { contact: { name, phone, email } };
}
