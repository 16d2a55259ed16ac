import fs from 'node:fs';
import { pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { AppError } from '../../shared/errors.ts';
import type { CsvFormat, ImportFormat } from './types.ts';

/** One row of the file: its number as a spreadsheet shows it (the header is row 1) and its cells as text. */
export interface TableRow {
  row: number;
  cells: string[];
}

/**
 * The non-blank rows of a CSV or XLSX file, header first, read as a stream: only the current chunk of the
 * file is in memory. `bytesRead` moves as the file is consumed, for progress.
 */
export interface TableReader extends AsyncIterable<TableRow> {
  readonly bytesRead: number;
  readonly bytesTotal: number;
}

export type TableOptions = { format: 'csv'; csv: CsvFormat } | { format: Exclude<ImportFormat, 'csv'> };

// A runaway quote would otherwise make the parser buffer the rest of the file as one field.
const MAX_CSV_RECORD_CHARS = 1024 * 1024;
const READ_CHUNK = 256 * 1024;

export function openTable(filePath: string, options: TableOptions): TableReader {
  const bytesTotal = fs.statSync(filePath).size;
  let file: fs.ReadStream | null = null;
  return {
    bytesTotal,
    get bytesRead() {
      return file?.bytesRead ?? 0;
    },
    async *[Symbol.asyncIterator]() {
      file = fs.createReadStream(filePath, { highWaterMark: READ_CHUNK });
      try {
        const rows = options.format === 'csv' ? csvRows(file, options.csv) : xlsxRows(file);
        for await (const row of rows) {
          if (!isBlank(row.cells)) yield row;
        }
      } finally {
        file.destroy();
      }
    },
  };
}

async function* csvRows(file: fs.ReadStream, csv: CsvFormat): AsyncGenerator<TableRow> {
  const parser = parse({
    delimiter: csv.delimiter,
    relax_column_count: true,
    relax_quotes: true,
    max_record_size: MAX_CSV_RECORD_CHARS,
  });
  // pipeline carries a read or decode failure to the parser, which ends the loop below with it.
  pipeline(file, iconv.decodeStream(csv.encoding), parser, () => {});
  let row = 0;
  try {
    for await (const cells of parser as AsyncIterable<string[]>) {
      row++;
      yield { row, cells };
    }
  } catch (error) {
    throw new AppError(
      'validation_failed',
      `The CSV file cannot be read near row ${row + 1}: ${messageOf(error)}`,
      {
        field: 'file',
        cause: error,
      },
    );
  } finally {
    parser.destroy();
  }
}

async function* xlsxRows(file: fs.ReadStream): AsyncGenerator<TableRow> {
  const workbook = new ExcelJS.stream.xlsx.WorkbookReader(file, {
    worksheets: 'emit',
    sharedStrings: 'cache',
    // Styles tell dates from numbers; hyperlinks and other entries are not needed.
    styles: 'cache',
    hyperlinks: 'ignore',
    entries: 'ignore',
  });
  try {
    for await (const sheet of workbook) {
      for await (const row of sheet) {
        yield { row: row.number, cells: rowCells(row.values) };
      }
      return; // the first worksheet only
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('validation_failed', `The XLSX file cannot be read: ${messageOf(error)}`, {
      field: 'file',
      cause: error,
    });
  }
}

function isBlank(cells: string[]): boolean {
  for (const cell of cells) if (cell.trim() !== '') return false;
  return true;
}

function rowCells(values: ExcelJS.CellValue[] | Record<string, ExcelJS.CellValue>): string[] {
  // exceljs numbers columns from 1 and leaves gaps for empty cells.
  const list = Array.isArray(values) ? values : [];
  const cells: string[] = [];
  for (let i = 1; i < list.length; i++) cells.push(cellText(list[i]));
  return cells;
}

export function cellText(value: ExcelJS.CellValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) {
    const iso = value.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if ('richText' in value) return value.richText.map((part) => part.text).join('');
  if ('hyperlink' in value) return cellText(value.text as ExcelJS.CellValue);
  if ('result' in value) return cellText(value.result as ExcelJS.CellValue);
  return ''; // an error value (#N/A, #REF!, …) or a formula without a cached result
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
