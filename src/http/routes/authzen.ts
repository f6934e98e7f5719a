/**
 * OpenID AuthZEN Authorization API 1.0 over HTTP (the HTTPS binding, §11):
 *
 * - `POST /access/v1/evaluation`, `/access/v1/evaluations`, `/access/v1/search/subject`,
 *   `/search/resource`, `/search/action`: decide against the tenant's default store
 *   (`gatehouse authz store default`; the built-in store until one is chosen);
 * - the same under `/stores/{store_id}/access/v1/…`: against the named store;
 * - `GET /.well-known/authzen-configuration` (and `…/stores/{store_id}`): PDP metadata (§11.1).
 *
 * The API routes need a bearer token with the `authz` scope. Request members this version does
 * not know are ignored (forward compatibility, certification scenario C.5). Errors (§11.3: plain
 * HTTP status codes): every client error answers 400 (including a wrong content type), a body
 * over the limit 413 (RFC 9110 §15.5.14, as in every Gatehouse API), a missing or invalid token
 * 401, a token without the scope 403, an unknown store 404; the body is `{"error": {"code", "message"}}` with a Gatehouse code (docs/errors.md).
 * Every API route honours `x-gatehouse-at-least-revision` (http/consistency.ts): a malformed value
 * answers 400 `invalid_input`, a revision the index does not reach in time 503 `revision_timeout`.
 * The mapping to the engine is in `authz/authzen.ts` and `authz/authzen-search.ts`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../gatehouse.js';
import { GatehouseError } from '../../kernel/errors.js';
import { AuthzenPdp, type EvaluationsItem, type EvaluationsRequest } from '../../authz/authzen.js';
import { AuthzenCatalog } from '../../authz/authzen-catalog.js';
import { AuthzenSearch, MAX_SEARCH_PAGE } from '../../authz/authzen-search.js';
import { MAX_BATCH_CHECKS } from '../../authz/service.js';
import { classifyError } from '../errors.js';
import { apiTokenHook, contextOf } from '../auth.js';
import { atLeastRevisionOf } from '../consistency.js';
import { systemContext } from '../../kernel/context.js';
import { BUILTIN_STORE_ID } from '../../authz/tuples.js';
import { jsonBodyParser } from '../json-body.js';
import type { Logger } from '../../kernel/logger.js';
import { evaluationFastPath, type FastHandler } from './authzen-fast.js';

const text = z.string().min(1).max(256);
/** Request ids echoed verbatim: printable ASCII, at most 256 characters. */
const ECHOABLE_REQUEST_ID = /^[\x20-\x7e]{1,256}$/;
const properties = z.record(z.string(), z.unknown());

/** AuthZEN 1.0 §5.1 Subject / §5.2 Resource: `type`, `id`, optional `properties`; other members ignored. */
const entity = z.object({ type: text, id: text, properties: properties.optional() });
/** §5.3 Action. */
const action = z.object({ name: text, properties: properties.optional() });

/** AuthZEN 1.0 §6.1 Access Evaluation request. */
export const evaluationRequestSchema = z.object({ subject: entity, action, resource: entity, context: properties.optional() });

const partialEntity = z.object({ type: text.optional(), id: text.optional(), properties: properties.optional() });
const partialAction = z.object({ name: text.optional(), properties: properties.optional() });
const evaluationsItem = z.object({ subject: partialEntity.optional(), action: partialAction.optional(), resource: partialEntity.optional(), context: properties.optional() });

