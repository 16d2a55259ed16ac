import { type Kysely, sql } from 'kysely';
import type { DB, PricedChannel } from '../db/schema.ts';
import { AppError } from '../shared/errors.ts';
import { requireChannel, requireKind, requireKopecks } from './validation.ts';

/** One effective price: an account's override, or the install default when it has none. */
export interface PriceEntry {
  channel: PricedChannel;
  kind: string;
  price: number;
  source: 'account' | 'default';
}

/** Price in kopecks of one send on `channel`/`kind` for the account: its override, else the install default. */
export async function getPrice(
  db: Kysely<DB>,
  accountId: number,
  channel: PricedChannel,
  kind = 'message',
): Promise<number> {
  requireChannel(channel);
  requireKind(kind);
  const row = await db
    .selectFrom('price_list')
    .select('price')
    .where('channel', '=', channel)
    .where('kind', '=', kind)
    .where((eb) => eb.or([eb('account_id', '=', accountId), eb('account_id', 'is', null)]))
    .orderBy(sql`account_id nulls last`)
    .limit(1)
    .executeTakeFirst();
  if (!row)
    throw new AppError('not_found', `No price for channel "${channel}", kind "${kind}"`, {
      field: 'channel',
    });
  return row.price;
}

/** Sets an account's override (accountId) or the install default (accountId null); returns the stored price. */
export async function setPrice(
  db: Kysely<DB>,
  input: { accountId: number | null; channel: PricedChannel; kind?: string; price: number },
): Promise<{ accountId: number | null; channel: PricedChannel; kind: string; price: number }> {
  const channel = requireChannel(input.channel);
  const kind = requireKind(input.kind ?? 'message');
  const price = requireKopecks(input.price, 'price');
  try {
    // The unique index is on coalesce(account_id, 0) so that defaults (null) are unique too.
    const result = await sql<{ account_id: number | null; price: number }>`
      insert into price_list (account_id, channel, kind, price)
      values (${input.accountId}, ${channel}, ${kind}, ${price})
      on conflict ((coalesce(account_id, 0)), channel, kind) do update set price = excluded.price
      returning account_id, price`.execute(db);
    const row = result.rows[0]!;
    return { accountId: row.account_id, channel, kind, price: row.price };
  } catch (error) {
    if ((error as { code?: string }).code === '23503')
      throw new AppError('not_found', 'Account not found', { field: 'accountId', cause: error });
    throw error;
  }
}

/** The account's effective price list (defaults overlaid with its overrides); null lists the defaults. */
export async function listPrices(db: Kysely<DB>, accountId: number | null): Promise<PriceEntry[]> {
  const result = await sql<{ channel: PricedChannel; kind: string; price: number; overridden: boolean }>`
    select distinct on (channel, kind) channel, kind, price, account_id is not null as overridden
    from price_list
    where account_id is null or account_id = ${accountId}
    order by channel, kind, account_id nulls last`.execute(db);
  return result.rows.map((r) => ({
    channel: r.channel,
    kind: r.kind,
    price: r.price,
    source: r.overridden ? 'account' : 'default',
  }));
}
