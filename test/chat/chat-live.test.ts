import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import type { Frame } from './support.ts';

describe.each(backends)('live chat on $name', (backend) => {
  let w: ChatWorld;
  beforeAll(async () => {
    w = await chatWorld(backend);
  });
  afterAll(() => w.close());

  it('gives a visitor a token and recognises it on the next connection', async () => {
    const first = await w.visitor({ page: { url: 'https://shop.example/catalog', title: 'Каталог' } });
    expect(first.welcome.type).toBe('welcome');
    expect(first.welcome.visitor.token).toMatch(/^vt_/);
    expect(first.welcome.dialog).toBeNull();
    first.socket.close();
    const again = await w.visitor({ token: first.welcome.visitor.token! });
    expect(again.welcome.visitor).toEqual({ id: first.welcome.visitor.id, token: null });
    again.socket.close();
  });

  it('assigns new dialogs round-robin among online operators and delivers messages both ways live', async () => {
    const op1 = await w.operator(0);
    const op2 = await w.operator(1);
    expect(op1.welcome).toMatchObject({
      type: 'welcome',
      status: 'online',
      user: { id: w.operators[0]!.id },
    });

    const v1 = await w.visitor();
    const v2 = await w.visitor();
    const seen1 = op1.socket.expect(
      'message.new',
      (f) => (f.message as { text: string }).text === 'Здравствуйте',
    );
    const ack1 = await v1.socket.request({ type: 'message.send', client_id: 'c1', text: 'Здравствуйте' });
    expect(ack1).toMatchObject({ type: 'ack', data: { client_id: 'c1', duplicate: false } });
    const m1 = (ack1.data as { message: { id: number; dialog_id: number } }).message;
    expect((await seen1).message).toMatchObject({ id: m1.id, author: 'visitor', dialog_id: m1.dialog_id });
    await op2.socket.next((f) => f.type === 'message.new' && (f.message as { id: number }).id === m1.id);

    const ack2 = await v2.socket.request({ type: 'message.send', client_id: 'c1', text: 'Вопрос' });
    const m2 = (ack2.data as { message: { dialog_id: number } }).message;
    const d1 = (await w.api<{ operator_id: number }>('GET', `/api/v1/dialogs/${m1.dialog_id}`)).body;
    const d2 = (await w.api<{ operator_id: number }>('GET', `/api/v1/dialogs/${m2.dialog_id}`)).body;
    expect([d1.operator_id, d2.operator_id].sort()).toEqual([w.operators[0]!.id, w.operators[1]!.id].sort());

    // The assigned operator answers; the visitor sees it with the operator's name, not the id.
    const mine = d1.operator_id === w.operators[0]!.id ? op1 : op2;
    const answer = v1.socket.expect('message.new', (f) => (f.message as Frame).author === 'operator');
    const typing = v1.socket.expect('typing');
    await mine.socket.request({ type: 'typing', dialog_id: m1.dialog_id, on: true });
    expect(await typing).toMatchObject({ dialog_id: m1.dialog_id, by: 'operator', on: true });
    const sent = await mine.socket.request({
      type: 'message.send',
      dialog_id: m1.dialog_id,
      client_id: 'op-1',
      text: 'Добрый день!',
    });
    expect(sent.type).toBe('ack');
    const got = (await answer).message as Record<string, unknown>;
    expect(got).toMatchObject({ author: 'operator', text: 'Добрый день!' });
    expect(got.author_name).toMatch(/Operator/);
    expect(got).not.toHaveProperty('operator_id');

    // Visitor typing and read marks reach the operators.
    const vTyping = mine.socket.expect('typing', (f) => f.by === 'visitor');
    await v1.socket.request({ type: 'typing', on: true });
    expect((await vTyping).dialog_id).toBe(m1.dialog_id);
    const read = mine.socket.expect('read', (f) => f.by === 'visitor');
    const readAck = await v1.socket.request({ type: 'read', up_to: (got as { id: number }).id });
    expect(readAck.data).toMatchObject({ up_to: (got as { id: number }).id });
    expect((await read).up_to).toBe((got as { id: number }).id);
    for (const s of [op1, op2, v1, v2]) s.socket.close();
  });

  it('stores a resent message once and acks it with the same server id', async () => {
    const v = await w.visitor();
    const a = await v.socket.request({ type: 'message.send', client_id: 'same', text: 'Один раз' });
    const b = await v.socket.request({ type: 'message.send', client_id: 'same', text: 'Один раз' });
    expect(b.data).toMatchObject({ duplicate: true });
    expect((b.data as { message: { id: number } }).message.id).toBe(
      (a.data as { message: { id: number } }).message.id,
    );
    const rows = await w.t.ctx.db
      .selectFrom('chat_messages')
      .select('id')
      .where('visitor_id', '=', v.welcome.visitor.id)
      .execute();
    expect(rows).toHaveLength(1);
    // A reconnecting client resends on a new socket: still one row.
    v.socket.close();
    const again = await w.visitor({ token: v.welcome.visitor.token! });
    const c = await again.socket.request({ type: 'message.send', client_id: 'same', text: 'Один раз' });
    expect(c.data).toMatchObject({ duplicate: true });
    again.socket.close();
  });

  it('transfers and closes dialogs; a message after closing opens a new dialog', async () => {
    const op1 = await w.operator(0);
    const v = await w.visitor();
    const ack = await v.socket.request({ type: 'message.send', client_id: 'x', text: 'Нужна помощь' });
    const dialogId = (ack.data as { message: { dialog_id: number } }).message.dialog_id;
    const updated = op1.socket.expect(
      'dialog.updated',
      (f) => (f.dialog as { operator_id: number }).operator_id === w.operators[1]!.id,
    );
    const transfer = await op1.socket.request({
      type: 'dialog.transfer',
      dialog_id: dialogId,
      to_user_id: w.operators[1]!.id,
    });
    expect(transfer).toMatchObject({
      type: 'ack',
      data: { dialog: { id: dialogId, operator_id: w.operators[1]!.id } },
    });
    await updated;
    const system = await v.socket.next(
      (f) => f.type === 'message.new' && (f.message as Frame).author === 'system',
    );
    expect((system.message as { text: string }).text).toContain('Operator 2');

    const closed = v.socket.expect(
      'dialog.updated',
      (f) => (f.dialog as { status: string }).status === 'closed',
    );
    const close = await w.api('POST', `/api/v1/dialogs/${dialogId}/close`);
    expect(close.status).toBe(200);
    await closed;
    const next = await v.socket.request({ type: 'message.send', client_id: 'y', text: 'Ещё вопрос' });
    expect((next.data as { message: { dialog_id: number } }).message.dialog_id).not.toBe(dialogId);
    // A closed dialog takes no answers.
    const late = await op1.socket.request({
      type: 'message.send',
      dialog_id: dialogId,
      client_id: 'late',
      text: 'поздно',
    });
    expect(late).toMatchObject({ type: 'error', code: 'conflict', field: 'dialog_id' });
    op1.socket.close();
    v.socket.close();
  });

  it('pages through history over REST and the socket', async () => {
    const v = await w.visitor();
    for (let i = 1; i <= 25; i++)
      await v.socket.request({ type: 'message.send', client_id: `h${i}`, text: `сообщение ${i}` });
    const dialogId = (await v.socket.request({ type: 'history', limit: 1 })).data as {
      items: { dialog_id: number }[];
    };
    const id = dialogId.items[0]!.dialog_id;
    const texts: string[] = [];
    let before: number | null | undefined;
    do {
      const page = await w.api<{ items: { text: string }[]; next_before: number | null }>(
        'GET',
        `/api/v1/dialogs/${id}/messages?limit=10${before ? `&before=${before}` : ''}`,
      );
      texts.unshift(...page.body.items.map((m) => m.text));
      before = page.body.next_before;
    } while (before);
    expect(texts).toEqual(Array.from({ length: 25 }, (_, i) => `сообщение ${i + 1}`));
    const wsPage = await v.socket.request({ type: 'history', limit: 10 });
    const data = wsPage.data as { items: { text: string }[]; next_before: number };
    expect(data.items.map((m) => m.text)).toEqual(texts.slice(15));
    const older = await v.socket.request({ type: 'history', limit: 10, before: data.next_before });
    expect((older.data as { items: { text: string }[] }).items.map((m) => m.text)).toEqual(
      texts.slice(5, 15),
    );
    v.socket.close();
  });

  it('shows operators online and away, and offline once their last socket closes', async () => {
    const op = await w.operator(0, { status: 'away' });
    expect(op.welcome.status).toBe('away');
    const list = await w.api<{ items: { user_id: number; status: string }[] }>('GET', '/api/v1/operators');
    expect(list.body.items.find((o) => o.user_id === w.operators[0]!.id)?.status).toBe('away');
    const watcher = await w.operator(1);
    const offline = watcher.socket.expect(
      'presence',
      (f) =>
        (f.operator as { user_id: number; status: string }).user_id === w.operators[0]!.id &&
        (f.operator as { status: string }).status === 'offline',
    );
    op.socket.close();
    await offline;
    watcher.socket.close();
  });
});
