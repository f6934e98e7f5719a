/**
 * OpenFGA relationship queries (openfga/api `openfga_service.proto`): Check, BatchCheck,
 * ListObjects, StreamedListObjects, ListUsers, Expand. Each request is validated against the store's model first
 * (OpenFGA codes: `type_not_found`, `relation_not_found`, `validation_error` ...), then answered
 * by the engine ({@link AuthzEngine}) from the in-memory index.
 *
 * Gatehouse extensions (ignored by OpenFGA clients): Check accepts `explain: true` and then
 * answers an `explanation`; `x-gatehouse-at-least-revision` makes a query wait for a revision.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../../gatehouse.js';
import { GatehouseError } from '../../../kernel/errors.js';
import type { BatchCheckItem, SubjectRef } from '../../../authz/service.js';
import { fgaInvalid, parseFgaObject, parseFgaUser, parseQueryObject } from '../../../authz/validation.js';
import { contextOf } from '../../auth.js';
import { openfgaError } from './errors.js';
import { consistencySchema, contextSchema, contextualSchema, contextualTuples, modelIdSchema, resolveScope, storeParams, tupleKeySchema, type Scope } from './scope.js';

/** Largest number of checks in one BatchCheck (OpenFGA's default `maxChecksPerBatchCheck`). */
export const MAX_BATCH_CHECK = 50;

const checkKey = z.object({ user: z.string(), relation: z.string(), object: z.string() });

const checkBody = z.object({
  tuple_key: checkKey,
  contextual_tuples: contextualSchema,
  authorization_model_id: modelIdSchema,
  context: contextSchema,
  consistency: consistencySchema,
  trace: z.boolean().nullish(),
  explain: z.boolean().nullish(),
});

const batchBody = z.object({
  checks: z.array(
    z.object({
      tuple_key: checkKey,
      contextual_tuples: contextualSchema,
      context: contextSchema,
      correlation_id: z.string().regex(/^[\w-]{1,36}$/, 'correlation_id must be 1 to 36 letters, digits, _ or -'),
    }),
  ),
  authorization_model_id: modelIdSchema,
  consistency: consistencySchema,
});

const listObjectsBody = z.object({
  type: z.string(),
  relation: z.string(),
  user: z.string(),
  contextual_tuples: contextualSchema,
  authorization_model_id: modelIdSchema,
  context: contextSchema,
  consistency: consistencySchema,
});

const listUsersBody = z.object({
  object: z.object({ type: z.string(), id: z.string() }),
  relation: z.string(),
  user_filters: z.array(z.object({ type: z.string(), relation: z.string().nullish() })).min(1, 'user_filters needs exactly one filter').max(1, 'user_filters needs exactly one filter'),
  contextual_tuples: z.array(tupleKeySchema).nullish(),
  authorization_model_id: modelIdSchema,
  context: contextSchema,
  consistency: consistencySchema,
});

const expandBody = z.object({
  tuple_key: z.object({ object: z.string(), relation: z.string() }),
  contextual_tuples: contextualSchema,
  authorization_model_id: modelIdSchema,
  consistency: consistencySchema,
});

/** Validates a Check key against the model and returns its parts. */
function checkParts(scope: Scope, key: { user: string; relation: string; object: string }): { subject: SubjectRef; relation: string; object: { type: string; id: string } } {
  const object = parseQueryObject(key.object);
  const user = parseFgaUser(key.user);
  if (typeof key.relation !== 'string' || key.relation === '') throw fgaInvalid('validation_error', "invalid 'relation' field format");
  scope.model.view.requireRelation(object.type, key.relation);
  scope.model.view.requireSubject(user.type, user.relation);
  return { subject: { type: user.type, id: user.id, ...(user.relation ? { relation: user.relation } : {}) }, relation: key.relation, object };
}

function params(request: FastifyRequest): string {
  return storeParams.parse(request.params).store_id;
}

