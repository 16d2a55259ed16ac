import { detectCsvFormat, detectImportFormat } from './file-format.ts';
import { openTable } from './table-reader.ts';
import type { CsvDelimiter, CsvEncoding, ImportFormat } from './types.ts';

export interface ImportPreview {
  format: ImportFormat;
  /** CSV only (null for XLSX). */
  encoding: CsvEncoding | null;
  delimiter: CsvDelimiter | null;
  /** The first non-blank row, trimmed. */
  headers: string[];
  /** Up to `sampleSize` data rows after the header, as text. */
  sampleRows: string[][];
}

/**
 * What the file looks like, for choosing a column mapping: its format (detected from the content when not
 * given), encoding and separator (CSV), header and first rows. Reads only the beginning of the file.
 */
export async function previewImportFile(
  filePath: string,
  format?: ImportFormat,
  options: { sampleSize?: number } = {},
): Promise<ImportPreview> {
  const actual = format ?? (await detectImportFormat(filePath));
  const csv = actual === 'csv' ? await detectCsvFormat(filePath) : null;
  const table = openTable(filePath, csv ? { format: 'csv', csv } : { format: 'xlsx' });
  const sampleSize = options.sampleSize ?? 5;
  let headers: string[] | null = null;
  const sampleRows: string[][] = [];
  for await (const row of table) {
    if (headers === null) headers = row.cells.map((cell) => cell.trim());
    else if (sampleRows.length < sampleSize) sampleRows.push(row.cells);
    else break;
  }
  return {
    format: actual,
    encoding: csv?.encoding ?? null,
    delimiter: csv?.delimiter ?? null,
    headers: headers ?? [],
    sampleRows,
  };
}
