import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as sdk from '../../sdk/src/protocol.ts';
import {
  closeCodes,
  operatorFrames,
  parseFrame,
  protocolErrorCodes,
  serverFrameTypes,
  visitorFrames,
} from './protocol.ts';
import { chatLimits } from './vocabulary.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('parseFrame', () => {
  const parse = (data: string | Buffer, binary = false) => parseFrame(data, binary, visitorFrames);

  it('accepts a valid frame', () => {
    const result = parse(JSON.stringify({ v: 1, type: 'message.send', id: 'a', client_id: 'c', text: 'hi' }));
    expect(result).toEqual({
      ok: true,
      frame: { v: 1, type: 'message.send', id: 'a', client_id: 'c', text: 'hi' },
    });
  });

  it.each([
    ['not json', 'bad_frame', null],
    ['"a string"', 'bad_frame', null],
    ['{"type":"ping"}', 'invalid_message', 'v'],
    ['{"v":"1","type":"ping"}', 'unsupported_version', 'v'],
    ['{"v":1}', 'invalid_message', 'type'],
    ['{"v":1,"type":"dialog.close","dialog_id":1}', 'unknown_type', 'type'],
    ['{"v":1,"type":"read","up_to":1.5}', 'invalid_message', 'up_to'],
    ['{"v":1,"type":"hello","site_key":"st_x","extra":1}', 'invalid_message', 'extra'],
    ['{"v":1,"type":"page.view","url":""}', 'invalid_message', 'url'],
  ])('%s → %s', (raw, code, field) => {
    const result = parse(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ code, field });
  });

  it('refuses binary frames and oversized frames, naming the request when it can', () => {
    expect(parse(Buffer.from('{}'), true)).toMatchObject({ ok: false, error: { code: 'bad_frame' } });
    const big = JSON.stringify({ v: 1, type: 'ping', id: 'big', pad: 'x'.repeat(chatLimits.frameBytes) });
    expect(parse(big)).toMatchObject({ ok: false, error: { code: 'too_large', re: 'big', field: 'frame' } });
  });

  it('keeps the endpoints apart: operator frames are unknown to visitors', () => {
    const raw = JSON.stringify({ v: 1, type: 'dialog.transfer', dialog_id: 1, to_user_id: 2 });
    expect(parseFrame(raw, false, operatorFrames).ok).toBe(true);
    expect(parse(raw)).toMatchObject({ ok: false, error: { code: 'unknown_type' } });
  });
});

describe('the protocol, its documentation and the SDK agree', () => {
  const doc = fs.readFileSync(path.join(root, 'docs/chat-protocol.md'), 'utf8');

  it('documents every frame type, error code and close code', () => {
    for (const type of [...Object.keys(visitorFrames), ...Object.keys(operatorFrames), ...serverFrameTypes])
      expect(doc, type).toContain(`\`${type}\``);
    for (const code of protocolErrorCodes) expect(doc, code).toContain(`\`${code}\``);
    for (const code of Object.values(closeCodes)) expect(doc, String(code)).toContain(`**${code}**`);
  });

  it('gives the SDK the same vocabulary as the server', () => {
    expect([...sdk.visitorClientFrameTypes].sort()).toEqual(Object.keys(visitorFrames).sort());
    expect([...sdk.operatorClientFrameTypes].sort()).toEqual(Object.keys(operatorFrames).sort());
    expect([...sdk.serverFrameTypes]).toEqual([...serverFrameTypes]);
    expect([...sdk.protocolErrorCodes]).toEqual([...protocolErrorCodes]);
    expect(sdk.closeCodes).toMatchObject(closeCodes);
  });
});