/** Registers Check, BatchCheck, ListObjects, ListUsers and Expand. */
export async function queryRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.post('/:store_id/check', async (request) => {
    const ctx = contextOf(request);
    const body = checkBody.parse(request.body ?? {});
    const scope = await resolveScope(services, ctx, params(request), body, request.headers);
    const parts = checkParts(scope, body.tuple_key);
    const res = await services.authz.check(ctx, {
      ...parts,
      storeId: scope.storeId,
      authorizationModelId: scope.authorizationModelId,
      context: body.context ?? undefined,
      contextualTuples: contextualTuples(scope, body.contextual_tuples?.tuple_keys),
      atLeastRevision: scope.atLeastRevision,
      explain: body.explain === true || undefined,
    });
    return { allowed: res.decision, resolution: '', ...(res.explanation ? { explanation: res.explanation } : {}) };
  });

  app.post('/:store_id/batch-check', async (request) => {
    const ctx = contextOf(request);
    const body = batchBody.parse(request.body ?? {});
    if (body.checks.length === 0) throw fgaInvalid('validation_error', 'checks must contain at least one check');
    if (body.checks.length > MAX_BATCH_CHECK) throw fgaInvalid('validation_error', `The number of checks exceeds the allowed limit of ${MAX_BATCH_CHECK}`);
    const ids = new Set<string>();
    for (const c of body.checks) {
      if (ids.has(c.correlation_id)) throw fgaInvalid('validation_error', `duplicate correlation_id '${c.correlation_id}'`);
      ids.add(c.correlation_id);
    }
    const scope = await resolveScope(services, ctx, params(request), body, request.headers);
    const result: Record<string, { allowed: boolean; error?: { input_error?: string; internal_error?: string; message: string } }> = {};
    const items: BatchCheckItem[] = [];
    for (const c of body.checks) {
      try {
        items.push({
          ...checkParts(scope, c.tuple_key),
          correlationId: c.correlation_id,
          storeId: scope.storeId,
          authorizationModelId: scope.authorizationModelId,
          context: c.context ?? undefined,
          contextualTuples: contextualTuples(scope, c.contextual_tuples?.tuple_keys),
          atLeastRevision: scope.atLeastRevision,
        });
      } catch (err) {
        result[c.correlation_id] = { allowed: false, error: itemError(err) };
      }
    }
    const answers = items.length > 0 ? await services.authz.batchCheck(ctx, items) : [];
    for (const a of answers) {
      result[a.correlationId] = a.error
        ? { allowed: false, error: itemError(new GatehouseError(a.error.code, a.error.message, a.error.details)) }
        : { allowed: a.decision === true };
    }
    return { result };
  });

  /** ListObjects and StreamedListObjects: the same request, validated against the model. */
  const listObjects = async (request: FastifyRequest): Promise<string[]> => {
    const ctx = contextOf(request);
    const body = listObjectsBody.parse(request.body ?? {});
    const scope = await resolveScope(services, ctx, params(request), body, request.headers);
    const user = parseFgaUser(body.user);
    scope.model.view.requireRelation(body.type, body.relation);
    scope.model.view.requireSubject(user.type, user.relation);
    const res = await services.authz.listObjects(ctx, {
      subject: { type: user.type, id: user.id, ...(user.relation ? { relation: user.relation } : {}) },
      relation: body.relation,
      objectType: body.type,
      storeId: scope.storeId,
      authorizationModelId: scope.authorizationModelId,
      context: body.context ?? undefined,
      contextualTuples: contextualTuples(scope, body.contextual_tuples?.tuple_keys),
      atLeastRevision: scope.atLeastRevision,
    });
    return res.objects;
  };

  app.post('/:store_id/list-objects', async (request) => ({ objects: await listObjects(request) }));

  app.post('/:store_id/streamed-list-objects', async (request, reply) => {
    let objects: string[];
    try {
      objects = await listObjects(request);
    } catch (err) {
      return sendStreamError(request, reply, err);
    }
    return reply.type('application/json').send(Readable.from(ndjsonResults(objects)));
  });

  app.post('/:store_id/list-users', async (request) => {
    const ctx = contextOf(request);
    const body = listUsersBody.parse(request.body ?? {});
    const scope = await resolveScope(services, ctx, params(request), body, request.headers);
    const object = parseFgaObject(`${body.object.type}:${body.object.id}`, 'object');
    scope.model.view.requireRelation(object.type, body.relation);
    for (const f of body.user_filters) scope.model.view.requireSubject(f.type, f.relation ?? '');
    const res = await services.authz.listUsers(ctx, {
      object,
      relation: body.relation,
      userFilters: body.user_filters.map((f) => ({ type: f.type, ...(f.relation ? { relation: f.relation } : {}) })),
      storeId: scope.storeId,
      authorizationModelId: scope.authorizationModelId,
      context: body.context ?? undefined,
      contextualTuples: contextualTuples(scope, body.contextual_tuples),
      atLeastRevision: scope.atLeastRevision,
    });
    return { users: res.users };
  });

  app.post('/:store_id/expand', async (request) => {
    const ctx = contextOf(request);
    const body = expandBody.parse(request.body ?? {});
    const scope = await resolveScope(services, ctx, params(request), body, request.headers);
    const object = parseQueryObject(body.tuple_key.object);
    scope.model.view.requireRelation(object.type, body.tuple_key.relation);
    const res = await services.authz.expand(ctx, {
      object,
      relation: body.tuple_key.relation,
      storeId: scope.storeId,
      authorizationModelId: scope.authorizationModelId,
      contextualTuples: contextualTuples(scope, body.contextual_tuples?.tuple_keys),
      atLeastRevision: scope.atLeastRevision,
    });
    return { tree: res.tree };
  });
}

/** Objects per chunk written to a StreamedListObjects response. */
const STREAM_CHUNK = 500;

/** StreamedListObjects' body: one `{"result":{"object":…}}` line per object (grpc-gateway's newline-delimited stream), a few hundred lines per chunk. */
function* ndjsonResults(objects: string[]): Generator<string> {
  for (let i = 0; i < objects.length; i += STREAM_CHUNK) {
    let chunk = '';
    for (const object of objects.slice(i, i + STREAM_CHUNK)) chunk += `${JSON.stringify({ result: { object } })}\n`;
    yield chunk;
  }
}

/** gRPC status codes of OpenFGA's encoded errors, by the HTTP status they map to (grpc-gateway `HTTPStatusFromCode`, reversed). */
const GRPC_CODE_OF_STATUS: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 10, 429: 8, 500: 13, 503: 14 };

/**
 * A stream's error as OpenFGA's gateway sends it (its stream error handler encodes the error, then
 * grpc-gateway writes an error chunk): the HTTP status of the error, and the body
 * `{"error":{"code":<gRPC code>,"message":…,"details":[]}}` followed by a newline.
 */
function sendStreamError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = openfgaError(err);
  if (e.unexpected) request.log.error({ err }, 'unexpected error');
  if (e.status === 401) reply.header('www-authenticate', 'Bearer');
  const code = GRPC_CODE_OF_STATUS[e.status] ?? 2;
  return reply.code(e.status).type('application/json').send(`${JSON.stringify({ error: { code, message: e.body.message, details: [] } })}\n`);
}

/** OpenFGA's `CheckError` of one batch item. */
function itemError(err: unknown): { input_error?: string; internal_error?: string; message: string } {
  const e = openfgaError(err);
  return e.status >= 500 ? { internal_error: e.body.code, message: e.body.message } : { input_error: e.body.code, message: e.body.message };
}
