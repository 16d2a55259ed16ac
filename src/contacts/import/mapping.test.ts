import { describe, expect, it } from 'vitest';
import { resolveMapping, suggestMapping } from './mapping.ts';

describe('suggestMapping', () => {
  it('recognises Russian and English headers in any case; the rest become vars', () => {
    expect(suggestMapping(['ФИО', 'Телефон', 'E-mail', 'Город', 'Часовой пояс', '', 'Мобильный'])).toEqual({
      name: 'ФИО',
      phone: 'Телефон',
      email: 'E-mail',
      timezone: 'Часовой пояс',
      vars: { Город: 'Город', Мобильный: 'Мобильный' },
    });
    expect(suggestMapping(['Phone Number', 'EMAIL', 'Name', 'TZ'])).toEqual({
      phone: 'Phone Number',
      email: 'EMAIL',
      name: 'Name',
      timezone: 'TZ',
    });
    expect(suggestMapping(['Тел.', 'Почта', 'Имя'])).toMatchObject({
      phone: 'Тел.',
      email: 'Почта',
      name: 'Имя',
    });
    expect(suggestMapping(['номер', 'mobile'])).toEqual({ phone: 'номер', vars: { mobile: 'mobile' } });
  });
});

describe('resolveMapping', () => {
  const headers = ['Телефон', 'Email', 'Имя', 'Город'];

  it('finds columns by exact text, then ignoring case and spaces', () => {
    expect(resolveMapping(headers, { phone: 'Телефон', name: ' имя ', vars: { city: 'ГОРОД' } })).toEqual({
      phone: 0,
      email: null,
      name: 2,
      timezone: null,
      vars: [{ name: 'city', column: 3 }],
    });
  });

  it.each([
    [{ name: 'Имя' }, 'mapping'],
    [{ phone: 'Phone' }, 'mapping.phone'],
    [{ email: 'E-mail' }, 'mapping.email'],
    [{ phone: 'Телефон', timezone: 'TZ' }, 'mapping.timezone'],
    [{ phone: 'Телефон', vars: { city: 'City' } }, 'mapping.vars.city'],
    [{ phone: 'Телефон', vars: { ' ': 'Город' } }, 'mapping.vars. '],
  ])('rejects %j naming %s', (mapping, field) => {
    expect(() => resolveMapping(headers, mapping)).toThrow(
      expect.objectContaining({ code: 'validation_failed', field }),
    );
  });
});
