import { describe, expect, it } from 'vitest';
import { templateCovers } from './template-cover.ts';

describe('templateCovers', () => {
  it.each([
    ['Заказ №(число) готов', 'Заказ №125 готов', true],
    ['Заказ №(число) готов', 'Заказ №125 отменён', false],
    ['Заказ №(число) готов', 'Заказ №{{order}} готов', true],
    ['Здравствуйте, (слово 2-3)! Заказ готов', 'Здравствуйте, {{name}}! Заказ готов', true],
    ['Здравствуйте, (слово)! Код (число)', 'Здравствуйте, {{name}}! Код {{code}}', true],
    // A variable where the template has literal text cannot match.
    ['Здравствуйте, Анна!', 'Здравствуйте, {{name}}!', false],
    // The same variable twice takes the same value.
    ['(слово) и (слово 2)', '{{a}} и {{a}}', false],
    ['(слово 2) и (слово 2)', '{{a}} и {{a}}', true],
    // Case is kept, whitespace folded.
    ['Ваш код (число)', 'ваш код 1234', false],
    ['Ваш код (число)', '  Ваш   код 1234 ', true],
  ])('%s covers %s: %s', (template, text, expected) => {
    expect(templateCovers(template, text)).toBe(expected);
  });

  it('stays quick with many variables', () => {
    const text = Array.from({ length: 12 }, (_, i) => `{{v${i}}}`).join(' ');
    expect(templateCovers('(слово 1-20)', text)).toBe(true);
    expect(templateCovers('(число)', text)).toBe(false);
  });
});
