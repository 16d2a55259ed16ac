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
  /** The sum of the account's open engine leases (src/billing/leases.ts): money no one else may spend. */
  leased: Generated<number>;
  created_at: Timestamp;
}

export interface EngineLeasesTable {
  id: Id;
  account_id: number;
  amount: number;
  created_at: Generated<Timestamp>;
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
  /** A batch reserve/refund: how many messages it covers (their rows hold each one's cost). */
  items: Generated<number | null>;
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

/** Moderation of sender names and templates (0006_moderation.sql, src/mailings/moderation). */
export type ModerationStatus = 'draft' | 'on_moderation' | 'approved' | 'rejected';
export type SenderChannel = 'sms' | 'viber' | 'vk' | 'ok' | 'whatsapp';
export type TemplateChannel = 'vk' | 'ok' | 'whatsapp';

export interface SendersTable {
  id: Id;
  account_id: number;
  channel: SenderChannel;
  name: string;
  comment: Generated<string>;
  status: Generated<ModerationStatus>;
  reject_reason: string | null;
  letter_file_name: string | null;
  letter_content_type: string | null;
  letter_size: number | null;
  letter_uploaded_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  submitted_at: Timestamp | null;
  decided_at: Timestamp | null;
  decided_by: number | null;
}

export interface MessageTemplatesTable {
  id: Id;
  account_id: number;
  channel: TemplateChannel;
  text: string;
  status: Generated<ModerationStatus>;
  reject_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  submitted_at: Timestamp | null;
  decided_at: Timestamp | null;
  decided_by: number | null;
}

export interface EngineClockTable {
  id: number;
  now: Timestamp;
}

export interface DB {
  engine_clock: EngineClockTable;
  install_settings: InstallSettingsTable;
  accounts: AccountsTable;
  engine_leases: EngineLeasesTable;
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
  senders: SendersTable;
  message_templates: MessageTemplatesTable;
}

/* Online chat (0007_chat.sql, src/chat). Closed unions live in src/chat/vocabulary.ts. */
/** `phone`: calls from a PBX (0011). */
export type ChatChannel = 'web' | 'sms' | 'viber' | 'vk' | 'ok' | 'phone';
export type DialogStatus = 'open' | 'closed';
export type MessageAuthor = 'visitor' | 'operator' | 'system';
export type ChatDelivery = 'pending' | 'sent' | 'failed';
export type OperatorStatus = 'online' | 'away' | 'offline';
export type OutboxKind =
  | 'contact.captured'
  | 'contact.updated'
  | 'dialog.opened'
  | 'dialog.assigned'
  | 'dialog.transferred'
  | 'dialog.closed'
  | 'message.created';

export interface SitesTable {
  id: Id;
  account_id: number;
  name: string;
  public_key: string;
  allowed_origins: ColumnType<string[], string[] | undefined, string[]>;
  settings: Json<Record<string, unknown>>;
  mailing_replies: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SiteOperatorsTable {
  site_id: number;
  user_id: number;
}

export interface VisitorsTable {
  id: Id;
  account_id: number;
  site_id: number;
  token_hash: string;
  contact_id: number | null;
  user_agent: Generated<string>;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
}

export interface VisitorPagesTable {
  id: Id;
  visitor_id: number;
  url: string;
  title: Generated<string>;
  visited_at: Timestamp;
}

export interface DialogsTable {
  id: Id;
  account_id: number;
  site_id: number | null;
  channel: ChatChannel;
  visitor_id: number | null;
  address: string | null;
  contact_id: number | null;
  mailing_id: number | null;
  status: DialogStatus;
  operator_id: number | null;
  assigned_at: Timestamp | null;
  visitor_read_up_to: Generated<number>;
  operator_read_up_to: Generated<number>;
  last_message_id: number | null;
  last_message_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  closed_at: Timestamp | null;
}

export interface ChatAttachmentsTable {
  id: Id;
  account_id: number;
  site_id: number | null;
  visitor_id: number | null;
  uploaded_by: number | null;
  file_name: string;
  content_type: string;
  size: number;
  sha256: string;
  storage_key: string;
  created_at: Timestamp;
}

export interface ChatMessagesTable {
  id: Id;
  account_id: number;
  dialog_id: number;
  author: MessageAuthor;
  visitor_id: number | null;
  operator_id: number | null;
  text: Generated<string>;
  attachment_id: number | null;
  client_id: string | null;
  source_key: string | null;
  delivery: ChatDelivery | null;
  provider: string | null;
  provider_message_id: string | null;
  delivery_error: string | null;
  created_at: Timestamp;
}

export interface OperatorPresenceTable {
  user_id: number;
  account_id: number;
  status: OperatorStatus;
  changed_at: Timestamp;
}

export interface OperatorConnectionsTable {
  id: string;
  user_id: number;
  account_id: number;
  server_id: string;
  connected_at: Timestamp;
  seen_at: Timestamp;
}

export interface OutboxTable {
  id: Id;
  account_id: number;
  site_id: number | null;
  kind: OutboxKind;
  payload: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

// Declaration merging keeps this block append-only: the chat's tables join the one DB interface.
export interface DB {
  sites: SitesTable;
  site_operators: SiteOperatorsTable;
  visitors: VisitorsTable;
  visitor_pages: VisitorPagesTable;
  dialogs: DialogsTable;
  chat_attachments: ChatAttachmentsTable;
  chat_messages: ChatMessagesTable;
  operator_presence: OperatorPresenceTable;
  operator_connections: OperatorConnectionsTable;
  outbox: OutboxTable;
}

// CRM hub (issue 5, 0008_integrations.sql).
export type IntegrationStatus = 'pending' | 'connected' | 'error';
export type IntegrationEventStatus = 'pending' | 'done' | 'failed' | 'discarded';

export interface IntegrationsTable {
  id: Id;
  account_id: number;
  site_id: number;
  system: string;
  settings: Json<Record<string, unknown>>;
  settings_sealed: string | null;
  tokens_sealed: string | null;
  inbound_token: string;
  status: IntegrationStatus;
  account_name: string | null;
  last_success_at: Timestamp | null;
  last_error: Json<Record<string, unknown>> | null;
  last_error_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** 0010: the shared rate budget per integration (GCRA: the next free slot). */
export interface IntegrationRateTable {
  integration_id: number;
  tat: Date;
}

export interface IntegrationRefsTable {
  integration_id: number;
  contact_id: number;
  kind: string;
  crm_id: string;
  related: Json<Record<string, string>>;
  dialog_id: number | null;
  last_message_id: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IntegrationOperatorMapTable {
  integration_id: number;
  user_id: number;
  crm_user_id: string;
}

export interface IntegrationEventsTable {
  id: Id;
  integration_id: number;
  contact_id: number;
  outbox_id: number;
  kind: string;
  payload: Json<Record<string, unknown>>;
  status: IntegrationEventStatus;
  attempts: Generated<number>;
  last_error: Json<Record<string, unknown>> | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IntegrationCursorsTable {
  name: string;
  /** xid8 as text. */
  txid: string;
  outbox_id: number;
}

export interface DB {
  integrations: IntegrationsTable;
  integration_refs: IntegrationRefsTable;
  integration_rate: IntegrationRateTable;
  integration_operator_map: IntegrationOperatorMapTable;
  integration_events: IntegrationEventsTable;
  integration_cursors: IntegrationCursorsTable;
}
