import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts integration credentials at rest with AES-256-GCM. The ciphertext carries its IV and auth
 * tag, so tampering is detected on decrypt. Optional associated data binds a ciphertext to its owner
 * (e.g. "integration:42") so it cannot be pasted into another row.
 */
export class SecretBox {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('SecretBox needs a 32-byte key');
    this.#key = key;
  }
  encrypt(plaintext: string, associatedData = ''): string {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }
  decrypt(sealed: string, associatedData = ''): string {
    const [version, payload] = sealed.split(':', 2);
    if (version !== VERSION || !payload) throw new Error('Unknown secret format');
    const raw = Buffer.from(payload, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('Secret is truncated');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    );
  }
  /** Keeps the key out of console.log / pino serialisation. */
  toJSON(): string {
    return '[SecretBox]';
  }
}

/** A key given in the environment: 32 bytes as base64 or hex, or any passphrase (stretched with scrypt). */
export function keyFromString(value: string): Buffer {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, 'hex');
  const b64 = Buffer.from(value, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/_-]+=*$/.test(value)) return b64;
  return crypto.scryptSync(value, 'omnitalk-secret-key', 32);
}

/**
 * The master key: OMNITALK_SECRET_KEY when set, otherwise generated once into DATA_DIR/secret.key with
 * mode 0600 and read back on every later start.
 */
export function loadMasterKey(options: { secretKey: string | null; dataDir: string }): Buffer {
  if (options.secretKey) return keyFromString(options.secretKey);
  const file = path.join(options.dataDir, 'secret.key');
  fs.mkdirSync(options.dataDir, { recursive: true });
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    fs.writeSync(fd, crypto.randomBytes(32).toString('base64'));
    fs.closeSync(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return keyFromString(fs.readFileSync(file, 'utf8').trim());
}
