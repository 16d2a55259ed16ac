import { once } from 'node:events';
import type { Stream } from 'node:stream';
import ExcelJS from 'exceljs';
import type { Kysely } from 'kysely';
import { IANAZone } from 'luxon';
import type { DB } from '../../db/schema.ts';
import { invalid } from '../../shared/errors.ts';
import { channelLabelsRu, errorReasonLabelsRu } from '../scheme/labels-ru.ts';
import { isErrorReason } from '../scheme/vocabulary.ts';
import { timezone } from './filters.ts';
import { type MessageFilter, messageBatches, normalizeMessageFilter } from './messages.ts';
import { normalizeRecipientFilter, type RecipientFilter, recipientBatches } from './recipients.ts';
import {
  endReasonLabelsRu,
  messageReportStatusLabelsRu,
  recipientBucketLabelsRu,
  recipientStateLabelsRu,
} from './report-vocabulary.ts';

/**
 * Excel exports (RP-2): "Все сообщения" and the recipients ("подписчики") of mailings. The database is
 * read in keyset pages and every row is committed to exceljs' streaming writer as soon as it is
 * written, so memory stays flat however many rows there are; between pages the export waits for the
 * output to drain, so a slow HTTP client slows the export down instead of filling memory.
 *
 * Headers are Russian (the UI is Russian first). Times are written as the wall time in the export's
 * zone (Europe/Moscow by default; the header says which), since Excel cells carry no time zone.
 */

export interface ExportOptions {
  /** IANA zone for the time columns. */
  timezone?: string;
  /** Rows per database query (default 5,000). */
  pageSize?: number;
}

export interface ExportResult {
  rows: number;
}

const DEFAULT_PAGE = 5000;
const DATE_FORMAT = 'dd.mm.yyyy hh:mm:ss';
const MONEY_FORMAT = '#,##0.00';

export async function exportMessagesXlsx(
  db: Kysely<DB>,
  accountId: number,
  filter: MessageFilter,
  output: NodeJS.WritableStream,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const f = normalizeMessageFilter(filter);
  const zone = timezone(options.timezone);
  const pageSize = pageSizeOf(options.pageSize);
  const local = excelWallTime(zone);
  return writeWorkbook(output, async (book) => {
    const sheet = book.addWorksheet('Сообщения', { views: [{ state: 'frozen', ySplit: 1 }] });
    sheet.columns = [
      { header: `Создано (${zone})`, key: 'created', width: 20, style: { numFmt: DATE_FORMAT } },
      { header: `Отправлено (${zone})`, key: 'sent', width: 20, style: { numFmt: DATE_FORMAT } },
      { header: 'Телефон', key: 'phone', width: 16 },
      { header: 'Канал', key: 'channel', width: 14 },
      { header: 'Блок', key: 'block', width: 14 },
      { header: 'Вариант', key: 'variant', width: 9 },
      { header: 'Статус', key: 'status', width: 20 },
      { header: 'Стоимость, ₽', key: 'cost', width: 13, style: { numFmt: MONEY_FORMAT } },
      { header: 'Возвращено', key: 'refunded', width: 11 },
      { header: 'Причина ошибки', key: 'error', width: 30 },
      { header: 'Ответ', key: 'replies', width: 30 },
      { header: 'Рассылка', key: 'mailing', width: 30 },
      { header: 'ID рассылки', key: 'mailingId', width: 11 },
      { header: 'ID сообщения', key: 'id', width: 13 },
    ];
    sheet.getRow(1).font = { bold: true };
    sheet.getRow(1).commit();

    let rows = 0;
    for await (const page of messageBatches(db, accountId, f, { batch: pageSize })) {
      for (const m of page) {
        sheet
          .addRow({
            created: local(m.createdAt),
            sent: m.sentAt ? local(m.sentAt) : null,
            phone: m.phone,
            channel: channelLabelsRu[m.channel],
            block: m.blockId,
            variant: m.variantLabel ?? String(m.variant + 1),
            status: messageReportStatusLabelsRu[m.status],
            cost: m.cost / 100,
            refunded: m.refunded ? 'да' : 'нет',
            error: errorLabel(m.errorReason),
            replies: m.replies.length > 0 ? m.replies.join('\n') : null,
            mailing: m.mailingName,
            mailingId: m.mailingId,
            id: m.id,
          })
          .commit();
      }
      rows += page.length;
      await drained(output);
    }
    sheet.commit();
    return { rows };
  });
}

