import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, notFound } from '../shared/errors.ts';
import type { AttachmentView } from './views.ts';
import { attachmentTypes, chatLimits } from './vocabulary.ts';

/**
 * Files sent in the chat, stored under DATA_DIR/chat-attachments/<account>/<random name>. The declared
 * content type must be one the chat accepts and must agree with the file's first bytes, so a page
 * cannot be smuggled in as an "image" and served back from our origin. Servers that share a database
 * must share DATA_DIR for attachments (a mounted volume), as they do for other uploads.
 */

export const ATTACHMENTS_DIR = 'chat-attachments';

export interface AttachmentOwner {
  accountId: number;
  siteId: number | null;
  visitorId: number | null;
  userId: number | null;
}

export interface IncomingFile {
  filename: string;
  mimetype: string;
  stream: Readable;
  /** Set by the multipart parser when the stream was cut at its size limit. */
  truncated?: () => boolean;
}

const signatures: Record<string, (head: Buffer) => boolean> = {
  'image/jpeg': (h) => h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff,
  'image/png': (h) => h.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/gif': (h) => h.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (h) =>
    h.subarray(0, 4).toString('latin1') === 'RIFF' && h.subarray(8, 12).toString('latin1') === 'WEBP',
  'application/pdf': (h) => h.subarray(0, 5).toString('latin1') === '%PDF-',
  'application/zip': (h) => h.subarray(0, 4).toString('latin1') === 'PK\u0003\u0004',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': (h) =>
    h.subarray(0, 4).toString('latin1') === 'PK\u0003\u0004',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': (h) =>
    h.subarray(0, 4).toString('latin1') === 'PK\u0003\u0004',
  'application/msword': (h) => h.subarray(0, 4).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0])),
  'application/vnd.ms-excel': (h) => h.subarray(0, 4).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0])),
  // Plain text: no NUL bytes and no markup a browser would render.
  'text/plain': (h) => !h.includes(0) && !/<\s*(html|script|svg|body|iframe)/i.test(h.toString('utf8')),
};

export const isAcceptedType = (type: string): boolean =>
  (attachmentTypes as readonly string[]).includes(type);

function cleanFileName(name: string): string {
  // Control characters and path separators go; what remains is only ever shown, never used as a path.
  const base = path
    .basename(name.replace(/\\/g, '/'))
    .replace(/[\p{Cc}\p{Cf}]/gu, '')
    .trim();
  return (base || 'file').slice(0, 255);
}

export async function storeAttachment(
  db: Kysely<DB>,
  clock: Clock,
  dataDir: string,
  owner: AttachmentOwner,
  file: IncomingFile,
): Promise<AttachmentView> {
  const type = file.mimetype.toLowerCase().split(';')[0]!.trim();
  if (!isAcceptedType(type)) {
    file.stream.resume();
    throw new AppError(
      'unsupported_media_type',
      `Files of type ${type || 'unknown'} cannot be sent in the chat`,
      {
        field: 'file',
      },
    );
  }
  const key = `${owner.accountId}/${crypto.randomBytes(16).toString('hex')}`;
  const target = path.join(dataDir, ATTACHMENTS_DIR, key);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const hash = crypto.createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  const out = fs.createWriteStream(target, { flags: 'wx', mode: 0o600 });
  let writeError: Error | null = null;
  out.on('error', (err) => {
    writeError = err;
  });
  try {
    for await (const chunk of file.stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > chatLimits.attachmentBytes) {
        throw new AppError(
          'payload_too_large',
          `A file must be at most ${chatLimits.attachmentBytes} bytes`,
          {
            field: 'file',
          },
        );
      }
      if (head.length < 512) head = Buffer.concat([head, chunk.subarray(0, 512 - head.length)]);
      hash.update(chunk);
      if (writeError) throw writeError;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    if (file.truncated?.()) {
      throw new AppError('payload_too_large', `A file must be at most ${chatLimits.attachmentBytes} bytes`, {
        field: 'file',
      });
    }
    if (size === 0) throw new AppError('validation_failed', 'The file is empty', { field: 'file' });
    if (!signatures[type]!(head)) {
      throw new AppError('unsupported_media_type', `The file's content is not ${type}`, { field: 'file' });
    }
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    const row = await db
      .insertInto('chat_attachments')
      .values({
        account_id: owner.accountId,
        site_id: owner.siteId,
        visitor_id: owner.visitorId,
        uploaded_by: owner.userId,
        file_name: cleanFileName(file.filename),
        content_type: type,
        size,
        sha256: hash.digest('hex'),
        storage_key: key,
        created_at: clock.now(),
      })
      .returning(['id', 'file_name', 'content_type', 'size'])
      .executeTakeFirstOrThrow();
    return row;
  } catch (error) {
    // The file is opened asynchronously: remove it only once the stream has closed, or it reappears.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
    file.stream.resume();
    fs.rmSync(target, { force: true });
    throw error;
  }
}

export interface StoredAttachment extends AttachmentView {
  path: string;
}

/** An attachment of the account, optionally only if a given visitor may see it. */
export async function openAttachment(
  db: Kysely<DB>,
  dataDir: string,
  accountId: number,
  id: number,
  visitorId?: number,
): Promise<StoredAttachment> {
  let query = db
    .selectFrom('chat_attachments as f')
    .select(['f.id', 'f.file_name', 'f.content_type', 'f.size', 'f.storage_key'])
    .where('f.account_id', '=', accountId)
    .where('f.id', '=', id);
  if (visitorId !== undefined) {
    // A visitor sees its own uploads and files sent in its own dialogs.
    query = query.where((eb) =>
      eb.or([
        eb('f.visitor_id', '=', visitorId),
        eb.exists(
          eb
            .selectFrom('chat_messages as m')
            .innerJoin('dialogs as d', 'd.id', 'm.dialog_id')
            .select('m.id')
            .whereRef('m.attachment_id', '=', 'f.id')
            .where('d.visitor_id', '=', visitorId),
        ),
      ]),
    );
  }
  const row = await query.executeTakeFirst();
  if (!row) throw notFound('Attachment', 'id');
  const { storage_key, ...view } = row;
  return { ...view, path: path.join(dataDir, ATTACHMENTS_DIR, storage_key) };
}
