import fs from 'node:fs';
import { SingleBar } from 'cli-progress';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { channelAdapters } from '../channels/registry.ts';
import { defaultEngineBatch } from '../config/config.ts';
import { isSingleConnection } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import { chatHooks } from '../mailings/engine/chat-hooks.ts';
import { SharedFastClock } from '../mailings/engine/fast-clock.ts';
import { startEngineLoop } from '../mailings/engine/loop.ts';
import { createMailing, startMailing } from '../mailings/mailings.ts';
import { type MailingReport, mailingReport } from '../mailings/reports/index.ts';
import { mailingInputSchema } from '../mailings/settings.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';

export interface MailingRunDeps {
  db: Kysely<DB>;
  clock: Clock;
  logger: Logger;
  out: NodeJS.WritableStream;
}

export interface MailingRunOptions {
  schemeFile: string;
  accountId: number;
  groupName: string;
  fastClock: boolean;
  json: boolean;
}

/**
 * `omnitalk mailing run SCHEME.json --group NAME`: creates a mailing of the scheme to the group, runs the
 * engine in this process until the mailing ends, and prints the same report object the REST API returns.
 * The file holds a scheme, or a whole mailing request (with "scheme" or "variants" plus options).
 */
export async function mailingRunCommand(
  deps: MailingRunDeps,
  options: MailingRunOptions,
): Promise<MailingReport> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(options.schemeFile, 'utf8'));
  } catch (error) {
    throw invalid('file', `Cannot read ${options.schemeFile} as JSON: ${(error as Error).message}`);
  }
  const groupExists = await deps.db
    .selectFrom('contact_groups')
    .select('id')
    .where('account_id', '=', options.accountId)
    .where('name', '=', options.groupName)
    .executeTakeFirst();
  if (!groupExists)
    throw new AppError('not_found', `Group "${options.groupName}" not found`, { field: 'group' });
  const groupId = groupExists.id;
  const body = raw as Record<string, unknown>;
  const request = 'blocks' in body ? { scheme: body } : body;
  const input = mailingInputSchema.parse({ recipients: { group_ids: [groupId] }, ...request });

  const clock = options.fastClock
    ? await SharedFastClock.open(deps.db, deps.clock.now(), { reset: true })
    : deps.clock;
  const mailing = await createMailing(deps.db, clock, options.accountId, input);
  const started = await startMailing(deps.db, clock, options.accountId, mailing.id);
  const total = started.recipients_total;

  const bar =
    !options.json && (deps.out as NodeJS.WriteStream).isTTY
      ? new SingleBar({
          format: 'mailing {bar} {value}/{total} recipients done | {eta_formatted} left',
          stream: deps.out as NodeJS.WriteStream,
        })
      : null;
  bar?.start(total, 0);
  const loop = startEngineLoop(
    {
      db: deps.db,
      clock,
      adapters: channelAdapters(),
      logger: deps.logger,
      batchSize: defaultEngineBatch(isSingleConnection(deps.db) ? 'pglite' : 'postgres'),
      ...chatHooks(clock),
    },
    {
      maxSleepMs: 500,
      onTick: async () => {
        const m = await deps.db
          .selectFrom('mailings')
          .select('status')
          .where('id', '=', mailing.id)
          .executeTakeFirstOrThrow();
        if (bar) {
          const done = await deps.db
            .selectFrom('mailing_recipients')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('mailing_id', '=', mailing.id)
            .where('state', '=', 'done')
            .executeTakeFirstOrThrow();
          bar.update(Number(done.n));
        }
        if (m.status === 'completed' || m.status === 'cancelled') void loop.stop();
      },
    },
  );
  await loop.done;
  bar?.stop();
  const report = await mailingReport(deps.db, options.accountId, mailing.id);
  if (options.json) {
    deps.out.write(`${JSON.stringify(report)}\n`);
  } else {
    const t = report.totals;
    deps.out.write(
      [
        `Mailing ${report.mailing.id} "${report.mailing.name}" ${report.mailing.status} (sandbox providers)`,
        `  recipients ${t.recipients}: goal ${t.goal}, finished ${t.finished}, interrupted ${t.interrupted}`,
        `  messages sent ${t.sent}, delivered ${t.delivered}, undelivered ${t.undelivered}, viewed ${t.viewed}, clicked ${t.clicked}, replied ${t.replied}`,
        `  cost ${(report.money.cost / 100).toFixed(2)} ₽, refunded ${(report.money.refunded / 100).toFixed(2)} ₽`,
        ...report.blocks.map(
          (b) =>
            `  block ${b.blockId}${report.byVariant.length > 1 ? ` [${b.variant}]` : ''}: sent ${b.sent}, delivered ${b.delivered}`,
        ),
      ].join('\n') + '\n',
    );
  }
  return report;
}
