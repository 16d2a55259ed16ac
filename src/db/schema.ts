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

export interface DB {
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
}
