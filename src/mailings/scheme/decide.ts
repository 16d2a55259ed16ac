import type { DelayBlock, Link, SendBlock, StatusLink } from './model.ts';
import { matchesResponse } from './response-words.ts';
import {
  type ChannelStatus,
  channelFailure,
  channelFlags,
  channelMilestones,
  channelStatuses,
  type ErrorReason,
  type MessageStatus,
  type SendChannel,
  statusClass,
} from './vocabulary.ts';

/**
 * The decision rule of SPEC CS as pure functions: where a recipient goes from a block, given what
 * happened to the message it sent there and the time. The engine evaluates it (or its SQL mirror,
 * built from statusRoutes) whenever an event arrives for a message and when a decision time falls due.
 */

/** What the engine knows about the message a send block sent to one recipient. */
export interface MessageState {
  channel: SendChannel;
  /** When the provider accepted the message; null while it is not sent yet (or when the send failed). */
  sentAt: Date | null;
  /**
   * Every status the provider reported so far: milestones (delivered, viewed, clicked, answered, ivr),
   * terminal flags (spam, unsubscribed) and failures (undelivered, no_answer — reported only once final,
   * e.g. after the last redial). Statuses of other channels are ignored.
   */
  statuses: ReadonlySet<MessageStatus>;
  /** The provider will report nothing more (call hung up, TTL expired); replies may still come. */
  closed?: boolean;
  /** Recipient replies received while in this block, oldest first. */
  replies?: readonly string[];
  /** IVR keys pressed during the call, in order. */
  ivrDigits?: readonly string[];
  /** Set when the send failed. */
  error?: ErrorReason | null;
}

/** What made the decision: an event link, the decision time, an early settled state, or a delay's end. */
export type DecisionTrigger = 'error' | 'ivr' | 'response' | 'decision_time' | 'early' | 'delay';

export type Decision =
  | { action: 'follow'; linkId: string; trigger: DecisionTrigger }
  /** The recipient's path ends here ("finished"). */
  | { action: 'finish'; trigger: DecisionTrigger }
  /** Nothing to do yet; `until` is when the decision falls due, null while the message is not sent. */
  | { action: 'wait'; until: Date | null };

const follow = (link: Link, trigger: DecisionTrigger): Decision => ({
  action: 'follow',
  linkId: link.id,
  trigger,
});
const finishOrFollow = (link: Link | null, trigger: DecisionTrigger): Decision =>
  link ? follow(link, trigger) : { action: 'finish', trigger };

/** When a send block's decision falls due. */
export const decisionDeadline = (sentAt: Date, decisionTimeSec: number): Date =>
  new Date(sentAt.getTime() + decisionTimeSec * 1000);

/**
 * The status link a message in `statuses` takes at decision time, or null (finish):
 * 1. a terminal flag, in priority order (spam, unsubscribed), that has a link; a flagged message with
 *    no link for any of its flags finishes — we never carry on with someone who complained or left;
 * 2. else the highest milestone reached, falling back to the next lower milestone that has a link;
 * 3. a message that reached no milestone counts as undelivered (no_answer for a call).
 */
export function resolveStatusLink<C extends SendChannel>(
  channel: C,
  statuses: ReadonlySet<MessageStatus>,
  links: readonly Link[],
): StatusLink | null {
  const linkFor = (status: MessageStatus) =>
    links.find((link): link is StatusLink => link.kind === 'status' && link.status === status) ?? null;
  const flags: readonly MessageStatus[] = channelFlags[channel];
  const raised = flags.filter((flag) => statuses.has(flag));
  if (raised.length > 0) {
    for (const flag of raised) {
      const link = linkFor(flag);
      if (link) return link;
    }
    return null;
  }
  const milestones: readonly MessageStatus[] = channelMilestones[channel];
  const highest = milestones.findIndex((milestone) => statuses.has(milestone));
  if (highest === -1) return linkFor(channelFailure[channel]);
  for (const milestone of milestones.slice(highest)) {
    const link = linkFor(milestone);
    if (link) return link;
  }
  return null;
}

/**
 * For a set-based engine: the link (id) taken at decision time by a message whose dominant status is
 * each of the channel's statuses, null = finish. A message with no status routes as its failure status.
 */
export function statusRoutes<C extends SendChannel>(
  channel: C,
  links: readonly Link[],
): Record<ChannelStatus<C>, string | null> {
  const routes = {} as Record<ChannelStatus<C>, string | null>;
  for (const status of channelStatuses[channel] as readonly ChannelStatus<C>[]) {
    routes[status] = resolveStatusLink(channel, new Set([status]), links)?.id ?? null;
  }
  return routes;
}

/** The subsets of `items` (at most 2^6 here: a channel has at most six statuses). */
function* subsets<T>(items: readonly T[]): Generator<T[]> {
  for (let mask = 1; mask < 1 << items.length; mask++) yield items.filter((_, i) => mask & (1 << i));
}

