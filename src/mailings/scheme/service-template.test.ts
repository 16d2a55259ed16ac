import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { compileTemplate, matchesTemplate, parseTemplate } from './service-template.ts';

describe('matchesTemplate', () => {
  it.each([
    // (слово): one word
    { template: 'Здравствуйте, (слово)!', text: 'Здравствуйте, Анна!', expected: true },
    { template: 'Здравствуйте, (слово)!', text: 'Здравствуйте, Анна Петрова!', expected: false },
    { template: 'Здравствуйте, (слово)!', text: 'Здравствуйте, !', expected: false },
    // (слово 2-3): two to three words
    { template: 'Уважаемый (слово 2-3), ждём вас', text: 'Уважаемый Иван Иванов, ждём вас', expected: true },
    {
      template: 'Уважаемый (слово 2-3), ждём вас',
      text: 'Уважаемый Иван Иванович Иванов, ждём вас',
      expected: true,
    },
    { template: 'Уважаемый (слово 2-3), ждём вас', text: 'Уважаемый Иван, ждём вас', expected: false },
    { template: 'Уважаемый (слово 2-3), ждём вас', text: 'Уважаемый А Б В Г, ждём вас', expected: false },
    { template: 'Код (слово 2)', text: 'Код ab cd', expected: true },
    { template: 'Код (слово 2)', text: 'Код ab', expected: false },
    // (число): one number, with optional sign and decimals
    { template: 'Заказ №(число) готов', text: 'Заказ №12345 готов', expected: true },
    { template: 'К оплате (число) руб.', text: 'К оплате 1500,50 руб.', expected: true },
    { template: 'К оплате (число) руб.', text: 'К оплате 1500.50 руб.', expected: true },
    { template: 'Баланс (число)', text: 'Баланс -20', expected: true },
    { template: 'Заказ №(число) готов', text: 'Заказ №12a готов', expected: false },
    { template: 'Заказ №(число) готов', text: 'Заказ №пять готов', expected: false },
    { template: 'Заказ №(число) готов', text: 'Заказ № готов', expected: false },
    // (число 1-2): one to two numbers
    { template: 'Коды: (число 1-2).', text: 'Коды: 12 34.', expected: true },
    { template: 'Коды: (число 1-2).', text: 'Коды: 12.', expected: true },
    { template: 'Коды: (число 1-2).', text: 'Коды: 12 34 56.', expected: false },
    // several placeholders
    {
      template: 'Заказ №(число) готов, (слово 2-3)! Сумма (число) ₽',
      text: 'Заказ №125 готов, Анна Петрова! Сумма 990 ₽',
      expected: true,
    },
    // whitespace folded, ends trimmed
    { template: '  Привет,   (слово)  ', text: 'Привет,\n Иван', expected: true },
    { template: 'Привет, (слово)', text: '   Привет,\t\tИван   ', expected: true },
    // case kept
    { template: 'Привет, (слово)', text: 'привет, Иван', expected: false },
    { template: 'Привет, (слово)', text: 'Привет, ИВАН', expected: true },
    // literal text must match exactly; regex characters are literal
    { template: 'Итого (число) (руб.)', text: 'Итого 5 (руб.)', expected: true },
    { template: 'Итого (число) (руб.)', text: 'Итого 5 (рубx)', expected: false },
    { template: 'Скидка 10% на [всё]', text: 'Скидка 10% на [всё]', expected: true },
    { template: 'Скидка 10% на [всё]', text: 'Скидка 10% на [всё] и ещё', expected: false },
    // keyword case and English aliases
    { template: 'Hi (Word), code (NUMBER)', text: 'Hi Bob, code 42', expected: true },
    { template: 'Привет, (Слово)', text: 'Привет, Иван', expected: true },
  ])('$template | $text → $expected', ({ template, text, expected }) => {
    expect(matchesTemplate(template, text)).toBe(expected);
  });

  it('stays correct (and fast) on templates that made a backtracking regex explode', () => {
    const hundredWords = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ');
    const wide = Array.from({ length: 10 }, () => '(слово 1-20)').join(' ');
    expect(matchesTemplate(`${wide}!`, hundredWords)).toBe(false);
    expect(matchesTemplate(`${wide}!`, `${hundredWords}!`)).toBe(true);
    const glued = `${Array.from({ length: 20 }, () => '(слово)a').join('')}b`;
    expect(matchesTemplate(glued, 'a'.repeat(2048))).toBe(false);
    expect(matchesTemplate(glued, `${'xa'.repeat(20)}b`)).toBe(true);
  });

  it('compiles once for many messages', () => {
    const matches = compileTemplate('Ваш код (число)');
    expect(['Ваш код 1', 'Ваш код 2', 'Ваш код x'].map(matches)).toEqual([true, true, false]);
  });
});

describe('parseTemplate', () => {
  it('splits literal text and placeholders with their ranges', () => {
    expect(parseTemplate('Привет,  (слово 2-3)! Код (число)')).toEqual([
      { type: 'text', value: 'Привет, ' },
      { type: 'word', min: 2, max: 3 },
      { type: 'text', value: '! Код ' },
      { type: 'number', min: 1, max: 1 },
    ]);
  });

  it.each([
    { template: 'Привет, (слово два)', reason: 'a malformed count' },
    { template: 'Привет, (слово 3-2)', reason: 'a reversed range' },
    { template: 'Привет, (слово 0-2)', reason: 'zero words' },
    { template: 'Привет, (слово 1-21)', reason: 'too many words' },
    { template: 'Привет, (слово)(число)', reason: 'two placeholders in a row' },
  ])('refuses $reason', ({ template }) => {
    expect(() => parseTemplate(template)).toThrow(AppError);
    expect(() => matchesTemplate(template, 'Привет, Иван')).toThrow(AppError);
  });
});
