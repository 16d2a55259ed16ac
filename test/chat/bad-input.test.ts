import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACHMENTS_DIR } from '../../src/chat/attachments.ts';
import { chatLimits } from '../../src/chat/vocabulary.ts';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import { TestSocket, wsUrl } from './support.ts';

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

describe.each(backends)('bad input to the chat on $name', (backend) => {
  let w: ChatWorld;
  let otherSite: { id: number; public_key: string };
  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 1 });
    otherSite = (await w.api<{ id: number; public_key: string }>('POST', '/api/v1/sites', { name: 'Other' }))
      .body;
  });
  afterAll(() => w.close());

  const messageCount = async () =>
    Number(
      (
        await w.t.ctx.db
          .selectFrom('chat_messages')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const alive = async (socket: TestSocket) => {
    const pong = await socket.request({ type: 'ping' });
    expect(pong.type).toBe('ack');
  };

  it('answers garbage, binary, unknown types, wrong versions and bad fields with errors; the socket survives', async () => {
    const v = await w.visitor();
    const stored = await messageCount();
    const cases: [() => void, Record<string, unknown>][] = [
      [() => v.socket.sendRaw('this is not json'), { code: 'bad_frame' }],
      [() => v.socket.sendRaw('[1,2,3]'), { code: 'bad_frame' }],
      [() => v.socket.sendRaw('null'), { code: 'bad_frame' }],
      [() => v.socket.sendRaw(Buffer.from([0, 1, 2, 3]), true), { code: 'bad_frame' }],
      [() => v.socket.sendRaw(JSON.stringify({ type: 'ping' })), { code: 'invalid_message', field: 'v' }],
      [
        () => v.socket.sendRaw(JSON.stringify({ v: 2, type: 'ping', id: 'x' })),
        { code: 'unsupported_version', re: 'x' },
      ],
      [
        () => v.socket.send({ type: 'message.delete', id: 'u' }),
        { code: 'unknown_type', field: 'type', re: 'u' },
      ],
      [
        () => v.socket.send({ type: 'message.send', id: 'm', text: 'без client_id' }),
        { code: 'invalid_message', field: 'client_id', re: 'm' },
      ],
      [
        () => v.socket.send({ type: 'message.send', id: 'k', client_id: 'a', text: 'x', admin: true }),
        { code: 'invalid_message', field: 'admin' },
      ],
      [
        () => v.socket.send({ type: 'message.send', id: 'n', client_id: 'a', text: 42 }),
        { code: 'invalid_message', field: 'text' },
      ],
      [
        () => v.socket.send({ type: 'read', id: 'r', up_to: -1 }),
        { code: 'invalid_message', field: 'up_to' },
      ],
      [
        () => v.socket.send({ type: 'page.view', id: 'p', url: 'javascript:alert(1)' }),
        { code: 'invalid_message', field: 'url' },
      ],
    ];
    for (const [send, expected] of cases) {
      const error = v.socket.expect('error');
      send();
      expect(await error).toMatchObject(expected);
    }
    await alive(v.socket);
    expect(await messageCount()).toBe(stored);
    v.socket.close();
  });

  it('refuses oversized frames and texts without storing them; a huge frame closes the socket (1009)', async () => {
    const v = await w.visitor();
    const stored = await messageCount();
    const frame = v.socket.request({ type: 'message.send', client_id: 'big', text: 'я'.repeat(40_000) });
    expect(await frame).toMatchObject({ type: 'error', code: 'too_large', field: 'frame' });
    const text = await v.socket.request({
      type: 'message.send',
      client_id: 'long',
      text: 'a'.repeat(chatLimits.text + 1),
    });
    expect(text).toMatchObject({ type: 'error', code: 'too_large', field: 'text' });
    const empty = await v.socket.request({ type: 'message.send', client_id: 'empty', text: '   ' });
    expect(empty).toMatchObject({ type: 'error', code: 'invalid_message', field: 'text' });
    await alive(v.socket);
    expect(await messageCount()).toBe(stored);
    v.socket.sendRaw('x'.repeat(chatLimits.transportBytes + 10));
    expect((await v.socket.waitClose()).code).toBe(1009);
    expect((await fetch(`${w.base}/healthz`)).status).toBe(200);
  });

  it('refuses frames before hello, unknown site keys and foreign origins', async () => {
    const early = await TestSocket.open(wsUrl(w.base, '/ws/visitor'));
    expect(await early.request({ type: 'message.send', client_id: 'a', text: 'hi' })).toMatchObject({
      type: 'error',
      code: 'unauthorized',
    });
    const refused = await early.request({ type: 'hello', site_key: 'st_unknownunknownunknown' });
    expect(refused).toMatchObject({ type: 'error', code: 'unauthorized', field: 'site_key' });
    expect((await early.waitClose()).code).toBe(4401);

    await w.api('PATCH', `/api/v1/sites/${otherSite.id}`, { allowed_origins: ['https://other.example'] });
    const foreign = await TestSocket.open(wsUrl(w.base, '/ws/visitor'), { origin: 'https://evil.example' });
    const denied = await foreign.request({ type: 'hello', site_key: otherSite.public_key });
    expect(denied).toMatchObject({ type: 'error', code: 'forbidden', field: 'origin' });
    expect((await foreign.waitClose()).code).toBe(4403);
    const allowed = await w.visitor({
      siteKey: otherSite.public_key,
      headers: { origin: 'https://other.example' },
    });
    expect(allowed.welcome.type).toBe('welcome');
    allowed.socket.close();
    await w.api('PATCH', `/api/v1/sites/${otherSite.id}`, { allowed_origins: [] });

    const operator = await TestSocket.open(wsUrl(w.base, '/ws/operator'));
    const noAuth = await operator.request({ type: 'hello', token: 'omt_not_a_token' });
    expect(noAuth).toMatchObject({ type: 'error', code: 'unauthorized' });
    expect((await operator.waitClose()).code).toBe(4401);
  });

  it("keeps a visitor out of another site's dialog and another visitor's files", async () => {
    const owner = await w.visitor();
    const ack = await owner.socket.request({ type: 'message.send', client_id: 'own', text: 'мой диалог' });
    const dialogId = (ack.data as { message: { dialog_id: number } }).message.dialog_id;
    const upload = await uploadAsVisitor(
      w.base,
      w.site.public_key,
      owner.welcome.visitor.token!,
      PNG,
      'image/png',
      'a.png',
    );
    expect(upload.status).toBe(201);
    const fileId = ((await upload.json()) as { id: number }).id;

    // A visitor of the other site, and one of the same site, name that dialog and file.
    const stranger = await w.visitor({ siteKey: otherSite.public_key });
    const sibling = await w.visitor();
    const stored = await messageCount();
    for (const intruder of [stranger, sibling]) {
      for (const frame of [
        { type: 'message.send', client_id: 'i1', text: 'чужое', dialog_id: dialogId },
        { type: 'read', up_to: 1, dialog_id: dialogId },
        { type: 'typing', on: true, dialog_id: dialogId },
      ]) {
        expect(await intruder.socket.request(frame)).toMatchObject({
          type: 'error',
          code: 'not_found',
          field: 'dialog_id',
        });
      }
      expect(
        await intruder.socket.request({
          type: 'message.send',
          client_id: 'i2',
          text: 'файл',
          attachment_id: fileId,
        }),
      ).toMatchObject({ type: 'error', code: 'not_found', field: 'attachment_id' });
      const history = await intruder.socket.request({ type: 'history' });
      expect(JSON.stringify(history)).not.toContain('мой диалог');
    }
    expect(await messageCount()).toBe(stored);

    // The owner's token on the other site is a new visitor there, with none of the owner's history.
    const crossed = await w.visitor({ siteKey: otherSite.public_key, token: owner.welcome.visitor.token! });
    expect(crossed.welcome.visitor.id).not.toBe(owner.welcome.visitor.id);
    expect(crossed.welcome.messages).toEqual([]);

    // Files over HTTP: only the owner, with its token, on its site.
    const mine = await fetch(
      `${w.base}/api/v1/widget/sites/${w.site.public_key}/attachments/${fileId}?visitor_token=${owner.welcome.visitor.token}`,
    );
    expect(mine.status).toBe(200);
    expect(mine.headers.get('x-content-type-options')).toBe('nosniff');
    const theirs = await fetch(
      `${w.base}/api/v1/widget/sites/${w.site.public_key}/attachments/${fileId}?visitor_token=${sibling.welcome.visitor.token}`,
    );
    expect(theirs.status).toBe(404);
    const otherKey = await fetch(
      `${w.base}/api/v1/widget/sites/${otherSite.public_key}/attachments/${fileId}?visitor_token=${stranger.welcome.visitor.token}`,
    );
    expect(otherKey.status).toBe(404);
    const noToken = await fetch(`${w.base}/api/v1/widget/sites/${w.site.public_key}/attachments/${fileId}`);
    expect(noToken.status).toBe(401);
    for (const v of [owner, stranger, sibling, crossed]) v.socket.close();
  });

  it('refuses oversized files, disallowed types and content that is not what it claims; stores nothing', async () => {
    const v = await w.visitor();
    const token = v.welcome.visitor.token!;
    const countFiles = async () =>
      Number(
        (
          await w.t.ctx.db
            .selectFrom('chat_attachments')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const dir = path.join(w.t.ctx.dataDir, ATTACHMENTS_DIR, String(w.tenant.accountId));
    const filesOnDisk = () => (fs.existsSync(dir) ? fs.readdirSync(dir).length : 0);
    const rows = await countFiles();
    const disk = filesOnDisk();
    const big = Buffer.concat([PNG, Buffer.alloc(chatLimits.attachmentBytes)]);
    const tooBig = await uploadAsVisitor(w.base, w.site.public_key, token, big, 'image/png', 'big.png');
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: { code: string; field: string } }).error).toMatchObject({
      code: 'payload_too_large',
      field: 'file',
    });
    const html = await uploadAsVisitor(
      w.base,
      w.site.public_key,
      token,
      Buffer.from('<html><script>alert(1)</script>'),
      'text/html',
      'x.html',
    );
    expect(html.status).toBe(415);
    const fake = await uploadAsVisitor(
      w.base,
      w.site.public_key,
      token,
      Buffer.from('<svg onload=alert(1)>'),
      'image/png',
      'x.png',
    );
    expect(fake.status).toBe(415);
    const badToken = await uploadAsVisitor(w.base, w.site.public_key, 'vt_forged', PNG, 'image/png', 'a.png');
    expect(badToken.status).toBe(403);
    expect(await countFiles()).toBe(rows);
    expect(filesOnDisk()).toBe(disk);
    v.socket.close();
  });

  it('closes a socket that keeps sending garbage (4400) and rate-limits floods; the server keeps running', async () => {
    const flood = await w.visitor();
    for (let i = 0; i < 100; i++) flood.socket.send({ type: 'ping', id: `f${i}` });
    await flood.socket.next((f) => f.type === 'error' && f.code === 'rate_limited');
    flood.socket.close();

    const abuser = await w.visitor();
    for (let i = 0; i < 30; i++) abuser.socket.sendRaw(`garbage ${i}`);
    expect((await abuser.socket.waitClose()).code).toBe(4400);
    expect((await fetch(`${w.base}/healthz`)).status).toBe(200);
    const fine = await w.visitor();
    expect(
      (await fine.socket.request({ type: 'message.send', client_id: 'ok', text: 'всё хорошо' })).type,
    ).toBe('ack');
    fine.socket.close();
  });

  it("keeps an operator to its account's dialogs", async () => {
    const op = await w.operator(0);
    const missing = await op.socket.request({
      type: 'message.send',
      dialog_id: 999_999,
      client_id: 'z',
      text: 'кому?',
    });
    expect(missing).toMatchObject({ type: 'error', code: 'not_found', field: 'dialog_id' });
    const transfer = await op.socket.request({ type: 'dialog.transfer', dialog_id: 999_999, to_user_id: 1 });
    expect(transfer).toMatchObject({ type: 'error', code: 'not_found' });
    op.socket.close();
  });
});

function uploadAsVisitor(base: string, key: string, token: string, body: Buffer, type: string, name: string) {
  const form = new FormData();
  form.append('file', new Blob([body], { type }), name);
  return fetch(`${base}/api/v1/widget/sites/${key}/attachments?visitor_token=${encodeURIComponent(token)}`, {
    method: 'POST',
    body: form,
  });
}
