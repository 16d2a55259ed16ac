import { Command, Option } from 'commander';
import { createAccount, createApiToken, createUser, requireAccountByName } from '../accounts/accounts.ts';
import { DEMO_ACCOUNT, ensureDemoAccount } from '../accounts/demo.ts';
import { topUp } from '../billing/ledger.ts';
import { channelAdapters } from '../channels/registry.ts';
import { defaultEngineBatch, loadConfig } from '../config/config.ts';
import { migrate } from '../db/migrate.ts';
import { buildApp } from '../http/app.ts';
import type { AppContext } from '../http/context.ts';
import { HubRunner } from '../integrations/hub/runner.ts';
import { chatHooks } from '../mailings/engine/chat-hooks.ts';
import { SharedFastClock } from '../mailings/engine/fast-clock.ts';
import { startEngineLoop } from '../mailings/engine/loop.ts';
import { openRuntime } from '../runtime.ts';
import { AppError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { startWorker } from '../worker/worker.ts';
import { contactsImportCommand } from './contacts-import.ts';
import { mailingRunCommand } from './mailing-run.ts';

type Role = 'start' | 'server' | 'worker';

function print(json: boolean, value: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

/** Runs a CLI verb against a migrated runtime with quiet logs, closing the database afterwards. */
async function withRuntime<T>(
  fn: (ctx: AppContext) => Promise<T>,
  options: { migrate?: boolean } = {},
): Promise<T> {
  const config = loadConfig();
  const ctx = await openRuntime(config, {
    logger: createLogger(process.env.LOG_LEVEL ?? 'warn'),
    migrate: options.migrate,
  });
  try {
    return await fn(ctx);
  } finally {
    await ctx.database.close();
  }
}

async function accountIdFor(ctx: AppContext, name: string | undefined): Promise<number> {
  return (await requireAccountByName(ctx.db, name ?? DEMO_ACCOUNT)).id;
}

async function runRole(role: Role): Promise<void> {
  const config = loadConfig();
  const ctx = await openRuntime(config);
  const stops: (() => Promise<void>)[] = [];
  const banner: string[] = [];
  if (role !== 'worker') {
    const app = await buildApp(ctx, { demo: config.demo });
    await app.listen({ port: config.port, host: config.host });
    stops.push(() => app.close());
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const base = config.publicUrl ?? `http://localhost:${port}`;
    banner.push(
      `omnitalk ${role} listening on ${base}`,
      `  API docs:  ${base}/api/docs`,
      `  OpenAPI:   ${base}/api/openapi.json`,
    );
    if (config.demo) {
      const demo = await ensureDemoAccount(ctx, config.demoToken);
      banner.push(
        `  Demo account "${DEMO_ACCOUNT}"${demo.created ? ' (created now)' : ''}:`,
        `    login:     ${demo.email}`,
        `    password:  ${demo.password}`,
        `    API token: ${demo.token}`,
        `    try:       curl -H "Authorization: Bearer ${demo.token}" ${base}/api/v1/contacts`,
        `  Chat demo: ${base}/demo  (answer on ${base}/operator with the login above)`,
      );
    }
  }
  if (role !== 'server') {
    const worker = startWorker(ctx);
    stops.unshift(() => worker.stop());
    const clock = config.fastClock ? await SharedFastClock.open(ctx.db, ctx.clock.now()) : ctx.clock;
    const engine = startEngineLoop(
      {
        db: ctx.db,
        clock,
        adapters: channelAdapters(),
        logger: ctx.logger,
        batchSize: config.engineBatch ?? defaultEngineBatch(ctx.database.kind),
        ...chatHooks(clock),
      },
      { lanes: config.engineLanes ?? undefined },
    );
    stops.unshift(() => engine.stop());
    // The CRM hub's outbox runner (issue 5) on pg-boss over the same database.
    const hub = new HubRunner({
      db: ctx.db,
      box: ctx.secrets,
      clock: ctx.clock,
      logger: ctx.logger,
      multiProcess: ctx.database.kind === 'postgres',
    });
    await hub.start();
    stops.unshift(() => hub.stop());
    banner.push(role === 'worker' ? 'omnitalk worker started' : '  Worker:    running in this process');
  }
  banner.push(
    `  Database:  ${ctx.database.kind === 'pglite' ? `PGlite in ${ctx.dataDir}` : 'PostgreSQL (DATABASE_URL)'}`,
  );
  process.stdout.write(`${banner.join('\n')}\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    ctx.logger.info({ signal }, 'shutting down');
    for (const stop of stops) await stop().catch((err) => ctx.logger.error({ err }, 'stop failed'));
    await ctx.database.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

export function buildProgram(): Command {
  const program = new Command('omnitalk')
    .description('omnitalk: chat, CRM integrations, cascade mailings')
    .showHelpAfterError();

  program
    .command('start')
    .description('server and worker in one process (what npm start runs)')
    .action(() => runRole('start'));
  program
    .command('server')
    .description('HTTP/WebSocket server only')
    .action(() => runRole('server'));
  program
    .command('worker')
    .description('background worker only')
    .action(() => runRole('worker'));
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .option('--json', 'JSON output')
    .action((opts: { json?: boolean }) =>
      withRuntime(
        async (ctx) => {
          const ran = await migrate(ctx.db);
          print(
            Boolean(opts.json),
            { applied: ran },
            ran.length ? `applied: ${ran.join(', ')}` : 'database is up to date',
          );
        },
        { migrate: false },
      ),
    );

  const account = program.command('account').description('manage accounts');
  account
    .command('create <name>')
    .description('create an account with its owner')
    .requiredOption('--email <email>', 'owner email')
    .requiredOption('--password <password>', 'owner password (at least 8 characters)')
    .option('--platform-admin', 'the owner also administers the whole install')
    .option('--json', 'JSON output')
    .action(
      (name: string, opts: { email: string; password: string; platformAdmin?: boolean; json?: boolean }) =>
        withRuntime(async (ctx) => {
          const created = await ctx.db.transaction().execute(async (trx) => {
            const acc = await createAccount(trx, ctx.clock, name);
            const user = await createUser(trx, ctx.clock, {
              accountId: acc.id,
              email: opts.email,
              password: opts.password,
              role: 'owner',
              isPlatformAdmin: Boolean(opts.platformAdmin),
            });
            return { account: { id: acc.id, name: acc.name }, owner: { id: user.id, email: user.email } };
          });
          print(
            Boolean(opts.json),
            created,
            `account "${created.account.name}" created (id ${created.account.id}), owner ${created.owner.email}`,
          );
        }),
    );

  account
    .command('topup <name>')
    .description('add money to an account balance (platform administration)')
    .requiredOption('--amount <kopecks>', 'amount in kopecks (100 = 1 RUB)')
    .option('--description <text>', 'ledger description', 'Top-up from the command line')
    .option('--json', 'JSON output')
    .action((name: string, opts: { amount: string; description: string; json?: boolean }) =>
      withRuntime(async (ctx) => {
        const amount = Number(opts.amount);
        if (!Number.isSafeInteger(amount) || amount <= 0)
          throw new AppError('validation_failed', 'Amount must be a positive whole number of kopecks', {
            field: 'amount',
          });
        const id = await accountIdFor(ctx, name);
        const result = await topUp(ctx.db, ctx.clock, {
          accountId: id,
          amount,
          description: opts.description,
        });
        print(
          Boolean(opts.json),
          { account: name, balance: result.balance },
          `balance of "${name}": ${(result.balance / 100).toFixed(2)} RUB`,
        );
      }),
    );

  const token = program.command('token').description('manage API tokens');
  token
    .command('create')
    .description('create an API token and print it (shown once)')
    .requiredOption('--account <name>', 'account name')
    .option('--name <name>', 'a label for the token')
    .option('--json', 'JSON output')
    .action((opts: { account: string; name?: string; json?: boolean }) =>
      withRuntime(async (ctx) => {
        const id = await accountIdFor(ctx, opts.account);
        const created = await createApiToken(ctx.db, ctx.clock, id, { name: opts.name });
        print(
          Boolean(opts.json),
          { id: created.row.id, account: opts.account, token: created.token },
          created.token,
        );
      }),
    );

  const contacts = program.command('contacts').description('contacts');
  contacts
    .command('import <file>')
    .description('import a CSV or XLSX file into a group')
    .requiredOption('--group <name>', 'group to import into (created when missing)')
    .option('--account <name>', 'account name', DEMO_ACCOUNT)
    .addOption(new Option('--region <code>', 'default country for numbers without a code').default('RU'))
    .option('--json', 'JSON output')
    .action((file: string, opts: { group: string; account: string; region: string; json?: boolean }) =>
      withRuntime(async (ctx) => {
        const accountId = await accountIdFor(ctx, opts.account);
        await contactsImportCommand(
          { db: ctx.db, clock: ctx.clock, out: process.stdout },
          {
            file,
            accountId,
            groupName: opts.group,
            json: Boolean(opts.json),
            region: opts.region.toUpperCase(),
          },
        );
      }),
    );
  const mailing = program.command('mailing').description('mailings');
  mailing
    .command('run <scheme>')
    .description('run a mailing of a scheme (JSON file) to a group until it ends, then print its report')
    .requiredOption('--group <name>', 'recipients group')
    .option('--account <name>', 'account name', DEMO_ACCOUNT)
    .option('--fast-clock', 'jump the clock to the next due moment whenever nothing is due (simulation)')
    .option('--json', 'print the report as JSON (the same object as GET /api/v1/mailings/{id}/report)')
    .action((scheme: string, opts: { group: string; account: string; fastClock?: boolean; json?: boolean }) =>
      withRuntime(async (ctx) => {
        const accountId = await accountIdFor(ctx, opts.account);
        await mailingRunCommand(
          { db: ctx.db, clock: ctx.clock, logger: ctx.logger, out: process.stdout },
          {
            schemeFile: scheme,
            accountId,
            groupName: opts.group,
            fastClock: Boolean(opts.fastClock),
            json: Boolean(opts.json),
          },
        );
      }),
    );
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    const message =
      error instanceof AppError ? `${error.message}${error.field ? ` (${error.field})` : ''}` : String(error);
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = error instanceof AppError ? 2 : 1;
  }
}
