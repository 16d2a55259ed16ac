-- Cascade mailings: schemes, mailings with A/B variants, per-recipient engine state, messages, and the
-- provider-event ingest table that sandbox and real channel adapters both feed.

create table schemes (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  definition jsonb not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (account_id, name)
);

create table mailings (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  name text not null default '',
  status text not null check (status in ('draft', 'on_moderation', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
  -- Everything the user chose: recipients, start time and zone mode, window, smoothing, retries, tags...
  settings jsonb not null,
  tags text[] not null default '{}',
  replies_to_chat boolean not null default false,
  start_at timestamptz,
  smooth_until timestamptz,
  source_mailing_id bigint references mailings(id) on delete set null,
  recipients_total bigint not null default 0,
  created_at timestamptz not null,
  started_at timestamptz,
  finished_at timestamptz,
  refund_requested_at timestamptz,
  refunded_amount bigint not null default 0
);
create index mailings_account_idx on mailings(account_id, id);
create index mailings_running_idx on mailings(status) where status in ('scheduled', 'running');

create table mailing_variants (
  mailing_id bigint not null references mailings(id) on delete cascade,
  variant smallint not null check (variant >= 0),
  label text not null,
  percent int not null check (percent between 0 and 100),
  scheme jsonb not null,
  primary key (mailing_id, variant)
);

-- One row per recipient of a mailing: where it is in its variant's scheme and when the engine next
-- looks at it. States:
--   send     due to send at due_at (the current block is a send block)
--   sending  messages written, provider call in flight; due_at is the lease after which it is retried
--   waiting  sent; due_at is the decision time (an event may bring it forward)
--   delay    in a delay block until due_at
--   done     path ended; end_reason says how (goal, finished, cancelled)
create table mailing_recipients (
  id bigint generated always as identity primary key,
  mailing_id bigint not null references mailings(id) on delete cascade,
  account_id bigint not null,
  contact_id bigint references contacts(id) on delete set null,
  phone text not null,
  timezone text,
  vars jsonb not null default '{}'::jsonb,
  variant smallint not null default 0,
  block_id text not null,
  step int not null default 0,
  attempt int not null default 0,
  state text not null check (state in ('send', 'sending', 'waiting', 'delay', 'done')),
  due_at timestamptz,
  entered_at timestamptz not null,
  -- When the current send block's first attempt went out: its decision time counts from here, across redials.
  first_sent_at timestamptz,
  message_id bigint,
  end_reason text check (end_reason in ('goal', 'finished', 'cancelled')),
  finished_at timestamptz,
  unique (mailing_id, phone)
);
create index mailing_recipients_due_idx on mailing_recipients(due_at) where state <> 'done';
create index mailing_recipients_mailing_idx on mailing_recipients(mailing_id, state);

create table messages (
  id bigint generated always as identity primary key,
  account_id bigint not null,
  mailing_id bigint not null references mailings(id) on delete cascade,
  recipient_id bigint not null references mailing_recipients(id) on delete cascade,
  variant smallint not null default 0,
  block_id text not null,
  step int not null,
  attempt int not null default 0,
  channel text not null check (channel in ('sms', 'viber', 'voice', 'vk', 'ok')),
  -- recipient:step:attempt — the same key reaches the provider on every retry, so a crash never sends twice.
  idempotency_key text not null unique,
  phone text not null,
  -- queued → submitted → (statuses accumulate) ; failed when the send itself failed
  state text not null check (state in ('queued', 'submitted', 'failed')),
  statuses text[] not null default '{}',
  final_status text,
  error_reason text,
  replies text[] not null default '{}',
  ivr_digits text[] not null default '{}',
  cost bigint not null default 0,
  refunded boolean not null default false,
  provider text,
  provider_message_id text,
  link_id text,
  created_at timestamptz not null,
  sent_at timestamptz,
  status_at timestamptz,
  decided_at timestamptz
);
create index messages_mailing_idx on messages(mailing_id, id);
create index messages_provider_idx on messages(provider, provider_message_id);
create index messages_recipient_idx on messages(recipient_id);

-- The one ingest path for provider events (delivery receipts, views, clicks, replies, IVR digits).
-- Webhooks insert with occurs_at = now; the sandbox inserts its simulated future with later occurs_at.
create table provider_events (
  id bigint generated always as identity primary key,
  provider text not null,
  provider_message_id text not null,
  kind text not null check (kind in ('status', 'reply', 'ivr')),
  status text,
  text text,
  digits text,
  occurs_at timestamptz not null,
  received_at timestamptz not null,
  processed_at timestamptz
);
create index provider_events_due_idx on provider_events(occurs_at) where processed_at is null;

-- Sandbox providers remember what they accepted, by idempotency key, like a real provider would.
create table sandbox_submissions (
  idempotency_key text primary key,
  provider text not null,
  provider_message_id text not null,
  account_id bigint not null,
  created_at timestamptz not null
);

create table sandbox_settings (
  account_id bigint primary key references accounts(id) on delete cascade,
  settings jsonb not null,
  updated_at timestamptz not null
);
create index mailing_recipients_active_idx on mailing_recipients(mailing_id) where state <> 'done';

-- A virtual "now" shared by every worker of a fast-clock run (simulations, benchmarks, crash tests):
-- idle workers move it forward to the next due moment instead of sleeping.
create table engine_clock (
  id int primary key check (id = 1),
  now timestamptz not null
);
