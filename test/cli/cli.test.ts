import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, runCli, startCli } from '../support/cli.ts';

const quiet = { LOG_LEVEL: 'warn', DATABASE_URL: '', OMNITALK_SECRET_KEY: '' };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-cli-'));

describe('the omnitalk executable on the embedded database', () => {
  it('starts with a demo account, serves the API, and keeps its data across restarts', async () => {
    const dataDir = tmp();
    const env = {
      ...quiet,
      DATA_DIR: dataDir,
      PORT: '0',
      OMNITALK_DEMO_TOKEN: 'omt_demo_token_for_tests_0123456789',
    };
    const first = await startCli(['start'], env, /Worker:/);
    const banner = first.output();
    const base = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
    expect(base).toBeDefined();
    expect(banner).toContain('/api/docs');
    expect(banner).toContain('demo@omnitalk.local');
    expect(banner).toContain('omt_demo_token_for_tests_0123456789');
    const auth = {
      authorization: 'Bearer omt_demo_token_for_tests_0123456789',
      'content-type': 'application/json',
    };
    const created = await fetch(`${base}/api/v1/contacts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ phone: '+79990001122', name: 'Persisted' }),
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(fs.statSync(path.join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);

    // A second process must not open the same embedded database.
    const clash = await runCli(['migrate'], { ...quiet, DATA_DIR: dataDir });
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/in use by process/);

    expect(await first.stop()).toBe(0);

    const second = await startCli(['start'], { ...env, OMNITALK_DEMO_TOKEN: '' }, /Worker:/);
    const base2 = /listening on (http:\/\/\S+)/.exec(second.output())?.[1];
    expect(second.output()).toContain('omt_demo_token_for_tests_0123456789');
    const list = await fetch(`${base2}/api/v1/contacts?q=Persisted`, { headers: auth });
    expect(((await list.json()) as { items: unknown[] }).items).toHaveLength(1);
    expect(await second.stop()).toBe(0);
  });

  it('sets up accounts and tokens from scripts with --json, and skips the demo with OMNITALK_DEMO=0', async () => {
    const dataDir = tmp();
    const env = { ...quiet, DATA_DIR: dataDir, OMNITALK_DEMO: '0' };
    const migrated = await runCli(['migrate', '--json'], env);
    expect(migrated.code).toBe(0);
    expect((JSON.parse(migrated.stdout) as { applied: string[] }).applied.length).toBeGreaterThan(0);

    const acc = await runCli(
      ['account', 'create', 'Acme', '--email', 'boss@acme.test', '--password', 'secret-pass', '--json'],
      env,
    );
    expect(acc.code).toBe(0);
    expect(JSON.parse(acc.stdout) as object).toMatchObject({
      account: { name: 'Acme' },
      owner: { email: 'boss@acme.test' },
    });
    const dup = await runCli(
      ['account', 'create', 'Acme', '--email', 'x@acme.test', '--password', 'secret-pass'],
      env,
    );
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/already exists/);

    const tok = await runCli(['token', 'create', '--account', 'Acme', '--json'], env);
    expect(tok.code).toBe(0);
    const { token } = JSON.parse(tok.stdout);
    expect(token).toMatch(/^omt_/);
    const plain = await runCli(['token', 'create', '--account', 'Acme'], env);
    expect(plain.stdout.trim()).toMatch(/^omt_\S+$/);
    const missing = await runCli(['token', 'create', '--account', 'Nope'], env);
    expect(missing.code).toBe(2);

    const server = await startCli(['server'], { ...env, PORT: '0' }, /listening on/);
    const base = /listening on (http:\/\/\S+)/.exec(server.output())?.[1];
    expect(server.output()).not.toContain('Demo account');
    const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await me.json()) as { account: { name: string } }).account.name).toBe('Acme');
    const accounts = await fetch(`${base}/api/v1/contacts`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(accounts.status).toBe(200);
    expect(await server.stop()).toBe(0);
  });
});

describe('how the executable loads the sources', () => {
  const bundle = path.join(root, 'node_modules/.cache/omnitalk/cli.mjs');
  const newestSource = (dir: string): number =>
    Math.max(
      0,
      ...fs.readdirSync(dir, { withFileTypes: true }).map((item) => {
        const file = path.join(dir, item.name);
        if (item.isDirectory()) return newestSource(file);
        return item.name.endsWith('.ts') ? fs.statSync(file).mtimeMs : 0;
      }),
    );

  it('runs a bundle of src/ and rebuilds it when a source is newer than it', async () => {
    const first = await runCli(['--help'], quiet);
    expect(first.code).toBe(0);
    expect(fs.statSync(bundle).mtimeMs).toBeGreaterThanOrEqual(newestSource(path.join(root, 'src')));
    // Make the bundle older than every source, as after an edit: the next start builds it again.
    fs.utimesSync(bundle, new Date('2000-01-01'), new Date('2000-01-01'));
    const again = await runCli(['--help'], quiet);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(fs.statSync(bundle).mtimeMs).toBeGreaterThan(new Date('2001-01-01').getTime());
  });

  it('runs the sources through tsx with OMNITALK_TSX=1', async () => {
    const result = await runCli(['--help'], { ...quiet, OMNITALK_TSX: '1' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: omnitalk');
  });
});
