import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../http/context.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { openAttachment, storeAttachment } from './attachments.ts';
import { sendAttachment } from './routes.ts';
import { originAllowed, type PublicSite, siteByPublicKey } from './sites.ts';
import { requireVisitor, type Visitor } from './visitors.ts';
import { chatLimits } from './vocabulary.ts';

/**
 * What the widget calls over HTTP, keyed by the site's public key and authorised by the visitor's
 * token (no account credentials): attachments up and down. The token travels in `X-Visitor-Token`, or
 * in the `visitor_token` query parameter so a browser needs no CORS preflight (multipart upload) and an
 * <img src> can show a picture. Answers carry CORS headers for the site's allowed origins.
 */

const keyParams = z.strictObject({ key: z.string().min(1).max(100) });
const tokenQuery = z.strictObject({ visitor_token: z.string().min(1).max(200).optional() });

async function visitorOf(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  key: string,
  queryToken: string | undefined,
): Promise<{ site: PublicSite; visitor: Visitor }> {
  const site = await siteByPublicKey(ctx.db, key);
  const origin = request.headers.origin;
  if (!originAllowed(site.allowed_origins, origin))
    throw new AppError('forbidden', `Origin ${origin} is not allowed for this site`, { field: 'origin' });
  if (origin) reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
  const header = request.headers['x-visitor-token'];
  const token = (Array.isArray(header) ? header[0] : header) ?? queryToken;
  return { site, visitor: await requireVisitor(ctx.db, site, token) };
}

export const widgetRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/widget/sites/:key/attachments',
      {
        config: { rateLimit: { max: 30, timeWindow: '1 minute' } },
        schema: {
          tags: ['widget'],
          summary: `A visitor uploads a file to send (multipart field "file", ≤ ${chatLimits.attachmentBytes} bytes)`,
          security: [],
          params: keyParams,
          querystring: tokenQuery,
          consumes: ['multipart/form-data'],
        },
      },
      async (request, reply) => {
        const { site, visitor } = await visitorOf(
          ctx,
          request,
          reply,
          request.params.key,
          request.query.visitor_token,
        );
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
          { accountId: site.account_id, siteId: site.id, visitorId: visitor.id, userId: null },
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
      '/widget/sites/:key/attachments/:id',
      {
        schema: {
          tags: ['widget'],
          summary: 'A visitor downloads a file of its own dialogs',
          security: [],
          params: keyParams.extend({ id: z.coerce.number().int().positive() }),
          querystring: tokenQuery,
        },
      },
      async (request, reply) => {
        const { site, visitor } = await visitorOf(
          ctx,
          request,
          reply,
          request.params.key,
          request.query.visitor_token,
        );
        return sendAttachment(
          reply,
          await openAttachment(ctx.db, ctx.dataDir, site.account_id, request.params.id, visitor.id),
        );
      },
    );
  };
