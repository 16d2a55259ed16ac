import { AppError } from '../../shared/errors.ts';

/**
 * VK/OK service-message templates (SPEC ML; seed 3.2 "Шаг 2"): literal text with placeholders
 * `(слово)` and `(число)`, each with an optional count, `(слово 2-3)` = two to three words,
 * `(число 2)` = exactly two numbers. A message matches when it equals the template with each
 * placeholder replaced by an allowed run of words or numbers; whitespace runs count as one space and
 * the ends are trimmed; case is kept (literal text must match exactly).
 *
 * A word is any run of non-space characters; a number is digits with an optional sign and one decimal
 * part ("12", "-3", "100.50", "99,90"). English keywords `(word)`/`(number)` are accepted too.
 */

export type TemplatePart =
  | { type: 'text'; value: string }
  | { type: 'word' | 'number'; min: number; max: number };

/** A placeholder names at most this many words/numbers, so a template cannot make matching slow. */
export const MAX_PLACEHOLDER_COUNT = 20;

const PLACEHOLDER = /\(\s*(слово|число|word|number)(?:\s+(\d+)(?:\s*-\s*(\d+))?)?\s*\)/giu;
/** Something that looks like a placeholder with a malformed count, e.g. "(слово два)". */
const MALFORMED = /\(\s*(?:слово|число|word|number)(?:\s[^)]*)?\)/giu;

const fold = (text: string) => text.replace(/\s+/gu, ' ');

/**
 * Splits a template into literal text and placeholders; throws AppError `validation_failed`
 * (field "template") on a malformed placeholder, a bad count, or two placeholders with nothing between.
 */
export function parseTemplate(template: string): TemplatePart[] {
  const source = template.trim();
  const parts: TemplatePart[] = [];
  let last = 0;
  const literal = (value: string) => {
    if (value.length === 0) return;
    const stray = value.match(MALFORMED);
    if (stray)
      throw new AppError('validation_failed', `Malformed placeholder ${stray[0]}`, { field: 'template' });
    parts.push({ type: 'text', value: fold(value) });
  };
  for (const match of source.matchAll(PLACEHOLDER)) {
    literal(source.slice(last, match.index));
    const keyword = match[1]!.toLowerCase();
    const min = match[2] === undefined ? 1 : Number(match[2]);
    const max = match[3] === undefined ? min : Number(match[3]);
    if (min < 1 || max < min || max > MAX_PLACEHOLDER_COUNT) {
      const message = `Placeholder ${match[0]}: the count must be 1-${MAX_PLACEHOLDER_COUNT}, the smaller first`;
      throw new AppError('validation_failed', message, { field: 'template' });
    }
    if (parts.at(-1)?.type === 'word' || parts.at(-1)?.type === 'number') {
      const message = `Placeholder ${match[0]} must be separated from the previous one by text or a space`;
      throw new AppError('validation_failed', message, { field: 'template' });
    }
    parts.push({ type: keyword === 'слово' || keyword === 'word' ? 'word' : 'number', min, max });
    last = match.index + match[0].length;
  }
  literal(source.slice(last));
  return parts;
}

/** For each position of a folded text: where its space-free chunk ends, and where its digit run ends. */
function scan(text: string) {
  const n = text.length;
  const chunkEnd = new Int32Array(n + 1);
  const digitsEnd = new Int32Array(n + 1);
  chunkEnd[n] = n;
  digitsEnd[n] = n;
  for (let at = n - 1; at >= 0; at--) {
    const code = text.charCodeAt(at);
    chunkEnd[at] = code === 32 ? at : chunkEnd[at + 1]!;
    digitsEnd[at] = code >= 48 && code <= 57 ? digitsEnd[at + 1]! : at;
  }
  return { chunkEnd, digitsEnd };
}

type Interval = readonly [first: number, last: number];

/**
 * Where a word or a number starting at `start` may end (exclusive), as intervals: a word is any
 * non-empty run of non-space characters (it may stop before punctuation), a number is a sign, digits
 * and an optional decimal part, any prefix of which the matcher may take.
 */
function unitEnds(
  type: 'word' | 'number',
  text: string,
  start: number,
  scanned: ReturnType<typeof scan>,
): Interval[] {
  const { chunkEnd, digitsEnd } = scanned;
  if (type === 'word') return start < chunkEnd[start]! ? [[start + 1, chunkEnd[start]!]] : [];
  const first = text[start] === '+' || text[start] === '-' ? start + 1 : start;
  const whole = digitsEnd[first]!;
  if (whole === first) return [];
  const ends: Interval[] = [[first + 1, whole]];
  const separator = text[whole];
  if ((separator === '.' || separator === ',') && digitsEnd[whole + 1]! > whole + 1) {
    ends.push([whole + 2, digitsEnd[whole + 1]!]);
  }
  return ends;
}

/**
 * Builds the matcher once, for checking many messages against one template. It walks the template
 * part by part keeping the set of text positions reachable so far; a placeholder's reachable ends are
 * intervals, so each part costs O(text length × count) and no template can make matching slow (a
 * backtracking regex took seconds on six "(слово 1-20)" against a hundred words).
 */
export function compileTemplate(template: string): (text: string) => boolean {
  const parts = parseTemplate(template);
  return (input) => {
    const text = fold(input.trim());
    const n = text.length;
    const scanned = scan(text);
    let reach = new Uint8Array(n + 1);
    reach[0] = 1;
    for (const part of parts) {
      const next = new Uint8Array(n + 1);
      if (part.type === 'text') {
        for (let at = 0; at <= n; at++) {
          if (reach[at] && text.startsWith(part.value, at)) next[at + part.value.length] = 1;
        }
      } else {
        const cover = new Int32Array(n + 2);
        for (let at = 0; at <= n; at++) {
          if (!reach[at]) continue;
          let start = at;
          for (let count = 1; count <= part.max; count++) {
            const ends = unitEnds(part.type, text, start, scanned);
            if (count >= part.min) {
              for (const [first, last] of ends) {
                cover[first]! += 1;
                cover[last + 1]! -= 1;
              }
            }
            // Another unit follows only after a unit that fills its chunk up to a space.
            const chunkEnd = scanned.chunkEnd[start]!;
            if (chunkEnd >= n || !ends.some(([first, last]) => first <= chunkEnd && chunkEnd <= last)) break;
            start = chunkEnd + 1;
          }
        }
        for (let at = 0, depth = 0; at <= n; at++) {
          depth += cover[at]!;
          if (depth > 0) next[at] = 1;
        }
      }
      reach = next;
    }
    return reach[n] === 1;
  };
}

/**
 * True when `text` is the template with its placeholders filled in.
 * @example matchesTemplate('Заказ №(число) готов, (слово 2-3)!', 'Заказ №125 готов, Анна Петрова!') // true
 */
export const matchesTemplate = (template: string, text: string): boolean => compileTemplate(template)(text);
