import type { z } from 'zod';
import type { Clock } from '../../shared/clock.ts';
import type { HttpClient, TokenStore } from './http.ts';

/** The CRMs of SPEC IN-1..IN-11, ids as stored on integration rows (append-only: never rename). */
export const crmSystems = [
  'amocrm',
  'bitrix24',
  'retailcrm',
  'omnidesk',
  'planfix',
  'alfacrm',
  'uon',
  'megaplan',
  'envycrm',
  'advantshop',
  'gravitel',
] as const;
export type CrmSystem = (typeof crmSystems)[number];

/** Everything we know about a visitor, as integrations receive it (CH-4 contact.captured/updated). */
export interface CrmContactData {
  /** Our contact id: a stable external id for CRMs that keep one (request ids, externalId, contactId). */
  contactId: string;
  name: string | null;
  /** E.164, most relevant first. */
  phones: string[];
  /** Normalised (trimmed, lowercase), most relevant first. */
  emails: string[];
  /** A short description for a new record: the site, the first message. */
  comment?: string | null;
  /** The site the visitor wrote from, used as the record's source where the CRM has one. */
  siteName?: string | null;
}

export interface CrmLookup {
  phones: string[];
  emails: string[];
  /** Our contact id, for CRMs that keep it (Omnidesk custom-channel users, Planfix contactId). */
  contactId?: string;
}

/** The kinds of records connectors create or attach to (per SPEC's IN table). */
export type CrmEntityKind = 'contact' | 'lead' | 'customer' | 'user' | 'case' | 'request' | 'client' | 'task';

/** A record in the CRM, as the runner stores it per contact + integration. */
export interface CrmRef {
  kind: CrmEntityKind;
  id: string;
  /** Ids of records that belong together (Omnidesk case → its user, Planfix task → its contact). */
  related?: Record<string, string>;
}

export interface CreateOptions {
  /** The CRM user mapped to the operator who talked to the visitor ("Менеджер – Оператор"). */
  responsibleUserId?: string | null;
}

/** Text attached to a record: the dialog transcript, later messages, or a call record (IN-11). */
export interface CrmNote {
  kind: 'transcript' | 'message' | 'call';
  text: string;
  /** The CRM user the note should be attributed to, when the CRM supports it. */
  authorUserId?: string | null;
  /**
   * A stable name of the event the note carries (`dialog-12-345`: dialog 12 up to message 345;
   * `message-345`). Connectors with findNote write it into the note (crm/notes.ts markedText).
   */
  marker?: string | null;
}

/** A CRM user (manager, employee, staff member) for operator mapping. */
export interface CrmUser {
  id: string;
  name: string;
  email: string | null;
  active: boolean;
}

export interface ConnectionInfo {
  /** What the cabinet shows after a successful test call, e.g. the account name. */
  accountName: string | null;
}

/** What every connector call gets: its validated settings, HTTP, a token store and the clock. */
export interface CrmContext<S> {
  settings: S;
  http: HttpClient;
  /** Where OAuth/session tokens live; the runner persists them encrypted. */
  tokens: TokenStore;
  clock: Clock;
}

/** An HTTP request received from a CRM (staff reply webhook, PBX event), as the route hands it over. */
export interface InboundRequest {
  method: string;
  /** Path after our integration prefix, including the unguessable token segment if any. */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  rawBody: string;
}

/** Events a two-way CRM sends us, in our vocabulary. */
export type InboundEvent =
  | {
      type: 'staff_message';
      /** Our dialog/visitor reference the CRM echoes back (custom user id, chatId). */
      conversationRef: string;
      crmUserId: string | null;
      /** When the CRM names the author instead of an id (Planfix): matched against CrmUser.name. */
      crmUserName?: string | null;
      text: string;
      externalMessageId: string | null;
    }
  | {
      type: 'call';
      direction: 'in' | 'out';
      status: 'answered' | 'missed' | 'busy' | 'unavailable' | 'failed';
      phone: string;
      crmUserId: string | null;
      startedAt: Date | null;
      durationSec: number;
      recordUrl: string | null;
      callId: string | null;
    }
  | {
      type: 'call_event';
      stage: 'incoming' | 'accepted' | 'completed' | 'cancelled' | 'outgoing';
      phone: string;
      crmUserId: string | null;
      callId: string | null;
    }
  | { type: 'contact_lookup'; phone: string; callId: string | null }
  | {
      /**
       * A value the CRM handed over in a request the connector verified (Bitrix24's application_token,
       * checked against the portal): the hub merges these into the stored settings (hidden fields only).
       */
      type: 'settings_learned';
      settings: Record<string, unknown>;
    }
  | { type: 'ignored'; reason: string };

/** The answer the CRM expects to its request (most want 200 with a small body). */
export interface InboundReply {
  status: number;
  contentType: string;
  body: string;
}

export type InboundResult =
  | {
      ok: true;
      events: InboundEvent[];
      reply: InboundReply;
    }
  | { ok: false; status: 400 | 401 | 403; reason: string };

/** A documented (or, when marked, empirical) request budget per CRM account. */
export interface RateLimit {
  requestsPerSecond: number;
  /** Burst the CRM tolerates before limiting (Bitrix24's leaky bucket holds 50). */
  burst?: number;
  /** Where the number comes from (crm-apis.md section or "UNCONFIRMED"). */
  source: string;
}

