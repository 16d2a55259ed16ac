-- Credit leases (issue 3): several engine workers sending for one account at once.
-- A send batch used to read the balance with the account row locked and keep that lock through the
-- provider call and the writing of its messages, so every other batch of the account (another worker's
-- sends, the refunds of undelivered messages) waited for it: two workers sent no faster than one.
-- Now a batch first leases what it may spend in a statement of its own (committed at once, the row lock
-- held for that statement only), sends against the lease, and settles it as the last statement of its
-- transaction: the actual cost is debited with its ledger row and the lease released, together.
-- accounts.leased is the sum of the account's open leases; money under a lease cannot be spent by
-- anything else (the check below), and a lease whose worker died is given back by the engine after a
-- grace period (a live one is locked by its transaction and skipped).
alter table accounts add column leased bigint not null default 0;
alter table accounts add constraint accounts_leased_covered check (leased >= 0 and balance >= leased);

create table engine_leases (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  amount bigint not null check (amount > 0),
  created_at timestamptz not null default now()
);
create index engine_leases_account_idx on engine_leases(account_id);
