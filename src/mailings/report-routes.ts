import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { describeProviders } from '../channels/registry.ts';
import { accountOf, requireAccount } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { idParams } from '../http/schemas.ts';
import { invalid } from '../shared/errors.ts';
import { getMailing } from './mailings.ts';
import {
  exportMessagesXlsx,
  exportRecipientsXlsx,
  listDeferredMailings,
  listMessages,
  type MessageFilter,
  mailingReport,
  normalizeMessageFilter,
  normalizeRecipientFilter,
  type RecipientFilter,
  timeSeries,
  unsubscribedReport,
} from './reports/index.ts';
import { isZone } from './settings.ts';

/** Checked before an export starts: after the 200 has gone out an error can only cut the download. */
function checkZone(zone: string | undefined): void {
  if (zone !== undefined && !isZone(zone)) throw invalid('timezone', `Unknown time zone "${zone}"`);
}

// Query values arrive as text; the report functions check them and name the field on error.
const text = z.string().max(200).optional();
const int = z.coerce.number().int().optional();
const messageQuery = {
  status: text,
  channel: text,
  variant: int,
  block_id: text,
  phone: text,
  from: text,
  to: text,
  order: z.enum(['newest', 'oldest']).optional(),
};
type MessageQuery = { [K in keyof typeof messageQuery]?: z.infer<(typeof messageQuery)[K]> };
const toMessageFilter = (mailingId: number, q: MessageQuery): MessageFilter => ({
  mailingId,
  status: q.status as MessageFilter['status'],
  channel: q.channel as MessageFilter['channel'],
  variant: q.variant,
  blockId: q.block_id,
  phone: q.phone,
  from: q.from,
  to: q.to,
  order: q.order,
});
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

export const reportRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preHandler', requireAccount());

    app.get(
      '/channels/providers',
      {
        schema: {
          tags: ['reports'],
          summary: 'Which provider serves each channel; sandbox providers are labelled',
        },
      },
      async () => ({ items: describeProviders() }),
    );
    app.get(
      '/mailings/:id/report',
      {
        schema: {
          tags: ['reports'],
          summary: 'Mailing report: totals, money, per block and link, per A/B variant',
          params: idParams,
        },
      },
      async (request) => mailingReport(ctx.db, accountOf(request), request.params.id),
    );
    app.get(
      '/mailings/:id/messages',
      {
        schema: {
          tags: ['reports'],
          summary: 'All messages of a mailing, filterable, keyset-paged',
          params: idParams,
          querystring: z.strictObject({ ...messageQuery, limit: int, after: text }),
        },
      },
      async (request) => {
        const accountId = accountOf(request);
        await getMailing(ctx.db, accountId, request.params.id);
        const { limit, after, ...q } = request.query;
        return listMessages(ctx.db, accountId, { ...toMessageFilter(request.params.id, q), limit, after });
      },
    );
    app.get(
      '/mailings/:id/messages.xlsx',
      {
        schema: {
          tags: ['reports'],
          summary: 'Export the messages to Excel (.xlsx), streamed',
          params: idParams,
          querystring: z.strictObject({ ...messageQuery, timezone: text }),
        },
      },
      async (request, reply) => {
        const accountId = accountOf(request);
        await getMailing(ctx.db, accountId, request.params.id);
        const { timezone, ...q } = request.query;
        const filter = toMessageFilter(request.params.id, q);
        normalizeMessageFilter(filter); // bad filters answer 400 before the download starts
        checkZone(timezone);
        const out = new PassThrough();
        exportMessagesXlsx(ctx.db, accountId, filter, out, { timezone }).catch((err) => {
          request.log.error({ err }, 'xlsx export failed');
          out.destroy(err);
        });
        reply.header('content-type', XLSX);
        reply.header(
          'content-disposition',
          `attachment; filename="mailing-${request.params.id}-messages.xlsx"`,
        );
        return reply.send(out);
      },
    );
    app.get(
      '/mailings/:id/recipients.xlsx',
      {
        schema: {
          tags: ['reports'],
          summary: 'Export the recipients (subscribers) to Excel (.xlsx), streamed',
          params: idParams,
          querystring: z.strictObject({ status: text, variant: int, block_id: text, timezone: text }),
        },
      },
      async (request, reply) => {
        const accountId = accountOf(request);
        await getMailing(ctx.db, accountId, request.params.id);
        const q = request.query;
        const filter: RecipientFilter = {
          mailingId: request.params.id,
          status: q.status as RecipientFilter['status'],
          variant: q.variant,
          blockId: q.block_id,
        };
        normalizeRecipientFilter(filter);
        checkZone(q.timezone);
        const out = new PassThrough();
        exportRecipientsXlsx(ctx.db, accountId, filter, out, { timezone: q.timezone }).catch((err) => {
          request.log.error({ err }, 'xlsx export failed');
          out.destroy(err);
        });
        reply.header('content-type', XLSX);
        reply.header(
          'content-disposition',
          `attachment; filename="mailing-${request.params.id}-recipients.xlsx"`,
        );
        return reply.send(out);
      },
    );
    app.get(
      '/reports/timeseries',
      {
        schema: {
          tags: ['reports'],
          summary: 'Sent, delivered, clicked and goal per hour or day, with filters',
          querystring: z.strictObject({
            bucket: z.enum(['hour', 'day']),
            from: z.string().max(40),
            to: z.string().max(40),
            channel: text,
            tag: text,
            status: text,
            variant: int,
            mailing_id: int,
            timezone: text,
          }),
        },
      },
      async (request) => {
        const q = request.query;
        return {
          items: await timeSeries(ctx.db, accountOf(request), {
            bucket: q.bucket,
            from: q.from,
            to: q.to,
            channel: q.channel as never,
            tag: q.tag,
            status: q.status as never,
            variant: q.variant,
            mailingId: q.mailing_id,
            timezone: q.timezone,
          }),
        };
      },
    );
    app.get(
      '/reports/deferred',
      { schema: { tags: ['reports'], summary: 'Deferred mailings: scheduled and not started yet' } },
      async (request) => ({ items: await listDeferredMailings(ctx.db, ctx.clock, accountOf(request)) }),
    );
    app.get(
      '/reports/unsubscribed',
      {
        schema: {
          tags: ['reports'],
          summary: 'Unsubscribed numbers (the stop list) with the mailing that caused each',
          querystring: z.strictObject({
            limit: int,
            after: text,
            source: text,
            phone: text,
            from: text,
            to: text,
          }),
        },
      },
      async (request) => unsubscribedReport(ctx.db, accountOf(request), request.query as never),
    );
  };
