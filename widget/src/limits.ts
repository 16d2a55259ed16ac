/**
 * What the server accepts as a chat attachment (src/chat/vocabulary.ts `attachmentTypes`,
 * docs/chat-protocol.md "Limits"), checked in the browser first so a visitor learns at once that a file
 * cannot be sent. test/browser/widget-bundle.test.ts keeps this list equal to the server's.
 */
export const ATTACHMENT_TYPES = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'application/pdf',
  'text/plain',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/zip',
] as const;

/** The server's limit until its welcome says otherwise (welcome.limits.attachment_bytes). */
export const DEFAULT_ATTACHMENT_BYTES = 10 * 1024 * 1024;

/** For the file picker: extensions browsers map to the accepted types. */
export const ACCEPT =
  '.jpg,.jpeg,.png,.gif,.webp,.pdf,.txt,.doc,.docx,.xls,.xlsx,.zip,' + ATTACHMENT_TYPES.join(',');

export type FileCheck = { ok: true } | { ok: false; reason: 'type' | 'size' | 'empty' };

/** Some systems label zip files differently; the server takes them as application/zip. */
const aliases: Record<string, string> = { 'application/x-zip-compressed': 'application/zip' };

export function normalizedType(type: string): string {
  const t = type.toLowerCase().split(';')[0]!.trim();
  return aliases[t] ?? t;
}

export function checkFile(file: { type: string; size: number }, maxBytes: number): FileCheck {
  if (!(ATTACHMENT_TYPES as readonly string[]).includes(normalizedType(file.type)))
    return { ok: false, reason: 'type' };
  if (file.size === 0) return { ok: false, reason: 'empty' };
  if (file.size > maxBytes) return { ok: false, reason: 'size' };
  return { ok: true };
}
