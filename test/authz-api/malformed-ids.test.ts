/**
 * Store and authorization model ids as OpenFGA validates them (openfga/api `openfga_service.proto`:
 * every `store_id` and `authorization_model_id` must match `^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$`): a
 * malformed id is 400 `validation_error` on every route; a well-formed unknown id is 404
 * `store_id_not_found` or 400 `authorization_model_not_found`. Gatehouse's built-in store
 * (`gatehouse`) and its base model (`gatehouse-builtin`) keep working under their own ids.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { DOCS_MODEL, startGatehouse, type Running } from './support.js';

const UNKNOWN_ULID = '01JZZZZZZZZZZZZZZZZZZZZZZZ';
/** Too short, lower case, a letter Crockford base32 leaves out (U), too long, and a path-looking id. */
const MALFORMED = ['x', '01jzzzzzzzzzzzzzzzzzzzzzzz', '01JZZZZZZZZZZZZZZZZZZZZZZU', `${UNKNOWN_ULID}0`, '..%2Fgatehouse'];

describeEachBackend('OpenFGA store and model ids: malformed is validation_error, unknown is not found', (backend) => {
  let r: Running;
  let storeId: string;
  let modelId: string;
  beforeAll(async () => {
    r = await startGatehouse(backend);
    storeId = (await r.gh.authzStores.create(cliContext(), 'ids')).id;
    modelId = (await r.gh.authzModels.write(cliContext(), storeId, { dsl: DOCS_MODEL })).id;
    expect(modelId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  });
  afterAll(() => r?.close());

  const check = { tuple_key: { user: 'user:ann', relation: 'viewer', object: 'document:1' } };
  /** Every route under /stores/{store_id}, as [method, path after the id, body]. */
  const routes: Array<[string, string, unknown]> = [
    ['GET', '', undefined],
    ['DELETE', '', undefined],
    ['GET', '/authorization-models', undefined],
    ['POST', '/authorization-models', { schema_version: '1.1', type_definitions: [{ type: 'user' }] }],
    ['POST', '/write', { writes: { tuple_keys: [{ user: 'user:ann', relation: 'viewer', object: 'document:1' }] } }],
    ['POST', '/read', {}],
    ['GET', '/changes', undefined],
    ['POST', '/check', check],
    ['POST', '/batch-check', { checks: [{ ...check, correlation_id: 'a' }] }],
    ['POST', '/list-objects', { user: 'user:ann', relation: 'viewer', type: 'document' }],
    ['POST', '/list-users', { object: { type: 'document', id: '1' }, relation: 'viewer', user_filters: [{ type: 'user' }] }],
    ['POST', '/expand', { tuple_key: { relation: 'viewer', object: 'document:1' } }],
  ];

  it('a malformed store id is 400 validation_error naming the pattern, on every route; nothing is written', async () => {
    const revision = await r.gh.tuples.currentRevision(r.gh.storage.db);
    for (const id of MALFORMED) {
      for (const [method, rest, body] of [...routes, ['GET', `/authorization-models/${modelId}`, undefined] as [string, string, unknown], ['GET', `/assertions/${modelId}`, undefined] as [string, string, unknown]]) {
        const res = await r.call(method, `/stores/${id}${rest}`, body);
        expect([method, rest, id, res.status, res.body.code], res.body.message).toEqual([method, rest, id, 400, 'validation_error']);
        expect(res.body.message).toContain('^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$');
      }
    }
    expect(await r.gh.tuples.currentRevision(r.gh.storage.db)).toBe(revision);
    expect((await r.gh.authzStores.list(cliContext())).stores.map((s) => s.id).sort()).toEqual(['gatehouse', storeId].sort());
  });

  it('a well-formed unknown store id is 404 store_id_not_found on every route', async () => {
    for (const [method, rest, body] of routes) {
      const res = await r.call(method, `/stores/${UNKNOWN_ULID}${rest}`, body);
      expect([method, rest, res.status, res.body.code]).toEqual([method, rest, 404, 'store_id_not_found']);
    }
  });

  it('a malformed model id (path or body) is 400 validation_error; a well-formed unknown one is authorization_model_not_found; empty means the latest', async () => {
    for (const id of MALFORMED) {
      for (const [method, path, body] of [
        ['GET', `/stores/${storeId}/authorization-models/${id}`, undefined],
        ['GET', `/stores/${storeId}/assertions/${id}`, undefined],
        ['PUT', `/stores/${storeId}/assertions/${id}`, { assertions: [] }],
        ['POST', `/stores/${storeId}/check`, { ...check, authorization_model_id: id }],
        ['POST', `/stores/${storeId}/write`, { writes: { tuple_keys: [check.tuple_key] }, authorization_model_id: id }],
      ] as Array<[string, string, unknown]>) {
        const res = await r.call(method, path, body);
        expect([method, path, res.status, res.body.code]).toEqual([method, path, 400, 'validation_error']);
      }
    }
    const unknown = await r.call('POST', `/stores/${storeId}/check`, { ...check, authorization_model_id: UNKNOWN_ULID });
    expect([unknown.status, unknown.body.code]).toEqual([400, 'authorization_model_not_found']);
    const latest = await r.call('POST', `/stores/${storeId}/check`, { ...check, authorization_model_id: '' });
    expect([latest.status, latest.body]).toEqual([200, { allowed: false, resolution: '' }]);
    const named = await r.call('POST', `/stores/${storeId}/check`, { ...check, authorization_model_id: modelId });
    expect([named.status, named.body]).toEqual([200, { allowed: false, resolution: '' }]);
  });

  it('the built-in store and its base model answer under their own ids', async () => {
    const store = await r.call('GET', '/stores/gatehouse');
    expect([store.status, store.body.id]).toEqual([200, 'gatehouse']);
    const model = await r.call('GET', '/stores/gatehouse/authorization-models/gatehouse-builtin');
    expect([model.status, model.body.authorization_model?.id]).toEqual([200, 'gatehouse-builtin']);
    const read = await r.call('POST', '/stores/gatehouse/read', {});
    expect(read.status).toBe(200);
  });
});
