import { describe, expect, it } from 'vitest';
import { type CountryCode, isPhoneRegion, normalizeEmail, normalizePhone } from './phone.ts';

describe('normalizePhone', () => {
  it.each<[string, string, CountryCode?]>([
    ['8 999 123-45-67', '+79991234567'],
    ['+7 (999) 123-45-67', '+79991234567'],
    ['79991234567', '+79991234567'],
    ['9991234567', '+79991234567'],
    ['+79991234567', '+79991234567'],
    ['8(999)1234567', '+79991234567'],
    ['  8-999-123-45-67  ', '+79991234567'],
    ['8 (495) 123-45-67', '+74951234567'],
    ['8 800 555-35-35', '+78005553535'],
    ['+380 50 123 4567', '+380501234567'],
    ['+1 212 555 0123', '+12125550123'],
    ['+7 701 234 5678', '+77012345678'],
    ['050 123 4567', '+380501234567', 'UA'],
    ['(212) 555-0123', '+12125550123', 'US'],
  ])('%s → %s', (raw, e164, region) => {
    expect(normalizePhone(raw, region)).toEqual({ ok: true, e164 });
  });

  it.each<[string, RegExp]>([
    ['', /empty/],
    ['   ', /empty/],
    ['abc', /not a phone number/],
    ['12345', /too short|not a valid/],
    ['8 999 123', /too short|not a valid/],
    ['8 999 123-45-67-89-00', /too long|not a valid/],
    ['+999 123 456 789', /unknown country code|not a valid/],
    ['+7 000 000 00 00', /not a valid/],
    ['8 999 123-45-67 доб. 12', /extension/],
    ['позвонить 8 999 123-45-67', /not a phone number|not a valid/],
    ['1'.repeat(80), /too long/],
  ])('rejects %j', (raw, message) => {
    const result = normalizePhone(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });

  it('knows which regions exist', () => {
    expect(isPhoneRegion('RU')).toBe(true);
    expect(isPhoneRegion('KZ')).toBe(true);
    expect(isPhoneRegion('XX')).toBe(false);
  });
});

describe('normalizeEmail', () => {
  it.each([
    ['ivan@example.com', 'ivan@example.com'],
    ['  Ivan.Petrov@Example.COM ', 'ivan.petrov@example.com'],
    ['a+tag@mail.ru', 'a+tag@mail.ru'],
    ["o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk"],
    ['Иван@Почта.РФ', 'иван@почта.рф'],
    ['user@xn--80a1acny.xn--p1ai', 'user@xn--80a1acny.xn--p1ai'],
  ])('%s → %s', (raw, email) => {
    expect(normalizeEmail(raw)).toEqual({ ok: true, email });
  });

  it.each([
    '',
    'ivan',
    'ivan@',
    '@example.com',
    'ivan@example',
    'ivan@@example.com',
    'iv an@example.com',
    'ivan@exa mple.com',
    '.ivan@example.com',
    'ivan.@example.com',
    'iv..an@example.com',
    'ivan@-example.com',
    'ivan@example..com',
    'ivan@example.c',
    'ivan@example.123',
    '"ivan"@example.com',
    `${'a'.repeat(65)}@example.com`,
    `ivan@${'a'.repeat(250)}.com`,
  ])('rejects %j', (raw) => {
    expect(normalizeEmail(raw).ok).toBe(false);
  });
});
