/**
 * OpenFGA WriteAssertions / ReadAssertions and StreamedListObjects through the official
 * @openfga/sdk (unmodified) over real HTTP, on both backends, plus the exact wire bodies.
 */
import { type OpenFgaClient } from '@openfga/sdk';
import syntaxTransformer from '@openfga/syntax-transformer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { DOCS_MODEL, startGatehouse, type Running } from './support.js';

async function failure(p: Promise<unknown>): Promise<{ name: string; status?: number; code?: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; statusCode?: number; apiErrorCode?: string };
    return { name: e.name, status: e.statusCode, code: e.apiErrorCode };
  }
  throw new Error('expected the call to fail');
}

async function collect(it: AsyncIterable<{ object: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const r of it) out.push(r.object);
  return out;
}

describeEachBackend('OpenFGA assertions and streamed list objects through @openfga/sdk', (backend) => {
  let r: Running;
  let fga: OpenFgaClient;
  let storeId: string;
  let modelId: string;

  beforeAll(async () => {
    r = await startGatehouse(backend);
    storeId = (await r.client().createStore({ name: 'docs' })).id;
    const json = syntaxTransformer.transformer.transformDSLToJSONObject(DOCS_MODEL);
    modelId = (await r.client({ storeId }).writeAuthorizationModel(json as never)).authorization_model_id;
    fga = r.client({ storeId, authorizationModelId: modelId });
    await fga.write({
      writes: [
        { user: 'user:carl', relation: 'owner', object: 'folder:root' },
        { user: 'folder:root', relation: 'parent', object: 'document:a' },
        { user: 'folder:root', relation: 'parent', object: 'document:b' },
        { user: 'user:carl', relation: 'owner', object: 'document:c' },
        { user: 'user:carl', relation: 'blocked', object: 'document:b' },
      ],
    });
  }, 60_000);
  afterAll(async () => r?.close());

  it('writeAssertions replaces the list of the model; readAssertions reads it back', async () => {
    const empty = await fga.readAssertions();
    expect(empty.authorization_model_id).toBe(modelId);
    expect(empty.assertions).toEqual([]);
    await fga.writeAssertions([
      { user: 'user:carl', relation: 'viewer', object: 'document:a', expectation: true },
      { user: 'user:carl', relation: 'viewer', object: 'document:b', expectation: false },
    ]);
    const read = await fga.readAssertions();
    expect(read.authorization_model_id).toBe(modelId);
    expect(read.assertions).toEqual([
      { tuple_key: { object: 'document:a', relation: 'viewer', user: 'user:carl' }, expectation: true, contextual_tuples: [] },
      { tuple_key: { object: 'document:b', relation: 'viewer', user: 'user:carl' }, expectation: false, contextual_tuples: [] },
    ]);
    // The lower-level API carries contextual tuples and context; a write replaces the whole list.
    await fga.api.writeAssertions(storeId, modelId, {
      assertions: [
        {
          tuple_key: { object: 'document:z', relation: 'editor', user: 'user:anne' },
          expectation: true,
          contextual_tuples: [
            { user: 'team:eng#member', relation: 'editor', object: 'document:z', condition: { name: 'in_office', context: { office: '10.0.0.0/8' } } },
            { user: 'user:anne', relation: 'member', object: 'team:eng' },
          ],
          context: { ip: '10.1.2.3' },
        },
      ],
    });
    expect((await fga.readAssertions()).assertions).toEqual([
      {
        tuple_key: { object: 'document:z', relation: 'editor', user: 'user:anne' },
        expectation: true,
        contextual_tuples: [
          { user: 'team:eng#member', relation: 'editor', object: 'document:z', condition: { name: 'in_office', context: { office: '10.0.0.0/8' } } },
          { user: 'user:anne', relation: 'member', object: 'team:eng' },
        ],
        context: { ip: '10.1.2.3' },
      },
    ]);
  });

  it('answers 204 to a write, and keeps assertions per model', async () => {
    const put = await r.call('PUT', `/stores/${storeId}/assertions/${modelId}`, { assertions: [] });
    expect([put.status, put.body]).toEqual([204, '']);
    const json = syntaxTransformer.transformer.transformDSLToJSONObject(DOCS_MODEL);
    const second = (await r.client({ storeId }).writeAuthorizationModel(json as never)).authorization_model_id;
    await r.client({ storeId, authorizationModelId: second }).writeAssertions([{ user: 'user:x', relation: 'owner', object: 'folder:f', expectation: true }]);
    expect((await fga.readAssertions()).assertions).toEqual([]);
    const got = await r.call('GET', `/stores/${storeId}/assertions/${second}`);
    expect([got.status, got.body]).toEqual([
      200,
      { authorization_model_id: second, assertions: [{ tuple_key: { object: 'folder:f', relation: 'owner', user: 'user:x' }, expectation: true, contextual_tuples: [] }] },
    ]);
  });

  it('rejects bad assertions with OpenFGA codes and writes nothing', async () => {
    const path = `/stores/${storeId}/assertions/${modelId}`;
    const ok = { tuple_key: { object: 'document:a', relation: 'viewer', user: 'user:carl' }, expectation: true };
    const cases: Array<[unknown, number, string]> = [
      [{ assertions: [ok, { tuple_key: { object: 'invoice:1', relation: 'viewer', user: 'user:carl' }, expectation: true }] }, 400, 'type_not_found'],
      [{ assertions: [{ tuple_key: { object: 'document:a', relation: 'nope', user: 'user:carl' }, expectation: true }] }, 400, 'relation_not_found'],
      [{ assertions: [{ tuple_key: { object: 'document:a', relation: 'viewer', user: 'carl' }, expectation: true }] }, 400, 'validation_error'],
      [{ assertions: [{ expectation: true }] }, 400, 'validation_error'],
      [{ assertions: [{ ...ok, contextual_tuples: [{ user: 'user:carl', relation: 'viewer', object: 'team:eng' }] }] }, 400, 'relation_not_found'],
      [{ assertions: [{ ...ok, contextual_tuples: [{ user: 'team:eng', relation: 'owner', object: 'document:a' }] }] }, 400, 'invalid_tuple'],
      [{ assertions: Array.from({ length: 101 }, () => ok) }, 400, 'assertions_too_many_items'],
    ];
    for (const [body, status, code] of cases) {
      const res = await r.call('PUT', path, body);
      expect([res.status, res.body.code]).toEqual([status, code]);
    }
    const unknownModel = await r.call('PUT', `/stores/${storeId}/assertions/01JZZZZZZZZZZZZZZZZZZZZZZZ`, { assertions: [] });
    expect([unknownModel.status, unknownModel.body.code]).toEqual([400, 'authorization_model_not_found']);
    const unknownStore = await r.call('GET', `/stores/01JZZZZZZZZZZZZZZZZZZZZZZZ/assertions/${modelId}`);
    expect([unknownStore.status, unknownStore.body.code]).toEqual([404, 'store_id_not_found']);
    expect(await failure(r.client({ storeId, authorizationModelId: '01JZZZZZZZZZZZZZZZZZZZZZZZ' }).readAssertions())).toEqual({
      name: 'FgaApiValidationError',
      status: 400,
      code: 'authorization_model_not_found',
    });
    expect((await fga.readAssertions()).assertions).toEqual([]);
  });

  it('streamedListObjects yields exactly the objects ListObjects returns', async () => {
    const streamed = await collect(fga.streamedListObjects({ user: 'user:carl', relation: 'viewer', type: 'document' }));
    const listed = (await fga.listObjects({ user: 'user:carl', relation: 'viewer', type: 'document' })).objects;
    expect(streamed.sort()).toEqual(['document:a', 'document:c']);
    expect(listed.sort()).toEqual(streamed);
    expect(await collect(fga.streamedListObjects({ user: 'user:nobody', relation: 'viewer', type: 'document' }))).toEqual([]);
    const withContextual = await collect(
      fga.streamedListObjects({ user: 'user:dan', relation: 'owner', type: 'folder', contextualTuples: [{ user: 'user:dan', relation: 'owner', object: 'folder:tmp' }] }),
    );
    expect(withContextual).toEqual(['folder:tmp']);
  });

  it('streams newline-delimited {"result":{"object"}} lines, and errors as OpenFGA gateway error chunks', async () => {
    const res = await r.gh.http.inject({
      method: 'POST',
      url: `/stores/${storeId}/streamed-list-objects`,
      headers: { authorization: `Bearer ${r.token}` },
      payload: { user: 'user:carl', relation: 'viewer', type: 'document', authorization_model_id: modelId },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body).toBe('{"result":{"object":"document:a"}}\n{"result":{"object":"document:c"}}\n');
    const bad = await r.call('POST', `/stores/${storeId}/streamed-list-objects`, { user: 'user:carl', relation: 'viewer', type: 'invoice' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: { code: 3, message: "type 'invoice' not found", details: [] } });
    const noStore = await r.call('POST', '/stores/01JZZZZZZZZZZZZZZZZZZZZZZZ/streamed-list-objects', { user: 'user:carl', relation: 'viewer', type: 'document' });
    expect([noStore.status, noStore.body.error.code]).toEqual([404, 5]);
    expect((await failure(collect(fga.streamedListObjects({ user: 'user:carl', relation: 'viewer', type: 'invoice' })))).status).toBe(400);
  });
});
