import { responseWordKey } from './response-words.ts';
import type { BlockItem, LinkItem, Report } from './validate-items.ts';
import { channelLinkKinds, isChannelStatus } from './vocabulary.ts';

/** The graph rules of SPEC CS, over blocks and links whose own fields were checked already. */

const channelNames = { sms: 'an SMS', viber: 'a Viber', voice: 'a voice', vk: 'a VK', ok: 'an OK' } as const;

const linkName = (link: LinkItem) => `Link "${link.id}" (${link.from ?? '?'} → ${link.to ?? '?'})`;

/** Link endpoints exist; each link kind fits its source block; statuses and digits fit the channel. */
export function checkLinkSources(
  blocks: ReadonlyMap<string, BlockItem>,
  links: readonly LinkItem[],
  report: Report,
) {
  for (const link of links) {
    const fail = (code: Parameters<Report>[0]['code'], field: string | null, message: string) =>
      report({ block: link.from, link: link.id, code, message: `${linkName(link)}: ${message}`, field });
    for (const end of ['from', 'to'] as const) {
      const id = link[end];
      if (id !== null && !blocks.has(id)) fail('unknown_block', end, `there is no block "${id}"`);
    }
    const source = link.from === null ? undefined : blocks.get(link.from);
    if (!source || source.kind === null || link.kind === null) continue;
    if (source.kind === 'goal') {
      fail('goal_has_links', null, 'a goal block ends the path and cannot have links out');
      continue;
    }
    if (source.kind === 'delay') {
      if (link.kind !== 'next')
        fail('invalid_link_kind', 'kind', `a delay block has one link of kind "next", not "${link.kind}"`);
      continue;
    }
    if (link.kind === 'next') {
      fail(
        'invalid_link_kind',
        'kind',
        'a "next" link leaves a delay block; a send block has status, response, ivr or error links',
      );
      continue;
    }
    const channel = source.channel;
    if (channel === null) continue;
    if (!(channelLinkKinds[channel] as readonly string[]).includes(link.kind)) {
      const allowed = channelLinkKinds[channel].join(', ');
      fail(
        'invalid_link_kind',
        'kind',
        `${channelNames[channel]} block can have ${allowed} links, not "${link.kind}"`,
      );
      continue;
    }
    const value = link.value;
    if (value?.kind === 'status') {
      if (!isChannelStatus(channel, value.status)) {
        fail('invalid_status', 'status', `${channelNames[channel]} message has no status "${value.status}"`);
      } else if (value.status === 'ivr' && source.ivrKeys === null) {
        // (undefined = the block's content is invalid, which is reported already)
        fail('invalid_status', 'status', `block "${source.id}" has no IVR menu, so it never reports "ivr"`);
      }
    }
    if (value?.kind === 'ivr' && source.ivrKeys !== undefined) {
      if (source.ivrKeys === null) {
        fail('digit_not_in_menu', 'digits', `block "${source.id}" has no IVR menu`);
      } else {
        const missing = value.digits.filter((digit) => !source.ivrKeys?.has(digit));
        if (missing.length > 0) {
          fail(
            'digit_not_in_menu',
            'digits',
            `key ${missing.join(', ')} is not in the IVR menu of "${source.id}"`,
          );
        }
      }
    }
  }
}

/** A delay block has exactly one link out. */
export function checkDelayLinks(
  blocks: ReadonlyMap<string, BlockItem>,
  links: readonly LinkItem[],
  report: Report,
) {
  for (const block of blocks.values()) {
    if (block.kind !== 'delay') continue;
    const count = links.filter((link) => link.from === block.id).length;
    if (count !== 1) {
      const message = `Block "${block.id}": a delay block needs exactly one link out, it has ${count}`;
      report({ block: block.id, link: null, code: 'delay_link_count', message, field: null });
    }
  }
}

/** The events a send-block link fires on; two links of one block sharing an event are duplicates. */
function linkEvents(link: LinkItem): string[] {
  const value = link.value;
  switch (value?.kind) {
    case 'status':
      return [`status:${value.status}`];
    case 'response':
      return value.words.map((word) => `response:${responseWordKey(word)}`);
    case 'ivr':
      return value.digits.map((digit) => `ivr:${digit}`);
    case 'error':
      return value.errors ? value.errors.map((reason) => `error:${reason}`) : ['error:*'];
    default:
      return [];
  }
}