export async function exportRecipientsXlsx(
  db: Kysely<DB>,
  accountId: number,
  filter: RecipientFilter,
  output: NodeJS.WritableStream,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const f = normalizeRecipientFilter(filter);
  const zone = timezone(options.timezone);
  const pageSize = pageSizeOf(options.pageSize);
  const local = excelWallTime(zone);
  return writeWorkbook(output, async (book) => {
    const sheet = book.addWorksheet('Получатели', { views: [{ state: 'frozen', ySplit: 1 }] });
    sheet.columns = [
      { header: 'Телефон', key: 'phone', width: 16 },
      { header: 'Вариант', key: 'variant', width: 9 },
      { header: 'Статус', key: 'status', width: 20 },
      { header: 'Состояние', key: 'state', width: 18 },
      { header: 'Причина завершения', key: 'endReason', width: 20 },
      { header: 'Текущий блок', key: 'block', width: 14 },
      { header: 'Шаг', key: 'step', width: 6 },
      { header: `В блоке с (${zone})`, key: 'entered', width: 20, style: { numFmt: DATE_FORMAT } },
      { header: `Завершено (${zone})`, key: 'finished', width: 20, style: { numFmt: DATE_FORMAT } },
      { header: 'Рассылка', key: 'mailing', width: 30 },
      { header: 'ID рассылки', key: 'mailingId', width: 11 },
    ];
    sheet.getRow(1).font = { bold: true };
    sheet.getRow(1).commit();

    let rows = 0;
    for await (const page of recipientBatches(db, accountId, f, { batch: pageSize })) {
      for (const r of page) {
        sheet
          .addRow({
            phone: r.phone,
            variant: r.variantLabel ?? String(r.variant + 1),
            status: recipientBucketLabelsRu[r.status],
            state: recipientStateLabelsRu[r.state],
            endReason: r.endReason ? endReasonLabelsRu[r.endReason] : null,
            block: r.blockId,
            step: r.step,
            entered: local(r.enteredAt),
            finished: r.finishedAt ? local(r.finishedAt) : null,
            mailing: r.mailingName,
            mailingId: r.mailingId,
          })
          .commit();
      }
      rows += page.length;
      await drained(output);
    }
    sheet.commit();
    return { rows };
  });
}

/**
 * Runs `write` against a streaming workbook on `output` and finishes the file. When writing fails half
 * way the output is destroyed with the error: a truncated .xlsx is useless, and a download must fail
 * visibly rather than hang.
 */
async function writeWorkbook(
  output: NodeJS.WritableStream,
  write: (book: ExcelJS.stream.xlsx.WorkbookWriter) => Promise<ExportResult>,
): Promise<ExportResult> {
  // Inline strings (no shared-strings table): the table would hold every distinct string in memory.
  const book = new ExcelJS.stream.xlsx.WorkbookWriter({
    stream: output as unknown as Stream,
    useStyles: true,
    useSharedStrings: false,
  });
  try {
    const result = await write(book);
    await book.commit();
    return result;
  } catch (error) {
    (output as NodeJS.WritableStream & { destroy?: (e?: Error) => void }).destroy?.(error as Error);
    throw error;
  }
}

function pageSizeOf(value: number | undefined): number {
  if (value === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(value) || value < 1 || value > 50_000)
    throw invalid('pageSize', 'pageSize must be 1..50000');
  return value;
}

/**
 * The zone's wall time as a "UTC" Date, which is what Excel shows for a date cell. Offsets are looked
 * up once per quarter hour of time (every zone's transitions fall on quarter hours), not per cell.
 */
export function excelWallTime(zone: string): (d: Date) => Date {
  const tz = IANAZone.create(zone);
  const offsets = new Map<number, number>();
  return (d) => {
    const ms = d.getTime();
    const quarter = Math.floor(ms / QUARTER_HOUR);
    let offset = offsets.get(quarter);
    if (offset === undefined) {
      offset = tz.offset(ms);
      if (offsets.size > 100_000) offsets.clear();
      offsets.set(quarter, offset);
    }
    return new Date(ms + offset * 60_000);
  };
}

const QUARTER_HOUR = 15 * 60_000;

const errorLabel = (reason: string | null) =>
  reason === null ? null : isErrorReason(reason) ? errorReasonLabelsRu[reason] : reason;

/** Waits while the output's buffer is full (a slow reader); returns at once otherwise. */
async function drained(output: NodeJS.WritableStream): Promise<void> {
  const writable = output as NodeJS.WritableStream & { writableNeedDrain?: boolean; destroyed?: boolean };
  if (writable.writableNeedDrain && !writable.destroyed) await once(writable, 'drain');
  // Let the zip stream move the committed rows out before the next page is read.
  await new Promise<void>((resolve) => setImmediate(resolve));
}
