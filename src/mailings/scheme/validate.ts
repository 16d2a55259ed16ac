import { AppError } from '../../shared/errors.ts';
import { type Block, type Link, type Scheme, schemeNameSchema } from './model.ts';
import {
  checkCycles,
  checkDelayLinks,
  checkDuplicateLinks,
  checkLinkSources,
  checkReachable,
  checkStart,
} from './validate-graph.ts';
import { type BlockItem, checkBlock, checkLink, isRecord, type LinkItem } from './validate-items.ts';
import type { SchemeValidationError } from './validation-codes.ts';
import { schemeLimits } from './vocabulary.ts';

export type SchemeValidation =
  | { valid: true; errors: []; scheme: Scheme }
  | { valid: false; errors: SchemeValidationError[]; scheme?: undefined };

const topLevelFields = ['name', 'blocks', 'links'];

/**
 * Validates a scheme as the editor or the API sends it (SPEC CS "Validation on save"). Reports every
 * problem it can find in one pass, each naming its block, link and field, with a stable code; the
 * parsed scheme is returned only when there are none.
 *
 * @example
 * const result = validateScheme(JSON.parse(body));
 * if (!result.valid) return reply.code(400).send({ errors: result.errors });
 * save(result.scheme);
 */
export function validateScheme(input: unknown): SchemeValidation {
  const errors: SchemeValidationError[] = [];
  const report = (error: SchemeValidationError) => {
    errors.push(error);
  };
  const schemeError = (
    field: string,
    message: string,
    code: 'invalid_shape' | 'unknown_field' = 'invalid_shape',
  ) => report({ block: null, link: null, code, message, field });

  if (!isRecord(input)) {
    schemeError('', 'A scheme must be an object with "blocks" and "links"');
    return { valid: false, errors };
  }
  for (const key of Object.keys(input)) {
    if (!topLevelFields.includes(key)) schemeError(key, `A scheme has no field "${key}"`, 'unknown_field');
  }
  if (input.name !== undefined) {
    const name = schemeNameSchema.safeParse(input.name);
    if (!name.success) schemeError('name', `name ${name.error.issues[0]?.message ?? 'is invalid'}`);
  }
  const rawBlocks = input.blocks;
  const rawLinks = input.links;
  if (!Array.isArray(rawBlocks)) schemeError('blocks', 'blocks must be a list');
  else if (rawBlocks.length > schemeLimits.blocks) {
    schemeError('blocks', `A scheme has at most ${schemeLimits.blocks} blocks`);
  }
  if (!Array.isArray(rawLinks)) schemeError('links', 'links must be a list (empty when there are none)');
  else if (rawLinks.length > schemeLimits.links)
    schemeError('links', `A scheme has at most ${schemeLimits.links} links`);
  if (errors.some((error) => error.field === 'blocks' || error.field === 'links'))
    return { valid: false, errors };

  const blocks = uniqueById(
    (rawBlocks as unknown[]).map((raw, index) => checkBlock(raw, index, report)),
    (block) => {
      const message = `Block "${block.id}": another block has the same id`;
      report({ block: block.id, link: null, code: 'duplicate_id', message, field: 'id' });
    },
  );
  const links = [
    ...uniqueById(
      (rawLinks as unknown[]).map((raw, index) => checkLink(raw, index, report)),
      (link) => {
        const message = `Link "${link.id}": another link has the same id`;
        report({ block: link.from, link: link.id, code: 'duplicate_id', message, field: 'id' });
      },
    ).values(),
  ];

  checkLinkSources(blocks, links, report);
  checkDelayLinks(blocks, links, report);
  checkDuplicateLinks(links, report);
  const starts = checkStart(blocks, report);
  checkCycles(blocks, links, report);
  checkReachable(blocks, links, starts, report);

  if (errors.length > 0) return { valid: false, errors };
  const scheme: Scheme = {
    ...(typeof input.name === 'string' ? { name: input.name } : {}),
    blocks: [...blocks.values()].map((block) => block.value as Block),
    links: links.map((link) => link.value as Link),
  };
  return { valid: true, errors: [], scheme };
}

/** Keeps the first item of each id, in order; the later ones go to `onDuplicate`. */
function uniqueById<T extends BlockItem | LinkItem>(items: (T | null)[], onDuplicate: (item: T) => void) {
  const byId = new Map<string, T>();
  for (const item of items) {
    if (item === null) continue;
    if (byId.has(item.id)) onDuplicate(item);
    else byId.set(item.id, item);
  }
  return byId;
}

/**
 * For code that must hold a valid scheme (loading a stored one, starting a mailing): the scheme, or an
 * AppError `validation_failed` carrying the first problem's message and field, and all of them as `cause`.
 */
export function assertValidScheme(input: unknown): Scheme {
  const result = validateScheme(input);
  if (result.valid) return result.scheme;
  const first = result.errors[0]!;
  const more = result.errors.length > 1 ? ` (and ${result.errors.length - 1} more problems)` : '';
  const owner = first.link ? `links.${first.link}` : first.block ? `blocks.${first.block}` : null;
  const field = owner ? [owner, first.field].filter(Boolean).join('.') : first.field;
  throw new AppError('validation_failed', first.message + more, { field, cause: result.errors });
}