/** "Any error" overlaps every error reason; other events clash only when equal. */
const eventsClash = (a: string, b: string) =>
  a === b || (a.startsWith('error:') && b.startsWith('error:') && (a === 'error:*' || b === 'error:*'));

export function checkDuplicateLinks(links: readonly LinkItem[], report: Report) {
  const seen = new Map<string, { event: string; link: string }[]>();
  for (const link of links) {
    if (link.from === null) continue;
    const earlier = seen.get(link.from) ?? [];
    const events = linkEvents(link);
    for (const event of events) {
      const clash = earlier.find((entry) => eventsClash(entry.event, event));
      if (clash) {
        const what = event === 'error:*' || clash.event === 'error:*' ? 'errors' : event.replace(':', ' ');
        const message = `${linkName(link)}: link "${clash.link}" of the same block already fires on ${what}`;
        report({ block: link.from, link: link.id, code: 'duplicate_link', message, field: null });
        break;
      }
    }
    earlier.push(...events.map((event) => ({ event, link: link.id })));
    seen.set(link.from, earlier);
  }
}

/** Exactly one start block, and it is a send block. Returns the start blocks found. */
export function checkStart(blocks: ReadonlyMap<string, BlockItem>, report: Report): BlockItem[] {
  const starts = [...blocks.values()].filter((block) => block.start);
  if (starts.length === 0) {
    const message = 'No start block: mark the block the cascade begins with as start';
    report({ block: null, link: null, code: 'no_start_block', message, field: 'blocks' });
  }
  if (starts.length > 1) {
    const ids = starts.map((block) => `"${block.id}"`).join(', ');
    for (const block of starts) {
      const message = `Block "${block.id}": only one block can be the start, but ${ids} are`;
      report({ block: block.id, link: null, code: 'multiple_start_blocks', message, field: 'start' });
    }
  }
  for (const block of starts) {
    if (block.kind === 'delay' || block.kind === 'goal') {
      const message = `Block "${block.id}": a cascade starts by sending a message, not with a ${block.kind} block`;
      report({ block: block.id, link: null, code: 'invalid_start_block', message, field: 'start' });
    }
  }
  return starts;
}

function adjacency(blocks: ReadonlyMap<string, BlockItem>, links: readonly LinkItem[]) {
  const out = new Map<string, LinkItem[]>();
  for (const link of links) {
    if (link.from === null || link.to === null || !blocks.has(link.from) || !blocks.has(link.to)) continue;
    const list = out.get(link.from) ?? [];
    list.push(link);
    out.set(link.from, list);
  }
  return out;
}

/** Reports every link that closes a cycle, with the cycle's path. */
export function checkCycles(
  blocks: ReadonlyMap<string, BlockItem>,
  links: readonly LinkItem[],
  report: Report,
) {
  const out = adjacency(blocks, links);
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  for (const root of blocks.keys()) {
    if (state.has(root)) continue;
    // Iterative DFS: a frame is a block and the index of its next link to follow.
    const stack: { id: string; next: number }[] = [{ id: root, next: 0 }];
    state.set(root, 'open');
    path.push(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const link = out.get(frame.id)?.[frame.next];
      if (!link) {
        state.set(frame.id, 'done');
        stack.pop();
        path.pop();
        continue;
      }
      frame.next++;
      const to = link.to!;
      const seen = state.get(to);
      if (seen === 'open') {
        const cycle = [...path.slice(path.indexOf(to)), to].join(' → ');
        const message = `${linkName(link)}: closes a cycle ${cycle}; a scheme must not loop`;
        report({ block: link.from, link: link.id, code: 'cycle', message, field: 'to' });
      } else if (seen === undefined) {
        state.set(to, 'open');
        path.push(to);
        stack.push({ id: to, next: 0 });
      }
    }
  }
}

/** Every block can be reached from a start block. */
export function checkReachable(
  blocks: ReadonlyMap<string, BlockItem>,
  links: readonly LinkItem[],
  starts: readonly BlockItem[],
  report: Report,
) {
  if (starts.length === 0) return;
  const out = adjacency(blocks, links);
  const reached = new Set(starts.map((block) => block.id));
  const queue = [...reached];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    for (const link of out.get(id) ?? []) {
      if (!reached.has(link.to!)) {
        reached.add(link.to!);
        queue.push(link.to!);
      }
    }
  }
  for (const block of blocks.values()) {
    if (reached.has(block.id)) continue;
    const message = `Block "${block.id}": no path leads to it from the start block; link it or remove it`;
    report({ block: block.id, link: null, code: 'unreachable_block', message, field: null });
  }
}
