import { openDialogsFromAnswerReplies, openDialogsFromReplies } from '../../chat/channel-replies.ts';
import type { Clock } from '../../shared/clock.ts';
import type { EngineDeps } from './engine.ts';

/**
 * The engine's hooks into the chat (CH-5): replies to mailings with replies-to-chat on open or continue
 * the contact's dialog, and replies to an operator's answer sent on a channel continue that dialog. Both
 * run in the engine's transaction, so an event is applied and its chat message written together.
 */
export function chatHooks(clock: Clock): Pick<EngineDeps, 'onReplies' | 'onUnmatchedReplies'> {
  return {
    onReplies: (db, replies) => openDialogsFromReplies(db, clock, replies),
    onUnmatchedReplies: async (db, replies) =>
      (await openDialogsFromAnswerReplies(db, clock, replies)).map((o) => o.providerMessageId),
  };
}
