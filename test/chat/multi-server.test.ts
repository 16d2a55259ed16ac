import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Server, startCli } from '../support/cli.ts';
import { createScratchDatabase, dropScratchDatabase } from '../support/db.ts';
import { api, eventually, sessionCookie, TestSocket, wsUrl } from './support.ts';

const pgUrl = process.env.TEST_DATABASE_URL || null;

/**
 * Several `omnitalk server` processes behind one address share live traffic (issue 4, NF-2): a change
 * written through one process reaches sockets held by another, through PostgreSQL LISTEN/NOTIFY.
 */
describe.skipIf(!pgUrl)('two omnitalk server processes on one PostgreSQL', () => {
  let url: string;
  let servers: Server[] = [];
  let bases: string[] = [];
  const sockets: TestSocket[] = [];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    url = await createScratchDatabase(pgUrl!);
    env = {
      DATABASE_URL: url,
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-multi-')),
      OMNITALK_SECRET_KEY: 'a'.repeat(64),
      OMNITALK_DEMO: '0',
      LOG_LEVEL: 'warn',
      PORT: '0',
      HOST: '127.0.0.1',
    };
    // Both start at once: migrations are serialised by their advisory lock.
    servers = await Promise.all([
      startCli(['server'], env, /listening on/),
      startCli(['server'], env, /listening on/),
    ]);
    bases = servers.map((s) =>
      /listening on (http:\/\/\S+)/.exec(s.output())![1]!.replace('localhost', '127.0.0.1'),
    );
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const s of servers) expect(await s.stop()).toBe(0);
    await dropScratchDatabase(pgUrl!, url);
  });

  it('delivers a visitor message written through one server to an operator on the other, and back', async () => {
    const account = await runCli(
      ['account', 'create', 'Multi', '--email', 'owner@multi.test', '--password', 'owner-password', '--json'],
      env,
    );
    expect(account.code).toBe(0);
    const token = JSON.parse(
      (await runCli(['token', 'create', '--account', 'Multi', '--json'], env)).stdout,
    ).token;
    const auth = { authorization: `Bearer ${token}` };
    const [a, b] = bases as [string, string];

    const site = (await api<{ public_key: string }>(a, auth, 'POST', '/api/v1/sites', { name: 'Shop' })).body;
    const user = await api<{ id: number }>(b, auth, 'POST', '/api/v1/users', {
      email: 'op@multi.test',
      password: 'operator-password',
      role: 'operator',
      name: 'Мария',
    });
    expect(user.status).toBe(201);

    // The operator is connected to server B, the visitor to server A.
    const operator = await TestSocket.open(wsUrl(b, '/ws/operator'), {
      cookie: await sessionCookie(b, 'op@multi.test', 'operator-password'),
    });
    sockets.push(operator);
    expect(await operator.request({ type: 'hello' })).toMatchObject({ type: 'welcome', status: 'online' });
    const visitor = await TestSocket.open(wsUrl(a, '/ws/visitor'));
    sockets.push(visitor);
    const welcome = await visitor.request({ type: 'hello', site_key: site.public_key });
    expect(welcome).toMatchObject({ type: 'welcome', operators_online: true });

    const arrived = operator.expect(
      'message.new',
      (f) => (f.message as { text: string }).text === 'Есть в наличии?',
    );
    const assigned = operator.expect(
      'dialog.updated',
      (f) => (f.dialog as { operator_id: number }).operator_id === user.body.id,
    );
    const ack = await visitor.request({ type: 'message.send', client_id: 'm1', text: 'Есть в наличии?' });
    expect(ack.type).toBe('ack');
    const dialogId = (ack.data as { message: { dialog_id: number } }).message.dialog_id;
    expect((await arrived).message).toMatchObject({ dialog_id: dialogId, author: 'visitor' });
    await assigned;

    // Typing and the answer travel back from B to A.
    const typing = visitor.expect('typing');
    await operator.request({ type: 'typing', dialog_id: dialogId, on: true });
    expect(await typing).toMatchObject({ by: 'operator', on: true });
    const answer = visitor.expect(
      'message.new',
      (f) => (f.message as { author: string }).author === 'operator',
    );
    await operator.request({ type: 'message.send', dialog_id: dialogId, client_id: 'a1', text: 'Да, есть' });
    expect((await answer).message).toMatchObject({ text: 'Да, есть', author_name: 'Мария' });

    // A change made over REST on server A reaches the operator on server B.
    const closed = operator.expect(
      'dialog.updated',
      (f) => (f.dialog as { status: string }).status === 'closed',
    );
    expect((await api(a, auth, 'POST', `/api/v1/dialogs/${dialogId}/close`)).status).toBe(200);
    await closed;

    // When the operator leaves server B, server A knows: nobody is online for a new visitor.
    operator.close();
    await eventually(async () => {
      const late = await TestSocket.open(wsUrl(a, '/ws/visitor'));
      const hello = await late.request({ type: 'hello', site_key: site.public_key });
      late.close();
      expect(hello).toMatchObject({ type: 'welcome', operators_online: false });
    });
  });
});
