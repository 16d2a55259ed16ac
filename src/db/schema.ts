import type { ColumnType, Generated } from 'kysely';

/** Kysely table types; each area owns its tables (see ARCHITECTURE.md). */
type Id = Generated<number>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T = Record<string, unknown>> = ColumnType<T, string | T, string | T>;

export type Role = 'owner' | 'admin' | 'operator';

export interface AccountsTable {
  id: Id;
  name: string;
  balance: Generated<number>;
  created_at: Timestamp;
}

export interface UsersTable {
  id: Id;
  account_id: number | null;
  email: string;
  name: Generated<string>;
  password_hash: string;
  role: Role;
  is_platform_admin: Generated<boolean>;
  created_at: Timestamp;
}

export interface SessionsTable {
  token_hash: string;
  user_id: number;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface ApiTokensTable {
  id: Id;
  account_id: number;
  name: Generated<string>;
  prefix: string;
  token_hash: string;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface ContactsTable {
  id: Id;
  account_id: number;
  phone: string | null;
  email: string | null;
  name: Generated<string>;
  timezone: string | null;
  vars: Json<Record<string, string>>;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** The import that last wrote this contact (see 0002_contacts_import.sql). */
  last_import_id: number | null;
}

export interface ContactGroupsTable {
  id: Id;
  account_id: number;
  name: string;
  created_at: Timestamp;
}

export interface ContactGroupMembersTable {
  group_id: number;
  contact_id: number;
}

export type StopListSource = 'manual' | 'viber' | 'voice' | 'sms' | 'import' | 'api';

export interface StopListTable {
  account_id: number;
  phone: string;
  source: StopListSource;
  reason: Generated<string>;
  mailing_id: number | null;
  created_at: Timestamp;
}

export type ImportStatus = 'uploaded' | 'running' | 'completed' | 'failed';

export interface ImportsTable {
  id: Id;
  account_id: number;
  group_id: number | null;
  file_name: Generated<string>;
  format: 'csv' | 'xlsx';
  status: ImportStatus;
  total_rows: Generated<number>;
  imported_rows: Generated<number>;
  created_rows: Generated<number>;
  error_rows: Generated<number>;
  duplicate_rows: Generated<number>;
  error: string | null;
  created_at: Timestamp;
  finished_at: Timestamp | null;
}

export interface ImportErrorsTable {
  import_id: number;
  row_number: number;
  field: string;
  message: string;
}

export type PricedChannel = 'sms' | 'viber' | 'voice' | 'vk' | 'ok' | 'whatsapp' | 'call_password';

export interface PriceListTable {
  id: Id;
  account_id: number | null;
  channel: PricedChannel;
  kind: Generated<string>;
  price: number;
}

export type LedgerKind = 'topup' | 'reserve' | 'refund' | 'adjustment';

export interface LedgerTable {
  id: Id;
  account_id: number;
  amount: number;
  kind: LedgerKind;
  reservation_id: number | null;
  description: Generated<string>;
  created_by: number | null;
  created_at: Timestamp;
}

export type ReservationStatus = 'reserved' | 'captured' | 'refunded';

export interface ReservationsTable {
  id: Id;
  account_id: number;
  key: string;
  channel: PricedChannel;
  kind: Generated<string>;
  amount: number;
  status: ReservationStatus;
  created_at: Timestamp;
  settled_at: Timestamp | null;
}

export interface InstallSettingsTable {
  key: string;
  value: string;
}

export type MailingStatus =
  | 'draft'
  | 'on_moderation'
  | 'scheduled'
  | 'running'
  | 'paused'
  | 'completed'
  | 'cancelled';

export interface SchemesTable {
  id: Id;
  account_id: number;
  name: string;
  definition: Json<unknown>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface MailingsTable {
  id: Id;
  account_id: number;
  name: Generated<string>;
  status: MailingStatus;
  settings: Json<Record<string, unknown>>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  replies_to_chat: Generated<boolean>;
  start_at: Timestamp | null;
  smooth_until: Timestamp | null;
  source_mailing_id: number | null;
  recipients_total: Generated<number>;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  refund_requested_at: Timestamp | null;
  refunded_amount: Generated<number>;
}

export interface MailingVariantsTable {
  mailing_id: number;
  variant: number;
  label: string;
  percent: number;
  scheme: Json<unknown>;
}

export type RecipientState = 'send' | 'sending' | 'waiting' | 'delay' | 'done';
export type RecipientEndReason = 'goal' | 'finished' | 'cancelled';

export interface MailingRecipientsTable {
  id: Id;
  mailing_id: number;
  account_id: number;
  contact_id: number | null;
  phone: string;
  timezone: string | null;
  vars: Json<Record<string, string>>;
  variant: Generated<number>;
  block_id: string;
  step: Generated<number>;
  attempt: Generated<number>;
  state: RecipientState;
  due_at: Timestamp | null;
  entered_at: Timestamp;
  first_sent_at: Timestamp | null;
  message_id: number | null;
  end_reason: RecipientEndReason | null;
  finished_at: Timestamp | null;
}

export type MessageState = 'queued' | 'submitted' | 'failed';

export interface MessagesTable {
  id: Id;
  account_id: number;
  mailing_id: number;
  recipient_id: number;
  variant: Generated<number>;
  block_id: string;
  step: number;
  attempt: Generated<number>;
  channel: 'sms' | 'viber' | 'voice' | 'vk' | 'ok';
  idempotency_key: string;
  phone: string;
  state: MessageState;
  statuses: ColumnType<string[], string[] | undefined, string[]>;
  final_status: string | null;
  error_reason: string | null;
  replies: ColumnType<string[], string[] | undefined, string[]>;
  ivr_digits: ColumnType<string[], string[] | undefined, string[]>;
  cost: Generated<number>;
  refunded: Generated<boolean>;
  provider: string | null;
  provider_message_id: string | null;
  link_id: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
  status_at: Timestamp | null;
  decided_at: Timestamp | null;
}

export interface ProviderEventsTable {
  id: Id;
  provider: string;
  provider_message_id: string;
  kind: 'status' | 'reply' | 'ivr';
  status: string | null;
  text: string | null;
  digits: string | null;
  occurs_at: Timestamp;
  received_at: Timestamp;
  processed_at: Timestamp | null;
}

/** Sandbox channel providers remember what they accepted, by idempotency key (src/channels/sandbox). */
export interface SandboxSubmissionsTable {
  idempotency_key: string;
  provider: string;
  provider_message_id: string;
  account_id: number;
  created_at: Timestamp;
}

/** An account's sandbox behaviour (src/channels/sandbox/settings.ts); no row = defaults. */
export interface SandboxSettingsTable {
  account_id: number;
  settings: Json<unknown>;
  updated_at: Timestamp;
}

export interface EngineClockTable {
  id: number;
  now: Timestamp;
}

export interface DB {
  engine_clock: EngineClockTable;
  install_settings: InstallSettingsTable;
  accounts: AccountsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  contacts: ContactsTable;
  contact_groups: ContactGroupsTable;
  contact_group_members: ContactGroupMembersTable;
  stop_list: StopListTable;
  imports: ImportsTable;
  import_errors: ImportErrorsTable;
  price_list: PriceListTable;
  ledger: LedgerTable;
  reservations: ReservationsTable;
  schemes: SchemesTable;
  mailings: MailingsTable;
  mailing_variants: MailingVariantsTable;
  mailing_recipients: MailingRecipientsTable;
  messages: MessagesTable;
  provider_events: ProviderEventsTable;
  sandbox_submissions: SandboxSubmissionsTable;
  sandbox_settings: SandboxSettingsTable;
}
