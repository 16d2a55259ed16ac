import type { Kysely } from 'kysely';
import type { ChatChannel, ChatDelivery, DB, DialogStatus, MessageAuthor } from '../db/schema.ts';

/**
 * What the chat shows: rows read with what they refer to (operator names, attachments, contacts) and
 * shaped for each audience. REST answers and socket frames use the same shapes (docs/chat-protocol.md).
 * Visitors never see operator ids, delivery internals or other visitors' client ids.
 */

export interface AttachmentView {
  id: number;
  file_name: string;
  content_type: string;
  size: number;
}

export interface MessageView {
  id: number;
  dialog_id: number;
  author: MessageAuthor;
  operator_id: number | null;
  author_name: string | null;
  text: string;
  attachment: AttachmentView | null;
  client_id: string | null;
  delivery: ChatDelivery | null;
  delivery_error: string | null;
  created_at: Date;
}

export type VisitorMessageView = Omit<MessageView, 'operator_id' | 'delivery' | 'delivery_error'>;

export interface ContactView {
  id: number;
  name: string;
  phone: string | null;
  email: string | null;
}

export interface DialogView {
  id: number;
  site_id: number | null;
  channel: ChatChannel;
  status: DialogStatus;
  visitor_id: number | null;
  address: string | null;
  contact: ContactView | null;
  mailing_id: number | null;
  operator_id: number | null;
  assigned_at: Date | null;
  visitor_read_up_to: number;
  operator_read_up_to: number;
  last_message_id: number | null;
  last_message_at: Date | null;
  created_at: Date;
  closed_at: Date | null;
}

export interface VisitorDialogView {
  id: number;
  status: DialogStatus;
  operator: { name: string } | null;
  operator_read_up_to: number;
  visitor_read_up_to: number;
  last_message_id: number | null;
  created_at: Date;
  closed_at: Date | null;
}

export function messagesQuery(db: Kysely<DB>) {
  return db
    .selectFrom('chat_messages as m')
    .leftJoin('users as u', 'u.id', 'm.operator_id')
    .leftJoin('chat_attachments as f', 'f.id', 'm.attachment_id')
    .select([
      'm.id',
      'm.dialog_id',
      'm.account_id',
      'm.author',
      'm.visitor_id',
      'm.operator_id',
      'u.name as operator_name',
      'm.text',
      'm.client_id',
      'm.delivery',
      'm.delivery_error',
      'm.created_at',
      'f.id as attachment_id',
      'f.file_name',
      'f.content_type',
      'f.size',
    ]);
}

export type MessageRow = Awaited<ReturnType<ReturnType<typeof messagesQuery>['executeTakeFirstOrThrow']>>;

export function messageView(row: MessageRow): MessageView {
  return {
    id: row.id,
    dialog_id: row.dialog_id,
    author: row.author,
    operator_id: row.operator_id,
    author_name:
      row.author === 'operator' ? row.operator_name || (row.operator_id ? 'Оператор' : 'API') : null,
    text: row.text,
    attachment:
      row.attachment_id === null
        ? null
        : {
            id: row.attachment_id,
            file_name: row.file_name!,
            content_type: row.content_type!,
            size: row.size!,
          },
    client_id: row.client_id,
    delivery: row.delivery,
    delivery_error: row.delivery_error,
    created_at: row.created_at,
  };
}

export function visitorMessageView(row: MessageRow, visitorId: number): VisitorMessageView {
  const { operator_id: _o, delivery: _d, delivery_error: _e, ...view } = messageView(row);
  const own = row.author === 'visitor' && row.visitor_id === visitorId;
  return {
    ...view,
    author_name: row.author === 'operator' ? row.operator_name || 'Оператор' : null,
    client_id: own ? row.client_id : null,
  };
}

export function dialogsQuery(db: Kysely<DB>) {
  return db
    .selectFrom('dialogs as d')
    .leftJoin('contacts as c', 'c.id', 'd.contact_id')
    .leftJoin('users as u', 'u.id', 'd.operator_id')
    .select([
      'd.id',
      'd.account_id',
      'd.site_id',
      'd.channel',
      'd.status',
      'd.visitor_id',
      'd.address',
      'd.contact_id',
      'd.mailing_id',
      'd.operator_id',
      'd.assigned_at',
      'd.visitor_read_up_to',
      'd.operator_read_up_to',
      'd.last_message_id',
      'd.last_message_at',
      'd.created_at',
      'd.closed_at',
      'c.name as contact_name',
      'c.phone as contact_phone',
      'c.email as contact_email',
      'u.name as operator_name',
    ]);
}

export type DialogRow = Awaited<ReturnType<ReturnType<typeof dialogsQuery>['executeTakeFirstOrThrow']>>;

export function dialogView(row: DialogRow): DialogView {
  return {
    id: row.id,
    site_id: row.site_id,
    channel: row.channel,
    status: row.status,
    visitor_id: row.visitor_id,
    address: row.address,
    contact:
      row.contact_id === null
        ? null
        : {
            id: row.contact_id,
            name: row.contact_name ?? '',
            phone: row.contact_phone ?? null,
            email: row.contact_email ?? null,
          },
    mailing_id: row.mailing_id,
    operator_id: row.operator_id,
    assigned_at: row.assigned_at,
    visitor_read_up_to: row.visitor_read_up_to,
    operator_read_up_to: row.operator_read_up_to,
    last_message_id: row.last_message_id,
    last_message_at: row.last_message_at,
    created_at: row.created_at,
    closed_at: row.closed_at,
  };
}

export function visitorDialogView(row: DialogRow): VisitorDialogView {
  return {
    id: row.id,
    status: row.status,
    operator: row.operator_id === null ? null : { name: row.operator_name || 'Оператор' },
    operator_read_up_to: row.operator_read_up_to,
    visitor_read_up_to: row.visitor_read_up_to,
    last_message_id: row.last_message_id,
    created_at: row.created_at,
    closed_at: row.closed_at,
  };
}
