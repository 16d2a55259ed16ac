import crypto from 'node:crypto';

export const API_TOKEN_PREFIX = 'omt_';

/** A random bearer secret; only its SHA-256 is stored, so a database leak does not leak tokens. */
export function generateToken(prefix = ''): string {
  return prefix + crypto.randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
