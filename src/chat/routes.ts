import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ChannelAdapter } from '../channels/types.ts';
import { normalizeEmail, normalizePhone } from '../contacts/phone.ts';
import { inTransaction } from '../db/transaction.ts';
import { accountOf, requireAccount } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { idParams } from '../http/schemas.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { assignWaiting } from './assignment.ts';
import { openAttachment, type StoredAttachment, storeAttachment } from './attachments.ts';
import { captureContact } from './capture.ts';
import {
  type Actor,
  closeDialog,
  getDialog,
  historyOf,
  listDialogs,
  takeDialog,
  transferDialog,
} from './dialogs.ts';
import { markRead, sendOperatorMessage } from './messages.ts';
import { listPresence, setOperatorStatus } from './presence.ts';
import {
  createSite,
  deleteSite,
  embedSnippet,
  getSite,
  listSites,
  rotateSiteKey,
  updateSite,
} from './sites.ts';
import { dialogView, messageView } from './views.ts';
import { dialogCard } from './visitors.ts';
import { chatChannels, chatLimits, dialogStatuses, operatorStatuses, outboxKinds } from './vocabulary.ts';

/** The base URL the caller reached us at (behind a proxy: its X-Forwarded-* headers; trustProxy is on). */
export const baseUrlOf = (request: FastifyRequest) => `${request.protocol}://${request.host}`;

const actorOf = (request: FastifyRequest): Actor => ({
  accountId: accountOf(request),
  userId: request.principal?.userId ?? null,
});

const siteBody = {
  name: z.string().min(1).max(200),
  allowed_origins: z.array(z.string().min(1).max(300)).max(50),
  settings: z.record(z.string(), z.unknown()),
  mailing_replies: z.boolean(),
  operator_ids: z.array(z.int().positive()).max(1000),
};
const id = z.coerce.number().int().positive();

/** Streams a stored attachment with headers that keep a browser from running it as a page. */
export function sendAttachment(reply: FastifyReply, file: StoredAttachment): FastifyReply {
  const inline = file.content_type.startsWith('image/') || file.content_type === 'application/pdf';
  return reply
    .header('content-type', file.content_type)
    .header('content-length', file.size)
    .header(
      'content-disposition',
      `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(file.file_name)}`,
    )
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, max-age=86400')
    .send(fs.createReadStream(file.path));
}

