import type { z } from 'zod';
import { contentSchemas } from './content.ts';
import {
  type Block,
  blockSchema,
  decisionTimeSecSchema,
  delayDurationSecSchema,
  digitsSchema,
  errorReasonsSchema,
  idSchema,
  type Link,
  linkSchema,
  positionSchema,
  responseWordsSchema,
} from './model.ts';
import type { SchemeErrorCode, SchemeValidationError } from './validation-codes.ts';
import {
  type BlockKind,
  blockKinds,
  isSendChannel,
  type LinkKind,
  linkKinds,
  messageStatuses,
  type SendChannel,
  sendChannels,
} from './vocabulary.ts';

/** Field-by-field checks of one block or one link, before the graph rules (validate-graph.ts). */

export type Report = (error: SchemeValidationError) => void;

/** What the graph rules need to know about a block, even when some of its fields are bad. */
export interface BlockItem {
  id: string;
  kind: BlockKind | null;
  channel: SendChannel | null;
  start: boolean;
  /** Keys of a voice block's IVR menu; null when it has none, undefined when its content is invalid. */
  ivrKeys: ReadonlySet<string> | null | undefined;
  /** The parsed block when all its fields are valid. */
  value: Block | null;
}

export interface LinkItem {
  id: string;
  from: string | null;
  to: string | null;
  kind: LinkKind | null;
  /** The parsed link when all its fields are valid. */
  value: Link | null;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const blockFields: Record<BlockKind, readonly string[]> = {
  send: ['id', 'kind', 'start', 'position', 'channel', 'content', 'decisionTimeSec'],
  delay: ['id', 'kind', 'start', 'position', 'durationSec'],
  goal: ['id', 'kind', 'start', 'position'],
};

const linkFields: Record<LinkKind, readonly string[]> = {
  status: ['id', 'from', 'to', 'kind', 'status'],
  response: ['id', 'from', 'to', 'kind', 'words'],
  ivr: ['id', 'from', 'to', 'kind', 'digits'],
  error: ['id', 'from', 'to', 'kind', 'errors'],
  next: ['id', 'from', 'to', 'kind'],
};

const joinPath = (base: string, path: readonly PropertyKey[]): string =>
  [base, ...path.map(String)].filter((part) => part !== '').join('.');

/** One error per zod issue, with the issue's path appended to `field`. */
function reportIssues(
  issues: readonly z.core.$ZodIssue[],
  field: string,
  make: (field: string, detail: string) => SchemeValidationError,
  report: Report,
): void {
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = joinPath(field, [...issue.path, key]);
        report(make(path, `${path} is not a known field here`));
      }
      continue;
    }
    const path = joinPath(field, issue.path);
    report(make(path, `${path} ${issue.message}`));
  }
}

function checkUnknownFields(
  raw: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
  make: (field: string, code: SchemeErrorCode, message: string) => SchemeValidationError,
  report: Report,
): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) report(make(key, 'unknown_field', `${what} has no field "${key}"`));
  }
}

export function checkBlock(raw: unknown, index: number, report: Report): BlockItem | null {
  const where = `blocks[${index}]`;
  if (!isRecord(raw)) {
    report({
      block: null,
      link: null,
      code: 'invalid_shape',
      message: `${where} must be an object`,
      field: where,
    });
    return null;
  }
  const id = idSchema.safeParse(raw.id);
  if (!id.success) {
    const message = `${where}.id ${id.error.issues[0]?.message ?? 'is invalid'}`;
    report({ block: null, link: null, code: 'invalid_shape', message, field: `${where}.id` });
    return null;
  }
  const blockId = id.data;
  let failed = false;
  const make = (field: string, code: SchemeErrorCode, message: string): SchemeValidationError => {
    failed = true;
    return { block: blockId, link: null, code, message: `Block "${blockId}": ${message}`, field };
  };

  const item: BlockItem = {
    id: blockId,
    kind: null,
    channel: null,
    start: false,
    ivrKeys: undefined,
    value: null,
  };
  if (raw.start !== undefined && typeof raw.start !== 'boolean') {
    report(make('start', 'invalid_shape', 'start must be true or false'));
  }
  item.start = raw.start === true;
  if (!(blockKinds as readonly unknown[]).includes(raw.kind)) {
    report(make('kind', 'invalid_shape', `kind must be one of ${blockKinds.join(', ')}`));
    return item;
  }
  const kind = raw.kind as BlockKind;
  item.kind = kind;
  checkUnknownFields(raw, blockFields[kind], `a ${kind} block`, make, report);
  if (raw.position !== undefined) {
    const position = positionSchema.safeParse(raw.position);
    if (!position.success) {
      reportIssues(position.error.issues, 'position', (f, m) => make(f, 'invalid_shape', m), report);
    }
  }

  if (kind === 'send') checkSendFields(raw, item, make, report);
  if (kind === 'delay') {
    const duration = delayDurationSecSchema.safeParse(raw.durationSec);
    if (!duration.success) {
      const detail =
        raw.durationSec === undefined ? 'is required' : (duration.error.issues[0]?.message ?? '');
      report(make('durationSec', 'delay_out_of_bounds', `durationSec ${detail}`));
    }
  }
  if (failed) return item;
  // start is allowed on any raw block so that a non-send start gets its own error; the model has it on send blocks only.
  const { start: _start, ...rest } = raw;
  const parsed = blockSchema.safeParse(kind === 'send' ? raw : rest);
  if (parsed.success) item.value = parsed.data;
  else reportIssues(parsed.error.issues, '', (f, m) => make(f, 'invalid_shape', m), report);
  return item;
}

