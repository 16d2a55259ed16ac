import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DemoServer,
  hasChromium,
  launchChromium,
  operatorSignIn,
  pageErrors,
  skipReason,
  startDemoServer,
} from './support.ts';

/** What the widget exposes on the host page (widget/src/main.ts); the test runs without DOM typings. */
interface PageGlobals {
  omnitalk?: { widget: { chat: { dialog: { id: number } | null } } };
}

interface Dialog {
  operator_id: number | null;
}

/**
 * Transferring a dialog on the plain operator page: the demo owner (A) answers a visitor, hands the
 * dialog to a second operator (B, signed in in another browser context), and B answers it.
 */
describe.skipIf(!hasChromium)(
  `transferring a dialog between operators in Chromium${hasChromium ? '' : ` (${skipReason})`}`,
  () => {
    const B = { name: 'Оператор Б', email: 'operator-b@example.com', password: 'operator-b-password' };
    let demo: DemoServer;
    let browser: Browser;
    let a: Page;
    let b: Page;
    let visitor: Page;
    let aId: number;
    let bId: number;
    const errors: string[] = [];

    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${demo.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${demo.token}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(res.status).toBeLessThan(300);
      return (await res.json()) as T;
    };
    const operatorOf = async (dialogId: number) =>
      (await api<Dialog>('GET', `/api/v1/dialogs/${dialogId}`)).operator_id;
    const message = (page: Page, text: string) =>
      page.locator('[data-role=messages] [data-role=message]', { hasText: text });
    const listItem = (page: Page, dialogId: number) =>
      page.locator(`[data-role=dialog][data-dialog-id="${dialogId}"]`);

    beforeAll(async () => {
      demo = await startDemoServer();
      browser = await launchChromium();
      a = await operatorSignIn(await browser.newContext(), demo);
      errors.push(...pageErrors(a));
      const operators = await api<{ items: { user_id: number; email: string }[] }>(
        'GET',
        '/api/v1/operators',
      );
      aId = operators.items.find((o) => o.email === demo.email)!.user_id;
      bId = (
        await api<{ id: number }>('POST', '/api/v1/users', {
          email: B.email,
          password: B.password,
          name: B.name,
          role: 'operator',
        })
      ).id;
      visitor = await (await browser.newContext()).newPage();
      errors.push(...pageErrors(visitor));
      await visitor.goto(`${demo.base}/demo`);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await demo?.stop();
    });

    it('A transfers a dialog to B, who sees it, and answers; the visitor gets the answer from B', async () => {
      // The visitor writes while only A is online, so the dialog is A's.
      await visitor.click('[data-omnitalk=launcher]');
      await visitor.fill('[data-omnitalk=input]', 'Подскажите, где мой заказ?');
      await visitor.press('[data-omnitalk=input]', 'Enter');
      const dialogId = await visitor
        .waitForFunction(
          () => (globalThis as unknown as PageGlobals).omnitalk?.widget.chat.dialog?.id ?? null,
        )
        .then(async (handle) => (await handle.jsonValue()) as number);
      await expect.poll(() => operatorOf(dialogId), { timeout: 10_000 }).toBe(aId);

      // B signs in in a second browser context; A's page learns of B from the live presence frames.
      b = await operatorSignIn(await browser.newContext(), demo, B);
      errors.push(...pageErrors(b));
      await listItem(b, dialogId).filter({ hasText: 'Demo owner' }).waitFor();

      await listItem(a, dialogId).click();
      await message(a, 'где мой заказ').waitFor();
      const target = a.locator(`[data-role=transfer-to] option[value="${bId}"]`);
      await target.filter({ hasText: `${B.name} — в сети` }).waitFor({ state: 'attached' });
      await a.selectOption('[data-role=transfer-to]', String(bId));
      await a.click('[data-role=transfer]');

      // A's page: the system message, B as the operator, and nobody left to transfer to.
      await message(a, `Диалог передан оператору ${B.name}`).waitFor();
      await a.locator('[data-role=dialog-title]', { hasText: B.name }).waitFor();
      await a.locator('[data-role=transfer-to]').waitFor({ state: 'hidden' });
      await expect.poll(() => operatorOf(dialogId), { timeout: 10_000 }).toBe(bId);

      // B's page: the dialog is B's now; B opens it, sees the history, and answers without taking it.
      await listItem(b, dialogId).filter({ hasText: B.name }).click();
      await message(b, 'где мой заказ').waitFor();
      await message(b, `Диалог передан оператору ${B.name}`).waitFor();
      await b.locator('[data-role=dialog-title]', { hasText: B.name }).waitFor();
      await b.locator('[data-role=take]').waitFor({ state: 'hidden' });
      // B could hand it back to A.
      await b
        .locator(`[data-role=transfer-to] option[value="${aId}"]`, { hasText: 'Demo owner' })
        .waitFor({ state: 'attached' });
      await b.fill('[data-role=input]', 'Заказ уже в пути, завтра будет у вас');
      await b.press('[data-role=input]', 'Enter');

      const answer = visitor.locator('[data-omnitalk=messages] .msg.op', { hasText: 'Заказ уже в пути' });
      await answer.locator('.who', { hasText: B.name }).waitFor();
      await message(a, 'Заказ уже в пути').waitFor();

      const history = await api<{ items: { author: string; author_name: string | null; text: string }[] }>(
        'GET',
        `/api/v1/dialogs/${dialogId}/messages`,
      );
      expect(history.items.map((m) => [m.author, m.text])).toEqual([
        ['visitor', 'Подскажите, где мой заказ?'],
        ['system', `Диалог передан оператору ${B.name}`],
        ['operator', 'Заказ уже в пути, завтра будет у вас'],
      ]);
      expect(history.items.at(-1)!.author_name).toBe(B.name);
      const events = await api<{ items: { payload: Record<string, unknown> }[] }>(
        'GET',
        '/api/v1/chat/events?kind=dialog.transferred',
      );
      expect(events.items.map((e) => e.payload)).toContainEqual(
        expect.objectContaining({
          dialog_id: dialogId,
          from_operator_id: aId,
          to_operator_id: bId,
          by_operator_id: aId,
        }),
      );
    });

    it('ran without page errors', () => {
      expect(errors).toEqual([]);
    });
  },
);
