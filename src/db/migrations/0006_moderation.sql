-- Moderation of sender names and message templates (SPEC ML): draft → on_moderation → approved /
-- rejected with a reason. In a self-hosted install a platform admin moderates. A mailing whose send
-- blocks need an item that is not approved yet waits in status on_moderation (src/mailings/moderation).

-- A sender an account registers per channel: an SMS alpha name, a Viber own name, a VK/OK community id
-- (with the signed letter the aggregator asks for, stored under DATA_DIR/uploads/sender-letters/<id>),
-- a WhatsApp Business phone number. Voice calls have no sender name in the SPEC.
create table senders (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  channel text not null check (channel in ('sms', 'viber', 'vk', 'ok', 'whatsapp')),
  name text not null check (length(name) between 1 and 64),
  -- What the account tells the moderator (legal entity, site, what the name is for).
  comment text not null default '',
  status text not null default 'draft' check (status in ('draft', 'on_moderation', 'approved', 'rejected')),
  reject_reason text,
  letter_file_name text,
  letter_content_type text,
  letter_size bigint,
  letter_uploaded_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  submitted_at timestamptz,
  decided_at timestamptz,
  decided_by bigint references users(id) on delete set null,
  check ((status = 'rejected') = (reject_reason is not null)),
  unique (account_id, channel, name)
);
create index senders_pending_idx on senders(submitted_at, id) where status = 'on_moderation';

-- Templates of service messages (VK/OK, SPEC ML-3/ML-4) and WhatsApp (ML-1), with the placeholders
-- (слово)/(число) that src/mailings/scheme/service-template.ts parses and matches.
create table message_templates (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id) on delete cascade,
  channel text not null check (channel in ('vk', 'ok', 'whatsapp')),
  text text not null check (length(text) between 1 and 2048),
  status text not null default 'draft' check (status in ('draft', 'on_moderation', 'approved', 'rejected')),
  reject_reason text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  submitted_at timestamptz,
  decided_at timestamptz,
  decided_by bigint references users(id) on delete set null,
  check ((status = 'rejected') = (reject_reason is not null))
);
-- The same text twice for one channel is one template (md5: a 2048-character text may not fit a btree key).
create unique index message_templates_text_idx on message_templates(account_id, channel, md5(text));
create index message_templates_account_idx on message_templates(account_id, channel, status);
create index message_templates_pending_idx on message_templates(submitted_at, id) where status = 'on_moderation';

-- Mailings waiting for moderation, per account (re-checked after every moderation change).
create index mailings_moderation_idx on mailings(account_id) where status = 'on_moderation';
