import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount, requirePlatformAdmin } from '../../http/auth.ts';
import type { AppContext } from '../../http/context.ts';
import { idParams } from '../../http/schemas.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import { letterDir, letterPath, sniffLetterType } from './letters.ts';
import {
  assertLetterAccepted,
  attachLetter,
  createSender,
  decideSender,
  deleteSender,
  getSender,
  getSenderForModeration,
  listSenders,
  listSendersForModeration,
  submitSender,
} from './senders.ts';
import {
  createTemplate,
  decideTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  listTemplatesForModeration,
  matchTemplates,
  submitTemplate,
} from './templates.ts';
import { moderationLimits, moderationStatuses, senderChannels, templateChannels } from './vocabulary.ts';

const reasonBody = z.strictObject({
  reason: z
    .string()
    .max(moderationLimits.reason)
    .refine((r) => r.trim().length > 0, { error: 'must not be blank' }),
});

const queueQuery = {
  status: z.enum(moderationStatuses).optional(),
  account_id: z.coerce.number().int().positive().optional(),
  after: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
};

/**
 * Sender names and message templates, and their moderation (SPEC ML). The account registers and
 * submits; a platform admin of the install approves or rejects with a reason (`/admin/moderation`).
 * Authorisation runs before input validation, so a caller without the right learns nothing from it.
 */
export const moderationRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    await app.register(accountRoutes(ctx));
    await app.register(adminRoutes(ctx));
  };

const accountRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preValidation', requireAccount());

    // Senders
    app.get(
      '/senders',
      {
        schema: {
          tags: ['moderation'],
          summary: 'Sender names of the account (Имена отправителей), newest first',
          querystring: z.strictObject({
            channel: z.enum(senderChannels).optional(),
            status: z.enum(moderationStatuses).optional(),
          }),
        },
      },
      async (request) => ({ items: await listSenders(ctx.db, accountOf(request), request.query) }),
    );
    app.post(
      '/senders',
      {
        schema: {
          tags: ['moderation'],
          summary:
            'Register a sender (a draft): SMS name, Viber name, VK/OK community id, WhatsApp number; submit it for moderation next',
          body: z.strictObject({
            channel: z.enum(senderChannels),
            name: z.string().max(200),
            comment: z.string().max(moderationLimits.comment).optional(),
          }),
        },
      },
      async (request, reply) => {
        const row = await createSender(ctx.db, ctx.clock, accountOf(request), request.body);
        reply.status(201);
        return row;
      },
    );
    app.get(
      '/senders/:id',
      { schema: { tags: ['moderation'], summary: 'One sender', params: idParams } },
      async (request) => getSender(ctx.db, accountOf(request), request.params.id),
    );
    app.delete(
      '/senders/:id',
      { schema: { tags: ['moderation'], summary: 'Delete a sender (and its letter)', params: idParams } },
      async (request) => {
        await deleteSender(ctx.db, ctx.clock, ctx.dataDir, accountOf(request), request.params.id);
        return { ok: true };
      },
    );
    app.post(
      '/senders/:id/submit',
      {
        schema: {
          tags: ['moderation'],
          summary:
            'Submit a draft or rejected sender for moderation (VK/OK: after uploading the signed letter)',
          params: idParams,
        },
      },
      async (request) => submitSender(ctx.db, ctx.clock, accountOf(request), request.params.id),
    );
    app.post(
      '/senders/:id/letter',
      {
        schema: {
          tags: ['moderation'],
          summary:
            'Upload the signed letter of a VK/OK community (multipart field "file": PDF, JPEG or PNG, ≤ 10 MB)',
          params: idParams,
          consumes: ['multipart/form-data'],
        },
      },
      async (request) => {
        const accountId = accountOf(request);
        const { id } = request.params;
        assertLetterAccepted(await getSender(ctx.db, accountId, id));
        if (!request.isMultipart())
          throw new AppError('unsupported_media_type', 'Send the letter as multipart/form-data', {
            field: 'file',
          });
        const part = await request.file({ limits: { fileSize: moderationLimits.letterBytes } });
        if (part?.fieldname !== 'file') throw invalid('file', 'A multipart field named "file" is required');
        const dir = letterDir(ctx.dataDir);
        fs.mkdirSync(dir, { recursive: true });
        const tmp = path.join(dir, `upload-${crypto.randomBytes(8).toString('hex')}`);
        try {
          await pipeline(part.file, fs.createWriteStream(tmp, { mode: 0o600 }));
          if (part.file.truncated)
            throw new AppError('payload_too_large', 'The letter is larger than 10 MB', { field: 'file' });
          const size = fs.statSync(tmp).size;
          const head = Buffer.alloc(8);
          const fd = fs.openSync(tmp, 'r');
          try {
            fs.readSync(fd, head, 0, head.length, 0);
          } finally {
            fs.closeSync(fd);
          }
          const contentType = sniffLetterType(head);
          if (!contentType) throw invalid('file', 'The letter must be a PDF, JPEG or PNG scan');
          return await attachLetter(
            ctx.db,
            ctx.clock,
            accountId,
            id,
            { fileName: part.filename.slice(0, 255) || 'letter', contentType, size },
            () => fs.renameSync(tmp, letterPath(ctx.dataDir, id)),
          );
        } finally {
          fs.rmSync(tmp, { force: true });
        }
      },
    );

    // Message templates
    app.get(
      '/message-templates',
      {
        schema: {
          tags: ['moderation'],
          summary: 'Message templates of the account (VK/OK service messages, WhatsApp), newest first',
          querystring: z.strictObject({
            channel: z.enum(templateChannels).optional(),
            status: z.enum(moderationStatuses).optional(),
          }),
        },
      },
      async (request) => ({ items: await listTemplates(ctx.db, accountOf(request), request.query) }),
    );
    app.post(
      '/message-templates',
      {
        schema: {
          tags: ['moderation'],
          summary: 'Add a template (a draft) with placeholders (слово), (число), (слово 2-3); submit it next',
          body: z.strictObject({ channel: z.enum(templateChannels), text: z.string().max(4000) }),
        },
      },
      async (request, reply) => {
        const row = await createTemplate(ctx.db, ctx.clock, accountOf(request), request.body);
        reply.status(201);
        return row;
      },
    );
    app.post(
      '/message-templates/check',
      {
        schema: {
          tags: ['moderation'],
          summary: 'Which templates a message text matches, and whether one of them is approved',
          body: z.strictObject({ channel: z.enum(templateChannels), text: z.string().min(1).max(4000) }),
        },
      },
      async (request) => matchTemplates(ctx.db, accountOf(request), request.body.channel, request.body.text),
    );
    app.get(
      '/message-templates/:id',
      { schema: { tags: ['moderation'], summary: 'One template', params: idParams } },
      async (request) => getTemplate(ctx.db, accountOf(request), request.params.id),
    );
    app.delete(
      '/message-templates/:id',
      { schema: { tags: ['moderation'], summary: 'Delete a template', params: idParams } },
      async (request) => {
        await deleteTemplate(ctx.db, ctx.clock, accountOf(request), request.params.id);
        return { ok: true };
      },
    );
    app.post(
      '/message-templates/:id/submit',
      {
        schema: {
          tags: ['moderation'],
          summary: 'Submit a draft or rejected template for moderation',
          params: idParams,
        },
      },
      async (request) => submitTemplate(ctx.db, ctx.clock, accountOf(request), request.params.id),
    );
  };

