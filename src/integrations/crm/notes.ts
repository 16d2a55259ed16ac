import type { CrmNote } from './types.ts';

/**
 * Idempotent note attachment (SPEC IN-0 "never duplicated"). A note whose answer was lost (timeout,
 * 5xx) may or may not be in the CRM; repeating it blindly attaches the same transcript twice. Where the
 * CRM can list an entity's notes (amoCRM, RetailCRM), the connector writes our event's marker into the
 * note's text as a tag, `[omnitalk:message-345]`, and implements findNote, which the runner asks before
 * a retry attaches the note again.
 */

const TAG = /\[omnitalk:([^\]\s]+)\]/g;

/** The tag a note carries, e.g. `[omnitalk:message-345]`. */
export const markerTag = (marker: string): string => `[omnitalk:${marker}]`;

/** The note's text with its marker's tag on a last line of its own (the text alone when there is none). */
export function markedText(note: Pick<CrmNote, 'text' | 'marker'>): string {
  return note.marker ? `${note.text}\n${markerTag(note.marker)}` : note.text;
}

/**
 * The marker of a tag in `text` matching `lookFor`: the whole marker (`message-12` never matches
 * `message-123`), or, when `lookFor` ends in "-", any marker it begins (`dialog-12-` finds
 * `dialog-12-345`).
 */
export function foundMarker(text: unknown, lookFor: string): string | null {
  if (typeof text !== 'string') return null;
  for (const [, marker] of text.matchAll(TAG)) {
    if (marker === lookFor || (lookFor.endsWith('-') && marker!.startsWith(lookFor))) return marker!;
  }
  return null;
}
