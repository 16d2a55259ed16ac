import { z } from 'zod';

/** Shared request pieces. Bodies are strict: an unknown field is a 400 naming it. */
export const idParams = z.strictObject({ id: z.coerce.number().int().positive() });
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).optional(),
};
export const okResponse = { ok: true } as const;