/** Operator and cabinet side of the chat: sites, dialogs, operators, attachments, the outbox. */
export const chatRoutes =
  (ctx: AppContext, adapters?: Record<SendChannel, ChannelAdapter>): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preHandler', requireAccount());
    const managers = requireAccount({ roles: ['owner', 'admin'] });

    // Sites (CH-1)
    app.get(
      '/sites',
      { schema: { tags: ['chat'], summary: 'Chat sites of the account' } },
      async (request) => ({
        items: await listSites(ctx.db, accountOf(request)),
      }),
    );
    app.post(
      '/sites',
      {
        preHandler: managers,
        schema: {
          tags: ['chat'],
          summary: 'Add a site (a chat widget install); answers with its public key',
          body: z.strictObject({
            name: siteBody.name,
            allowed_origins: siteBody.allowed_origins.optional(),
            settings: siteBody.settings.optional(),
            mailing_replies: siteBody.mailing_replies.optional(),
            operator_ids: siteBody.operator_ids.optional(),
          }),
        },
      },
      async (request, reply) => {
        reply.status(201);
        return createSite(ctx.db, ctx.clock, accountOf(request), request.body);
      },
    );
    app.get(
      '/sites/:id',
      { schema: { tags: ['chat'], summary: 'A site', params: idParams } },
      async (request) => getSite(ctx.db, accountOf(request), request.params.id),
    );
    app.patch(
      '/sites/:id',
      {
        preHandler: managers,
        schema: {
          tags: ['chat'],
          summary: 'Change a site: name, allowed origins, widget settings, operators, mailing replies',
          params: idParams,
          body: z.strictObject({
            name: siteBody.name.optional(),
            allowed_origins: siteBody.allowed_origins.optional(),
            settings: siteBody.settings.optional(),
            mailing_replies: siteBody.mailing_replies.optional(),
            operator_ids: siteBody.operator_ids.optional(),
          }),
        },
      },
      async (request) => updateSite(ctx.db, ctx.clock, accountOf(request), request.params.id, request.body),
    );
    app.delete(
      '/sites/:id',
      {
        preHandler: managers,
        schema: { tags: ['chat'], summary: 'Delete a site with its visitors and dialogs', params: idParams },
      },
      async (request) => {
        await deleteSite(ctx.db, accountOf(request), request.params.id);
        return { ok: true };
      },
    );
    app.get(
      '/sites/:id/embed',
      {
        schema: {
          tags: ['chat'],
          summary: 'The embed snippet: one <script> tag for the site pages',
          params: idParams,
        },
      },
      async (request) => {
        const site = await getSite(ctx.db, accountOf(request), request.params.id);
        return { public_key: site.public_key, snippet: embedSnippet(site.public_key, baseUrlOf(request)) };
      },
    );
    app.post(
      '/sites/:id/rotate-key',
      {
        preHandler: managers,
        schema: {
          tags: ['chat'],
          summary: 'Issue a new public key (the old snippet stops working)',
          params: idParams,
        },
      },
      async (request) => rotateSiteKey(ctx.db, ctx.clock, accountOf(request), request.params.id),
    );

    // Dialogs (CH-3)
    app.get(
      '/dialogs',
      {
        schema: {
          tags: ['chat'],
          summary: 'Dialogs, newest first; keyset paging with `before`',
          querystring: z.strictObject({
            status: z.enum(dialogStatuses).optional(),
            site_id: id.optional(),
            channel: z.enum(chatChannels).optional(),
            operator: z.union([z.enum(['me', 'none']), id]).optional(),
            contact_id: id.optional(),
            before: id.optional(),
            limit: z.coerce.number().int().min(1).max(500).optional(),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        let operator: number | 'none' | undefined;
        if (q.operator === 'me') {
          const userId = request.principal?.userId;
          if (!userId) throw invalid('operator', '"me" needs a signed-in user, not an API token');
          operator = userId;
        } else operator = q.operator;
        return listDialogs(ctx.db, accountOf(request), {
          status: q.status,
          siteId: q.site_id,
          channel: q.channel,
          operator,
          contactId: q.contact_id,
          before: q.before,
          limit: q.limit,
        });
      },
    );
    app.get(
      '/dialogs/:id',
      { schema: { tags: ['chat'], summary: 'A dialog', params: idParams } },
      async (request) => dialogView(await getDialog(ctx.db, accountOf(request), request.params.id)),
    );
    app.get(
      '/dialogs/:id/messages',
      {
        schema: {
          tags: ['chat'],
          summary: 'History of a dialog: pages of messages, newest page first (`before` = next_before)',
          params: idParams,
          querystring: z.strictObject({
            before: id.optional(),
            limit: z.coerce.number().int().min(1).max(chatLimits.historyPageMax).optional(),
          }),
        },
      },
      async (request) => {
        await getDialog(ctx.db, accountOf(request), request.params.id);
        const page = await historyOf(ctx.db, [request.params.id], request.query);
        return { items: page.items.map(messageView), next_before: page.next_before };
      },
    );
    app.post(
      '/dialogs/:id/messages',
      {
        schema: {
          tags: ['chat'],
          summary: "An operator's answer; in a channel dialog it goes out on that channel (CH-5)",
          params: idParams,
          body: z.strictObject({
            client_id: z.string().min(1).max(chatLimits.clientId).optional(),
            text: z
              .string()
              .max(chatLimits.text * 2)
              .optional(),
            attachment_id: z.int().positive().optional(),
          }),
        },
      },
      async (request, reply) => {
        const sent = await sendOperatorMessage(
          ctx.db,
          ctx.clock,
          actorOf(request),
          {
            dialogId: request.params.id,
            clientId: request.body.client_id,
            text: request.body.text,
            attachmentId: request.body.attachment_id,
          },
          { adapters },
        );
        reply.status(sent.duplicate ? 200 : 201);
        return { message: messageView(sent.message), duplicate: sent.duplicate };
      },
    );
    app.post(
      '/dialogs/:id/transfer',
      {
        schema: {
          tags: ['chat'],
          summary: 'Transfer a dialog to another operator',
          params: idParams,
          body: z.strictObject({ to_user_id: z.int().positive() }),
        },
      },
      async (request) =>
        dialogView(
          await transferDialog(
            ctx.db,
            ctx.clock,
            actorOf(request),
            request.params.id,
            request.body.to_user_id,
          ),
        ),
    );
    app.post(
      '/dialogs/:id/take',
      { schema: { tags: ['chat'], summary: 'Take a dialog (assign it to yourself)', params: idParams } },
      async (request) => dialogView(await takeDialog(ctx.db, ctx.clock, actorOf(request), request.params.id)),
    );
    app.post(
      '/dialogs/:id/close',
      { schema: { tags: ['chat'], summary: 'Close a dialog', params: idParams } },
      async (request) =>
        dialogView(await closeDialog(ctx.db, ctx.clock, actorOf(request), request.params.id)),
    );
    app.post(
      '/dialogs/:id/read',
      {
        schema: {
          tags: ['chat'],
          summary: "Move the operators' read mark of a dialog",
          params: idParams,
          body: z.strictObject({ up_to: z.int().positive() }),
        },
      },
      async (request) => ({
        up_to: await markRead(ctx.db, {
          accountId: accountOf(request),
          dialogId: request.params.id,
          by: 'operator',
          upTo: request.body.up_to,
        }),
      }),
    );
    app.get(
      '/dialogs/:id/card',
      {
        schema: {
          tags: ['chat'],
          summary: 'The visitor card of a dialog: contact, pages, channel, earlier dialogs',
          params: idParams,
        },
      },
      async (request) => dialogCard(ctx.db, accountOf(request), request.params.id),
    );
    app.patch(
      '/dialogs/:id/contact',
      {
        schema: {
          tags: ['chat'],
          summary: "Edit the dialog's contact from the card (emits contact.captured or contact.updated)",
          params: idParams,
          body: z.strictObject({
            name: z.string().max(300).optional(),
            phone: z.string().max(50).optional(),
            email: z.string().max(320).optional(),
          }),
        },
      },
      async (request) => {
        const accountId = accountOf(request);
        const dialog = await getDialog(ctx.db, accountId, request.params.id);
        const { name, phone, email } = request.body;
        const cleanPhone = phone?.trim() ? normalizePhone(phone, ctx.defaultRegion) : null;
        if (cleanPhone && !cleanPhone.ok) throw invalid('phone', cleanPhone.message);
        const cleanEmail = email?.trim() ? normalizeEmail(email) : null;
        if (cleanEmail && !cleanEmail.ok) throw invalid('email', cleanEmail.message);
        if (!cleanPhone && !cleanEmail && !name?.trim())
          throw invalid('phone', 'Give a name, a phone or an email');
        const result = await inTransaction(ctx.db, (trx) =>
          captureContact(trx, ctx.clock, {
            accountId,
            siteId: dialog.site_id,
            source: 'operator',
            visitorId: dialog.visitor_id,
            dialogId: dialog.id,
            operatorId: request.principal?.userId ?? null,
            phone: cleanPhone?.ok ? cleanPhone.e164 : null,
            email: cleanEmail?.ok ? cleanEmail.email : null,
            name: name ?? null,
            overwrite: true,
          }),
        );
        if (!result.contact)
          throw invalid('phone', 'A contact needs a phone or an email before it can have only a name');
        return { contact: result.contact, event: result.event, changed: result.changed };
      },
    );

    // Operators (CH-3)
    app.get(
      '/operators',
      { schema: { tags: ['chat'], summary: 'Users of the account with their chat status' } },
      async (request) => ({ items: await listPresence(ctx.db, ctx.clock, accountOf(request)) }),
    );
    app.put(
      '/operators/:id/status',
      {
        schema: {
          tags: ['chat'],
          summary: "Set an operator's status (your own; owners and admins: anyone's)",
          params: idParams,
          body: z.strictObject({ status: z.enum(operatorStatuses) }),
        },
      },
      async (request) => {
        const p = request.principal!;
        const target = request.params.id;
        if (p.userId !== target && p.role !== 'owner' && p.role !== 'admin')
          throw new AppError('forbidden', "Only owners and admins set another operator's status", {
            field: 'id',
          });
        const accountId = accountOf(request);
        await setOperatorStatus(ctx.db, ctx.clock, accountId, target, request.body.status);
        if (request.body.status === 'online') await assignWaiting(ctx.db, ctx.clock, accountId);
        const [presence] = await listPresence(ctx.db, ctx.clock, accountId, [target]);
        return presence!;
      },
    );

    // Attachments
    app.post(
      '/chat/attachments',
      {
        config: { rateLimit: { max: 60, timeWindow: '1 minute' } },
        schema: {
          tags: ['chat'],
          summary: `Upload a file to send in a dialog (multipart field "file", ≤ ${chatLimits.attachmentBytes} bytes)`,
          consumes: ['multipart/form-data'],
        },
      },
      async (request, reply) => {
        if (!request.isMultipart())
          throw new AppError('unsupported_media_type', 'Send the file as multipart/form-data', {
            field: 'file',
          });
        const part = await request.file({ limits: { fileSize: chatLimits.attachmentBytes } });
        if (part?.fieldname !== 'file') throw invalid('file', 'A multipart field named "file" is required');
        const stored = await storeAttachment(
          ctx.db,
          ctx.clock,
          ctx.dataDir,
          {
            accountId: accountOf(request),
            siteId: null,
            visitorId: null,
            userId: request.principal?.userId ?? null,
          },
          {
            filename: part.filename,
            mimetype: part.mimetype,
            stream: part.file,
            truncated: () => part.file.truncated,
          },
        );
        reply.status(201);
        return stored;
      },
    );
    app.get(
      '/chat/attachments/:id',
      { schema: { tags: ['chat'], summary: 'Download an attachment', params: idParams } },
      async (request, reply) =>
        sendAttachment(
          reply,
          await openAttachment(ctx.db, ctx.dataDir, accountOf(request), request.params.id),
        ),
    );

    // The outbox integrations consume (IN-0)
    app.get(
      '/chat/events',
      {
        schema: {
          tags: ['chat'],
          summary:
            'Chat events of the account in order (contact.captured, contact.updated, dialog.*, message.created)',
          querystring: z.strictObject({
            after: z.coerce.number().int().nonnegative().optional(),
            kind: z.enum(outboxKinds).optional(),
            limit: z.coerce.number().int().min(1).max(1000).optional(),
          }),
        },
      },
      async (request) => {
        const { after, kind, limit = 100 } = request.query;
        let query = ctx.db
          .selectFrom('outbox')
          .select(['id', 'site_id', 'kind', 'payload', 'created_at'])
          .where('account_id', '=', accountOf(request))
          .orderBy('id')
          .limit(limit);
        if (after !== undefined) query = query.where('id', '>', after);
        if (kind) query = query.where('kind', '=', kind);
        const items = await query.execute();
        return { items, next: items.length === limit ? (items.at(-1)?.id ?? null) : null };
      },
    );
  };
