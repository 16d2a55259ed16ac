import type { SendBlock } from '../scheme/model.ts';

/**
 * Message text placeholders: {{name}}, {{phone}}, {{email}} and any contact variable, e.g. {{city}}.
 * Names are case-sensitive; spaces inside the braces are allowed.
 */
const PLACEHOLDER = /\{\{\s*([\p{L}\p{N}_.-]+)\s*\}\}/gu;

export const builtInVariables = ['name', 'phone', 'email'] as const;

export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

export function renderText(text: string, vars: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (_, name: string) => vars[name] ?? '');
}

/** The text fields of a block's content that carry placeholders. */
export function contentTexts(content: SendBlock['content']): string[] {
  const c = content as { text?: string; buttonText?: string };
  return [c.text, c.buttonText].filter((t): t is string => typeof t === 'string');
}

export function renderContent<C extends SendBlock['content']>(content: C, vars: Record<string, string>): C {
  const c = { ...content } as C & { text?: string; buttonText?: string };
  if (typeof c.text === 'string') c.text = renderText(c.text, vars);
  if (typeof c.buttonText === 'string') c.buttonText = renderText(c.buttonText, vars);
  return c;
}