/** AuthZEN 1.0 §7.1 Access Evaluations request; each item is checked on its own (a bad item fails alone). */
export const evaluationsRequestSchema = z.object({
  subject: partialEntity.optional(),
  action: partialAction.optional(),
  resource: partialEntity.optional(),
  context: properties.optional(),
  evaluations: z.array(z.unknown()).max(MAX_BATCH_CHECKS).optional(),
  options: z.object({ evaluations_semantic: z.enum(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']).optional() }).optional(),
});

const page = z
  .object({ limit: z.number().int().min(1).max(MAX_SEARCH_PAGE).optional(), token: z.string().max(512).optional(), next_token: z.string().max(512).optional() })
  .optional();

/** §8.1 Subject Search: `subject.id` may be present and is ignored. */
export const subjectSearchSchema = z.object({
  subject: z.object({ type: text, id: z.unknown().optional(), properties: properties.optional() }),
  action,
  resource: entity,
  context: properties.optional(),
  page,
});
/** §9.1 Resource Search: `resource.id` may be present and is ignored. */
export const resourceSearchSchema = z.object({
  subject: entity,
  action,
  resource: z.object({ type: text, id: z.unknown().optional(), properties: properties.optional() }),
  context: properties.optional(),
  page,
});
/** §10.1 Action Search: no action (one that is present is ignored). */
export const actionSearchSchema = z.object({ subject: entity, resource: entity, context: properties.optional(), page });

/** The body of every AuthZEN error response. */
export interface AuthzenErrorBody {
  error: { code: string; message: string };
}

/**
 * Maps any error to an AuthZEN HTTP error: 401, 403, 404, 405, 413 and 429 keep their status, every other client
 * error (malformed JSON, wrong content type, missing or mistyped members,
 * condition errors, resolution too complex) becomes 400; server-side failures keep theirs (503, 500).
 */
export function sendAuthzenError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body, unexpected } = authzenError(err);
  if (unexpected) request.log.error({ err }, 'unexpected error');
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).type('application/json').send(body);
}

/**
 * The AuthZEN answer to `err` (see {@link sendAuthzenError}): its HTTP status, its body, and
 * whether it is unexpected (to be logged at error level). A 401 also carries `WWW-Authenticate: Bearer`.
 */
export function authzenError(err: unknown): { status: number; body: AuthzenErrorBody; unexpected: boolean } {
  const c = classifyError(err);
  let status = c.status;
  if (status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 404 && status !== 405 && status !== 413 && status !== 429) status = 400;
  return { status, body: { error: { code: c.code, message: c.message } }, unexpected: c.unexpected };
}

function requireJson(request: FastifyRequest): void {
  const ct = request.headers['content-type'];
  if (ct === 'application/json') return;
  const media = typeof ct === 'string' ? ct.split(';')[0]?.trim().toLowerCase() : undefined;
  if (media !== 'application/json') throw new GatehouseError('invalid_input', 'the request body must be JSON (Content-Type: application/json)');
}

/**
 * Parses `body` with `schema`; zod errors become `invalid_input` through the error classifier.
 * When `accepts` (a plain shape check that admits only what `schema` admits) passes, the JSON body
 * is used as it is, without zod's copy; zod still answers everything else, with its messages.
 */
function parse<S extends z.ZodType>(request: FastifyRequest, schema: S, accepts?: (body: unknown) => boolean): z.infer<S> {
  requireJson(request);
  if (accepts?.(request.body)) return request.body as z.infer<S>;
  return schema.parse(request.body);
}

// Shape checks mirroring the zod schemas above, for JSON-parsed input (plain objects only). A value
// they refuse goes to zod, which reports why; unknown members are ignored downstream either way.
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isText(v: unknown): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= 256;
}
function isOptText(v: unknown): boolean {
  return v === undefined || isText(v);
}
function isOptProperties(v: unknown): boolean {
  return v === undefined || isObject(v);
}
function isEntity(v: unknown): boolean {
  return isObject(v) && isText(v.type) && isText(v.id) && isOptProperties(v.properties);
}
function isAction(v: unknown): boolean {
  return isObject(v) && isText(v.name) && isOptProperties(v.properties);
}
function isOptPartialEntity(v: unknown): boolean {
  return v === undefined || (isObject(v) && isOptText(v.type) && isOptText(v.id) && isOptProperties(v.properties));
}
function isOptPartialAction(v: unknown): boolean {
  return v === undefined || (isObject(v) && isOptText(v.name) && isOptProperties(v.properties));
}
/** What {@link evaluationRequestSchema} admits. */
function isEvaluationRequest(b: unknown): boolean {
  return isObject(b) && isEntity(b.subject) && isAction(b.action) && isEntity(b.resource) && isOptProperties(b.context);
}

/**
 * A parsed JSON body as an Access Evaluation request (§6.1): the body itself when its shape is
 * plainly right, else zod's copy. @throws ZodError (an `invalid_input` at the error edge).
 */
