import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount } from '../../http/auth.ts';
import type { AppContext } from '../../http/context.ts';
import { crmConnectors } from '../crm/registry.ts';
import type { CrmSystem } from '../crm/types.ts';
import {
  configureIntegration,
  connectorInfo,
  deleteIntegration,
  failedEvents,
  findIntegration,
  handleInbound,
  integrationState,
  listIntegrations,
  oauthAuthorizeUrl,
  oauthCallback,
  operatorMapping,
  resolveFailed,
  setOperatorMapping,
} from './service.ts';

const siteParams = z.object({ siteId: z.coerce.number().int().positive() });
const systemParams = siteParams.extend({ system: z.string().min(1).max(40) });
const idsBody = z.strictObject({ ids: z.array(z.number().int().positive()).max(1000).optional() }).optional();
const tags = ['integrations'];

/** Cabinet REST of the CRM hub (SPEC IN-0): per site, per system. */
export const integrationRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    // Public part: OAuth redirects back from the CRM and inbound webhooks authenticate themselves.
    await app.register(publicRoutes(ctx));
    await app.register(async (scoped) => {
      scoped.addHook('preHandler', requireAccount());
      await scoped.register(cabinetRoutes(ctx));
    });
  };

const cabinetRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    const managers = requireAccount({ roles: ['owner', 'admin'] });
    app.get(
      '/integrations/systems',
      { schema: { tags, summary: 'CRM systems and their settings forms' } },
      async () => ({
        items: (Object.keys(crmConnectors) as CrmSystem[]).map((s) => connectorInfo(s, crmConnectors[s])),
      }),
    );
    app.get(
      '/sites/:siteId/integrations',
      { schema: { tags, summary: "A site's integrations with their state", params: siteParams } },
      async (request) => ({ items: await listIntegrations(ctx, accountOf(request), request.params.siteId) }),
    );
    app.get(
      '/sites/:siteId/integrations/:system',
      {
        schema: {
          tags,
          summary:
            'Integration state: connected, last success, last error, queue depth (secrets are never returned)',
          params: systemParams,
        },
      },
      async (request) => {
        const { siteId, system } = request.params;
        return integrationState(
          ctx.db,
          ctx.secrets,
          await findIntegration(ctx.db, accountOf(request), siteId, system),
        );
      },
    );
    app.put(
      '/sites/:siteId/integrations/:system',
      {
        preHandler: managers,
        schema: {
          tags,
          summary: 'Configure an integration; the settings are validated by a real test call',
          params: systemParams,
          body: z.record(z.string(), z.unknown()),
        },
      },
      async (request) =>
        configureIntegration(
          ctx,
          accountOf(request),
          request.params.siteId,
          request.params.system,
          request.body,
        ),
    );
    app.delete(
      '/sites/:siteId/integrations/:system',
      { preHandler: managers, schema: { tags, summary: 'Remove an integration', params: systemParams } },
      async (request, reply) => {
        await deleteIntegration(ctx.db, accountOf(request), request.params.siteId, request.params.system);
        return reply.status(204).send();
      },
    );
    app.get(
      '/sites/:siteId/integrations/:system/operators',
      {
        schema: {
          tags,
          summary: 'CRM users (from its API), our operators and the mapping',
          params: systemParams,
        },
      },
      async (request) =>
        operatorMapping(ctx, accountOf(request), request.params.siteId, request.params.system),
    );
    app.put(
      '/sites/:siteId/integrations/:system/operators',
      {
        preHandler: managers,
        schema: {
          tags,
          summary: 'Set the operator ↔ CRM user mapping',
          params: systemParams,
          body: z.strictObject({
            mapping: z
              .array(
                z.strictObject({
                  user_id: z.number().int().positive(),
                  crm_user_id: z.string().min(1).max(200),
                }),
              )
              .max(1000),
          }),
        },
      },
      async (request) =>
        setOperatorMapping(
          ctx,
          accountOf(request),
          request.params.siteId,
          request.params.system,
          request.body.mapping,
        ),
    );
    app.get(
      '/sites/:siteId/integrations/:system/failed',
      { schema: { tags, summary: 'Parked events with their last error', params: systemParams } },
      async (request) => ({
        items: await failedEvents(ctx.db, accountOf(request), request.params.siteId, request.params.system),
      }),
    );
    for (const action of ['retry', 'discard'] as const) {
      app.post(
        `/sites/:siteId/integrations/:system/failed/${action}`,
        {
          preHandler: managers,
          schema: {
            tags,
            summary:
              action === 'retry' ? 'Retry parked events (all, or the given ids)' : 'Discard parked events',
            params: systemParams,
            body: idsBody,
          },
        },
        async (request) =>
          resolveFailed(
            ctx.db,
            ctx.clock,
            accountOf(request),
            request.params.siteId,
            request.params.system,
            action,
            request.body?.ids ?? null,
          ),
      );
    }
    app.get(
      '/sites/:siteId/integrations/:system/oauth/authorize',
      {
        preHandler: managers,
        schema: {
          tags,
          summary: 'Redirect to the CRM to grant access (amoCRM, Bitrix24)',
          params: systemParams,
        },
      },
      async (request, reply) =>
        reply.redirect(
          await oauthAuthorizeUrl(ctx, accountOf(request), request.params.siteId, request.params.system),
        ),
    );
  };

const publicRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/integrations/oauth/:system/callback',
      {
        // The request log would write the URL, and with it the one-time authorization code.
        logLevel: 'warn',
        schema: {
          tags,
          summary:
            'OAuth redirect URL (amoCRM, Bitrix24): exchanges the code; the sealed state names the integration',
          params: z.object({ system: z.string().min(1).max(40) }),
          security: [],
        },
      },
      async (request) => {
        const query = new URLSearchParams(request.query as Record<string, string>);
        return oauthCallback(ctx, request.params.system, query);
      },
    );
    await app.register(inboundRoutes(ctx));
  };

/** Inbound webhooks need the raw body (signatures, form bodies): every content type is read as text. */
const inboundRoutes = (ctx: AppContext) => async (app: FastifyInstance) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.route({
    method: ['GET', 'POST'],
    url: '/hooks/crm/:integrationId/*',
    schema: {
      tags,
      summary: 'Inbound webhook of a two-way CRM (authenticated by the connector)',
      security: [],
    },
    handler: async (request, reply) => {
      const params = request.params as { integrationId: string; '*': string };
      const url = new URL(request.url, 'http://local');
      const headers: Record<string, string | undefined> = {};
      for (const [key, value] of Object.entries(request.headers))
        headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      const answer = await handleInbound(ctx, Number(params.integrationId), {
        method: request.method,
        path: `/${params['*'] ?? ''}`,
        query: url.searchParams,
        headers,
        rawBody: typeof request.body === 'string' ? request.body : '',
      });
      return reply.status(answer.status).header('content-type', answer.contentType).send(answer.body);
    },
  });
};
