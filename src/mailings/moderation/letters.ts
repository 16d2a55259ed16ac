import path from 'node:path';

/**
 * Signed letters of VK/OK communities (SPEC ML-3/ML-4): scans the aggregator asks for when it moderates
 * a community. Stored like other uploads, under DATA_DIR/uploads/sender-letters, named by sender id.
 */
export const letterDir = (dataDir: string) => path.join(dataDir, 'uploads', 'sender-letters');
export const letterPath = (dataDir: string, senderId: number) =>
  path.join(letterDir(dataDir), String(senderId));

const signatures: { type: LetterType; bytes: number[] }[] = [
  { type: 'application/pdf', bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] }, // %PDF-
  { type: 'image/jpeg', bytes: [0xff, 0xd8, 0xff] },
  { type: 'image/png', bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
];

export type LetterType = 'application/pdf' | 'image/jpeg' | 'image/png';

/** The letter's type from its first bytes (the declared type of an upload is not trusted). */
export function sniffLetterType(head: Uint8Array): LetterType | null {
  return signatures.find((s) => s.bytes.every((b, i) => head[i] === b))?.type ?? null;
}
