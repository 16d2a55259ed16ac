import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import { DEFAULT_PHONE_REGION, isPhoneRegion } from '../phone.ts';
import { ImportBatch } from './batch.ts';
import { type BatchTarget, writeBatch } from './batch-writer.ts';
import { detectCsvFormat } from './file-format.ts';
import { claimImport, finishImport, getImport } from './imports.ts';
import { resolveMapping } from './mapping.ts';
import { validateRow } from './row-validation.ts';
import { openTable, type TableOptions, type TableRow } from './table-reader.ts';
import type {
  CsvDelimiter,
  CsvEncoding,
  ImportFormat,
  ImportMapping,
  ImportProgress,
  ImportSummary,
} from './types.ts';
import { WritePipeline } from './write-pipeline.ts';

export interface RunImportInput {
  importId: number;
  accountId: number;
  groupId: number;
  filePath: string;
  mapping: ImportMapping;
  /** Country for numbers written without a country code; RU by default. */
  region?: string;
  /** CSV only; detected from the file when omitted. */
  encoding?: CsvEncoding;
  delimiter?: CsvDelimiter;
  /** Rows per batch (one statement each). */
  batchSize?: number;
}

export const DEFAULT_BATCH_SIZE = 5000;
// Two batches in flight keep PostgreSQL busy while the next batch is parsed (PGlite runs them in turn).
const WRITES_IN_FLIGHT = 2;

/**
 * Reads the import's file as a stream and writes its contacts into the group in batches. Each batch is one
 * atomic statement, so a bad row or a crash never loses the batches before it. Rows with a bad field are
 * skipped and reported in import_errors; every good row is imported. Memory stays bounded by a few
 * batches (the one being parsed and those being written), whatever the size of the file.
 *
 * The header and the mapping are checked before anything is written; a mapping error leaves the import
 * 'uploaded' so it can be run again with a corrected mapping. Any later failure marks it 'failed' (the
 * batches already committed stay, and the counters say how far it got) and is rethrown.
 */
export async function runImport(
  db: Kysely<DB>,
  clock: Clock,
  input: RunImportInput,
  onProgress?: (progress: ImportProgress) => void,
): Promise<ImportSummary> {
  const region = input.region ?? DEFAULT_PHONE_REGION;
  if (!isPhoneRegion(region)) throw invalid('region', `Unknown country code "${region}"`);
  const batchSize = Math.max(1, input.batchSize ?? DEFAULT_BATCH_SIZE);
  const record = await getImport(db, input.accountId, input.importId);
  if (record.status !== 'uploaded') {
    throw new AppError('conflict', `Import ${record.id} is ${record.status}; an import runs once`, {
      field: 'id',
    });
  }
  await assertGroup(db, input.accountId, input.groupId);

  const table = openTable(input.filePath, await tableOptions(record.format, input));
  const rows = table[Symbol.asyncIterator]();
  let started = false;
  let pipeline: WritePipeline | null = null;
  try {
    const header = await rows.next();
    if (header.done) throw invalid('file', 'The file has no rows');
    const columns = resolveMapping(
      header.value.cells.map((h) => h.trim()),
      input.mapping,
    );

    await claimImport(db, input.accountId, input.importId, input.groupId);
    started = true;
    const target: BatchTarget = {
      accountId: input.accountId,
      groupId: input.groupId,
      importId: input.importId,
      now: clock.now(),
    };
    const summary: ImportSummary = { total: 0, created: 0, updated: 0, duplicates: 0, errors: 0 };
    const write = async (batch: ImportBatch) => {
      const counts = await writeBatch(db, target, batch);
      summary.total += batch.rows;
      summary.created += counts.created;
      summary.updated += counts.updated;
      summary.duplicates += counts.duplicates;
      summary.errors += batch.errorRows;
      onProgress?.({ processed: summary.total, bytesRead: table.bytesRead, bytesTotal: table.bytesTotal });
    };

    pipeline = new WritePipeline(WRITES_IN_FLIGHT, write);
    let batch = new ImportBatch();
    for (let next = await rows.next(); !next.done; next = await rows.next()) {
      batch.add(validateRow(next.value as TableRow, columns, region));
      if (batch.rows >= batchSize) {
        await pipeline.push(batch);
        batch = new ImportBatch();
      }
    }
    if (batch.rows > 0) await pipeline.push(batch);
    await pipeline.drain();
    await finishImport(db, clock, input.importId, { status: 'completed' });
    return summary;
  } catch (error) {
    if (started) {
      await pipeline?.settle();
      const message = error instanceof Error ? error.message : String(error);
      await finishImport(db, clock, input.importId, { status: 'failed', error: message });
    }
    throw error;
  } finally {
    await rows.return?.();
  }
}

async function tableOptions(format: ImportFormat, input: RunImportInput): Promise<TableOptions> {
  if (format !== 'csv') return { format };
  const detected = input.encoding && input.delimiter ? null : await detectCsvFormat(input.filePath);
  return {
    format,
    csv: {
      encoding: input.encoding ?? detected!.encoding,
      delimiter: input.delimiter ?? detected!.delimiter,
    },
  };
}

async function assertGroup(db: Kysely<DB>, accountId: number, groupId: number): Promise<void> {
  const group = await db
    .selectFrom('contact_groups')
    .select('id')
    .where('account_id', '=', accountId)
    .where('id', '=', groupId)
    .executeTakeFirst();
  if (!group) throw new AppError('not_found', 'Group not found', { field: 'groupId' });
}
