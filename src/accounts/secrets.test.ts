import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyFromString, loadMasterKey, SecretBox } from './secrets.ts';

describe('SecretBox', () => {
  const box = new SecretBox(keyFromString('a passphrase for tests'));

  it('round-trips and never shows the plaintext in the ciphertext', () => {
    const sealed = box.encrypt('api-key-123', 'integration:1');
    expect(sealed).not.toContain('api-key-123');
    expect(sealed.startsWith('v1:')).toBe(true);
    expect(box.decrypt(sealed, 'integration:1')).toBe('api-key-123');
    expect(box.encrypt('api-key-123')).not.toBe(box.encrypt('api-key-123'));
  });

  it('refuses a tampered ciphertext, another key, and other associated data', () => {
    const sealed = box.encrypt('secret', 'integration:1');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    expect(() => box.decrypt(`v1:${raw.toString('base64')}`, 'integration:1')).toThrow();
    expect(() => box.decrypt(sealed, 'integration:2')).toThrow();
    expect(() => new SecretBox(keyFromString('another')).decrypt(sealed, 'integration:1')).toThrow();
    expect(JSON.stringify({ box })).not.toMatch(/[A-Za-z0-9+/]{40}/);
  });

  it('accepts hex and base64 keys of 32 bytes', () => {
    const hex = 'ab'.repeat(32);
    expect(keyFromString(hex)).toEqual(Buffer.from(hex, 'hex'));
    const b64 = Buffer.alloc(32, 7).toString('base64');
    expect(keyFromString(b64)).toEqual(Buffer.alloc(32, 7));
  });
});

describe('loadMasterKey', () => {
  it('generates the key once into the data directory with mode 0600 and reuses it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-key-'));
    const first = loadMasterKey({ secretKey: null, dataDir: dir });
    const second = loadMasterKey({ secretKey: null, dataDir: dir });
    expect(first.length).toBe(32);
    expect(second).toEqual(first);
    expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
  });

  it('prefers OMNITALK_SECRET_KEY', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'omnitalk-key-'));
    const key = loadMasterKey({ secretKey: 'cd'.repeat(32), dataDir: dir });
    expect(key).toEqual(Buffer.from('cd'.repeat(32), 'hex'));
    expect(fs.existsSync(path.join(dir, 'secret.key'))).toBe(false);
  });
});
