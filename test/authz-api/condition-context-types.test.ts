/**
 * Fresh-eyes tester (issue #3): a tuple's stored condition context must fit the condition's typed
 * parameters, as OpenFGA validates it on Write (each value is converted to its parameter's type;
 * one that does not convert fails the request with `validation_error`). Gatehouse accepted
 * `{"n": "abc"}` for an `int` parameter (and a list for a string, a bad address for an
 * `ipaddress`), stored the tuple, and every later check through it failed with a condition
 * error. Over real HTTP through `@openfga/sdk` and plain fetch, SQLite and PostgreSQL; nothing
 * of a rejected Write is written.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { startGatehouse, type Running } from './support.js';

const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    {
      type: 'doc',
      relations: { viewer: { this: {} } },
      metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user', condition: 'in_net' }] } } },
    },
  ],
  conditions: {
    in_net: {
      name: 'in_net',
      expression: 'ip.in_cidr(cidr) && n > 2 && tags.size() >= 0',
      parameters: {
        ip: { type_name: 'TYPE_NAME_IPADDRESS' },
        cidr: { type_name: 'TYPE_NAME_STRING' },
        n: { type_name: 'TYPE_NAME_INT' },
        tags: { type_name: 'TYPE_NAME_LIST', generic_types: [{ type_name: 'TYPE_NAME_STRING' }] },
      },
    },
  },
};

describeEachBackend('condition context of a written tuple is type-checked (OpenFGA Write)', (backend) => {
  let gh: Running;
  let store: string;
  let modelId: string;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${gh.baseUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${gh.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await post('/stores', { name: 'cond-types' })).body.id;
    modelId = (await post(`/stores/${store}/authorization-models`, MODEL)).body.authorization_model_id;
    expect(modelId).toMatch(/^[0-9A-Z]{26}$/);
  });
  afterAll(async () => gh?.close());

  const tuple = (user: string, context: Record<string, unknown>) => ({ user, relation: 'viewer', object: 'doc:1', condition: { name: 'in_net', context } });

  it.each([
    ['a string that is not an int', { n: 'abc' }, 'n'],
    ['a fractional number for an int', { n: 2.5 }, 'n'],
    ['a number for a string', { cidr: 10 }, 'cidr'],
    ['a list for a string', { cidr: ['10.0.0.0/8'] }, 'cidr'],
    ['a malformed address for an ipaddress', { ip: '10.0.0.300' }, 'ip'],
    ['a list of numbers for list<string>', { tags: [1, 2] }, 'tags'],
    ['an object for a list', { tags: { a: 'b' } }, 'tags'],
  ])('rejects %s with validation_error and writes nothing', async (_what, context, param) => {
    const res = await post(`/stores/${store}/write`, { writes: { tuple_keys: [tuple('user:ok', { cidr: '10.0.0.0/8' }), tuple('user:bad', context)] } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_error');
    expect(res.body.message).toContain(`Invalid tuple 'doc:1#viewer@user:bad'`);
    expect(res.body.message).toContain(`context parameter '${param}'`);
    const read = await post(`/stores/${store}/read`, { tuple_key: { object: 'doc:1' } });
    expect(read.status).toBe(200);
    expect(read.body.tuples).toEqual([]);
  });

  it('rejects a wrongly typed context in a contextual tuple of Check (SDK)', async () => {
    const client = gh.client({ storeId: store, authorizationModelId: modelId });
    await expect(
      client.check({ user: 'user:x', relation: 'viewer', object: 'doc:1', contextualTuples: [tuple('user:x', { n: 'many' })], context: { ip: '10.0.0.1', cidr: '10.0.0.0/8', tags: [] } }),
    ).rejects.toMatchObject({ statusCode: 400, apiErrorCode: 'validation_error' });
  });

  it('accepts values that convert (an int as a whole number or decimal text), and they grant', async () => {
    const client = gh.client({ storeId: store, authorizationModelId: modelId });
    await client.write({ writes: [tuple('user:anne', { cidr: '10.0.0.0/8', n: '3' }), tuple('user:bob', { n: 5, tags: ['a'] })] });
    const anne = await client.check({ user: 'user:anne', relation: 'viewer', object: 'doc:1', context: { ip: '10.1.2.3', tags: [] } });
    expect(anne.allowed).toBe(true);
    const bob = await client.check({ user: 'user:bob', relation: 'viewer', object: 'doc:1', context: { ip: '10.1.2.3', cidr: '10.0.0.0/8' } });
    expect(bob.allowed).toBe(true);
  });
});
