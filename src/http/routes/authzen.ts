/**
 * OpenID AuthZEN Authorization API 1.0, first slice: the Access Evaluation API,
 * `POST /access/v1/evaluation` (AuthZEN 1.0 §6), answering `{"decision": true|false}`.
 *
 * Mapping to the built-in store (docs/authzen.md): subject `{type, id}` is the tuple subject
 * `type:id`; the permission checked is `<resource.type>:<action.name>`, i.e. Check
 * `permission:<resource.type>:<action.name>#granted@<subject.type>:<subject.id>`.
 * `resource.id`, `properties` and `context` are accepted and not yet used (issue 3).
 *
 * Errors (AuthZEN §12: plain HTTP status codes): bad input of any kind answers 400 (including
 * a wrong content type and an oversize body), a missing or invalid token 401, a token without
 * the `authz` scope 403; the body is `{"error": {"code", "message"}}` with a Gatehouse code.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../gatehouse.js';
import { GatehouseError } from '../../kernel/errors.js';
import { GRANTED_RELATION, PERMISSION_TYPE, permissionObjectId } from '../../authz/builtin-model.js';
import { classifyError } from '../errors.js';
import { contextOf, requireApiToken } from '../auth.js';

const text = z.string().min(1).max(256);
const properties = z.record(z.string(), z.unknown());

/** AuthZEN 1.0 §5.1 Subject / §5.2 Resource: `type`, `id`, optional `properties`. */
const entity = z.strictObject({ type: text, id: text, properties: properties.optional() });

/** AuthZEN 1.0 §6.1 Access Evaluation request. Unknown members are rejected. */
export const evaluationRequestSchema = z.strictObject({
  subject: entity,
  action: z.strictObject({ name: text, properties: properties.optional() }),
  resource: entity,
  context: properties.optional(),
});

/** The body of every AuthZEN error response. */
export interface AuthzenErrorBody {
  error: { code: string; message: string };
}

/**
 * Maps any error to an AuthZEN HTTP error: 401 and 403 keep their status, every other client
 * error (malformed JSON, wrong content type, missing or mistyped members, oversize body,
 * resolution too complex) becomes 400; server-side failures keep theirs (503, 500).
 */
export function sendAuthzenError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const c = classifyError(err);
  if (c.unexpected) request.log.error({ err }, 'unexpected error');
  let status = c.status;
  if (status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429) status = 400;
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  const body: AuthzenErrorBody = { error: { code: c.code, message: c.message } };
  return reply.code(status).type('application/json').send(body);
}

function isJson(request: FastifyRequest): boolean {
  const ct = request.headers['content-type'];
  if (typeof ct !== 'string') return false;
  const media = ct.split(';')[0]?.trim().toLowerCase();
  return media === 'application/json';
}

/** Registers the AuthZEN routes (bearer token with the `authz` scope) with their own error handler. */
export async function authzenRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.setErrorHandler((err, request, reply) => sendAuthzenError(request, reply, err));

  app.post('/access/v1/evaluation', { onRequest: requireApiToken(services, 'authz') }, async (request) => {
    if (!isJson(request)) throw new GatehouseError('invalid_input', 'the request body must be JSON (Content-Type: application/json)');
    const body = evaluationRequestSchema.parse(request.body);
    const { decision } = await services.authz.check(contextOf(request), {
      subject: { type: body.subject.type, id: body.subject.id },
      relation: GRANTED_RELATION,
      object: { type: PERMISSION_TYPE, id: permissionObjectId(body.resource.type, body.action.name) },
    });
    return { decision };
  });
}
