import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount } from '../../http/auth.ts';
import type { AppContext } from '../../http/context.ts';
import { idParams } from '../../http/schemas.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import { ensureGroup, getGroup } from '../groups.ts';
import {
  createImport,
  csvDelimiters,
  csvEncodings,
  detectImportFormat,
  getImport,
  listImportErrors,
  listImports,
  previewImportFile,
  resolveMapping,
  runImport,
  suggestMapping,
} from './index.ts';

/** NUL bytes in the head of a "CSV" without a UTF-16 byte order mark mean it is some other binary file. */
function looksBinary(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    const bytes = head.subarray(0, n);
    const utf16 = bytes[0] === 0xff && bytes[1] === 0xfe;
    return !utf16 && bytes.includes(0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Uploaded files live under DATA_DIR/uploads/imports, named by import id. */
export const importFilePath = (dataDir: string, importId: number) =>
  path.join(dataDir, 'uploads', 'imports', String(importId));

const mappingSchema = z.strictObject({
  phone: z.string().min(1).max(300).optional(),
  email: z.string().min(1).max(300).optional(),
  name: z.string().min(1).max(300).optional(),
  timezone: z.string().min(1).max(300).optional(),
  vars: z.record(z.string().min(1).max(100), z.string().min(1).max(300)).optional(),
});

export const importRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preHandler', requireAccount());

    app.get(
      '/imports',
      { schema: { tags: ['imports'], summary: 'Contact imports of the account, newest first' } },
      async (request) => ({
        items: await listImports(ctx.db, accountOf(request)),
      }),
    );

    app.post(
      '/imports',
      {
        schema: {
          tags: ['imports'],
          summary:
            'Upload a CSV or XLSX file (multipart field "file"); answers a preview and a suggested column mapping',
          consumes: ['multipart/form-data'],
        },
      },
      async (request, reply) => {
        const accountId = accountOf(request);
        if (!request.isMultipart())
          throw new AppError('unsupported_media_type', 'Send the file as multipart/form-data', {
            field: 'file',
          });
        const part = await request.file();
        if (part?.fieldname !== 'file') throw invalid('file', 'A multipart field named "file" is required');
        const dir = path.join(ctx.dataDir, 'uploads', 'imports');
        fs.mkdirSync(dir, { recursive: true });
        const tmp = path.join(dir, `upload-${crypto.randomBytes(8).toString('hex')}`);
        try {
          await pipeline(part.file, fs.createWriteStream(tmp, { mode: 0o600 }));
          if (part.file.truncated)
            throw new AppError('payload_too_large', 'The file is too large', { field: 'file' });
          const format = await detectImportFormat(tmp);
          if (format === 'csv' && looksBinary(tmp)) {
            throw invalid('file', 'The file is neither CSV nor XLSX (binary content)');
          }
          const preview = await previewImportFile(tmp, format);
          const record = await createImport(ctx.db, ctx.clock, {
            accountId,
            fileName: part.filename.slice(0, 255),
            format,
          });
          fs.renameSync(tmp, importFilePath(ctx.dataDir, record.id));
          reply.status(201);
          return { ...record, preview, suggestedMapping: suggestMapping(preview.headers) };
        } finally {
          fs.rmSync(tmp, { force: true });
        }
      },
    );

    app.post(
      '/imports/:id/start',
      {
        schema: {
          tags: ['imports'],
          summary:
            'Run an uploaded import into a group with a column mapping (the suggested one when omitted)',
          params: idParams,
          body: z.strictObject({
            group_id: z.number().int().positive().optional(),
            group_name: z.string().min(1).max(200).optional(),
            mapping: mappingSchema.optional(),
            region: z.string().length(2).optional(),
            encoding: z.enum(csvEncodings as [string, ...string[]]).optional(),
            delimiter: z.enum(csvDelimiters as [string, ...string[]]).optional(),
          }),
        },
      },
      async (request, reply) => {
        const accountId = accountOf(request);
        const { id } = request.params;
        const body = request.body;
        const record = await getImport(ctx.db, accountId, id);
        if (record.status !== 'uploaded')
          throw new AppError('conflict', `Import ${id} is ${record.status}; an import runs once`, {
            field: 'id',
          });
        if (!body.group_id && !body.group_name)
          throw invalid('group_id', 'group_id or group_name is required');
        const groupId = body.group_id
          ? (await getGroup(ctx.db, accountId, body.group_id)).id
          : await ensureGroup(ctx.db, ctx.clock, accountId, body.group_name!);
        const filePath = importFilePath(ctx.dataDir, id);
        const preview = await previewImportFile(filePath, record.format);
        const mapping = body.mapping ?? suggestMapping(preview.headers);
        resolveMapping(preview.headers, mapping); // refuses a missing column now, naming mapping.<field>
        const run = runImport(ctx.db, ctx.clock, {
          importId: id,
          accountId,
          groupId,
          filePath,
          mapping,
          region: (body.region ?? ctx.defaultRegion).toUpperCase(),
          ...(body.encoding && { encoding: body.encoding as (typeof csvEncodings)[number] }),
          ...(body.delimiter && { delimiter: body.delimiter as (typeof csvDelimiters)[number] }),
        });
        run.catch((err) => ctx.logger.warn({ err, importId: id }, 'import failed'));
        reply.status(202);
        return { ...record, groupId, mapping, status: 'running' as const };
      },
    );

    app.get(
      '/imports/:id',
      { schema: { tags: ['imports'], summary: 'Import state and counters', params: idParams } },
      async (request) => getImport(ctx.db, accountOf(request), request.params.id),
    );

    app.get(
      '/imports/:id/errors',
      {
        schema: {
          tags: ['imports'],
          summary: 'Per-row error report ({row, field, message}) in file order',
          params: idParams,
          querystring: z.strictObject({
            limit: z.coerce.number().int().min(1).max(1000).optional(),
            after_row: z.coerce.number().int().nonnegative().optional(),
            after_field: z.string().max(200).optional(),
          }),
        },
      },
      async (request) => {
        const { limit, after_row, after_field } = request.query;
        const after = after_row !== undefined ? { row: after_row, field: after_field ?? '' } : null;
        return listImportErrors(ctx.db, accountOf(request), request.params.id, { limit, after });
      },
    );
  };
