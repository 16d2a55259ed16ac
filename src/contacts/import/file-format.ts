import fs from 'node:fs/promises';
import iconv from 'iconv-lite';
import { AppError } from '../../shared/errors.ts';
import type { CsvDelimiter, CsvEncoding, CsvFormat, ImportFormat } from './types.ts';

// Enough to see a header and many rows; reading it costs about a millisecond.
const SNIFF_BYTES = 1024 * 1024;

async function readHead(filePath: string, bytes: number): Promise<Buffer> {
  const file = await fs.open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await file.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** XLSX is a zip; anything else is read as CSV. Legacy binary XLS is refused with a hint. */
export async function detectImportFormat(filePath: string): Promise<ImportFormat> {
  const head = await readHead(filePath, 8);
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'xlsx';
  if (head[0] === 0xd0 && head[1] === 0xcf && head[2] === 0x11 && head[3] === 0xe0) {
    throw new AppError(
      'unsupported_media_type',
      'Excel 97–2003 (.xls) files are not supported; save as XLSX or CSV',
      {
        field: 'file',
      },
    );
  }
  return 'csv';
}

/**
 * Guesses a CSV file's encoding and separator from its first megabyte. A UTF-8 BOM, or bytes that are
 * valid UTF-8, mean UTF-8; a UTF-16LE BOM (Excel's "Unicode text") means UTF-16LE; anything else is taken
 * as Windows-1251, which is what Excel in a Russian locale writes. The separator is whichever of comma,
 * semicolon and tab occurs most often in the header line outside quotes (comma when none does).
 */
export async function detectCsvFormat(filePath: string): Promise<CsvFormat> {
  const head = await readHead(filePath, SNIFF_BYTES);
  const encoding = detectEncoding(head);
  const text = iconv.decode(head, encoding);
  return { encoding, delimiter: detectDelimiter(text) };
}

export function detectEncoding(head: Buffer): CsvEncoding {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  try {
    // stream: true tolerates a character cut in half at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return 'utf-8';
  } catch {
    return 'windows-1251';
  }
}

export function detectDelimiter(text: string): CsvDelimiter {
  const counts: Record<CsvDelimiter, number> = { ',': 0, ';': 0, '\t': 0 };
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '\n' || ch === '\r') break;
    else if (ch === ',' || ch === ';' || ch === '\t') counts[ch]++;
  }
  let best: CsvDelimiter = ',';
  for (const candidate of [';', '\t'] as const) if (counts[candidate] > counts[best]) best = candidate;
  return best;
}