/**
 * isSettled's answers per links array (a scheme's links are one array for the life of the mailing) and
 * state: it walks every set of statuses still possible (up to 63 resolutions), and a batch asks the
 * same few questions thousands of times.
 */
const settledCache = new WeakMap<readonly Link[], Map<string, boolean>>();

/**
 * True when nothing that can still happen to the message changes where it goes: no reply or key press
 * can still fire a link, and every set of statuses it could still reach resolves to the same link.
 */
function isSettled(
  block: Pick<SendBlock, 'id' | 'channel'>,
  statuses: ReadonlySet<MessageStatus>,
  state: MessageState,
  links: readonly Link[],
  own: readonly Link[],
  outcome: StatusLink | null,
): boolean {
  // The block's own links and outcome follow from the scheme's links, the block and the statuses, so
  // these say everything the answer depends on.
  const key = `${block.id}|${state.closed === true}|${[...statuses].sort().join(',')}`;
  let answers = settledCache.get(links);
  if (!answers) {
    answers = new Map();
    settledCache.set(links, answers);
  }
  let settled = answers.get(key);
  if (settled === undefined) {
    settled = computeSettled(block.channel, statuses, state, own, outcome);
    answers.set(key, settled);
  }
  return settled;
}

function computeSettled(
  channel: SendChannel,
  statuses: ReadonlySet<MessageStatus>,
  state: MessageState,
  links: readonly Link[],
  outcome: StatusLink | null,
): boolean {
  const failed = statuses.has(channelFailure[channel]);
  const closed = failed || state.closed === true;
  if (!failed && links.some((link) => link.kind === 'response')) return false;
  if (!closed && links.some((link) => link.kind === 'ivr')) return false;
  if (closed) return true;
  const progressed = [...statuses].some((status) => statusClass[status] !== 'failure');
  const possible = (channelStatuses[channel] as readonly MessageStatus[]).filter(
    (status) => !statuses.has(status) && !(progressed && statusClass[status] === 'failure'),
  );
  for (const more of subsets(possible)) {
    const future = resolveStatusLink(channel, new Set([...statuses, ...more]), links);
    if (future?.id !== outcome?.id) return false;
  }
  return true;
}

/**
 * Where a recipient goes from a send block. Error, IVR and response links fire as soon as their event
 * is in `state`; otherwise status links decide once the decision time has passed, or earlier when the
 * state is settled (see isSettled). `links` may be all of the scheme's links; only the block's own count.
 *
 * @example
 * decideSendBlock(block, scheme.links, { channel: 'viber', sentAt, statuses: new Set(['delivered']) }, clock.now())
 * // → { action: 'wait', until: <sentAt + decision time> } or { action: 'follow', linkId: 'l2', trigger: 'decision_time' }
 */
export function decideSendBlock(
  block: Pick<SendBlock, 'id' | 'channel' | 'decisionTimeSec'>,
  links: readonly Link[],
  state: MessageState,
  now: Date,
): Decision {
  if (state.channel !== block.channel) {
    throw new Error(`message channel ${state.channel} does not match block "${block.id}" (${block.channel})`);
  }
  const own = links.filter((link) => link.from === block.id);
  if (state.error) {
    const reason = state.error;
    const link = own.find((l) => l.kind === 'error' && (l.errors === undefined || l.errors.includes(reason)));
    return finishOrFollow(link ?? null, 'error');
  }
  for (const digit of state.ivrDigits ?? []) {
    const link = own.find((l) => l.kind === 'ivr' && (l.digits as readonly string[]).includes(digit));
    if (link) return follow(link, 'ivr');
  }
  for (const reply of state.replies ?? []) {
    const link = own.find((l) => l.kind === 'response' && matchesResponse(reply, l.words));
    if (link) return follow(link, 'response');
  }
  if (state.sentAt === null) return { action: 'wait', until: null };

  const known = channelStatuses[block.channel] as readonly MessageStatus[];
  const statuses = new Set([...state.statuses].filter((status) => known.includes(status)));
  const outcome = resolveStatusLink(block.channel, statuses, own);
  const deadline = decisionDeadline(state.sentAt, block.decisionTimeSec);
  if (now.getTime() >= deadline.getTime()) return finishOrFollow(outcome, 'decision_time');
  if (isSettled(block, statuses, state, links, own, outcome)) return finishOrFollow(outcome, 'early');
  return { action: 'wait', until: deadline };
}

/** Where a recipient goes from a delay block it entered at `enteredAt`: its one next link, when due. */
export function decideDelayBlock(
  block: Pick<DelayBlock, 'id' | 'durationSec'>,
  links: readonly Link[],
  enteredAt: Date,
  now: Date,
): Decision {
  const until = new Date(enteredAt.getTime() + block.durationSec * 1000);
  if (now.getTime() < until.getTime()) return { action: 'wait', until };
  const next = links.find((link) => link.from === block.id && link.kind === 'next');
  return finishOrFollow(next ?? null, 'delay');
}