function checkSendFields(
  raw: Record<string, unknown>,
  item: BlockItem,
  make: (field: string, code: SchemeErrorCode, message: string) => SchemeValidationError,
  report: Report,
): void {
  const decision = decisionTimeSecSchema.safeParse(raw.decisionTimeSec);
  if (!decision.success) {
    const detail =
      raw.decisionTimeSec === undefined ? 'is required' : (decision.error.issues[0]?.message ?? '');
    report(make('decisionTimeSec', 'decision_time_out_of_bounds', `decisionTimeSec ${detail}`));
  }
  if (!isSendChannel(raw.channel)) {
    const message = `channel must be one of ${sendChannels.join(', ')}`;
    report(make('channel', 'invalid_channel', message));
    return;
  }
  const channel = raw.channel;
  item.channel = channel;
  if (!isRecord(raw.content)) {
    report(make('content', 'invalid_content', `content must be an object with the ${channel} message`));
    return;
  }
  const content = contentSchemas[channel].safeParse(raw.content);
  if (!content.success) {
    reportIssues(content.error.issues, 'content', (f, m) => make(f, 'invalid_content', m), report);
    return;
  }
  if (channel !== 'voice') return;
  const voice = contentSchemas.voice.parse(raw.content);
  item.ivrKeys = voice.ivr ? new Set(Object.keys(voice.ivr)) : null;
  if (voice.retry && decision.success) {
    const span = voice.retry.attempts * voice.retry.intervalSec;
    if (span >= decision.data) {
      const message =
        `decisionTimeSec (${decision.data}) must be longer than the redials ` +
        `(${voice.retry.attempts} × ${voice.retry.intervalSec} s = ${span} s)`;
      report(make('decisionTimeSec', 'decision_time_out_of_bounds', message));
    }
  }
}

export function checkLink(raw: unknown, index: number, report: Report): LinkItem | null {
  const where = `links[${index}]`;
  if (!isRecord(raw)) {
    report({
      block: null,
      link: null,
      code: 'invalid_shape',
      message: `${where} must be an object`,
      field: where,
    });
    return null;
  }
  const id = idSchema.safeParse(raw.id);
  if (!id.success) {
    const message = `${where}.id ${id.error.issues[0]?.message ?? 'is invalid'}`;
    report({ block: null, link: null, code: 'invalid_shape', message, field: `${where}.id` });
    return null;
  }
  const linkId = id.data;
  const from = idSchema.safeParse(raw.from);
  const to = idSchema.safeParse(raw.to);
  const item: LinkItem = {
    id: linkId,
    from: from.success ? from.data : null,
    to: to.success ? to.data : null,
    kind: null,
    value: null,
  };
  let failed = false;
  const make = (field: string, code: SchemeErrorCode, message: string): SchemeValidationError => {
    failed = true;
    const ends = `${item.from ?? '?'} → ${item.to ?? '?'}`;
    return { block: item.from, link: linkId, code, message: `Link "${linkId}" (${ends}): ${message}`, field };
  };
  if (!from.success) report(make('from', 'invalid_shape', 'from must be the id of the source block'));
  if (!to.success) report(make('to', 'invalid_shape', 'to must be the id of the target block'));
  if (!(linkKinds as readonly unknown[]).includes(raw.kind)) {
    report(make('kind', 'invalid_shape', `kind must be one of ${linkKinds.join(', ')}`));
    return item;
  }
  const kind = raw.kind as LinkKind;
  item.kind = kind;
  checkUnknownFields(raw, linkFields[kind], `a ${kind} link`, make, report);
  checkLinkKindFields(raw, kind, make, report);
  if (failed) return item;
  const parsed = linkSchema.safeParse(raw);
  if (parsed.success) item.value = parsed.data;
  else reportIssues(parsed.error.issues, '', (f, m) => make(f, 'invalid_shape', m), report);
  return item;
}

function checkLinkKindFields(
  raw: Record<string, unknown>,
  kind: LinkKind,
  make: (field: string, code: SchemeErrorCode, message: string) => SchemeValidationError,
  report: Report,
): void {
  const check = (field: string, code: SchemeErrorCode, schema: z.ZodType, optional = false) => {
    if (optional && raw[field] === undefined) return;
    if (raw[field] === undefined) {
      report(make(field, code, `${field} is required`));
      return;
    }
    const result = schema.safeParse(raw[field]);
    if (!result.success) reportIssues(result.error.issues, field, (f, m) => make(f, code, m), report);
  };
  switch (kind) {
    case 'status':
      if (!(messageStatuses as readonly unknown[]).includes(raw.status)) {
        const message =
          raw.status === undefined ? 'a status link needs a status' : 'status is not a known status';
        report(make('status', 'invalid_status', message));
      }
      return;
    case 'response':
      check('words', 'invalid_response_words', responseWordsSchema);
      return;
    case 'ivr':
      check('digits', 'invalid_digits', digitsSchema);
      return;
    case 'error':
      check('errors', 'invalid_error_reason', errorReasonsSchema, true);
      return;
    case 'next':
      return;
  }
}
