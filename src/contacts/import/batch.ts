import type { ContactRow, RowResult } from './row-validation.ts';
import type { ImportRowError } from './types.ts';

/**
 * The rows of one batch, deduplicated within the batch (first occurrence wins). Duplicates of rows in
 * earlier batches are found by the database when the batch is written (see batch-writer.ts), so the
 * importer only ever holds one batch's keys in memory, however long the file.
 */
export class ImportBatch {
  /** Rows with a phone: matched to contacts by phone. */
  readonly byPhone: ContactRow[] = [];
  /** Rows with only an email: matched to contacts by email. */
  readonly byEmail: ContactRow[] = [];
  readonly errors: ImportRowError[] = [];
  rows = 0;
  errorRows = 0;
  duplicates = 0;
  private readonly phones = new Set<string>();
  /** Emails of all rows kept: a later row with only one of these emails means the same contact. */
  private readonly emails = new Set<string>();

  add(result: RowResult): void {
    this.rows++;
    if (!result.ok) {
      this.errorRows++;
      for (const error of result.errors) this.errors.push(error);
      return;
    }
    const contact = result.contact;
    if (contact.phone !== null) {
      if (this.phones.has(contact.phone)) {
        this.duplicates++;
        return;
      }
      this.phones.add(contact.phone);
      this.byPhone.push(contact);
      // A later row with only this email means the contact this row writes.
      if (contact.email !== null) this.emails.add(contact.email);
    } else if (contact.email !== null) {
      if (this.emails.has(contact.email)) {
        this.duplicates++;
        return;
      }
      this.emails.add(contact.email);
      this.byEmail.push(contact);
    }
  }

  /** Drops, as duplicates, the rows for contacts an earlier batch (still being written) already carries. */
  dropKeysOf(earlier: ImportBatch): void {
    const keepPhone = (row: ContactRow) => !earlier.phones.has(row.phone!);
    const keepEmail = (row: ContactRow) => !earlier.emails.has(row.email!);
    const phones = this.byPhone.filter(keepPhone);
    const emails = this.byEmail.filter(keepEmail);
    this.duplicates += this.byPhone.length - phones.length + this.byEmail.length - emails.length;
    this.byPhone.splice(0, this.byPhone.length, ...phones);
    this.byEmail.splice(0, this.byEmail.length, ...emails);
  }
}
