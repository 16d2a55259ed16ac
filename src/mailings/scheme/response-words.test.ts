import { describe, expect, it } from 'vitest';
import { isMatchableWord, matchesResponse, responseTokens } from './response-words.ts';

describe('matchesResponse', () => {
  it.each([
    { text: 'да', words: ['да'], expected: true },
    { text: 'Да, конечно!', words: ['да'], expected: true },
    { text: 'ДА', words: ['да'], expected: true },
    { text: 'да', words: ['ДА'], expected: true },
    { text: 'ещё', words: ['еще'], expected: true },
    { text: 'ЕЩЕ', words: ['ещё'], expected: true },
    { text: 'Ёлка', words: ['елка'], expected: true },
    { text: 'е\u0308ж', words: ['еж'], expected: true }, // ё written as е + combining diaeresis
    { text: 'Дает', words: ['да'], expected: false },
    { text: 'надо', words: ['да'], expected: false },
    { text: 'не надо', words: ['да', 'нет'], expected: false },
    { text: 'нет, спасибо', words: ['да', 'нет'], expected: true },
    { text: 'Мне не надо, спасибо', words: ['не надо'], expected: true },
    { text: 'надо не', words: ['не надо'], expected: false },
    { text: 'не-надо', words: ['не надо'], expected: true },
    { text: 'Ответ: 1', words: ['1'], expected: true },
    { text: '12', words: ['1'], expected: false },
    { text: 'YES please', words: ['yes'], expected: true },
    { text: 'yesterday', words: ['yes'], expected: false },
    { text: '«Да»', words: ['да'], expected: true },
    { text: 'да', words: [], expected: false },
    { text: '', words: ['да'], expected: false },
    { text: '!!!', words: ['!!!'], expected: false },
  ])('"$text" against $words → $expected', ({ text, words, expected }) => {
    expect(matchesResponse(text, words)).toBe(expected);
  });

  it('splits into lower-cased words with ё folded', () => {
    expect(responseTokens('  Ещё РАЗ, пожалуйста… 2 раза')).toEqual([
      'еще',
      'раз',
      'пожалуйста',
      '2',
      'раза',
    ]);
  });

  it('knows which entries can ever match', () => {
    expect(isMatchableWord('да')).toBe(true);
    expect(isMatchableWord(' ?! ')).toBe(false);
  });
});
