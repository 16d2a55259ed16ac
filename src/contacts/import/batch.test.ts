import { describe, expect, it } from 'vitest';
import { ImportBatch } from './batch.ts';
import type { ContactRow } from './row-validation.ts';

const contact = (row: number, phone: string | null, email: string | null): ContactRow => ({
  row,
  phone,
  email,
  name: '',
  timezone: null,
  vars: null,
});

describe('ImportBatch', () => {
  it('keeps the first row per phone, and per email among rows without a phone', () => {
    const batch = new ImportBatch();
    batch.add({ ok: true, contact: contact(2, '+79990000001', 'a@example.com') });
    batch.add({ ok: true, contact: contact(3, '+79990000001', 'b@example.com') });
    batch.add({ ok: true, contact: contact(4, null, 'a@example.com') }); // the contact of row 2
    batch.add({ ok: true, contact: contact(5, null, 'c@example.com') });
    batch.add({ ok: true, contact: contact(6, null, 'c@example.com') });
    batch.add({ ok: false, errors: [{ row: 7, field: 'phone', message: 'bad' }] });
    expect(batch.byPhone.map((r) => r.row)).toEqual([2]);
    expect(batch.byEmail.map((r) => r.row)).toEqual([5]);
    expect(batch).toMatchObject({ rows: 6, duplicates: 3, errorRows: 1 });
    expect(batch.errors).toEqual([{ row: 7, field: 'phone', message: 'bad' }]);
  });

  it('drops the contacts an earlier batch still being written carries', () => {
    const earlier = new ImportBatch();
    earlier.add({ ok: true, contact: contact(2, '+79990000001', 'a@example.com') });
    earlier.add({ ok: true, contact: contact(3, null, 'b@example.com') });
    const later = new ImportBatch();
    later.add({ ok: true, contact: contact(4, '+79990000001', null) });
    later.add({ ok: true, contact: contact(5, '+79990000002', 'b@example.com') }); // keyed by its own phone
    later.add({ ok: true, contact: contact(6, null, 'a@example.com') });
    later.add({ ok: true, contact: contact(7, null, 'b@example.com') });
    later.add({ ok: true, contact: contact(8, null, 'd@example.com') });
    later.dropKeysOf(earlier);
    expect(later.byPhone.map((r) => r.row)).toEqual([5]);
    expect(later.byEmail.map((r) => r.row)).toEqual([8]);
    expect(later.duplicates).toBe(3);
  });
});
