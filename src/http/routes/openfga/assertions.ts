/**
 * OpenFGA assertions (openfga/api `openfga_service.proto`): `PUT /stores/{store_id}/assertions/
 * {authorization_model_id}` (WriteAssertions, 204 No Content; replaces the model's list) and
 * `GET` the same path (ReadAssertions: `{ authorization_model_id, assertions }`).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../../gatehouse.js';
import type { FgaAssertion } from '../../../authz/assertions.js';
import { contextOf } from '../../auth.js';
import { requiredModelIdSchema, storeParams, tupleKeySchema } from './scope.js';

const params = storeParams.extend({ authorization_model_id: requiredModelIdSchema });

const assertionSchema = z.object({
  tuple_key: z.object({ object: z.string(), relation: z.string(), user: z.string() }),
  expectation: z.boolean().nullish(),
  contextual_tuples: z.array(tupleKeySchema).nullish(),
  context: z.record(z.string(), z.unknown()).nullish(),
});

const writeBody = z.object({ assertions: z.array(assertionSchema).nullish() });

/** Registers WriteAssertions and ReadAssertions (under the caller's `/stores` scope). */
export async function assertionRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.put('/:store_id/assertions/:authorization_model_id', async (request, reply) => {
    const p = params.parse(request.params);
    const body = writeBody.parse(request.body ?? {});
    const assertions: FgaAssertion[] = (body.assertions ?? []).map((a) => ({
      tuple_key: { object: a.tuple_key.object, relation: a.tuple_key.relation, user: a.tuple_key.user },
      expectation: a.expectation === true,
      contextual_tuples: (a.contextual_tuples ?? []).map((k) => ({
        user: k.user,
        relation: k.relation,
        object: k.object,
        ...(k.condition ? { condition: { name: k.condition.name, ...(k.condition.context ? { context: k.condition.context } : {}) } } : {}),
      })),
      ...(a.context ? { context: a.context } : {}),
    }));
    await services.authzAssertions.write(contextOf(request), p.store_id, p.authorization_model_id, assertions);
    return reply.code(204).send();
  });

  app.get('/:store_id/assertions/:authorization_model_id', async (request) => {
    const p = params.parse(request.params);
    const res = await services.authzAssertions.read(contextOf(request), p.store_id, p.authorization_model_id);
    return { authorization_model_id: res.modelId, assertions: res.assertions };
  });
}
