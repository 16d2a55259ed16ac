import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendVisitorMessages } from '../../src/chat/messages.ts';
import { siteByPublicKey } from '../../src/chat/sites.ts';
import { identifyVisitor } from '../../src/chat/visitors.ts';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import type { Frame } from './support.ts';

/**
 * The chat's hot path writes many visitors' messages in one transaction (ChatWriter groups them). Each
 * send keeps the rules of a single send, and one bad send never fails its neighbours.
 */
describe.each(backends)('batched visitor messages on $name', (backend) => {
  let w: ChatWorld;
  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 2 });
  });
  afterAll(() => w.close());

  const newVisitor = async () => {
    const site = await siteByPublicKey(w.t.ctx.db, w.site.public_key);
    return (await identifyVisitor(w.t.ctx.db, w.t.clock, site, undefined, 'test')).visitor;
  };

  it('writes a mixed group: one dialog per visitor, repeats by client_id, per-send errors, captures', async () => {
    const { db } = w.t.ctx;
    const [a, b, c, d] = [await newVisitor(), await newVisitor(), await newVisitor(), await newVisitor()];
    // b owns a dialog already; c will name it.
    const [first] = await sendVisitorMessages(db, w.t.clock, [
      { visitor: b, input: { clientId: 'b0', text: 'Раз' } },
    ]);
    if (!first?.ok) throw new Error('setup failed');
    const bDialog = first.result.message.dialog_id;
    const outboxBefore = await db.selectFrom('outbox').select('id').execute();

    const outcomes = await sendVisitorMessages(db, w.t.clock, [
      { visitor: a, input: { clientId: 'a1', text: 'Первое' } },
      { visitor: a, input: { clientId: 'a2', text: 'Второе' } },
      { visitor: a, input: { clientId: 'a1', text: 'Первое' } },
      { visitor: c, input: { clientId: 'c1', text: 'Чужой диалог', dialogId: bDialog } },
      { visitor: c, input: { clientId: 'c2', text: 'x'.repeat(5001) } },
      { visitor: b, input: { clientId: 'b0', text: 'Раз' } },
      { visitor: b, input: { clientId: 'b1', text: 'Два', dialogId: bDialog } },
      { visitor: d, input: { clientId: 'd1', text: 'Пишите на ivan.petrov@example.ru' } },
    ]);

    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, false, false, true, true, true]);
    const ok = outcomes.map((o) => (o.ok ? o.result : null));
    expect(ok[0]!.duplicate).toBe(false);
    expect(ok[2]).toMatchObject({ duplicate: true, message: { id: ok[0]!.message.id } });
    expect(ok[5]).toMatchObject({ duplicate: true, message: { id: first.result.message.id } });
    expect(ok[6]!.message.dialog_id).toBe(bDialog);
    expect(ok[0]!.message.dialog_id).toBe(ok[1]!.message.dialog_id);
    const errors = outcomes.map((o) => (o.ok ? null : (o.error as { code: string; field: string })));
    expect(errors[3]).toMatchObject({ code: 'not_found', field: 'dialog_id' });
    expect(errors[4]).toMatchObject({ code: 'payload_too_large', field: 'text' });

    // Rows: a 2, b 2 (one before), c none, d 1; each dialog points at its last message.
    const rows = await db
      .selectFrom('chat_messages')
      .select(['id', 'visitor_id', 'dialog_id', 'text'])
      .where('visitor_id', 'in', [a.id, b.id, c.id, d.id])
      .orderBy('id')
      .execute();
    // Each visitor's messages in the order sent (the order between visitors is not a promise).
    const textsOf = (id: number) => rows.filter((r) => r.visitor_id === id).map((r) => r.text);
    expect(textsOf(a.id)).toEqual(['Первое', 'Второе']);
    expect(textsOf(b.id)).toEqual(['Раз', 'Два']);
    expect(textsOf(c.id)).toEqual([]);
    expect(textsOf(d.id)).toEqual(['Пишите на ivan.petrov@example.ru']);
    const dialogs = await db
      .selectFrom('dialogs')
      .select(['id', 'visitor_id', 'status', 'last_message_id'])
      .where('visitor_id', 'in', [a.id, b.id, c.id, d.id])
      .execute();
    expect(dialogs.map((x) => x.visitor_id).sort()).toEqual([a.id, b.id, d.id].sort());
    for (const dialog of dialogs) {
      const last = rows.filter((r) => r.dialog_id === dialog.id).at(-1);
      expect(dialog.last_message_id).toBe(last?.id);
    }
    // One message.created per row written, the dialogs opened, and the captured contact.
    const outbox = await db
      .selectFrom('outbox')
      .select(['kind', 'payload'])
      .where('id', 'not in', outboxBefore.length ? outboxBefore.map((o) => o.id) : [0])
      .execute();
    const kinds = outbox.map((o) => o.kind);
    expect(kinds.filter((k) => k === 'message.created')).toHaveLength(4);
    expect(kinds.filter((k) => k === 'dialog.opened')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'contact.captured')).toHaveLength(1);
    const contact = await db
      .selectFrom('visitors as v')
      .innerJoin('contacts as ct', 'ct.id', 'v.contact_id')
      .select('ct.email')
      .where('v.id', '=', d.id)
      .executeTakeFirst();
    expect(contact?.email).toBe('ivan.petrov@example.ru');
  });

  it('sends a group to the right sockets; an operator with scope "assigned" sees only its and waiting dialogs', async () => {
    const mine = await w.operator(0, { status: 'online', scope: 'assigned' });
    const all = await w.operator(1, { status: 'away' });
    const v1 = await w.visitor();
    const v2 = await w.visitor();
    // Nobody else is online: every new dialog goes to operator 0.
    const a1 = await v1.socket.request({ type: 'message.send', client_id: 'q1', text: 'Вопрос один' });
    const d1 = (a1.data as { message: { dialog_id: number } }).message.dialog_id;
    await mine.socket.next((f) => f.type === 'message.new' && (f.message as Frame).dialog_id === d1);
    // Move v1's dialog to operator 1: operator 0 (assigned scope) stops seeing its messages.
    const moved = await w.api('POST', `/api/v1/dialogs/${d1}/transfer`, { to_user_id: w.operators[1]!.id });
    expect(moved.status).toBe(200);

    const { db } = w.t.ctx;
    const visitors = await db
      .selectFrom('visitors')
      .select(['id', 'account_id', 'site_id'])
      .where('id', 'in', [v1.welcome.visitor.id, v2.welcome.visitor.id])
      .orderBy('id')
      .execute();
    const [r1, r2] = visitors.map((v) => ({ id: v.id, accountId: v.account_id, siteId: v.site_id! }));
    const toAll = all.socket.expect('message.new', (f) => (f.message as Frame).text === 'групповое 2');
    const toV2 = v2.socket.expect('message.new', (f) => (f.message as Frame).text === 'групповое 2');
    const toMine = mine.socket.expect('message.new', (f) => (f.message as Frame).text === 'групповое 2');
    const outcomes = await sendVisitorMessages(db, w.t.clock, [
      { visitor: r1!, input: { clientId: 'g1', text: 'групповое 1' } },
      { visitor: r2!, input: { clientId: 'g2', text: 'групповое 2' } },
    ]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await Promise.all([toAll, toV2, toMine]);
    await w.hub.drain();
    const texts = (frames: Frame[]) =>
      frames.filter((f) => f.type === 'message.new').map((f) => (f.message as Frame).text);
    // Operator 1 (scope all) saw both; operator 0 only v2's (its own dialog); each visitor only its own.
    expect(texts(all.socket.frames)).toEqual(expect.arrayContaining(['групповое 1', 'групповое 2']));
    expect(texts(mine.socket.frames)).not.toContain('групповое 1');
    expect(texts(v2.socket.frames)).not.toContain('групповое 1');
    expect(texts(v1.socket.frames)).toContain('групповое 1');
    expect(texts(v1.socket.frames)).not.toContain('групповое 2');
    for (const s of [mine, all, v1, v2]) s.socket.close();
  });

  it('refuses an unknown scope naming the field', async () => {
    const refused = await w.operator(0, { scope: 'everything' });
    expect(refused.welcome).toMatchObject({ type: 'error', code: 'invalid_message', field: 'scope' });
    refused.socket.close();
  });
});
