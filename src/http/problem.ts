import type { FastifyReply, FastifyRequest } from 'fastify';
import { classifyError } from './errors.js';

/** Base of the `type` URIs of Gatehouse problem details; each code has a section in docs/errors.md. */
export const PROBLEM_TYPE_BASE = 'https://gatehouse.dev/problems/';

/**
 * An RFC 9457 problem details body: `type`, `title`, `status`, `detail`, `instance`, plus
 * the extension members `code` (stable), `request_id` and, where safe, `details`.
 */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id?: string;
  details?: Record<string, unknown>;
}

const TITLES: Record<string, string> = {
  invalid_input: 'Invalid input',
  not_found: 'Not found',
  conflict: 'Conflict',
  invariant_violation: 'Invariant violation',
  unauthenticated: 'Unauthenticated',
  forbidden: 'Forbidden',
  precondition_failed: 'Precondition failed',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  method_not_allowed: 'Method not allowed',
  group_nesting_too_deep: 'Group nesting too deep',
  rate_limited: 'Too many requests',
  weak_password: 'Weak password',
  storage_unavailable: 'Service unavailable',
  shutting_down: 'Shutting down',
  revision_timeout: 'Revision not reached',
  internal: 'Internal error',
  invalid_config: 'Internal error',
};

/** Maps any error to an RFC 9457 problem details reply (`application/problem+json`). */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const c = classifyError(err);
  if (c.unexpected) request.log.error({ err }, 'unexpected error');
  const body: ProblemDetails = {
    type: `${PROBLEM_TYPE_BASE}${c.code}`,
    title: TITLES[c.code] ?? c.code,
    status: c.status,
    detail: c.message,
    code: c.code,
    request_id: String(request.id),
  };
  if (c.details && !c.unexpected) body.details = c.details;
  if (c.status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(c.status).type('application/problem+json').send(body);
}
