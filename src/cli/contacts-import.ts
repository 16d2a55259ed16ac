import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Kysely } from 'kysely';
import { ensureGroup } from '../contacts/groups.ts';
import {
  createImport,
  type ImportMapping,
  type ImportProgress,
  type ImportRowError,
  type ImportSummary,
  listImportErrors,
  previewImportFile,
  resolveMapping,
  runImport,
  suggestMapping,
} from '../contacts/import/index.ts';
import { isPhoneRegion } from '../contacts/phone.ts';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { invalid } from '../shared/errors.ts';

export interface ContactsImportDeps {
  db: Kysely<DB>;
  clock: Clock;
  out: NodeJS.WritableStream;
}

export interface ContactsImportOptions {
  file: string;
  accountId: number;
  groupName: string;
  json: boolean;
  /** Country for numbers without a country code, e.g. RU. */
  region: string;
  /** Columns by header text; guessed from the header when omitted. */
  mapping?: Partial<ImportMapping>;
}

export interface ContactsImportResult {
  importId: number;
  total: number;
  created: number;
  updated: number;
  duplicates: number;
  errors: number;
  firstErrors: ImportRowError[];
}

const FIRST_ERRORS = 10;

/**
 * `omnitalk contacts import FILE --group NAME`: imports a CSV or XLSX file into the group (created when
 * missing). Without a mapping, columns are matched by their headers (phone/телефон, email/почта,
 * name/имя/фио, timezone/часовой пояс; the rest become variables). Shows a progress bar on a terminal and
 * ends with a summary, or one JSON object with --json.
 */
export async function contactsImportCommand(
  deps: ContactsImportDeps,
  opts: ContactsImportOptions,
): Promise<ContactsImportResult> {
  const { db, clock, out } = deps;
  if (!fs.existsSync(opts.file) || !fs.statSync(opts.file).isFile())
    throw invalid('file', `No such file: ${opts.file}`);
  if (!isPhoneRegion(opts.region)) throw invalid('region', `Unknown country code "${opts.region}"`);

  const preview = await previewImportFile(opts.file);
  const mapping: ImportMapping = opts.mapping ?? guessMapping(preview.headers);
  resolveMapping(preview.headers, mapping); // a missing column is refused before the group or import exist
  const groupId = await ensureGroup(db, clock, opts.accountId, opts.groupName);
  const record = await createImport(db, clock, {
    accountId: opts.accountId,
    fileName: path.basename(opts.file),
    format: preview.format,
  });

  const bar = !opts.json && (out as NodeJS.WriteStream).isTTY ? startBar(out, clock) : null;
  let summary: ImportSummary;
  try {
    summary = await runImport(
      db,
      clock,
      {
        importId: record.id,
        accountId: opts.accountId,
        groupId,
        filePath: opts.file,
        mapping,
        region: opts.region,
        encoding: preview.encoding ?? undefined,
        delimiter: preview.delimiter ?? undefined,
      },
      bar?.update,
    );
  } finally {
    bar?.stop();
  }

  const { items: firstErrors } = await listImportErrors(db, opts.accountId, record.id, {
    limit: FIRST_ERRORS,
  });
  const result: ContactsImportResult = { importId: record.id, ...summary, firstErrors };
  out.write(opts.json ? `${JSON.stringify(result)}\n` : summaryText(result, opts, mapping));
  return result;
}

function guessMapping(headers: string[]): ImportMapping {
  const mapping = suggestMapping(headers);
  if (!mapping.phone && !mapping.email) {
    const found = headers.map((h) => `"${h}"`).join(', ') || '(none)';
    throw invalid(
      'mapping',
      `No phone or email column among the headers ${found}; name one "phone"/"телефон" or "email"/"почта"`,
    );
  }
  return mapping;
}

function startBar(out: NodeJS.WritableStream, clock: Clock) {
  const bar = new cliProgress.SingleBar(
    {
      stream: out,
      format: 'Importing |{bar}| {percentage}% | {processed} rows | {rate} rows/s',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = clock.now().getTime();
  bar.start(1, 0, { processed: 0, rate: 0 });
  return {
    update(progress: ImportProgress) {
      const seconds = Math.max((clock.now().getTime() - started) / 1000, 0.001);
      bar.setTotal(progress.bytesTotal);
      bar.update(Math.min(progress.bytesRead, progress.bytesTotal), {
        processed: progress.processed,
        rate: Math.round(progress.processed / seconds),
      });
    },
    stop() {
      bar.stop();
    },
  };
}

function summaryText(
  result: ContactsImportResult,
  opts: ContactsImportOptions,
  mapping: ImportMapping,
): string {
  const columns = [
    ...(['phone', 'email', 'name', 'timezone'] as const).flatMap((f) =>
      mapping[f] ? [`${f} ← "${mapping[f]}"`] : [],
    ),
    ...Object.entries(mapping.vars ?? {}).map(([name, header]) => `vars.${name} ← "${header}"`),
  ];
  const lines = [
    `Imported ${path.basename(opts.file)} into group "${opts.groupName}" (import ${result.importId})`,
    `  columns:     ${columns.join(', ')}`,
    `  rows:        ${result.total}`,
    `  created:     ${result.created}`,
    `  updated:     ${result.updated}`,
    `  duplicates:  ${result.duplicates}`,
    `  errors:      ${result.errors}`,
  ];
  if (result.firstErrors.length > 0) {
    lines.push(`First errors (the full report is kept with import ${result.importId}):`);
    for (const e of result.firstErrors) lines.push(`  row ${e.row}, ${e.field}: ${e.message}`);
  }
  return `${lines.join('\n')}\n`;
}
