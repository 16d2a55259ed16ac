import fs from 'node:fs';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { auditBalance, topUp } from '../../src/billing/ledger.ts';
import { channelAdapters } from '../../src/channels/registry.ts';
import { setSandboxSettings } from '../../src/channels/sandbox/settings.ts';
import type { ChannelAdapter, OutboundMessage } from '../../src/channels/types.ts';
import { createGroup } from '../../src/contacts/groups.ts';
import type { Database } from '../../src/db/database.ts';
import { SharedFastClock } from '../../src/mailings/engine/fast-clock.ts';
import { startEngineLoop } from '../../src/mailings/engine/loop.ts';
import { createMailing, startMailing } from '../../src/mailings/mailings.ts';
import type { SendChannel } from '../../src/mailings/scheme/vocabulary.ts';
import { mailingInputSchema } from '../../src/mailings/settings.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { backends } from '../support/db.ts';

const RECIPIENTS = 1200;

/**
 * Several engine lanes in one process (OMNITALK_ENGINE_LANES) claim side by side, as worker processes
 * do: every recipient must still be sent each message once and finish once, with no tick failing (a
 * deadlock between lanes would be logged as a failed tick and retried, which this test refuses).
 */
describe.each(backends)('engine lanes on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(() => database.close());

  it('runs W1 with three lanes in one loop: each message sent once, each recipient finished once', async () => {
    const db = database.db;
    const account = await createAccount(db, systemClock, 'Lanes');
    await topUp(db, systemClock, { accountId: account.id, amount: 100_000_000 });
    await setSandboxSettings(db, systemClock, account.id, {
      seed: 7,
      viber: { outcomes: { delivered: 0.6, undelivered: 0.4 }, submitError: { probability: 0 } },
      sms: { outcomes: { delivered: 0.9, undelivered: 0.1 }, submitError: { probability: 0 } },
    });
    const group = await createGroup(db, systemClock, account.id, 'all');
    await sql`insert into contacts (account_id, phone, name, created_at, updated_at)
      select ${account.id}, '+7901' || lpad(g::text, 7, '0'), 'Клиент ' || g, now(), now()
      from generate_series(1, ${RECIPIENTS}) g`.execute(db);
    await sql`insert into contact_group_members (group_id, contact_id)
      select ${group.id}, id from contacts where account_id = ${account.id}`.execute(db);
    const scheme = JSON.parse(fs.readFileSync('examples/w1-viber-sms.json', 'utf8'));
    const mailing = await createMailing(
      db,
      systemClock,
      account.id,
      mailingInputSchema.parse({ scheme, recipients: { group_ids: [group.id] } }),
    );

    // The sandbox adapters, with every submitted key written down.
    const submitted: string[] = [];
    const adapters = {} as Record<SendChannel, ChannelAdapter>;
    for (const [channel, adapter] of Object.entries(channelAdapters()) as [SendChannel, ChannelAdapter][])
      adapters[channel] = {
        ...adapter,
        submit: (messages: OutboundMessage[], ctx) => {
          for (const m of messages) submitted.push(m.key);
          return adapter.submit(messages, ctx);
        },
      };
    const errors: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          errors.push(String(chunk));
          done();
        },
      }),
    );

    const clock = await SharedFastClock.open(db, new Date(), { reset: true });
    await startMailing(db, clock, account.id, mailing.id);
    const loop = startEngineLoop(
      { db, clock, adapters, logger, batchSize: 50 },
      { untilIdle: true, lanes: 3 },
    );
    await loop.done;

    expect(errors).toEqual([]);
    const status = await db
      .selectFrom('mailings')
      .select('status')
      .where('id', '=', mailing.id)
      .executeTakeFirstOrThrow();
    expect(status.status).toBe('completed');
    const states = await sql<{ state: string; end_reason: string | null; n: number }>`
      select state, end_reason, count(*)::int8 as n from mailing_recipients where mailing_id = ${mailing.id}
      group by 1, 2 order by 1, 2`.execute(db);
    expect(states.rows.every((r) => r.state === 'done' && r.end_reason !== 'cancelled')).toBe(true);
    expect(states.rows.reduce((s, r) => s + Number(r.n), 0)).toBe(RECIPIENTS);

    // No key went to a provider twice: no two lanes ever claimed the same recipient step.
    expect(new Set(submitted).size).toBe(submitted.length);
    const counts = await sql<{ viber: number; sms: number; undelivered: number }>`select
      count(*) filter (where block_id = 'viber')::int8 as viber,
      count(*) filter (where block_id = 'sms')::int8 as sms,
      count(*) filter (where block_id = 'viber' and link_id = 'viber-undelivered')::int8 as undelivered
      from messages where mailing_id = ${mailing.id}`.execute(db);
    const c = counts.rows[0]!;
    expect(Number(c.viber)).toBe(RECIPIENTS);
    expect(submitted.length).toBe(Number(c.viber) + Number(c.sms));
    // SMS exactly for the undelivered Viber messages, and some of each (the lanes had real work to share).
    expect(Number(c.sms)).toBe(Number(c.undelivered));
    expect(Number(c.sms)).toBeGreaterThan(RECIPIENTS / 5);
    // Refunds once each: the ledger matches the balance.
    expect((await auditBalance(db, account.id)).ok).toBe(true);
  }, 180_000);
});