export function evaluationRequestOf(body: unknown): z.infer<typeof evaluationRequestSchema> {
  return isEvaluationRequest(body) ? (body as z.infer<typeof evaluationRequestSchema>) : evaluationRequestSchema.parse(body);
}
/** What {@link evaluationsItem} admits. */
function isEvaluationsItem(b: unknown): boolean {
  return isObject(b) && isOptPartialEntity(b.subject) && isOptPartialAction(b.action) && isOptPartialEntity(b.resource) && isOptProperties(b.context);
}
const SEMANTICS: ReadonlySet<unknown> = new Set(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']);
/** What {@link evaluationsRequestSchema} admits (the items are checked one by one later). */
function isEvaluationsRequest(b: unknown): boolean {
  if (!isObject(b) || !isEvaluationsItem(b)) return false;
  const { evaluations, options } = b;
  if (evaluations !== undefined && (!Array.isArray(evaluations) || evaluations.length > MAX_BATCH_CHECKS)) return false;
  return options === undefined || (isObject(options) && (options.evaluations_semantic === undefined || SEMANTICS.has(options.evaluations_semantic)));
}

/** Shapes `evaluations` items one by one: a malformed item is marked, not fatal (certification C.3.4.1). */
function toEvaluations(body: z.infer<typeof evaluationsRequestSchema>): EvaluationsRequest {
  const items: EvaluationsItem[] | undefined = body.evaluations?.map((raw, i) => {
    if (isEvaluationsItem(raw)) return raw as EvaluationsItem;
    const r = evaluationsItem.safeParse(raw);
    if (r.success) return r.data as EvaluationsItem;
    const issue = r.error.issues[0];
    return { invalid: `evaluations[${i}]${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}` };
  });
  return {
    ...(body.subject ? { subject: body.subject } : {}),
    ...(body.action ? { action: body.action } : {}),
    ...(body.resource ? { resource: body.resource } : {}),
    ...(body.context ? { context: body.context } : {}),
    ...(items ? { evaluations: items } : {}),
    ...(body.options?.evaluations_semantic ? { semantic: body.options.evaluations_semantic } : {}),
  };
}

function pageOf(p: z.infer<typeof page>): { limit?: number; token?: string } | undefined {
  if (!p) return undefined;
  const token = p.token ?? p.next_token;
  return { ...(p.limit !== undefined ? { limit: p.limit } : {}), ...(token ? { token } : {}) };
}

/** The PDP metadata document (AuthZEN 1.0 §11.1) for the base URL `base` (no trailing slash). */
export function authzenMetadata(base: string): Record<string, unknown> {
  return {
    policy_decision_point: base,
    access_evaluation_endpoint: `${base}/access/v1/evaluation`,
    access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    search_subject_endpoint: `${base}/access/v1/search/subject`,
    search_resource_endpoint: `${base}/access/v1/search/resource`,
    search_action_endpoint: `${base}/access/v1/search/action`,
  };
}

/**
 * AuthZEN §11.4 / certification C.2.5: echo the caller's X-Request-ID exactly, whatever its form
 * (the app keeps only simple ids as its own request id, for logs, and sets that header itself).
 */
function echoRequestId(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const echoed = echoedRequestId(request.headers['x-request-id'], request.id as string);
  if (echoed !== undefined) reply.header('x-request-id', echoed);
  done();
}

/** The `X-Request-ID` to answer in place of the request's own id `id` (see {@link echoRequestId}), or undefined. */
export function echoedRequestId(given: string | string[] | undefined, id: string): string | undefined {
  return typeof given === 'string' && given !== id && ECHOABLE_REQUEST_ID.test(given) ? given : undefined;
}
function noop(): void {}

/**
 * JSON Schema of a 200 response of `/access/v1/evaluation` (§6.2), for Fastify's compiled
 * serializer (fast-json-stringify): `decision`, and `context` (reasons, per-item errors) written
 * member for member as JSON.stringify would.
 */
const decisionJsonSchema = {
  type: 'object',
  properties: { decision: { type: 'boolean' }, context: { type: 'object', additionalProperties: true } },
  required: ['decision'],
} as const;
const evaluationResponseJsonSchema = decisionJsonSchema;
/** A 200 response of `/access/v1/evaluations` (§7.2): `evaluations`, or one decision when the request had none. */
const evaluationsResponseJsonSchema = {
  type: 'object',
  properties: { evaluations: { type: 'array', items: decisionJsonSchema }, decision: { type: 'boolean' }, context: { type: 'object', additionalProperties: true } },
} as const;

/**
 * Registers the AuthZEN routes (bearer token with the `authz` scope) with their own error handler.
 * `fastPath.use`, when given, receives the node:http fast path for single evaluations
 * (authzen-fast.ts), which shares this scope's PDP.
 */
export async function authzenRoutes(app: FastifyInstance, services: Services, fastPath?: { use: (handler: FastHandler) => void; securityHeaders: Readonly<Record<string, string>> }): Promise<void> {
  app.setErrorHandler((err, request, reply) => sendAuthzenError(request, reply, err));
  const catalog = new AuthzenCatalog(services.storage);
  const unsubscribe = services.authzStores.onStoreChange((tenantId, storeId) => catalog.forget(tenantId, storeId));
  app.addHook('onClose', (_app, done) => {
    unsubscribe();
    done();
  });
  const pdp = new AuthzenPdp(services.authz, catalog);
  const search = new AuthzenSearch(services.authz, pdp);
  fastPath?.use(
    evaluationFastPath({
      log: app.log as unknown as Logger,
      apiTokens: services.apiTokens,
      pdp,
      securityHeaders: fastPath.securityHeaders,
      bodyLimitBytes: services.config.bodyLimitBytes,
      parseJson: jsonBodyParser(app, false),
    }),
  );
  const authenticate = apiTokenHook(services, 'authz');
  // Every route's one onRequest hook: the X-Request-ID echo, then (API routes) the bearer token.
  const echo = { onRequest: echoRequestId };
  const auth = {
    onRequest: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
      echoRequestId(request, reply, noop);
      authenticate(request, reply, done);
    },
  };
  const base = services.config.issuer.replace(/\/+$/, '');

  app.get('/.well-known/authzen-configuration', echo, async (_request, reply) => reply.type('application/json').send(authzenMetadata(base)));
  // A PDP per store: its metadata exists only while the store does (404 `not_found` otherwise).
  app.get<{ Params: { storeId: string } }>('/.well-known/authzen-configuration/stores/:storeId', echo, async (request, reply) => {
    const id = request.params.storeId;
    if (id !== BUILTIN_STORE_ID) await services.authzStores.get(systemContext(), id);
    return reply.type('application/json').send(authzenMetadata(`${base}/stores/${encodeURIComponent(id)}`));
  });

  for (const prefix of ['', '/stores/:storeId'] as const) {
    const storeOf = (request: FastifyRequest): string | null => (prefix ? (request.params as { storeId: string }).storeId : null);

    // Not async: the decision is usually answered without a promise (AuthzenPdp.evaluateNow); a
    // throw here reaches the error handler as a rejection would.
    app.post(`${prefix}/access/v1/evaluation`, { ...auth, schema: { response: { 200: evaluationResponseJsonSchema } } }, (request) => {
      requireJson(request);
      const body = evaluationRequestOf(request.body);
      return pdp.evaluateNow(contextOf(request), storeOf(request), body, atLeastRevisionOf(request.headers));
    });

    app.post(`${prefix}/access/v1/evaluations`, { ...auth, schema: { response: { 200: evaluationsResponseJsonSchema } } }, async (request) => {
      const body = parse(request, evaluationsRequestSchema, isEvaluationsRequest);
      return pdp.evaluations(contextOf(request), storeOf(request), toEvaluations(body), atLeastRevisionOf(request.headers));
    });

    app.post(`${prefix}/access/v1/search/subject`, auth, async (request) => {
      const b = parse(request, subjectSearchSchema);
      const p = pageOf(b.page);
      return search.subjects(contextOf(request), storeOf(request), {
        subject: { type: b.subject.type, ...(b.subject.properties ? { properties: b.subject.properties } : {}) },
        action: b.action,
        resource: b.resource,
        ...(b.context ? { context: b.context } : {}),
        ...(p ? { page: p } : {}),
      }, atLeastRevisionOf(request.headers));
    });

    app.post(`${prefix}/access/v1/search/resource`, auth, async (request) => {
      const b = parse(request, resourceSearchSchema);
      const p = pageOf(b.page);
      return search.resources(contextOf(request), storeOf(request), {
        subject: b.subject,
        action: b.action,
        resource: { type: b.resource.type, ...(b.resource.properties ? { properties: b.resource.properties } : {}) },
        ...(b.context ? { context: b.context } : {}),
        ...(p ? { page: p } : {}),
      }, atLeastRevisionOf(request.headers));
    });

    app.post(`${prefix}/access/v1/search/action`, auth, async (request) => {
      const b = parse(request, actionSearchSchema);
      const p = pageOf(b.page);
      return search.actions(contextOf(request), storeOf(request), {
        subject: b.subject,
        resource: b.resource,
        ...(b.context ? { context: b.context } : {}),
        ...(p ? { page: p } : {}),
      }, atLeastRevisionOf(request.headers));
    });
  }
}
