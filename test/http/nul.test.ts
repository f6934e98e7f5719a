/**
 * U+0000 in a URL or a body is refused with 400 in each API's own error format on both backends
 * (PostgreSQL text cannot hold it; before, these requests were 500s on PostgreSQL and stored on SQLite).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { containsNul } from '../../src/http/json-body.js';
import { describeEachBackend } from '../support/backends.js';

const NUL_MESSAGE = /contains U\+0000/;

it('containsNul finds NUL in keys and values at any depth, and nothing else', () => {
  expect(containsNul({ a: [{ b: 'x\u0000' }] })).toBe(true);
  expect(containsNul({ 'k\u0000': 1 })).toBe(true);
  expect(containsNul({ a: ['\\u0000', 1, null, true, { b: 'ok' }] })).toBe(false);
  expect(containsNul('plain')).toBe(false);
});

describeEachBackend('U+0000 refused at the edge', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let auth: Record<string, string>;
  let store: string;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: db.url, port: 0, logLevel: 'silent' }) });
    auth = { authorization: `Bearer ${(await gh.apiTokens.create(cliContext(), { name: 'all', scopes: ['admin', 'scim', 'authz'] })).token}` };
    const created = await gh.http.inject({ method: 'POST', url: '/stores', headers: auth, payload: { name: 'nul' } });
    expect(created.statusCode).toBe(201);
    store = created.json().id;
    const model = await gh.http.inject({
      method: 'POST',
      url: `/stores/${store}/authorization-models`,
      headers: auth,
      payload: { schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc', relations: { owner: { this: {} } }, metadata: { relations: { owner: { directly_related_user_types: [{ type: 'user' }] } } } }] },
    });
    expect(model.statusCode).toBe(201);
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('OpenFGA: a tuple or store name with NUL is validation_error 400 and nothing is written', async () => {
    const write = await gh.http.inject({
      method: 'POST',
      url: `/stores/${store}/write`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"writes":{"tuple_keys":[{"user":"user:a\\u0000b","relation":"owner","object":"doc:c"}]}}',
    });
    expect(write.statusCode).toBe(400);
    expect(write.json()).toMatchObject({ code: 'validation_error', message: expect.stringMatching(NUL_MESSAGE) });
    const read = await gh.http.inject({ method: 'POST', url: `/stores/${store}/read`, headers: auth, payload: {} });
    expect(read.json().tuples).toEqual([]);
    const named = await gh.http.inject({ method: 'POST', url: '/stores', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"name":"x\\u0000y"}' });
    expect([named.statusCode, named.json().code]).toEqual([400, 'validation_error']);
    for (const url of [`/stores/${store}/changes?type=a%00b`, '/stores?name=a%00b', '/stores/a%00b', '/stores/a%00b/access/v1/evaluation']) {
      const res = await gh.http.inject({ method: url.endsWith('evaluation') ? 'POST' : 'GET', url, headers: auth, payload: url.endsWith('evaluation') ? {} : undefined });
      expect([url, res.statusCode]).toEqual([url, 400]);
    }
  });

  it('OpenFGA: a body over the limit is 413 validation_error and nothing is written', async () => {
    const big = JSON.stringify({ writes: { tuple_keys: [{ user: 'user:a', relation: 'owner', object: 'doc:c' }] }, pad: 'x'.repeat(1024 * 1024 + 1) });
    const res = await gh.http.inject({ method: 'POST', url: `/stores/${store}/write`, headers: { ...auth, 'content-type': 'application/json' }, payload: big });
    expect([res.statusCode, res.json().code]).toEqual([413, 'validation_error']);
    const read = await gh.http.inject({ method: 'POST', url: `/stores/${store}/read`, headers: auth, payload: {} });
    expect(read.json().tuples).toEqual([]);
  });

  it('admin API: problem details invalid_input for NUL in a path or query', async () => {
    for (const url of ['/api/v1/users/a%00b', '/api/v1/groups/a%00b', '/api/v1/roles/a%00b', '/api/v1/audit?target_id=a%00b']) {
      const res = await gh.http.inject({ method: 'GET', url, headers: auth });
      expect([url, res.statusCode, res.headers['content-type']]).toEqual([url, 400, 'application/problem+json; charset=utf-8']);
      expect(res.json()).toMatchObject({ code: 'invalid_input', detail: expect.stringMatching(NUL_MESSAGE) });
    }
    const body = await gh.http.inject({ method: 'POST', url: '/api/v1/groups', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"displayName":"g\\u0000"}' });
    expect([body.statusCode, body.json().code]).toEqual([400, 'invalid_input']);
  });

  it('SCIM: the SCIM error schema with status 400', async () => {
    for (const [method, url] of [['GET', '/scim/v2/Users/a%00b'], ['GET', '/scim/v2/Groups/a%00b'], ['PATCH', '/scim/v2/Users/a%00b']] as const) {
      const res = await gh.http.inject({ method, url, headers: auth, payload: method === 'PATCH' ? { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [] } : undefined });
      expect([url, res.statusCode]).toEqual([url, 400]);
      expect(res.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400' });
    }
  });

  it('AuthZEN: 400 for NUL in a subject id', async () => {
    const res = await gh.http.inject({
      method: 'POST',
      url: '/access/v1/evaluation',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"subject":{"type":"user","id":"a\\u0000"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}',
    });
    expect(res.statusCode).toBe(400);
  });
});
