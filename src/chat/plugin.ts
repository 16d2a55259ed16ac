import type { FastifyPluginAsync } from 'fastify';
import type { ChannelAdapter } from '../channels/types.ts';
import type { AppContext } from '../http/context.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';
import { startChatBus } from './bus.ts';
import { ChatHub } from './hub.ts';
import { chatRoutes } from './routes.ts';
import { widgetRoutes } from './widget-routes.ts';
import { ChatWriter } from './writer.ts';
import { operatorSocket } from './ws-operator.ts';
import { visitorSocket } from './ws-visitor.ts';

/**
 * The chat in one server process: the bus listener, this process's hub of sockets, the two socket
 * endpoints (/ws/visitor, /ws/operator) and the REST routes. @fastify/websocket must be registered on
 * the app before this plugin.
 */

export interface ChatOptions {
  /** Channel adapters for operators' answers in channel dialogs (default: the registry's). */
  adapters?: Record<SendChannel, ChannelAdapter>;
}

const hubs = new WeakMap<AppContext, ChatHub>();

/** The hub serving an app built on this context (tests wait on it with drain()). */
export function chatHubOf(ctx: AppContext): ChatHub | undefined {
  return hubs.get(ctx);
}

export const chatPlugin =
  (ctx: AppContext, options: ChatOptions = {}): FastifyPluginAsync =>
  async (app) => {
    const bus = await startChatBus(ctx.database, ctx.logger);
    const hub = new ChatHub({
      db: ctx.db,
      clock: ctx.clock,
      logger: ctx.logger,
      bus,
      adapters: options.adapters,
    });
    hub.start();
    hubs.set(ctx, hub);
    const writer = new ChatWriter({
      db: ctx.db,
      clock: ctx.clock,
      logger: ctx.logger,
      region: ctx.defaultRegion,
      concurrency: ctx.database.kind === 'pglite' ? 1 : 2,
      hub,
    });
    app.addHook('onClose', async () => {
      await writer.drain();
      await hub.close();
      await bus.close();
      hubs.delete(ctx);
    });

    app.get('/ws/visitor', { websocket: true, schema: { hide: true } }, visitorSocket(ctx, hub, writer));
    app.get(
      '/ws/operator',
      { websocket: true, schema: { hide: true } },
      operatorSocket(ctx, hub, options.adapters),
    );
    await app.register(chatRoutes(ctx, options.adapters), { prefix: '/api/v1' });
    await app.register(widgetRoutes(ctx), { prefix: '/api/v1' });
  };
