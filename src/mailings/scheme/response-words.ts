/**
 * Matching a recipient's reply against a response link's words (SPEC CS): case-insensitive, ё = е,
 * whole words, Unicode-aware. An entry may be a phrase ("не надо"); it matches when its words appear
 * one after another in the reply. Punctuation and spacing between words do not matter.
 */

const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/** Lower-cased, ё folded to е, split into words (letters, combining marks and digits). */
export function responseTokens(text: string): string[] {
  const folded = text.normalize('NFC').toLowerCase().replace(/ё/g, 'е');
  return folded.match(WORD) ?? [];
}

/** True when an entry has at least one word, i.e. can ever match. */
export const isMatchableWord = (entry: string): boolean => responseTokens(entry).length > 0;

/** The form two entries are compared in (duplicate detection in validation). */
export const responseWordKey = (entry: string): string => responseTokens(entry).join(' ');

/**
 * True when `text` contains one of `words` as whole words.
 * @example matchesResponse('Да, конечно!', ['да']) // true
 * @example matchesResponse('Дает', ['да']) // false
 * @example matchesResponse('ЕЩЁ раз', ['еще']) // true
 */
export function matchesResponse(text: string, words: readonly string[]): boolean {
  const tokens = responseTokens(text);
  if (tokens.length === 0) return false;
  return words.some((entry) => {
    const needle = responseTokens(entry);
    if (needle.length === 0 || needle.length > tokens.length) return false;
    for (let start = 0; start + needle.length <= tokens.length; start++) {
      if (needle.every((word, i) => tokens[start + i] === word)) return true;
    }
    return false;
  });
}
