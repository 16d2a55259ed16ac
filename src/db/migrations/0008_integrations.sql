-- CRM hub (SPEC IN-0, issue 5): integrations per site, the CRM record each contact was pushed to, the
-- operator ↔ CRM user mapping, and the per-contact event log the runner drains. The job queue itself is
-- pg-boss (its own schema `pgboss`, created by pg-boss at start), which carries only "drain contact X of
-- integration Y" wake-ups with retries, backoff and per-contact serialisation; the ordered events and
-- parked (permanently failed) events live here so the cabinet can show, retry and discard them.

-- Reading the chat outbox safely. Outbox ids are taken at insert, not at commit, so an id cursor could
-- step past a row whose transaction commits later. Each row therefore records the id of the transaction
-- that wrote it (pg_current_xact_id(), xid8, PostgreSQL 13+, also in PGlite), and the hub reads in
-- (txid, id) order only rows with txid < pg_snapshot_xmin(pg_current_snapshot()): every transaction below
-- the snapshot's xmin has finished, and any transaction that writes later has a larger xid, so nothing
-- can appear behind the cursor. No time-based grace, no lost rows under long transactions.
alter table outbox add column txid xid8 not null default pg_current_xact_id();
create index outbox_txid_idx on outbox(txid, id);

create table integration_cursors (
  name text primary key,
  txid xid8 not null,
  outbox_id bigint not null
);
insert into integration_cursors (name, txid, outbox_id) values ('crm-hub', '0'::xid8, 0);

create table integrations (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  site_id bigint not null references sites(id) on delete cascade,
  system text not null check (system in ('amocrm', 'bitrix24', 'retailcrm', 'omnidesk', 'planfix', 'alfacrm',
    'uon', 'megaplan', 'envycrm', 'advantshop', 'gravitel')),
  -- Non-secret settings in clear; secret ones sealed with SecretBox bound to "integration:<id>".
  settings jsonb not null default '{}'::jsonb,
  settings_sealed text,
  -- OAuth / session tokens (TokenSet), sealed the same way; never returned by the API.
  tokens_sealed text,
  -- The unguessable segment of this integration's inbound URL (Omnidesk, Gravitel...).
  inbound_token text not null unique,
  -- pending: saved, awaiting OAuth; connected: the last test call or push worked; error: see last_error.
  status text not null check (status in ('pending', 'connected', 'error')),
  account_name text,
  last_success_at timestamptz,
  last_error jsonb,
  last_error_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (site_id, system)
);
create index integrations_account_idx on integrations(account_id, id);

-- The CRM record a contact was pushed to, so updates and notes go to the same record.
create table integration_refs (
  integration_id bigint not null references integrations(id) on delete cascade,
  contact_id bigint not null references contacts(id) on delete cascade,
  kind text not null,
  crm_id text not null,
  related jsonb not null default '{}'::jsonb,
  -- The dialog whose transcript was attached, and the last chat message attached after it.
  dialog_id bigint,
  last_message_id bigint not null default 0,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (integration_id, contact_id)
);

create table integration_operator_map (
  integration_id bigint not null references integrations(id) on delete cascade,
  user_id bigint not null references users(id) on delete cascade,
  crm_user_id text not null check (length(crm_user_id) between 1 and 200),
  primary key (integration_id, user_id)
);
create index integration_operator_map_crm_idx on integration_operator_map(integration_id, crm_user_id);

-- Outbox events fanned out per integration and contact, drained in id order per (integration, contact).
-- failed = parked after a permanent error (or exhausted retries) with its last error; it holds back the
-- later events of that contact (order per contact) until retried or discarded through the API.
create table integration_events (
  id bigint generated always as identity primary key,
  integration_id bigint not null references integrations(id) on delete cascade,
  contact_id bigint not null references contacts(id) on delete cascade,
  outbox_id bigint not null,
  kind text not null,
  payload jsonb not null,
  status text not null check (status in ('pending', 'done', 'failed', 'discarded')),
  attempts int not null default 0,
  last_error jsonb,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (integration_id, outbox_id)
);
create index integration_events_open_idx on integration_events(integration_id, contact_id, id)
  where status in ('pending', 'failed');
create index integration_events_status_idx on integration_events(integration_id, status);