export interface OAuthSupport<S> {
  /** Where the cabinet sends the admin to grant access; `state` protects the redirect from CSRF. */
  authorizeUrl(settings: S, state: string): string;
  /**
   * Exchanges the redirect's parameters (`code`, and the account host where the CRM passes it) for
   * tokens, saves them in ctx.tokens and returns the settings to store (e.g. with the account host).
   */
  exchangeCode(ctx: CrmContext<S>, redirect: URLSearchParams): Promise<S>;
}

/**
 * The interface every CRM connector `satisfies`. Connectors are plain objects; all state lives in the
 * context (settings, token store), so one object serves every integration of its kind.
 */
export interface CrmConnector<S> {
  id: CrmSystem;
  title: { ru: string; en: string };
  /** What the connector creates, for the cabinet (SPEC IN table). */
  creates: { ru: string; en: string };
  /** Fields marked in settingsFields: secret, transient, hidden. */
  settingsSchema: z.ZodType<S>;
  rateLimit: RateLimit;
  /**
   * False for a system that keeps no contact records for us to push (Gravitel: calls flow from the PBX
   * to us); pushContact then refuses, and the contact methods answer `not_supported`.
   */
  handlesContacts?: boolean;
  /** Where API calls go: derived from the domain in the settings unless `apiBaseUrl` overrides it. */
  baseUrl(settings: S): string;
  /**
   * Turns the settings from the form into settings to store: Megaplan and Planfix log in here and keep
   * only the token. Called before the first testConnection.
   */
  prepareSettings?(ctx: CrmContext<S>): Promise<S>;
  oauth?: OAuthSupport<S>;
  /** A real, read-only call that proves the settings work. Throws CrmError. */
  testConnection(ctx: CrmContext<S>): Promise<ConnectionInfo>;
  /** The existing record to attach to, matched on a normalised phone or email; null when none. */
  findContact(ctx: CrmContext<S>, lookup: CrmLookup): Promise<CrmRef | null>;
  /** Creates the system's record (contact, lead, customer...). Only after findContact found nothing. */
  createEntity(ctx: CrmContext<S>, contact: CrmContactData, options: CreateOptions): Promise<CrmRef>;
  /** Adds phones/emails/name the record lacks; never removes what CRM users entered. */
  updateEntity(ctx: CrmContext<S>, ref: CrmRef, contact: CrmContactData): Promise<void>;
  /** Attaches a transcript/message/call; returns the ref to keep (Omnidesk opens a case on a user). */
  attachNote(ctx: CrmContext<S>, ref: CrmRef, note: CrmNote): Promise<CrmRef>;
  /**
   * Only for CRMs that can list an entity's notes, and whose attachNote keeps the ref: the marker of a
   * note on `ref` that matches `lookFor` (a whole marker, or a prefix ending in "-"), or null. The runner
   * asks before repeating a note whose answer may have been lost; without it such a retry may attach
   * the note twice (each connector says why it cannot look).
   */
  findNote?(ctx: CrmContext<S>, ref: CrmRef, lookFor: string): Promise<string | null>;
  /** CRM users for the operator mapping. */
  listUsers(ctx: CrmContext<S>): Promise<CrmUser[]>;
  /** Two-way systems only: authenticates and parses what the CRM posts to us. */
  parseInbound?(ctx: CrmContext<S>, request: InboundRequest): InboundResult | Promise<InboundResult>;
  /**
   * Two-way systems whose answer to a staff message names the conversation (Planfix answers `{chatId,
   * contactId}`): the hub asks for it once it has filed the message under our contact, so a chat the
   * CRM started by phone continues under our contact id. Without it the parsed reply stands.
   */
  inboundReply?(conversation: { ref: string; contactId: number }): InboundReply;
  /** Systems with a chat of their own (Bitrix24 Open Lines) that the dialog is passed into. */
  chatRelay?: ChatRelay<S>;
}

/** A visitor's chat message as a CRM's own chat receives it (hub/relay.ts). */
export interface CrmChatMessage {
  /** Our conversation reference the CRM echoes back with staff replies (`dialog-<id>`). */
  conversationRef: string;
  /** Our message id: the message's external id in the CRM. */
  messageId: string;
  text: string;
  sentAt: Date;
  /** The visitor who wrote it: our contact. */
  visitor: CrmContactData;
}

/** A staff message from the CRM the hub filed into the dialog (InboundEvent staff_message). */
export interface CrmDeliveredMessage {
  conversationRef: string;
  /** As the connector gave it in the staff_message's externalMessageId. */
  externalMessageId: string;
  /** Our message id. */
  messageId: string;
  deliveredAt: Date;
}

/**
 * Passing dialogs into a CRM's chat (SPEC IN-5 "pass dialogs to Bitrix chat"): the hub's runner calls it
 * for a contact's dialog messages in order, on the integration's rate limit, before it attaches them as
 * notes. Calls throw CrmError like any other.
 */
export interface ChatRelay<S> {
  /** Whether the settings turn the relay on. */
  enabled(settings: S): boolean;
  /** Sends visitors' messages into the CRM's chat. */
  send(ctx: CrmContext<S>, messages: CrmChatMessage[]): Promise<void>;
  /** Tells the CRM its staff messages reached the visitor's dialog. */
  confirmDelivered(ctx: CrmContext<S>, messages: CrmDeliveredMessage[]): Promise<void>;
}
