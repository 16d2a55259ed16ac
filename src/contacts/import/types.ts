import type { ImportStatus } from '../../db/schema.ts';

export type ImportFormat = 'csv' | 'xlsx';
export const importFormats: readonly ImportFormat[] = ['csv', 'xlsx'];

export type CsvEncoding = 'utf-8' | 'windows-1251' | 'utf-16le';
export const csvEncodings: readonly CsvEncoding[] = ['utf-8', 'windows-1251', 'utf-16le'];

export type CsvDelimiter = ',' | ';' | '\t';
export const csvDelimiters: readonly CsvDelimiter[] = [',', ';', '\t'];

export interface CsvFormat {
  encoding: CsvEncoding;
  delimiter: CsvDelimiter;
}

/** The contact fields a column can fill. */
export type ContactField = 'phone' | 'email' | 'name' | 'timezone';
export const contactFields: readonly ContactField[] = ['phone', 'email', 'name', 'timezone'];

/**
 * Which column (by its header text) fills which contact field; `vars` maps a variable name to a column.
 * A row needs a phone or an email, so at least one of those two must be mapped.
 */
export interface ImportMapping {
  phone?: string;
  email?: string;
  name?: string;
  timezone?: string;
  vars?: Record<string, string>;
}

/** One problem with one field of one data row. `row` is the row number in the file; the header is row 1. */
export interface ImportRowError {
  row: number;
  /** phone | email | name | timezone | vars.<name> */
  field: string;
  message: string;
}

export interface ImportSummary {
  /** Data rows read (blank rows are skipped and not counted). */
  total: number;
  /** New contacts. */
  created: number;
  /** Existing contacts the file matched (by phone, or by email for rows without a phone). */
  updated: number;
  /** Rows for a contact an earlier row of the same file already wrote (first occurrence wins). */
  duplicates: number;
  /** Rows skipped because of at least one bad field (see the error report). */
  errors: number;
}

export interface ImportProgress {
  /** Data rows handled so far (written, duplicate or rejected). */
  processed: number;
  /** Bytes of the file read so far and in all: a streaming import does not know the row count up front. */
  bytesRead: number;
  bytesTotal: number;
}

export interface ImportRecord extends ImportSummary {
  id: number;
  accountId: number;
  groupId: number | null;
  fileName: string;
  format: ImportFormat;
  status: ImportStatus;
  /** Why the import failed, when it did. */
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}