/** The install's platform admins moderate every account's items. */
const adminRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preValidation', requirePlatformAdmin);
    const decidedBy = (request: { principal: { userId: number | null } | null }) =>
      request.principal?.userId ?? null;

    app.get(
      '/admin/moderation/senders',
      {
        schema: {
          tags: ['admin'],
          summary: 'Senders of all accounts awaiting moderation (or in `status`), oldest first',
          querystring: z.strictObject({ ...queueQuery, channel: z.enum(senderChannels).optional() }),
        },
      },
      async (request) => listSendersForModeration(ctx.db, request.query),
    );
    app.get(
      '/admin/moderation/senders/:id/letter',
      { schema: { tags: ['admin'], summary: "Download a VK/OK sender's signed letter", params: idParams } },
      async (request, reply) => {
        const sender = await getSenderForModeration(ctx.db, request.params.id);
        const file = letterPath(ctx.dataDir, sender.id);
        if (!sender.letter || !fs.existsSync(file))
          throw new AppError('not_found', `Sender ${sender.id} has no letter`, { field: 'letter' });
        reply.header('content-type', sender.letter.content_type);
        reply.header(
          'content-disposition',
          `attachment; filename*=UTF-8''${encodeURIComponent(sender.letter.file_name)}`,
        );
        return reply.send(fs.createReadStream(file));
      },
    );
    app.post(
      '/admin/moderation/senders/:id/approve',
      {
        schema: {
          tags: ['admin'],
          summary:
            'Approve a sender on moderation; `released_mailings`: the mailings that moved on to scheduled',
          params: idParams,
        },
      },
      async (request) =>
        decideSender(ctx.db, ctx.clock, request.params.id, { approve: true }, decidedBy(request)),
    );
    app.post(
      '/admin/moderation/senders/:id/reject',
      {
        schema: {
          tags: ['admin'],
          summary: 'Reject a sender on moderation, with the reason the account sees',
          params: idParams,
          body: reasonBody,
        },
      },
      async (request) =>
        decideSender(
          ctx.db,
          ctx.clock,
          request.params.id,
          { approve: false, reason: request.body.reason.trim() },
          decidedBy(request),
        ),
    );

    app.get(
      '/admin/moderation/templates',
      {
        schema: {
          tags: ['admin'],
          summary: 'Message templates of all accounts awaiting moderation (or in `status`), oldest first',
          querystring: z.strictObject({ ...queueQuery, channel: z.enum(templateChannels).optional() }),
        },
      },
      async (request) => listTemplatesForModeration(ctx.db, request.query),
    );
    app.post(
      '/admin/moderation/templates/:id/approve',
      {
        schema: {
          tags: ['admin'],
          summary:
            'Approve a template on moderation; `released_mailings`: the mailings that moved on to scheduled',
          params: idParams,
        },
      },
      async (request) =>
        decideTemplate(ctx.db, ctx.clock, request.params.id, { approve: true }, decidedBy(request)),
    );
    app.post(
      '/admin/moderation/templates/:id/reject',
      {
        schema: {
          tags: ['admin'],
          summary: 'Reject a template on moderation, with the reason the account sees',
          params: idParams,
          body: reasonBody,
        },
      },
      async (request) =>
        decideTemplate(
          ctx.db,
          ctx.clock,
          request.params.id,
          { approve: false, reason: request.body.reason.trim() },
          decidedBy(request),
        ),
    );
  };
