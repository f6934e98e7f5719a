/**
 * The OpenFGA error edge: any error becomes OpenFGA's `{ "code", "message" }` body with OpenFGA's
 * HTTP status (openfga `pkg/server/errors/encoded_errors.go`): validation codes (the 2000 range)
 * answer 400, `store_id_not_found` / `undefined_endpoint` 404, authentication 401, `forbidden`
 * 403, internal codes 500.
 *
 * A GatehouseError may name the OpenFGA code itself in `details.openfga` (the authz domain's
 * validators do); otherwise the Gatehouse code is translated here, once.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { classifyError } from '../../errors.js';

/** OpenFGA's error body. */
export interface OpenfgaErrorBody {
  code: string;
  message: string;
}

const NOT_FOUND_CODES = new Set(['store_id_not_found', 'undefined_endpoint', 'unimplemented']);

/** The OpenFGA status and code for any error. */
export function openfgaError(err: unknown): { status: number; body: OpenfgaErrorBody; unexpected: boolean } {
  const c = classifyError(err);
  const named = typeof c.details?.openfga === 'string' ? (c.details.openfga as string) : undefined;
  if (named) return { status: NOT_FOUND_CODES.has(named) ? 404 : 400, body: { code: named, message: c.message }, unexpected: false };
  const reason = c.details?.reason;
  switch (c.code) {
    case 'unauthenticated':
      return { status: 401, body: { code: 'unauthenticated', message: c.message }, unexpected: false };
    case 'forbidden':
      return { status: 403, body: { code: 'forbidden', message: c.message }, unexpected: false };
    case 'method_not_allowed':
      // OpenFGA's gateway turns this routing error into gRPC Unimplemented (`unimplemented`); Gatehouse keeps the 405 status.
      return { status: 405, body: { code: 'unimplemented', message: c.message }, unexpected: false };
    case 'payload_too_large':
      // OpenFGA has no code of its own for this; the status stays 413 as in every Gatehouse API.
      return { status: 413, body: { code: 'validation_error', message: c.message }, unexpected: false };
    case 'rate_limited':
      return { status: 429, body: { code: 'rate_limit_exceeded', message: c.message }, unexpected: false };
    case 'resolution_too_complex':
      return { status: 400, body: { code: 'authorization_model_resolution_too_complex', message: c.message }, unexpected: false };
    case 'not_found':
      if (c.details?.resource === 'authorization_model') return { status: 400, body: { code: 'authorization_model_not_found', message: c.message }, unexpected: false };
      if (c.details?.resource === 'store') return { status: 404, body: { code: 'store_id_not_found', message: c.message }, unexpected: false };
      return { status: 404, body: { code: 'undefined_endpoint', message: c.message }, unexpected: false };
    case 'revision_timeout':
    case 'storage_unavailable':
    case 'shutting_down':
      return { status: 503, body: { code: 'unavailable', message: c.message }, unexpected: false };
    case 'internal':
    case 'invalid_config':
      return { status: 500, body: { code: 'internal_error', message: 'Internal Server Error' }, unexpected: c.unexpected };
    default: {
      const code = reason === 'unknown_type' ? 'type_not_found' : reason === 'unknown_relation' ? 'relation_not_found' : 'validation_error';
      return { status: 400, body: { code, message: c.message }, unexpected: false };
    }
  }
}

/** Sends any error in OpenFGA's format. */
export function sendOpenfgaError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = openfgaError(err);
  if (e.unexpected) request.log.error({ err }, 'unexpected error');
  if (e.status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(e.status).type('application/json').send(e.body);
}
