import { ZodError } from 'zod';
import { ERROR_CODES, GatehouseError, type ErrorCode } from '../kernel/errors.js';

/** A protocol-neutral view of any error, which each protocol's mapper formats. */
export interface ClassifiedError {
  status: number;
  code: ErrorCode;
  /** Safe to show to the caller. For `internal`, a generic sentence. */
  message: string;
  details?: Record<string, unknown>;
  /** True for errors the caller did not cause (logged at error level). */
  unexpected: boolean;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_input',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_input',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_input',
  FST_ERR_VALIDATION: 'invalid_input',
};

/**
 * Classifies an error once, for every protocol edge: GatehouseError keeps its code; zod errors
 * and Fastify's client errors (bad JSON, oversize body, wrong media type) become 4xx codes;
 * anything else becomes `internal` with no internals in the message.
 */
export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof GatehouseError) {
    return { status: err.status, code: err.code, message: err.message, details: err.details, unexpected: err.status >= 500 && err.code === 'internal' };
  }
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const message = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    return { status: 400, code: 'invalid_input', message: message || 'invalid input', details: { issues }, unexpected: false };
  }
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown } | null;
  if (e && typeof e === 'object') {
    const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
    if (mapped) {
      const message = mapped === 'invalid_input' && e.code?.includes('JSON') ? 'the request body is not valid JSON' : (e.message ?? mapped);
      return { status: ERROR_CODES[mapped], code: mapped, message, unexpected: false };
    }
    if (e instanceof SyntaxError) return { status: 400, code: 'invalid_input', message: 'the request body is not valid JSON', unexpected: false };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      const code: ErrorCode = e.statusCode === 404 ? 'not_found' : e.statusCode === 405 ? 'method_not_allowed' : e.statusCode === 413 ? 'payload_too_large' : e.statusCode === 415 ? 'unsupported_media_type' : e.statusCode === 429 ? 'rate_limited' : e.statusCode === 401 ? 'unauthenticated' : e.statusCode === 403 ? 'forbidden' : 'invalid_input';
      return { status: e.statusCode, code, message: e.message ?? code, unexpected: false };
    }
  }
  return { status: 500, code: 'internal', message: 'An unexpected error occurred.', unexpected: true };
}
