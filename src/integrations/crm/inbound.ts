import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { InboundEvent, InboundRequest, InboundResult } from './types.ts';

/**
 * Authentication helpers for what CRMs post to us. Where a CRM signs nothing (Omnidesk custom channels,
 * Planfix, Gravitel), the proof of origin is a secret only the CRM knows: an unguessable token in the
 * URL we gave it, or a shared key in the body. Compared in constant time.
 */

/** 32 random bytes, URL-safe: the token the platform puts into the webhook URL it shows the admin. */
export function generateInboundToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sameSecret(given: string | null | undefined, expected: string | null | undefined): boolean {
  if (!given || !expected) return false;
  const left = Buffer.from(given);
  const right = Buffer.from(expected);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The URL ends with `/{token}` (the route passes the path after its prefix). */
export function pathToken(request: InboundRequest): string | null {
  const last = request.path.split('/').filter(Boolean).at(-1);
  return last ? decodeURIComponent(last) : null;
}

/** Reads a JSON or form body; null when it is neither. */
export function readBody(request: InboundRequest): Record<string, unknown> | null {
  const type = request.headers['content-type'] ?? '';
  if (/json/i.test(type) || /^\s*\{/.test(request.rawBody)) {
    try {
      const parsed = JSON.parse(request.rawBody) as unknown;
      return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : null;
    } catch {
      return null;
    }
  }
  return Object.fromEntries(new URLSearchParams(request.rawBody));
}

export const accepted = (
  events: InboundEvent[],
  reply: { status?: number; contentType?: string; body?: string } = {},
): InboundResult => ({
  ok: true,
  events,
  reply: {
    status: reply.status ?? 200,
    contentType: reply.contentType ?? 'application/json',
    body: reply.body ?? '{"result":"ok"}',
  },
});

export const rejected = (status: 400 | 401 | 403, reason: string): InboundResult => ({
  ok: false,
  status,
  reason,
});

export const str = (value: unknown): string | null =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
