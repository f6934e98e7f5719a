/**
 * One declaration per admin API operation, used twice: to register the Fastify route (which
 * validates params, query and body with the zod schemas) and to describe the operation in the
 * OpenAPI document (src/http/routes/admin/openapi.ts). Schemas are never written twice.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiResponseObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import type { OperationContext } from '../../../kernel/context.js';
import { GatehouseError } from '../../../kernel/errors.js';
import { contextOf } from '../../auth.js';
import { problemSchema } from './schemas.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

type AnyObject = z.ZodObject<z.ZodRawShape>;

/** What a handler receives: validated input and the caller's operation context. */
export interface RouteInput<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  ctx: OperationContext;
  request: FastifyRequest;
}

/** One admin API operation. */
export interface AdminRoute<P extends AnyObject = AnyObject, Q extends AnyObject = AnyObject, B extends z.ZodType = z.ZodType> {
  method: HttpMethod;
  /** OpenAPI-style path relative to /api/v1, e.g. `/users/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  params?: P;
  query?: Q;
  /** The JSON request body schema (strict objects, so unknown members are refused). */
  body?: B;
  /** The success response. `schema` absent means no body (204). */
  success: { status: 200 | 201 | 204; description: string; schema?: z.ZodType };
  /** Problem statuses this operation can answer beyond the ones every operation can (400, 401, 403, 413, 415, 500). */
  problems?: number[];
  /** Adds `Cache-Control: no-store` (responses that carry a secret). */
  noStore?: boolean;
  /** Returns the response body (ignored for 204). */
  handler(input: RouteInput<P, Q, B>): Promise<unknown>;
}

/** Declares a route with full type inference of its handler's input. */
export function defineRoute<P extends AnyObject = AnyObject, Q extends AnyObject = AnyObject, B extends z.ZodType = z.ZodUndefined>(
  route: AdminRoute<P, Q, B>,
): AdminRoute {
  return route as unknown as AdminRoute;
}

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (malformed JSON, unknown or missing members, wrong types), or `weak_password`.',
  401: 'No, unknown, expired or revoked bearer token (`unauthenticated`).',
  403: 'The token lacks the `admin` scope (`forbidden`).',
  404: 'No such resource (`not_found`).',
  409: 'A uniqueness rule (`conflict`) or an invariant such as a group nesting cycle (`invariant_violation`) or the nesting depth limit (`group_nesting_too_deep`) would be broken.',
  412: 'The resource changed concurrently (`precondition_failed`); read it again and retry.',
  413: 'The body exceeds the configured limit (`payload_too_large`).',
  415: 'The body is not `application/json` (`unsupported_media_type`).',
  500: 'An unexpected error (`internal`); nothing is changed.',
};
const COMMON_PROBLEMS = [400, 401, 403, 500];
const BODY_PROBLEMS = [413, 415];

const NO_BODY = z.strictObject({});
const NO_PARAMS = z.strictObject({});

function toFastifyPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** Registers the route on `scope` (a plugin scope whose hooks authenticate the caller). */
export function registerRoute(scope: FastifyInstance, route: AdminRoute): void {
  scope.route({
    method: route.method.toUpperCase() as 'GET',
    url: toFastifyPath(route.path),
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const params = (route.params ?? NO_PARAMS).parse(request.params ?? {});
      const query = (route.query ?? NO_PARAMS).parse(request.query ?? {});
      let body: unknown = undefined;
      if (route.body) {
        if (request.body === undefined) throw new GatehouseError('invalid_input', 'a JSON request body is required');
        body = route.body.parse(request.body);
      }
      // Operations without a body tolerate an absent body or `{}` and refuse anything else.
      else if (request.body !== undefined) NO_BODY.parse(request.body);
      const result = await route.handler({ params, query, body, ctx: contextOf(request), request });
      if (route.noStore) reply.header('cache-control', 'no-store');
      if (route.success.status === 204) return reply.code(204).send();
      return reply.code(route.success.status).type('application/json; charset=utf-8').send(JSON.stringify(result));
    },
  });
}

/** The OpenAPI operation object for the route (zod-openapi renders the schemas). */
export function toOperation(route: AdminRoute): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {
    [String(route.success.status)]: route.success.schema
      ? { description: route.success.description, content: { 'application/json': { schema: route.success.schema } } }
      : { description: route.success.description },
  };
  const statuses = new Set([...COMMON_PROBLEMS, ...(route.body ? BODY_PROBLEMS : []), ...(route.problems ?? [])]);
  for (const status of [...statuses].sort()) {
    responses[String(status)] = { description: PROBLEM_DESCRIPTIONS[status] ?? 'Problem', content: { 'application/problem+json': { schema: problemSchema } } };
  }
  const op: ZodOpenApiOperationObject = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    responses: responses as ZodOpenApiResponsesObject,
  };
  if (route.description) op.description = route.description;
  const requestParams: NonNullable<ZodOpenApiOperationObject['requestParams']> = {};
  if (route.params) requestParams.path = route.params;
  if (route.query) requestParams.query = route.query;
  if (route.params || route.query) op.requestParams = requestParams;
  if (route.body) {
    op.requestBody = { required: true, content: { 'application/json': { schema: route.body } } };
  }
  return op;
}
