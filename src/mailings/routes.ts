import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { idParams } from '../http/schemas.ts';
import {
  changeMailingState,
  createMailing,
  getMailing,
  listMailings,
  repeatMailing,
  repeatSubsets,
  requestRefund,
  startMailing,
} from './mailings.ts';
import { listStandardTemplates, standardTemplate } from './scheme/templates.ts';
import { validateScheme } from './scheme/validate.ts';
import { deleteScheme, getScheme, listSchemes, saveScheme } from './schemes.ts';
import { mailingInputSchema } from './settings.ts';

const mailingStatuses = [
  'draft',
  'on_moderation',
  'scheduled',
  'running',
  'paused',
  'completed',
  'cancelled',
] as const;

export const mailingRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preHandler', requireAccount());

    // Schemes
    app.get(
      '/schemes',
      { schema: { tags: ['schemes'], summary: 'Saved cascade schemes' } },
      async (request) => ({
        items: await listSchemes(ctx.db, accountOf(request)),
      }),
    );
    app.get(
      '/schemes/templates',
      {
        schema: {
          tags: ['schemes'],
          summary: 'Standard templates to start from: "Viber/Голос/СМС" and "Viber/СМС"',
        },
      },
      async () => ({
        items: listStandardTemplates().map((t) => ({ ...t, definition: standardTemplate(t.key) })),
      }),
    );
    app.post(
      '/schemes/validate',
      {
        schema: {
          tags: ['schemes'],
          summary: 'Validate a scheme without saving: {valid, errors:[{block, link, code, message}]}',
          body: z.unknown(),
        },
      },
      async (request) => {
        const result = validateScheme(request.body);
        return { valid: result.valid, errors: result.errors };
      },
    );
    app.post(
      '/schemes',
      {
        schema: {
          tags: ['schemes'],
          summary: 'Save a scheme by name (replaces one of the same name)',
          body: z.strictObject({ name: z.string().min(1).max(200).optional(), definition: z.unknown() }),
        },
      },
      async (request, reply) => {
        const row = await saveScheme(ctx.db, ctx.clock, accountOf(request), request.body);
        reply.status(201);
        return row;
      },
    );
    app.get(
      '/schemes/:id',
      { schema: { tags: ['schemes'], summary: 'One scheme', params: idParams } },
      async (request) => getScheme(ctx.db, accountOf(request), request.params.id),
    );
    app.delete(
      '/schemes/:id',
      { schema: { tags: ['schemes'], summary: 'Delete a scheme', params: idParams } },
      async (request) => {
        await deleteScheme(ctx.db, accountOf(request), request.params.id);
        return { ok: true };
      },
    );

    // Mailings
    app.get(
      '/mailings',
      {
        schema: {
          tags: ['mailings'],
          summary: 'Mailings, newest first',
          querystring: z.strictObject({
            status: z.enum(mailingStatuses).optional(),
            tag: z.string().max(50).optional(),
            limit: z.coerce.number().int().min(1).max(500).optional(),
            before: z.coerce.number().int().positive().optional(),
          }),
        },
      },
      async (request) => listMailings(ctx.db, accountOf(request), request.query),
    );
    app.post(
      '/mailings',
      {
        schema: {
          tags: ['mailings'],
          summary:
            'Create a mailing (a draft): single channel, a scheme, or A/B variants; `start: true` starts it at once',
          body: mailingInputSchema.extend({ start: z.boolean().default(false) }),
        },
      },
      async (request, reply) => {
        const { start, ...input } = request.body;
        const accountId = accountOf(request);
        const created = await createMailing(ctx.db, ctx.clock, accountId, input);
        reply.status(201);
        return start ? startMailing(ctx.db, ctx.clock, accountId, created.id) : created;
      },
    );
    app.get(
      '/mailings/:id',
      { schema: { tags: ['mailings'], summary: 'One mailing', params: idParams } },
      async (request) => getMailing(ctx.db, accountOf(request), request.params.id),
    );
    app.post(
      '/mailings/:id/start',
      {
        schema: { tags: ['mailings'], summary: 'Start a draft (now or at its start time)', params: idParams },
      },
      async (request) => startMailing(ctx.db, ctx.clock, accountOf(request), request.params.id),
    );
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      app.post(
        `/mailings/:id/${action}`,
        {
          schema: {
            tags: ['mailings'],
            summary: `${action[0]!.toUpperCase()}${action.slice(1)} a mailing`,
            params: idParams,
          },
        },
        async (request) =>
          changeMailingState(ctx.db, ctx.clock, accountOf(request), request.params.id, action),
      );
    }
    app.post(
      '/mailings/:id/repeat',
      {
        schema: {
          tags: ['mailings'],
          summary: 'A new draft with the same schemes to a subset of the recipients (e.g. the undelivered)',
          params: idParams,
          body: z.strictObject({ subset: z.enum(repeatSubsets).default('undelivered') }),
        },
      },
      async (request, reply) => {
        reply.status(201);
        return repeatMailing(ctx.db, ctx.clock, accountOf(request), request.params.id, request.body.subset);
      },
    );
    app.post(
      '/mailings/:id/refund',
      {
        schema: {
          tags: ['mailings'],
          summary: 'Request a full refund of the undelivered messages (once)',
          params: idParams,
        },
      },
      async (request) => requestRefund(ctx.db, ctx.clock, accountOf(request), request.params.id),
    );
  };
