import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type Server, startCli } from '../support/cli.ts';

/**
 * Browser tests drive Debian's Chromium with playwright-core against the real executable (`omnitalk
 * start` on PGlite, as `npm start` runs it). Without /usr/bin/chromium they skip: CI installs it
 * (.ci/run), a fresh machine may not have it.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);
export const skipReason = `skipped: no Chromium at ${CHROMIUM} (install it: apt-get install -y chromium, or set CHROMIUM_PATH)`;
if (!hasChromium) console.warn(`browser tests ${skipReason}`);

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface DemoServer {
  base: string;
  email: string;
  password: string;
  token: string;
  dataDir: string;
  server: Server;
  stop(): Promise<void>;
}

/** `omnitalk start` on a fresh embedded database, with its demo account (and demo site). */
export async function startDemoServer(): Promise<DemoServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-browser-'));
  const token = 'omt_browser_test_token_0123456789abcdef';
  const server = await startCli(
    ['start'],
    {
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      OMNITALK_SECRET_KEY: '',
      OMNITALK_DEMO: '1',
      OMNITALK_DEMO_TOKEN: token,
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
    },
    /Chat demo:[\s\S]*Worker:/,
  );
  const banner = server.output();
  const base = /listening on (http:\/\/\S+)/.exec(banner)![1]!.replace('localhost', '127.0.0.1');
  return {
    base,
    email: /login:\s+(\S+)/.exec(banner)![1]!,
    password: /password:\s+(\S+)/.exec(banner)![1]!,
    token,
    dataDir,
    server,
    async stop() {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP proxy in front of the server that can cut the network for real: `cut()` resets every open
 * connection (the widget's WebSocket included) and refuses new ones until `restore()`. (Chromium's
 * offline emulation leaves open WebSockets alive, so it alone does not test reconnecting.)
 */
export class CuttableProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private down = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      if (this.down) {
        client.resetAndDestroy();
        return;
      }
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(base: string): Promise<CuttableProxy> {
    const url = new URL(base);
    const proxy = new CuttableProxy({ host: url.hostname, port: Number(url.port) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Signs in on the plain operator page with the demo owner's password (or another user's). */
export async function operatorSignIn(
  context: BrowserContext,
  demo: DemoServer,
  login: { email: string; password: string } = demo,
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${demo.base}/operator`);
  await page.fill('form[data-role=login] input[name=email]', login.email);
  await page.fill('form[data-role=login] input[name=password]', login.password);
  await page.click('form[data-role=login] button[type=submit]');
  await page.waitForSelector('[data-role=connection][data-state=online]');
  return page;
}

/** Collects uncaught page errors so a test can assert the pages ran clean. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** A 1×1 PNG. */
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
