import type { SendBlock } from '../scheme/model.ts';

export interface IvrCaps {
  maxSimultaneous?: number;
  maxPerMinute?: number;
}

/**
 * The limits a voice block's IVR menu puts on operator connections (SPEC ML-2): the tightest of its
 * "connect" actions' maxSimultaneous and maxPerMinute; null when the block connects nobody or sets no limit.
 */
export function ivrCapsOf(block: Pick<SendBlock, 'channel' | 'content'>): IvrCaps | null {
  if (block.channel !== 'voice') return null;
  const menu = 'ivr' in block.content ? block.content.ivr : undefined;
  if (!menu) return null;
  const caps: IvrCaps = {};
  for (const action of Object.values(menu)) {
    if (action?.action !== 'connect') continue;
    if (action.maxSimultaneous !== undefined)
      caps.maxSimultaneous = Math.min(caps.maxSimultaneous ?? Infinity, action.maxSimultaneous);
    if (action.maxPerMinute !== undefined)
      caps.maxPerMinute = Math.min(caps.maxPerMinute ?? Infinity, action.maxPerMinute);
  }
  return caps.maxSimultaneous === undefined && caps.maxPerMinute === undefined ? null : caps;
}
