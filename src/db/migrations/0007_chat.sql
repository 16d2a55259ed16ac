-- Online chat (SPEC CH-1..CH-6, issue 4): sites with their widget key, visitors, dialogs from the widget
-- and from mailing replies, messages with attachments, operator presence, and the outbox of events the
-- CRM hub consumes (issue 5).

-- One chat widget install. public_key goes into the embed snippet and the widget's requests; it is not a
-- secret (anyone can read it from the page), it only names the site.
create table sites (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  public_key text not null unique check (public_key ~ '^st_[A-Za-z0-9_-]{16,64}$'),
  -- Browser origins allowed to open the visitor socket ("https://shop.example"); empty = any.
  allowed_origins text[] not null default '{}',
  -- Widget settings the cabinet edits and the widget reads (greeting, colours, form fields).
  settings jsonb not null default '{}'::jsonb,
  -- The site whose operators get dialogs opened by replies to mailings (at most one per account).
  mailing_replies boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index sites_account_idx on sites(account_id, id);
create unique index sites_mailing_replies_uq on sites(account_id) where mailing_replies;

-- Operators of a site. A site without rows here is served by every user of its account.
create table site_operators (
  site_id bigint not null references sites(id) on delete cascade,
  user_id bigint not null references users(id) on delete cascade,
  primary key (site_id, user_id)
);
create index site_operators_user_idx on site_operators(user_id);

-- A browser (or app install) chatting on a site. The widget keeps the secret token (first-party
-- storage) and presents it on every connection; only its SHA-256 is stored.
create table visitors (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  site_id bigint not null references sites(id) on delete cascade,
  token_hash text not null unique,
  contact_id bigint references contacts(id) on delete set null,
  user_agent text not null default '',
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null
);
create index visitors_site_idx on visitors(site_id, id);
create index visitors_contact_idx on visitors(contact_id) where contact_id is not null;

-- Pages a visitor opened (the visitor card shows the latest).
create table visitor_pages (
  id bigint generated always as identity primary key,
  visitor_id bigint not null references visitors(id) on delete cascade,
  url text not null check (length(url) <= 2048),
  title text not null default '' check (length(title) <= 500),
  visited_at timestamptz not null
);
create index visitor_pages_visitor_idx on visitor_pages(visitor_id, id);

-- A conversation. Web dialogs belong to a visitor; channel dialogs (replies to mailings, CH-5) to a
-- phone number on a messaging channel, and the operator's answers go back out on that channel.
create table dialogs (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  -- Null only for a channel dialog of an account that has no site yet.
  site_id bigint references sites(id) on delete cascade,
  channel text not null check (channel in ('web', 'sms', 'viber', 'vk', 'ok')),
  visitor_id bigint references visitors(id) on delete cascade,
  -- E.164 address of a channel dialog.
  address text check (address ~ '^\+[1-9][0-9]{6,14}$'),
  contact_id bigint references contacts(id) on delete set null,
  -- The mailing whose reply opened (or last continued) a channel dialog.
  mailing_id bigint references mailings(id) on delete set null,
  status text not null check (status in ('open', 'closed')),
  operator_id bigint references users(id) on delete set null,
  assigned_at timestamptz,
  -- Read marks: the highest message id each side has seen.
  visitor_read_up_to bigint not null default 0,
  operator_read_up_to bigint not null default 0,
  last_message_id bigint,
  last_message_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  closed_at timestamptz,
  check ((channel = 'web') = (visitor_id is not null)),
  check ((channel = 'web') = (address is null)),
  check ((channel = 'web') <= (site_id is not null)),
  check ((status = 'closed') = (closed_at is not null))
);
-- One open dialog per visitor, and per phone number and channel; concurrent openers meet here.
create unique index dialogs_open_visitor_uq on dialogs(visitor_id) where status = 'open' and channel = 'web';
create unique index dialogs_open_address_uq on dialogs(account_id, channel, address)
  where status = 'open' and channel <> 'web';
create index dialogs_account_idx on dialogs(account_id, id);
-- Round-robin: which of a site's operators got a new dialog longest ago (the highest dialog id each has).
create index dialogs_site_operator_idx on dialogs(site_id, operator_id, id);
create index dialogs_visitor_idx on dialogs(visitor_id, id) where visitor_id is not null;
create index dialogs_contact_idx on dialogs(contact_id) where contact_id is not null;
create index dialogs_waiting_idx on dialogs(account_id, id) where status = 'open' and operator_id is null;

-- Files sent in the chat, stored under DATA_DIR/chat-attachments/<storage_key>.
create table chat_attachments (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  site_id bigint references sites(id) on delete cascade,
  -- Who uploaded it: a visitor or an operator (user_id null: an API token).
  visitor_id bigint references visitors(id) on delete cascade,
  uploaded_by bigint references users(id) on delete set null,
  file_name text not null check (length(file_name) between 1 and 255),
  content_type text not null,
  size bigint not null check (size >= 0),
  sha256 text not null,
  storage_key text not null unique,
  created_at timestamptz not null
);
create index chat_attachments_account_idx on chat_attachments(account_id, id);

create table chat_messages (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  dialog_id bigint not null references dialogs(id) on delete cascade,
  author text not null check (author in ('visitor', 'operator', 'system')),
  -- The visitor who wrote it (web dialogs); null for a channel dialog's customer.
  visitor_id bigint references visitors(id) on delete set null,
  -- The operator who wrote it; null with author operator: an API token.
  operator_id bigint references users(id) on delete set null,
  text text not null default '' check (length(text) <= 5000),
  attachment_id bigint references chat_attachments(id) on delete set null,
  -- The sender's own id for the message, so a resend after a lost ack is stored once.
  client_id text check (length(client_id) between 1 and 64),
  -- Idempotency of messages that arrive from outside (a mailing reply is applied once).
  source_key text unique,
  -- An operator's answer in a channel dialog goes out through the channel adapter with this state.
  delivery text check (delivery in ('pending', 'sent', 'failed')),
  provider text,
  provider_message_id text,
  delivery_error text,
  created_at timestamptz not null
);
create index chat_messages_dialog_idx on chat_messages(dialog_id, id);
create unique index chat_messages_visitor_client_uq on chat_messages(visitor_id, client_id)
  where author = 'visitor' and client_id is not null;
create unique index chat_messages_operator_client_uq on chat_messages(account_id, coalesce(operator_id, 0), client_id)
  where author = 'operator' and client_id is not null;
create index chat_messages_pending_idx on chat_messages(id) where delivery = 'pending';
-- A customer's reply to an operator's answer names the answer's provider message id.
create index chat_messages_provider_idx on chat_messages(provider, provider_message_id)
  where provider_message_id is not null;

-- The status an operator chose. Online for assignment also needs a live connection (below).
create table operator_presence (
  user_id bigint primary key references users(id) on delete cascade,
  account_id bigint not null references accounts(id) on delete cascade,
  status text not null check (status in ('online', 'away', 'offline')),
  changed_at timestamptz not null
);

-- Open operator sockets, per server process. Each process refreshes seen_at of its own sockets; a
-- process that died stops refreshing, and its rows stop counting after a grace period.
create table operator_connections (
  id text primary key,
  user_id bigint not null references users(id) on delete cascade,
  account_id bigint not null references accounts(id) on delete cascade,
  server_id text not null,
  connected_at timestamptz not null,
  seen_at timestamptz not null
);
create index operator_connections_user_idx on operator_connections(user_id, seen_at);

-- Durable, append-only events for integrations (the CRM hub of issue 5 consumes them in id order and
-- keeps its own position; nothing here is updated or deleted by the chat). Each row is written in the
-- transaction of the change it describes. Ids are taken at insert, not at commit: a reader keeping a
-- position must not step past an id whose transaction may still commit (trail by a few seconds, or stop
-- at the oldest id of transactions still in flight).
create table outbox (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  site_id bigint references sites(id) on delete set null,
  kind text not null check (kind in (
    'contact.captured', 'contact.updated',
    'dialog.opened', 'dialog.assigned', 'dialog.transferred', 'dialog.closed',
    'message.created'
  )),
  payload jsonb not null,
  created_at timestamptz not null
);
create index outbox_account_idx on outbox(account_id, id);
