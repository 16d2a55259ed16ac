import { placeholdersOf, renderText } from '../engine/render.ts';
import { compileTemplate } from '../scheme/service-template.ts';

/**
 * Whether a send block's text can match a template before any recipient is known. The text may carry
 * contact variables ({{name}}, {{order}}) whose values differ per recipient, so the block is covered
 * when some values make it match: each variable stands for one to three words (the stand-in "1" is a
 * word and a number at once, so it fits both (слово) and (число)). A variable inside the template's
 * literal text never matches. Each recipient's rendered message is still checked when it is sent.
 */
const STAND_INS = ['1', '1 1', '1 1 1'];
/** Variables beyond this many take the one-word stand-in only, so the tries stay at most 3^4 = 81. */
const VARIED = 4;

/** A compiled template (compileTemplate). */
export type TemplateMatcher = (text: string) => boolean;

export function textCovered(matches: TemplateMatcher, text: string): boolean {
  const names = placeholdersOf(text);
  if (names.length === 0) return matches(text);
  const varied = names.slice(0, VARIED);
  const fixed = Object.fromEntries(names.slice(VARIED).map((n) => [n, STAND_INS[0]!]));
  const tries = STAND_INS.length ** varied.length;
  for (let i = 0; i < tries; i++) {
    const vars: Record<string, string> = { ...fixed };
    let rest = i;
    for (const name of varied) {
      vars[name] = STAND_INS[rest % STAND_INS.length]!;
      rest = Math.floor(rest / STAND_INS.length);
    }
    if (matches(renderText(text, vars))) return true;
  }
  return false;
}

/** One-off form of textCovered (throws AppError field "template" on a malformed template). */
export const templateCovers = (template: string, text: string): boolean =>
  textCovered(compileTemplate(template), text);
