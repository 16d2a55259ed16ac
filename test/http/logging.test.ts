import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createAccount, createApiToken, createUser } from '../../src/accounts/accounts.ts';
import { SecretBox } from '../../src/accounts/secrets.ts';
import { buildApp } from '../../src/http/app.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { backends } from '../support/db.ts';

describe('secrets never reach the logs', () => {
  it('redacts passwords, tokens and authorization headers at debug level', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger('trace', sink);
    const database = await backends[0]!.open();
    const clock = new ManualClock();
    const ctx = {
      database,
      db: database.db,
      clock,
      logger,
      secrets: new SecretBox(crypto.randomBytes(32)),
      defaultRegion: 'RU' as const,
      dataDir: '/tmp',
      secureCookies: false,
    };
    const app = await buildApp(ctx, { rateLimit: false });
    try {
      const account = await createAccount(ctx.db, clock, 'Logs');
      await createUser(ctx.db, clock, {
        accountId: account.id,
        email: 'l@example.com',
        password: 'super-secret-pw',
        role: 'owner',
      });
      const { token } = await createApiToken(ctx.db, clock, account.id);
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'l@example.com', password: 'super-secret-pw' },
      });
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'l@example.com', password: 'wrong-secret-pw' },
      });
      await app.inject({
        method: 'GET',
        url: '/api/v1/contacts',
        headers: { authorization: `Bearer ${token}` },
      });
      await app.inject({
        method: 'GET',
        url: '/api/v1/contacts',
        headers: { authorization: `Bearer ${token}x` },
      });
      logger.info(
        { password: 'direct-pw', token: 'direct-token', settings: { apiKey: 'k-123', secret: 's-456' } },
        'explicit',
      );
      const all = lines.join('');
      expect(lines.length).toBeGreaterThan(4);
      for (const secret of [
        'super-secret-pw',
        'wrong-secret-pw',
        token,
        'direct-pw',
        'direct-token',
        'k-123',
        's-456',
      ]) {
        expect(all).not.toContain(secret);
      }
      expect(all).toContain('[redacted]');
    } finally {
      await app.close();
      await database.close();
    }
  });
});
