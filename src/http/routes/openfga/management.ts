/**
 * OpenFGA stores, authorization models and relationship tuples (openfga/api
 * `openfga_service.proto`): CreateStore, ListStores, GetStore, DeleteStore,
 * WriteAuthorizationModel, ReadAuthorizationModels, ReadAuthorizationModel, Write, Read,
 * ReadChanges. Bodies and field names are OpenFGA's (snake_case, RFC 3339 timestamps).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../../gatehouse.js';
import type { AuthzStore } from '../../../authz/stores.js';
import type { StoredModel } from '../../../authz/models.js';
import { contextOf } from '../../auth.js';
import { modelIdSchema, requiredModelIdSchema, storeParams, tupleKeySchema } from './scope.js';

/** Header carrying the changelog revision of a write (Gatehouse's consistency token). */
export const REVISION_HEADER = 'x-gatehouse-revision';

const pageQuery = z.object({ page_size: z.string().optional(), continuation_token: z.string().optional() });

function storeBody(s: AuthzStore) {
  return { id: s.id, name: s.name, created_at: s.createdAt, updated_at: s.updatedAt };
}

function modelBody(m: StoredModel) {
  return { id: m.id, schema_version: m.model.schema_version, type_definitions: m.model.type_definitions, conditions: m.model.conditions ?? {} };
}

const writeBody = z.object({
  writes: z.object({ tuple_keys: z.array(tupleKeySchema), on_duplicate: z.enum(['error', 'ignore', '']).nullish() }).nullish(),
  deletes: z
    .object({ tuple_keys: z.array(z.object({ user: z.string(), relation: z.string(), object: z.string() })), on_missing: z.enum(['error', 'ignore', '']).nullish() })
    .nullish(),
  authorization_model_id: modelIdSchema,
});

const readBody = z.object({
  tuple_key: z.object({ user: z.string().nullish(), relation: z.string().nullish(), object: z.string().nullish() }).nullish(),
  page_size: z.number().int().nullish(),
  continuation_token: z.string().nullish(),
  consistency: z.string().nullish(),
});

/** Registers the store, model and tuple routes (under the caller's `/stores` scope). */
export async function managementRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.post('/', async (request, reply) => {
    const body = z.object({ name: z.string() }).parse(request.body ?? {});
    const store = await services.authzStores.create(contextOf(request), body.name);
    return reply.code(201).send(storeBody(store));
  });

  app.get('/', async (request) => {
    const q = pageQuery.extend({ name: z.string().optional() }).parse(request.query);
    const res = await services.authzStores.list(contextOf(request), { pageSize: q.page_size, continuationToken: q.continuation_token, name: q.name });
    return { stores: res.stores.map(storeBody), continuation_token: res.continuationToken };
  });

  app.get('/:store_id', async (request) => {
    const { store_id } = storeParams.parse(request.params);
    return storeBody(await services.authzStores.get(contextOf(request), store_id));
  });

  app.delete('/:store_id', async (request, reply) => {
    const { store_id } = storeParams.parse(request.params);
    await services.authzStores.delete(contextOf(request), store_id);
    return reply.code(204).send();
  });

  app.post('/:store_id/authorization-models', async (request, reply) => {
    const { store_id } = storeParams.parse(request.params);
    const res = await services.authzModels.write(contextOf(request), store_id, { json: request.body });
    reply.header(REVISION_HEADER, String(res.revision));
    return reply.code(201).send({ authorization_model_id: res.id });
  });

  app.get('/:store_id/authorization-models', async (request) => {
    const { store_id } = storeParams.parse(request.params);
    const q = pageQuery.parse(request.query);
    const res = await services.authzModels.list(contextOf(request), store_id, { pageSize: q.page_size, continuationToken: q.continuation_token });
    return { authorization_models: res.models.map(modelBody), continuation_token: res.continuationToken };
  });

  app.get('/:store_id/authorization-models/:id', async (request) => {
    const { store_id, id } = storeParams.extend({ id: requiredModelIdSchema }).parse(request.params);
    return { authorization_model: modelBody(await services.authzModels.get(contextOf(request), store_id, id)) };
  });

  app.post('/:store_id/write', async (request, reply) => {
    const { store_id } = storeParams.parse(request.params);
    const body = writeBody.parse(request.body ?? {});
    const res = await services.authzTuples.write(contextOf(request), store_id, {
      writes: body.writes?.tuple_keys.map((k) => ({ ...k, condition: k.condition ? { name: k.condition.name, context: k.condition.context ?? undefined } : undefined })),
      deletes: body.deletes?.tuple_keys,
      authorizationModelId: body.authorization_model_id || undefined,
      onDuplicate: body.writes?.on_duplicate === 'ignore' ? 'ignore' : 'error',
      onMissing: body.deletes?.on_missing === 'ignore' ? 'ignore' : 'error',
    });
    reply.header(REVISION_HEADER, String(res.revision));
    return {};
  });

  app.post('/:store_id/read', async (request) => {
    const { store_id } = storeParams.parse(request.params);
    const body = readBody.parse(request.body ?? {});
    const k = body.tuple_key;
    const res = await services.authzTuples.read(contextOf(request), store_id, {
      tupleKey: k ? { user: k.user ?? undefined, relation: k.relation ?? undefined, object: k.object ?? undefined } : undefined,
      pageSize: body.page_size ?? undefined,
      continuationToken: body.continuation_token || undefined,
    });
    return { tuples: res.tuples, continuation_token: res.continuationToken };
  });

  app.get('/:store_id/changes', async (request) => {
    const { store_id } = storeParams.parse(request.params);
    const q = pageQuery.extend({ type: z.string().optional(), start_time: z.string().optional() }).parse(request.query);
    const res = await services.authzTuples.readChanges(contextOf(request), store_id, {
      type: q.type,
      pageSize: q.page_size,
      continuationToken: q.continuation_token || undefined,
      startTime: q.start_time || undefined,
    });
    return { changes: res.changes, continuation_token: res.continuationToken };
  });
}
