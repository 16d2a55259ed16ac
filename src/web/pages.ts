import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DEMO_ACCOUNT } from '../accounts/demo.ts';
import { baseUrlOf } from '../chat/routes.ts';
import { embedSnippet, WIDGET_SCRIPT_PATH } from '../chat/sites.ts';
import type { AppContext } from '../http/context.ts';
import { type BrowserEntry, bundleOf } from './bundle.ts';
import { demoPage, demoUnavailablePage } from './demo-page.ts';
import { operatorPage } from './operator-page.ts';

/**
 * The plain pages the server serves itself: the widget script at the URL the embed snippet names, the
 * demo shop page embedding the demo account's widget, and a plain operator page to answer chats (the
 * full React operator app comes later). None of them has tenant data behind it: the demo page shows
 * only the demo site's public key, and the operator page is a static shell whose data comes through
 * the authenticated socket and API.
 */

export const OPERATOR_SCRIPT_PATH = '/operator/app.js';

async function sendBundle(entry: BrowserEntry, request: FastifyRequest, reply: FastifyReply) {
  const bundle = await bundleOf(entry);
  reply
    .header('content-type', 'text/javascript; charset=utf-8')
    .header('etag', bundle.etag)
    // A stable URL in every site's snippet: short caching, revalidated cheaply with the ETag.
    .header('cache-control', 'public, max-age=300')
    .header('cross-origin-resource-policy', 'cross-origin')
    .header('access-control-allow-origin', '*')
    .header('x-content-type-options', 'nosniff')
    .header('vary', 'Accept-Encoding');
  if (request.headers['if-none-match'] === bundle.etag) return reply.status(304).send();
  if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? '')))
    return reply.header('content-encoding', 'gzip').send(bundle.gzip);
  return reply.send(bundle.code);
}

/** Pages of our own origin: scripts and sockets only from here, never framed by another site. */
function pageHeaders(reply: FastifyReply, request: FastifyRequest): FastifyReply {
  const socketOrigin = `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.host}`;
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        `connect-src 'self' ${socketOrigin}`,
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
      ].join('; '),
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store');
}

export const webPages =
  (ctx: AppContext, options: { demo: boolean }): FastifyPluginAsync =>
  async (app) => {
    const hide = { schema: { hide: true } };
    app.get(WIDGET_SCRIPT_PATH, hide, (request, reply) => sendBundle('widget', request, reply));
    app.get('/widget.js', hide, (request, reply) => sendBundle('widget', request, reply));
    app.get(OPERATOR_SCRIPT_PATH, hide, (request, reply) => sendBundle('operator', request, reply));

    app.get('/operator', hide, async (request, reply) =>
      pageHeaders(reply, request).send(operatorPage(OPERATOR_SCRIPT_PATH)),
    );

    app.get('/demo', hide, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const lang = query.lang === 'en' ? 'en' : 'ru';
      // OMNITALK_DEMO=0: no demo page, even if an account of that name exists (from an earlier start).
      const site = !options.demo
        ? undefined
        : await ctx.db
            .selectFrom('sites')
            .innerJoin('accounts', 'accounts.id', 'sites.account_id')
            .select(['sites.public_key'])
            .where('accounts.name', '=', DEMO_ACCOUNT)
            .orderBy('sites.id')
            .executeTakeFirst();
      pageHeaders(reply, request);
      if (!site) return reply.status(404).send(demoUnavailablePage());
      return reply.send(demoPage({ lang, snippet: embedSnippet(site.public_key, baseUrlOf(request)) }));
    });
  };
