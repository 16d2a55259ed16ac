import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CuttableProxy,
  type DemoServer,
  hasChromium,
  launchChromium,
  operatorSignIn,
  PNG,
  pageErrors,
  skipReason,
  startDemoServer,
} from './support.ts';

/** What the widget exposes on the host page (widget/src/main.ts); the test runs without DOM typings. */
interface PageGlobals {
  omnitalk?: { widget: { chat: { dialog: { id: number } | null; token: string | null } } };
  document: { getElementById(id: string): { shadowRoot: unknown } | null };
}

/**
 * The whole chat flow in a real browser: the demo page served by `omnitalk start` embeds the widget
 * with the demo site's snippet; a second browser context answers on the plain operator page. Visitor
 * traffic goes through a proxy that can cut the network for real.
 */
describe.skipIf(!hasChromium)(
  `the widget and the operator page in Chromium${hasChromium ? '' : ` (${skipReason})`}`,
  () => {
    let demo: DemoServer;
    let proxy: CuttableProxy;
    let browser: Browser;
    let operatorContext: BrowserContext;
    let operator: Page;
    let visitorContext: BrowserContext;
    let visitor: Page;
    const errors: string[] = [];

    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${demo.base}${path}`, { headers: { authorization: `Bearer ${demo.token}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    };
    const dialogIdOf = (page: Page) =>
      page
        .waitForFunction(
          () => (globalThis as unknown as PageGlobals).omnitalk?.widget.chat.dialog?.id ?? null,
        )
        .then(async (h) => (await h.jsonValue()) as number);
    const historyTexts = async (dialogId: number) =>
      (await api<{ items: { text: string }[] }>(`/api/v1/dialogs/${dialogId}/messages?limit=200`)).items.map(
        (m) => m.text,
      );
    const widgetMessage = (page: Page, author: 'mine' | 'op', text: string) =>
      page.locator(`[data-omnitalk=messages] .msg.${author}`, { hasText: text });
    const operatorMessage = (text: string) =>
      operator.locator('[data-role=messages] [data-role=message]', { hasText: text });
    const openDemo = async (context: BrowserContext, query = '') => {
      const page = await context.newPage();
      errors.push(...pageErrors(page));
      await page.goto(`${proxy.base}/demo${query}`);
      return page;
    };

    beforeAll(async () => {
      demo = await startDemoServer();
      proxy = await CuttableProxy.start(demo.base);
      browser = await launchChromium();
      operatorContext = await browser.newContext();
      operator = await operatorSignIn(operatorContext, demo);
      errors.push(...pageErrors(operator));
      visitorContext = await browser.newContext();
      visitor = await openDemo(visitorContext);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await proxy?.close();
      await demo?.stop();
    });

    it('serves the demo page with the snippet of the demo site and the widget script it names', async () => {
      const snippet = await visitor.locator('#snippet').textContent();
      expect(snippet).toMatch(
        /^<script async src="http:\/\/127\.0\.0\.1:\d+\/widget\/v1\/widget\.js" data-omnitalk-site="st_[\w-]+"><\/script>$/,
      );
      const sites = await api<{ items: { id: number; public_key: string }[] }>('/api/v1/sites');
      const embed = await api<{ snippet: string }>(`/api/v1/sites/${sites.items[0]!.id}/embed`);
      expect(snippet).toContain(sites.items[0]!.public_key);
      expect(embed.snippet).toContain('/widget/v1/widget.js');
      await visitor.locator('[data-omnitalk=launcher]').waitFor();
      // The widget lives in a shadow root: the page's styles and scripts do not reach into it.
      expect(
        await visitor.evaluate(
          () =>
            (globalThis as unknown as PageGlobals).document.getElementById('omnitalk-widget')?.shadowRoot !=
            null,
        ),
      ).toBe(true);
      expect(await visitor.locator('[data-omnitalk=launcher]').getAttribute('aria-label')).toBe(
        'Открыть чат',
      );
    });

    it('chats both ways in real time with typing indicators and read marks', async () => {
      await visitor.click('[data-omnitalk=launcher]');
      await visitor.fill('[data-omnitalk=input]', 'Здравствуйте! Есть ли сенча?');
      await visitor.press('[data-omnitalk=input]', 'Enter');
      await widgetMessage(visitor, 'mine', 'Есть ли сенча')
        .and(visitor.locator('[data-mark=delivered]'))
        .waitFor();
      const dialogId = await dialogIdOf(visitor);

      // The dialog appears live on the operator page; opening it marks the visitor's message read.
      await operator.locator(`[data-role=dialog][data-dialog-id="${dialogId}"]`).click();
      await operatorMessage('Есть ли сенча').waitFor();
      await widgetMessage(visitor, 'mine', 'Есть ли сенча')
        .and(visitor.locator('[data-mark=read]'))
        .waitFor();

      // Typing, both ways.
      await operator.fill('[data-role=input]', 'Да, есть');
      await visitor.locator('[data-omnitalk=typing]').waitFor({ state: 'visible' });
      await visitor.fill('[data-omnitalk=input]', 'А улун?');
      await operator.locator('[data-role=typing]', { hasText: 'Посетитель печатает' }).waitFor();

      await operator.press('[data-role=input]', 'Enter');
      await widgetMessage(visitor, 'op', 'Да, есть').waitFor();
      await visitor.locator('[data-omnitalk=typing]').waitFor({ state: 'hidden' });
      expect(await widgetMessage(visitor, 'op', 'Да, есть').locator('.who').textContent()).toBe('Demo owner');
      // The widget is open and visible: the visitor read the answer, and the operator sees it.
      await operator.locator('[data-role=message][data-author=operator] [data-mark=read]').waitFor();

      await visitor.press('[data-omnitalk=input]', 'Enter');
      await operatorMessage('А улун?').waitFor();
      expect(await historyTexts(dialogId)).toEqual(['Здравствуйте! Есть ли сенча?', 'Да, есть', 'А улун?']);
    });

    it('keeps the visitor, the dialog and the history across a reload', async () => {
      const before = await dialogIdOf(visitor);
      const token = await visitor.evaluate(
        () => (globalThis as unknown as PageGlobals).omnitalk?.widget.chat.token,
      );
      await visitor.reload();
      await widgetMessage(visitor, 'op', 'Да, есть').waitFor(); // the panel stays open, history is back
      await widgetMessage(visitor, 'mine', 'А улун?').waitFor();
      expect(await dialogIdOf(visitor)).toBe(before);
      expect(
        await visitor.evaluate(() => (globalThis as unknown as PageGlobals).omnitalk?.widget.chat.token),
      ).toBe(token);
      expect(await visitor.locator('[data-omnitalk=messages] .msg').count()).toBe(3);
    });

    it('captures the contact form with field errors, and the operator sees the contact', async () => {
      const dialogId = await dialogIdOf(visitor);
      await visitor.click('[data-omnitalk=contact-open]');
      await visitor.fill('[data-omnitalk=contact-form] input[name=phone]', '12');
      await visitor.click('[data-omnitalk=contact-save]');
      await visitor.locator('[data-omnitalk=form-error]', { hasText: 'Проверьте номер телефона' }).waitFor();
      expect(await visitor.locator('input[name=phone]').getAttribute('aria-invalid')).toBe('true');

      await visitor.fill('[data-omnitalk=contact-form] input[name=name]', 'Иван Петров');
      await visitor.fill('[data-omnitalk=contact-form] input[name=phone]', '8 (999) 123-45-67');
      await visitor.fill('[data-omnitalk=contact-form] input[name=email]', 'ivan@example.com');
      await visitor.click('[data-omnitalk=contact-save]');
      await visitor.locator('[data-omnitalk=note]', { hasText: 'Контакты сохранены' }).waitFor();
      await visitor.locator('[data-omnitalk=contact-form]').waitFor({ state: 'hidden' });

      await operator.locator('[data-role=contact]', { hasText: '+79991234567' }).waitFor();
      await operator
        .locator(`[data-role=dialog][data-dialog-id="${dialogId}"]`, { hasText: 'Иван Петров' })
        .waitFor();
      const events = await api<{ items: { kind: string; payload: unknown }[] }>(
        '/api/v1/chat/events?kind=contact.captured',
      );
      expect(JSON.stringify(events.items)).toContain('+79991234567');
    });

    it('sends an allowed attachment and refuses wrong types and sizes before and at the server', async () => {
      const dialogId = await dialogIdOf(visitor);
      const file = visitor.locator('[data-omnitalk=file]');
      await file.setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PNG });
      const sent = visitor.locator('[data-omnitalk=messages] .msg.mine[data-mark]').filter({
        has: visitor.locator('img[alt="photo.png"]'),
      });
      await sent.waitFor();
      // The picture loads from the widget's attachment URL (the visitor token authorises it).
      await expect
        .poll(() =>
          sent.locator('img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        )
        .toBe(1);
      await operator.locator('[data-role=attachment]', { hasText: 'photo.png' }).waitFor();
      const count = (await historyTexts(dialogId)).length;

      const note = visitor.locator('[data-omnitalk=note]');
      await file.setInputFiles({
        name: 'tool.exe',
        mimeType: 'application/x-msdownload',
        buffer: Buffer.from('MZ'),
      });
      await note.filter({ hasText: 'Такой файл отправить нельзя' }).waitFor();
      await file.setInputFiles({
        name: 'big.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.alloc(10 * 1024 * 1024 + 1, 0x25),
      });
      await note.filter({ hasText: 'Файл слишком большой' }).waitFor();
      // Declared an image, but not one: the server refuses it (415) and the widget says so.
      await file.setInputFiles({
        name: 'fake.png',
        mimeType: 'image/png',
        buffer: Buffer.from('not an image'),
      });
      await note.filter({ hasText: 'Такой файл отправить нельзя' }).waitFor();
      expect((await historyTexts(dialogId)).length).toBe(count);
    });

    it('resends messages typed while the network was cut, exactly once', async () => {
      const dialogId = await dialogIdOf(visitor);
      proxy.cut();
      await visitorContext.setOffline(true);
      await visitor.locator('[data-omnitalk=banner]', { hasText: 'Переподключаемся' }).waitFor();
      for (const text of ['Пока без связи — 1', 'Пока без связи — 2']) {
        await visitor.fill('[data-omnitalk=input]', text);
        await visitor.press('[data-omnitalk=input]', 'Enter');
        await widgetMessage(visitor, 'mine', text).and(visitor.locator('[data-mark=sending]')).waitFor();
      }
      proxy.restore();
      await visitorContext.setOffline(false);
      for (const text of ['Пока без связи — 1', 'Пока без связи — 2']) {
        await widgetMessage(visitor, 'mine', text)
          .and(visitor.locator('[data-mark=delivered], [data-mark=read]'))
          .waitFor();
        await operatorMessage(text).waitFor();
      }
      await visitor.locator('[data-omnitalk=banner]').waitFor({ state: 'hidden' });
      const texts = await historyTexts(dialogId);
      expect(texts.filter((t) => t.startsWith('Пока без связи'))).toEqual([
        'Пока без связи — 1',
        'Пока без связи — 2',
      ]);
      expect(await operator.locator('[data-role=message]', { hasText: 'Пока без связи' }).count()).toBe(2);
      expect(await visitor.locator('.msg.mine', { hasText: 'Пока без связи' }).count()).toBe(2);
    });

    it('shows the operator status to new visitors and speaks English when the page does', async () => {
      await operator.selectOption('[data-role=status]', 'away');
      await expect
        .poll(async () => (await api<{ items: { status: string }[] }>('/api/v1/operators')).items[0]?.status)
        .toBe('away');
      const context = await browser.newContext();
      const sockets: string[] = [];
      context.on('page', (p) => p.on('websocket', (ws) => sockets.push(ws.url())));
      const english = await openDemo(context, '?lang=en');
      expect(await english.locator('[data-omnitalk=launcher]').getAttribute('aria-label')).toBe('Open chat');
      // A visitor who has not opened the chat holds no socket (and is no visitor row yet).
      await english.waitForTimeout(300);
      expect(sockets).toEqual([]);
      await english.click('[data-omnitalk=launcher]');
      await english.locator('[data-omnitalk=status]', { hasText: 'Leave a message' }).waitFor();
      expect(await english.locator('[data-omnitalk=input]').getAttribute('placeholder')).toBe(
        'Type a message…',
      );
      // The status may come before Chromium reports the socket: wait for the event, then hold it to one.
      await expect.poll(() => sockets.length).toBe(1);
      expect(sockets).toEqual([`${proxy.base.replace('http', 'ws')}/ws/visitor`]);
      await context.close();
      await operator.selectOption('[data-role=status]', 'online');
    });

    it('ran without page errors', () => {
      expect(errors).toEqual([]);
    });
  },
);
