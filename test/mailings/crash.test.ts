import fs from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { auditBalance, topUp } from '../../src/billing/ledger.ts';
import { createGroup } from '../../src/contacts/groups.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createMailing, startMailing } from '../../src/mailings/mailings.ts';
import { mailingInputSchema } from '../../src/mailings/settings.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { startCli } from '../support/cli.ts';
import { createScratchDatabase, dropScratchDatabase } from '../support/db.ts';

const pgUrl = process.env.TEST_DATABASE_URL;
const RECIPIENTS = 4000;

/**
 * Two `omnitalk worker` processes share one mailing on PostgreSQL (with the shared fast clock); one is
 * killed with SIGKILL mid-run and started again. Every recipient must finish exactly once, and the
 * provider must never have sent anything twice.
 */
describe.skipIf(!pgUrl)('crash safety with two worker processes on PostgreSQL', () => {
  it('finishes every recipient exactly once after kill -9, with no duplicate send', async () => {
    const url = await createScratchDatabase(pgUrl!);
    const database = await openDatabase({ databaseUrl: url });
    const workers: Awaited<ReturnType<typeof startCli>>[] = [];
    try {
      const db = database.db;
      await migrate(db);
      const clock = systemClock;
      const account = await createAccount(db, clock, 'Crash');
      await topUp(db, clock, { accountId: account.id, amount: 100_000_000 });
      const group = await createGroup(db, clock, account.id, 'all');
      await sql`insert into contacts (account_id, phone, name, created_at, updated_at)
        select ${account.id}, '+7900' || lpad(g::text, 7, '0'), 'Клиент ' || g, now(), now() from generate_series(1, ${RECIPIENTS}) g`.execute(
        db,
      );
      await sql`insert into contact_group_members (group_id, contact_id) select ${group.id}, id from contacts where account_id = ${account.id}`.execute(
        db,
      );
      const scheme = JSON.parse(fs.readFileSync('examples/w1-viber-sms.json', 'utf8'));
      const mailing = await createMailing(
        db,
        clock,
        account.id,
        mailingInputSchema.parse({ scheme, recipients: { group_ids: [group.id] } }),
      );
      const env = {
        DATABASE_URL: url,
        OMNITALK_FAST_CLOCK: '1',
        OMNITALK_DEMO: '0',
        LOG_LEVEL: 'warn',
        OMNITALK_SECRET_KEY: 'crash-test-key',
      };
      workers.push(await startCli(['worker'], env, /worker started/));
      workers.push(await startCli(['worker'], env, /worker started/));
      await startMailing(db, clock, account.id, mailing.id);

      const count = async (q: ReturnType<typeof sql<{ n: number }>>) =>
        Number((await q.execute(db)).rows[0]?.n ?? 0);
      const messages = () =>
        count(sql<{ n: number }>`select count(*)::int8 as n from messages where mailing_id = ${mailing.id}`);
      const deadline = Date.now() + 60_000;
      while ((await messages()) < RECIPIENTS / 4 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const atKill = await messages();
      await workers[0]!.stop('SIGKILL');
      workers[0] = await startCli(['worker'], env, /worker started/);

      const status = async () =>
        (
          await db
            .selectFrom('mailings')
            .select('status')
            .where('id', '=', mailing.id)
            .executeTakeFirstOrThrow()
        ).status;
      const end = Date.now() + 120_000;
      while ((await status()) !== 'completed' && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      expect(await status()).toBe('completed');
      const total = await messages();
      expect(atKill).toBeLessThan(total); // the kill happened mid-run

      // Every recipient finished exactly once.
      const states = await sql<{ state: string; end_reason: string; n: number }>`
        select state, end_reason, count(*)::int8 as n from mailing_recipients where mailing_id = ${mailing.id} group by 1, 2`.execute(
        db,
      );
      expect(states.rows.reduce((s, r) => s + Number(r.n), 0)).toBe(RECIPIENTS);
      expect(states.rows.every((r) => r.state === 'done' && r.end_reason !== 'cancelled')).toBe(true);
      // One message per recipient per block visited (Viber, then SMS only for the undelivered).
      expect(
        await count(sql<{
          n: number;
        }>`select count(*)::int8 as n from (select recipient_id, block_id, attempt from messages
          where mailing_id = ${mailing.id} group by 1, 2, 3 having count(*) > 1) d`),
      ).toBe(0);
      const viberUndelivered = await count(sql<{ n: number }>`select count(*)::int8 as n from messages
        where mailing_id = ${mailing.id} and block_id = 'viber' and link_id = 'viber-undelivered'`);
      const sms = await count(
        sql<{
          n: number;
        }>`select count(*)::int8 as n from messages where mailing_id = ${mailing.id} and block_id = 'sms'`,
      );
      expect(sms).toBe(viberUndelivered);
      // The provider accepted each message once: one submission per sent message, events never repeated.
      const submitted = await count(
        sql<{
          n: number;
        }>`select count(*)::int8 as n from messages where mailing_id = ${mailing.id} and state = 'submitted'`,
      );
      expect(await count(sql<{ n: number }>`select count(*)::int8 as n from sandbox_submissions`)).toBe(
        submitted,
      );
      expect(
        await count(sql<{
          n: number;
        }>`select count(*)::int8 as n from (select provider_message_id, kind, status, text, digits
          from provider_events group by 1, 2, 3, 4, 5 having count(*) > 1) d`),
      ).toBe(0);
      expect(
        await count(
          sql<{
            n: number;
          }>`select count(*)::int8 as n from messages where mailing_id = ${mailing.id} and state = 'queued'`,
        ),
      ).toBe(0);
      expect((await auditBalance(db, account.id)).ok).toBe(true);
    } finally {
      for (const w of workers) await w.stop('SIGKILL');
      await database.close();
      await dropScratchDatabase(pgUrl!, url);
    }
  }, 240_000);
});
