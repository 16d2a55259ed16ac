import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, type ErrorCode, errorCodes } from '../shared/errors.ts';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field: string | null };
}

const body = (code: ErrorCode, message: string, field: string | null = null): ErrorBody => ({
  error: { code, message, field },
});

/** Fastify's own error codes mapped onto ours, so every answer has one shape. */
const fastifyCodes: Record<string, { code: ErrorCode; field: string | null }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', field: 'body' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', field: 'content-type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'validation_failed', field: 'content-length' },
  FST_REQ_FILE_TOO_LARGE: { code: 'payload_too_large', field: 'file' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'unsupported_media_type', field: 'content-type' },
};

export function toErrorBody(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof AppError)
    return { status: error.status, body: body(error.code, error.message, error.field) };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issue = error.validation[0]!;
    const path = issue.instancePath.split('/').filter(Boolean);
    const params = issue.params as { keys?: string[] };
    const unknownKey = issue.keyword === 'unrecognized_keys' ? params.keys?.[0] : undefined;
    const field =
      [...path, ...(unknownKey ? [unknownKey] : [])].join('.') || (error.validationContext ?? 'body');
    const where = error.validationContext ? ` in ${error.validationContext}` : '';
    if (unknownKey) {
      return { status: 400, body: body('unknown_field', `Unknown field "${field}"${where}`, field) };
    }
    return { status: 400, body: body('validation_failed', `${field}: ${issue.message}`, field) };
  }
  const fe = error as FastifyError;
  if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (fe instanceof SyntaxError && fe.statusCode === 400)) {
    return { status: 400, body: body('invalid_json', `Malformed JSON body: ${fe.message}`, 'body') };
  }
  const mapped = fe.code ? fastifyCodes[fe.code] : undefined;
  if (mapped) return { status: errorCodes[mapped.code], body: body(mapped.code, fe.message, mapped.field) };
  if (fe.statusCode === 429) return { status: 429, body: body('rate_limited', fe.message) };
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: body('validation_failed', fe.message) };
  }
  return { status: 500, body: body('internal', 'Internal server error') };
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const { status, body: payload } = toErrorBody(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: payload.error.code, field: payload.error.field }, 'request refused');
    return reply.status(status).send(payload);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('not_found', `No route ${request.method} ${request.url.split('?')[0]}`));
  });
}
