import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoAccount } from '../../src/accounts/demo.ts';
import { attachmentTypes, chatLimits } from '../../src/chat/vocabulary.ts';
import { buildApp } from '../../src/http/app.ts';
import { buildBundle } from '../../src/web/bundle.ts';
import {
  ATTACHMENT_TYPES,
  checkFile,
  DEFAULT_ATTACHMENT_BYTES,
  normalizedType,
} from '../../widget/src/limits.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe('the widget bundle', () => {
  it('is one minified script under 40 kB gzipped', async () => {
    const bundle = await buildBundle('widget');
    const gzipped = zlib.gzipSync(bundle.code, { level: 9 }).length;
    expect(gzipped).toBeLessThan(40 * 1024);
    expect(bundle.gzip.length).toBe(gzipped);
    // An IIFE with no imports left: it runs from a plain <script> tag on any page.
    expect(bundle.code.toString()).not.toMatch(/^\s*import\s|\bexport\s*\{/m);
  });

  it('checks files with the same limits the server applies', () => {
    expect([...ATTACHMENT_TYPES].sort()).toEqual([...attachmentTypes].sort());
    expect(DEFAULT_ATTACHMENT_BYTES).toBe(chatLimits.attachmentBytes);
    const max = chatLimits.attachmentBytes;
    expect(checkFile({ type: 'image/png', size: 10 }, max)).toEqual({ ok: true });
    expect(checkFile({ type: 'application/pdf', size: max }, max)).toEqual({ ok: true });
    expect(checkFile({ type: 'application/pdf', size: max + 1 }, max)).toEqual({ ok: false, reason: 'size' });
    expect(checkFile({ type: 'text/plain', size: 0 }, max)).toEqual({ ok: false, reason: 'empty' });
    expect(checkFile({ type: 'application/x-msdownload', size: 10 }, max)).toEqual({
      ok: false,
      reason: 'type',
    });
    expect(checkFile({ type: '', size: 10 }, max)).toEqual({ ok: false, reason: 'type' });
    expect(checkFile({ type: 'image/svg+xml', size: 10 }, max)).toEqual({ ok: false, reason: 'type' });
    expect(normalizedType('application/x-zip-compressed')).toBe('application/zip');
    expect(checkFile({ type: 'application/x-zip-compressed', size: 10 }, max)).toEqual({ ok: true });
  });
});

describe.each(backends)('the pages the server serves on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the widget at the URL of the embed snippet, gzipped, cacheable and revalidated', async () => {
    for (const url of ['/widget/v1/widget.js', '/widget.js']) {
      const res = await t.app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, br' } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(res.rawPayload.length).toBeLessThan(40 * 1024);
      expect(zlib.gunzipSync(res.rawPayload).toString()).toContain('data-omnitalk-site');
      const again = await t.app.inject({
        method: 'GET',
        url,
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      expect(again.statusCode).toBe(304);
    }
    const plain = await t.app.inject({ method: 'GET', url: '/widget/v1/widget.js' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['access-control-allow-origin']).toBe('*');
  });

  it('serves the operator page shell and its script', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/operator' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('<script src="/operator/app.js"></script>');
    const script = await t.app.inject({ method: 'GET', url: '/operator/app.js' });
    expect(script.statusCode).toBe(200);
    expect(script.body).toContain('/api/v1/auth/login');
  });

  it('serves the demo page only with the demo account, embedding its site by the snippet', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/demo' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('OMNITALK_DEMO');

    const demo = await ensureDemoAccount(t.ctx, null);
    await ensureDemoAccount(t.ctx, null); // a second start adds no second site
    const sites = await t.ctx.db
      .selectFrom('sites')
      .select('public_key')
      .where('account_id', '=', demo.accountId)
      .execute();
    expect(sites).toHaveLength(1);
    const page = await t.app.inject({ method: 'GET', url: '/demo', headers: { host: 'shop.test:8080' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(
      `<script async src="http://shop.test:8080/widget/v1/widget.js" data-omnitalk-site="${sites[0]!.public_key}"></script>`,
    );
    expect(page.body).toContain('href="/operator"');
    const english = await t.app.inject({ method: 'GET', url: '/demo?lang=en' });
    expect(english.body).toContain('<html lang="en">');

    // An install started with OMNITALK_DEMO=0 serves no demo page, though the account is still there.
    const off = await buildApp(t.ctx, { demo: false, rateLimit: false });
    const refused = await off.inject({ method: 'GET', url: '/demo' });
    expect(refused.statusCode).toBe(404);
    expect(refused.body).not.toContain(sites[0]!.public_key);
    await off.close();
  });
});
