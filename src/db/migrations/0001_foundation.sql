-- Foundation: accounts, users, sessions, API tokens, secrets, contacts, groups, stop list, billing.
-- Statuses are text with CHECK constraints, not enums (house style).

create table accounts (
  id bigint generated always as identity primary key,
  name text not null unique check (length(name) between 1 and 200),
  balance bigint not null default 0,
  created_at timestamptz not null
);

create table users (
  id bigint generated always as identity primary key,
  account_id bigint references accounts(id) on delete cascade,
  email text not null unique check (email = lower(email)),
  name text not null default '',
  password_hash text not null,
  role text not null check (role in ('owner', 'admin', 'operator')),
  is_platform_admin boolean not null default false,
  created_at timestamptz not null
);
create index users_account_idx on users(account_id);

create table sessions (
  token_hash text primary key,
  user_id bigint not null references users(id) on delete cascade,
  created_at timestamptz not null,
  expires_at timestamptz not null
);
create index sessions_user_idx on sessions(user_id);

create table api_tokens (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  name text not null default '',
  prefix text not null,
  token_hash text not null unique,
  created_at timestamptz not null,
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_tokens_account_idx on api_tokens(account_id);

create table contacts (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  phone text check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  email text,
  name text not null default '',
  timezone text,
  vars jsonb not null default '{}'::jsonb,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index contacts_account_phone_uq on contacts(account_id, phone) where phone is not null;
create index contacts_account_email_idx on contacts(account_id, email) where email is not null;
create index contacts_account_id_idx on contacts(account_id, id);

create table contact_groups (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  created_at timestamptz not null,
  unique (account_id, name)
);

create table contact_group_members (
  group_id bigint not null references contact_groups(id) on delete cascade,
  contact_id bigint not null references contacts(id) on delete cascade,
  primary key (group_id, contact_id)
);
create index contact_group_members_contact_idx on contact_group_members(contact_id);

create table stop_list (
  account_id bigint not null references accounts(id) on delete cascade,
  phone text not null check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  source text not null check (source in ('manual', 'viber', 'voice', 'sms', 'import', 'api')),
  reason text not null default '',
  mailing_id bigint,
  created_at timestamptz not null,
  primary key (account_id, phone)
);

create table imports (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  group_id bigint references contact_groups(id) on delete set null,
  file_name text not null default '',
  format text not null check (format in ('csv', 'xlsx')),
  status text not null check (status in ('uploaded', 'running', 'completed', 'failed')),
  total_rows bigint not null default 0,
  imported_rows bigint not null default 0,
  error_rows bigint not null default 0,
  duplicate_rows bigint not null default 0,
  error text,
  created_at timestamptz not null,
  finished_at timestamptz
);

create table import_errors (
  import_id bigint not null references imports(id) on delete cascade,
  row_number bigint not null,
  field text not null,
  message text not null,
  primary key (import_id, row_number, field)
);

-- Billing: balance in integer kopecks; every movement is a ledger row; accounts.balance is kept equal
-- to the sum of the account's ledger in the same transaction as each movement.
create table price_list (
  id bigint generated always as identity primary key,
  account_id bigint references accounts(id) on delete cascade, -- null: the install's default prices
  channel text not null check (channel in ('sms', 'viber', 'voice', 'vk', 'ok', 'whatsapp', 'call_password')),
  kind text not null default 'message',
  price bigint not null check (price >= 0)
);
create unique index price_list_uq on price_list(coalesce(account_id, 0), channel, kind);

create table ledger (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  amount bigint not null,
  kind text not null check (kind in ('topup', 'reserve', 'refund', 'adjustment')),
  reservation_id bigint,
  description text not null default '',
  created_by bigint references users(id) on delete set null,
  created_at timestamptz not null
);
create index ledger_account_idx on ledger(account_id, id);

create table reservations (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  -- Unique per account: e.g. message:<id>. Makes a reserve for the same message idempotent.
  key text not null,
  channel text not null,
  kind text not null default 'message',
  amount bigint not null check (amount >= 0),
  status text not null check (status in ('reserved', 'captured', 'refunded')),
  created_at timestamptz not null,
  settled_at timestamptz,
  unique (account_id, key)
);

insert into price_list (account_id, channel, kind, price) values
  (null, 'sms', 'message', 250),
  (null, 'viber', 'message', 150),
  (null, 'voice', 'message', 300),
  (null, 'vk', 'message', 100),
  (null, 'ok', 'message', 100),
  (null, 'whatsapp', 'message', 400),
  (null, 'call_password', 'message', 70);

-- Install-wide settings (e.g. the demo credentials, sealed with the secrets key).
create table install_settings (
  key text primary key,
  value text not null
);
