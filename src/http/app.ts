import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { accountRoutes } from '../accounts/routes.ts';
import { billingRoutes } from '../billing/routes.ts';
import { type ChatOptions, chatPlugin } from '../chat/plugin.ts';
import { chatLimits } from '../chat/vocabulary.ts';
import { importRoutes } from '../contacts/import/routes.ts';
import { contactRoutes } from '../contacts/routes.ts';
import { ping } from '../db/database.ts';
import { integrationRoutes } from '../integrations/hub/routes.ts';
import { moderationRoutes } from '../mailings/moderation/routes.ts';
import { reportRoutes } from '../mailings/report-routes.ts';
import { mailingRoutes } from '../mailings/routes.ts';
import { webPages } from '../web/pages.ts';
import { resolvePrincipal } from './auth.ts';
import type { AppContext } from './context.ts';
import { registerErrorHandling } from './errors.ts';
import { registerMetrics } from './metrics.ts';

export const JSON_BODY_LIMIT = 1024 * 1024;
export const UPLOAD_LIMIT = 512 * 1024 * 1024;

export interface BuildOptions {
  /** Routes collected as they register (the tenant-isolation test walks them). */
  onRoute?: (route: { method: string | string[]; url: string }) => void;
  rateLimit?: boolean;
  /** Chat options (tests pass scripted channel adapters). */
  chat?: ChatOptions;
  /** Serve /demo (the demo account's shop page); off when the install runs with OMNITALK_DEMO=0. */
  demo?: boolean;
}

export async function buildApp(ctx: AppContext, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    bodyLimit: JSON_BODY_LIMIT,
    trustProxy: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  if (options.onRoute) {
    const onRoute = options.onRoute;
    app.addHook('onRoute', (route) => onRoute({ method: route.method, url: route.url }));
  }

  await app.register(cookie);
  await app.register(multipart, { limits: { fileSize: UPLOAD_LIMIT, files: 1, fields: 20 } });
  if (options.rateLimit !== false) {
    // Generous default; per-route limits (login, call password) are set where they apply.
    await app.register(rateLimit, { max: 6000, timeWindow: '1 minute' });
  }
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'omnitalk API',
        version: '1',
        description: 'REST API of omnitalk. Authenticate with `Authorization: Bearer <API token>`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  // Frames over this close the socket (1009); the chat answers smaller oversized frames with an error.
  await app.register(websocket, { options: { maxPayload: chatLimits.transportBytes } });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    request.principal = await resolvePrincipal(ctx, request);
  });

  registerMetrics(app);
  app.get('/healthz', { schema: { hide: true } }, async () => {
    await ping(ctx.db);
    return { status: 'ok', database: ctx.database.kind };
  });

  await app.register(accountRoutes(ctx), { prefix: '/api/v1' });
  await app.register(contactRoutes(ctx), { prefix: '/api/v1' });
  await app.register(importRoutes(ctx), { prefix: '/api/v1' });
  await app.register(billingRoutes(ctx), { prefix: '/api/v1' });
  await app.register(mailingRoutes(ctx), { prefix: '/api/v1' });
  await app.register(reportRoutes(ctx), { prefix: '/api/v1' });
  await app.register(moderationRoutes(ctx), { prefix: '/api/v1' });
  await app.register(integrationRoutes(ctx), { prefix: '/api/v1' });
  await app.register(chatPlugin(ctx, options.chat));
  await app.register(webPages(ctx, { demo: options.demo ?? true }));
  return app;
}
