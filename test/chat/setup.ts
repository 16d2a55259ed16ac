import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChannelAdapter } from '../../src/channels/types.ts';
import type { ChatHub } from '../../src/chat/hub.ts';
import { chatHubOf } from '../../src/chat/plugin.ts';
import type { SendChannel } from '../../src/mailings/scheme/vocabulary.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import type { Backend } from '../support/db.ts';
import { addOperator, api, sessionCookie, TestSocket, wsUrl } from './support.ts';

export interface ChatWorld {
  t: TestApp;
  base: string;
  hub: ChatHub;
  tenant: Tenant;
  site: { id: number; public_key: string };
  operators: { id: number; cookie: string; name: string }[];
  api: <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ) => Promise<{ status: number; body: T }>;
  visitor(options?: {
    token?: string;
    siteKey?: string;
    headers?: Record<string, string>;
    page?: object;
  }): Promise<{
    socket: TestSocket;
    welcome: Record<string, unknown> & { visitor: { id: number; token: string | null } };
  }>;
  operator(
    index: number,
    hello?: Record<string, unknown>,
  ): Promise<{ socket: TestSocket; welcome: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** A listening app with one account, one site and operators with sessions. */
export async function chatWorld(
  backend: Backend,
  options: { operators?: number; adapters?: Record<SendChannel, ChannelAdapter> } = {},
): Promise<ChatWorld> {
  const t = await startTestApp(backend, { chat: { adapters: options.adapters } });
  // Attachments of this world only (test files run in parallel and reuse account ids).
  t.ctx.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-chat-'));
  const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const tenant = await createTenant(t.ctx);
  const call: ChatWorld['api'] = (method, path, body) => api(base, tenant.auth, method, path, body);
  const site = (await call<{ id: number; public_key: string }>('POST', '/api/v1/sites', { name: 'Shop' }))
    .body;
  const operators: ChatWorld['operators'] = [];
  for (let i = 0; i < (options.operators ?? 2); i++) {
    const name = `Operator ${i + 1}`;
    const op = await addOperator(t.ctx, tenant.accountId, name);
    operators.push({ id: op.id, cookie: await sessionCookie(base, op.email, op.password), name });
  }
  const sockets: TestSocket[] = [];
  return {
    t,
    base,
    hub: chatHubOf(t.ctx)!,
    tenant,
    site,
    operators,
    api: call,
    async visitor(o = {}) {
      const socket = await TestSocket.open(wsUrl(base, '/ws/visitor'), o.headers);
      sockets.push(socket);
      const welcome = await socket.request({
        type: 'hello',
        site_key: o.siteKey ?? site.public_key,
        ...(o.token && { visitor_token: o.token }),
        ...(o.page && { page: o.page }),
      });
      return { socket, welcome: welcome as never };
    },
    async operator(index, hello = {}) {
      const socket = await TestSocket.open(wsUrl(base, '/ws/operator'), { cookie: operators[index]!.cookie });
      sockets.push(socket);
      const welcome = await socket.request({ type: 'hello', ...hello });
      return { socket, welcome };
    },
    async close() {
      for (const s of sockets) s.close();
      await t.close();
      fs.rmSync(t.ctx.dataDir, { recursive: true, force: true });
    },
  };
}
