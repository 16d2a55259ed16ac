import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGES_KEPT } from '../../src/chat/visitors.ts';
import { createTenant } from '../support/app.ts';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import { addOperator, api, type Frame, sessionCookie } from './support.ts';

interface Card {
  pages: { url: string; title: string; visited_at: string }[];
}

describe.each(backends)('visited pages in the visitor card on $name', (backend) => {
  let w: ChatWorld;
  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 1 });
  });
  afterAll(() => w.close());

  const dialogOf = (ack: Frame) => (ack.data as { message: { dialog_id: number } }).message.dialog_id;
  const card = async (dialogId: number) => {
    const res = await w.api<Card>('GET', `/api/v1/dialogs/${dialogId}/card`);
    expect(res.status).toBe(200);
    return res.body.pages;
  };
  const pagesOf = (visitorId: number) =>
    w.t.ctx.db
      .selectFrom('visitor_pages')
      .select(['id', 'url'])
      .where('visitor_id', '=', visitorId)
      .orderBy('id')
      .execute();

  it('shows the hello page and later page.view frames, newest first, a reload counted once', async () => {
    const v = await w.visitor({ page: { url: 'https://shop.example/', title: 'Главная' } });
    const ack = await v.socket.request({ type: 'message.send', client_id: 'p1', text: 'Здравствуйте' });
    const dialogId = dialogOf(ack);
    expect(await card(dialogId)).toEqual([
      { url: 'https://shop.example/', title: 'Главная', visited_at: '2026-11-25T09:00:00.000Z' },
    ]);

    const views = [
      { url: 'https://shop.example/catalog', title: 'Каталог' },
      { url: 'https://shop.example/catalog/sencha', title: 'Сенча' },
      { url: 'https://shop.example/catalog/sencha', title: 'Сенча' }, // a reload
      { url: 'https://shop.example/cart' },
      { url: 'https://shop.example/', title: 'Главная' }, // back home: a new visit
    ];
    for (const view of views) {
      w.t.clock.advance(60_000);
      expect(await v.socket.request({ type: 'page.view', ...view })).toMatchObject({ type: 'ack' });
    }
    expect(await card(dialogId)).toEqual([
      { url: 'https://shop.example/', title: 'Главная', visited_at: '2026-11-25T09:05:00.000Z' },
      { url: 'https://shop.example/cart', title: '', visited_at: '2026-11-25T09:04:00.000Z' },
      { url: 'https://shop.example/catalog/sencha', title: 'Сенча', visited_at: '2026-11-25T09:02:00.000Z' },
      { url: 'https://shop.example/catalog', title: 'Каталог', visited_at: '2026-11-25T09:01:00.000Z' },
      { url: 'https://shop.example/', title: 'Главная', visited_at: '2026-11-25T09:00:00.000Z' },
    ]);

    // A page that is no http(s) address is refused, naming the field, and not kept.
    const bad = await v.socket.request({ type: 'page.view', url: 'javascript:alert(1)' });
    expect(bad).toMatchObject({ type: 'error', code: 'invalid_message', field: 'url' });
    expect(await card(dialogId)).toHaveLength(5);
    v.socket.close();
  });

  it("keeps the card from another account's operator", async () => {
    const v = await w.visitor({ page: { url: 'https://shop.example/secret-offer', title: 'Тайная скидка' } });
    const ack = await v.socket.request({ type: 'message.send', client_id: 's1', text: 'Привет' });
    const dialogId = dialogOf(ack);
    expect((await card(dialogId))[0]).toMatchObject({ title: 'Тайная скидка' });

    const other = await createTenant(w.t.ctx);
    const stranger = await addOperator(w.t.ctx, other.accountId, 'Stranger');
    const cookie = await sessionCookie(w.base, stranger.email, stranger.password);
    for (const auth of [{ cookie }, other.auth]) {
      const res = await api<{ error: { code: string } }>(
        w.base,
        auth,
        'GET',
        `/api/v1/dialogs/${dialogId}/card`,
      );
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
      expect(JSON.stringify(res.body)).not.toContain('secret-offer');
    }
    // Its own operator, signed in the same way, reads it.
    const own = await api<Card>(
      w.base,
      { cookie: w.operators[0]!.cookie },
      'GET',
      `/api/v1/dialogs/${dialogId}/card`,
    );
    expect(own.status).toBe(200);
    expect(own.body.pages[0]).toMatchObject({ url: 'https://shop.example/secret-offer' });
    v.socket.close();
  });

  it('keeps exactly the newest pages of each visitor, even with several tabs reporting at once', async () => {
    const neighbour = await w.visitor({ page: { url: 'https://shop.example/neighbour', title: 'Сосед' } });
    await neighbour.socket.request({ type: 'page.view', url: 'https://shop.example/neighbour/2' });

    const first = await w.visitor({ page: { url: 'https://shop.example/start', title: 'Старт' } });
    const token = first.welcome.visitor.token!;
    const visitorId = first.welcome.visitor.id;
    const ack = await first.socket.request({ type: 'message.send', client_id: 'b1', text: 'Много страниц' });
    const dialogId = dialogOf(ack);
    // Five tabs of the same visitor, each well within its socket's rate limit, together past the bound.
    const tabs = [first.socket];
    for (let i = 1; i < 5; i++) tabs.push((await w.visitor({ token })).socket);
    const perTab = 22;
    expect(tabs.length * perTab).toBeGreaterThan(PAGES_KEPT);
    await Promise.all(
      tabs.map(async (tab, t) => {
        for (let k = 0; k < perTab; k++) {
          const answer = await tab.request({
            type: 'page.view',
            url: `https://shop.example/tab${t}/page${k}`,
          });
          expect(answer).toMatchObject({ type: 'ack' });
        }
      }),
    );
    const kept = await pagesOf(visitorId);
    expect(kept).toHaveLength(PAGES_KEPT);
    // What went is the oldest: in each tab's own order, the pages kept are its latest ones.
    expect(kept.some((p) => p.url.endsWith('/start'))).toBe(false);
    for (let t = 0; t < tabs.length; t++) {
      const ks = kept
        .map((p) => /\/tab(\d+)\/page(\d+)$/.exec(p.url))
        .filter((m) => m && Number(m[1]) === t)
        .map((m) => Number(m![2]));
      expect(ks).toEqual(Array.from({ length: ks.length }, (_, i) => perTab - ks.length + i));
    }

    // Later views keep the bound exact, and the card leads with them.
    for (const k of [1, 2, 3])
      await tabs[0]!.request({ type: 'page.view', url: `https://shop.example/last${k}` });
    const after = await pagesOf(visitorId);
    expect(after).toHaveLength(PAGES_KEPT);
    expect(after.slice(0, -3)).toEqual(kept.slice(3));
    const shown = await card(dialogId);
    expect(shown.slice(0, 3).map((p) => p.url)).toEqual([
      'https://shop.example/last3',
      'https://shop.example/last2',
      'https://shop.example/last1',
    ]);
    expect(shown.map((p) => p.url)).toEqual(
      after
        .map((p) => p.url)
        .reverse()
        .slice(0, shown.length),
    );

    // Another visitor's pages are untouched.
    expect((await pagesOf(neighbour.welcome.visitor.id)).map((p) => p.url)).toEqual([
      'https://shop.example/neighbour',
      'https://shop.example/neighbour/2',
    ]);
    for (const tab of tabs) tab.close();
    neighbour.socket.close();
  });
});
