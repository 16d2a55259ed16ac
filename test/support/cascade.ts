import { createAccount } from '../../src/accounts/accounts.ts';
import { topUp } from '../../src/billing/ledger.ts';
import { createContact } from '../../src/contacts/contacts.ts';
import { createGroup } from '../../src/contacts/groups.ts';
import type { Database } from '../../src/db/database.ts';
import { CascadeEngine } from '../../src/mailings/engine/engine.ts';
import { createMailing, startMailing } from '../../src/mailings/mailings.ts';
import { mailingInputSchema } from '../../src/mailings/settings.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { ScriptedProvider } from './scripted-channel.ts';

export interface CascadeWorld {
  db: Database['db'];
  clock: ManualClock;
  provider: ScriptedProvider;
  engine: CascadeEngine;
  accountId: number;
  groupId: number;
  addContacts(
    contacts: { phone: string; timezone?: string; vars?: Record<string, string>; name?: string }[],
  ): Promise<void>;
  mailing(input: Record<string, unknown>): Promise<number>;
  /** Runs the engine with a fast clock until nothing is due; returns the virtual time it took. */
  run(maxJumps?: number): Promise<void>;
  recipients(
    mailingId: number,
  ): Promise<
    { phone: string; state: string; end_reason: string | null; block_id: string; variant: number }[]
  >;
  messages(mailingId: number): Promise<
    {
      phone: string;
      block_id: string;
      channel: string;
      state: string;
      statuses: string[];
      error_reason: string | null;
      link_id: string | null;
      cost: number;
      refunded: boolean;
      attempt: number;
      final_status: string | null;
    }[]
  >;
}

export async function cascadeWorld(
  database: Database,
  options: { balance?: number; start?: string; provider?: ScriptedProvider } = {},
): Promise<CascadeWorld> {
  const db = database.db;
  const clock = new ManualClock(options.start ?? '2026-11-25T09:00:00Z'); // 12:00 in Moscow, a Wednesday
  const provider = options.provider ?? new ScriptedProvider();
  const engine = new CascadeEngine({ db, clock, adapters: provider.adapters(), batchSize: 500 });
  const account = await createAccount(db, clock, `Cascade ${Math.random().toString(36).slice(2)}`);
  if ((options.balance ?? 100_000) > 0)
    await topUp(db, clock, { accountId: account.id, amount: options.balance ?? 100_000 });
  const group = await createGroup(db, clock, account.id, 'recipients');
  return {
    db,
    clock,
    provider,
    engine,
    accountId: account.id,
    groupId: group.id,
    async addContacts(contacts) {
      for (const c of contacts) {
        await createContact(db, clock, account.id, { ...c, groupIds: [group.id] });
      }
    },
    async mailing(input) {
      const parsed = mailingInputSchema.parse({ recipients: { group_ids: [group.id] }, ...input });
      const m = await createMailing(db, clock, account.id, parsed);
      await startMailing(db, clock, account.id, m.id);
      return m.id;
    },
    async run(this: CascadeWorld, maxJumps = 10_000) {
      for (let i = 0; i < maxJumps; i++) {
        await this.engine.drain();
        const next = await this.engine.nextDueAt();
        if (!next) return;
        if (next.getTime() > clock.now().getTime()) clock.set(next);
      }
      throw new Error('cascade did not settle');
    },
    async recipients(mailingId) {
      return db
        .selectFrom('mailing_recipients')
        .select(['phone', 'state', 'end_reason', 'block_id', 'variant'])
        .where('mailing_id', '=', mailingId)
        .orderBy('phone')
        .execute();
    },
    async messages(mailingId) {
      return db
        .selectFrom('messages')
        .select([
          'phone',
          'block_id',
          'channel',
          'state',
          'statuses',
          'error_reason',
          'link_id',
          'cost',
          'refunded',
          'attempt',
          'final_status',
        ])
        .where('mailing_id', '=', mailingId)
        .orderBy('phone')
        .orderBy('id')
        .execute();
    },
  };
}
