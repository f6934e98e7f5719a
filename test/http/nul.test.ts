/**
 * U+0000 in a URL or a body is refused with 400 in each API's own error format on both backends
 * (PostgreSQL text cannot hold it; before, these requests were 500s on PostgreSQL and stored on SQLite).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { containsNul } from '../../src/http/json-body.js';
import { hasLoneSurrogate } from '../../src/kernel/normalize.js';
import { validateTupleShape } from '../../src/authz/tuples.js';
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

it('hasLoneSurrogate finds an unpaired UTF-16 surrogate anywhere, and not a pair', () => {
  for (const s of ['\ud800', 'a\udfffb', '\udc00\ud800', 'x\ud83d']) expect([s, hasLoneSurrogate(s)]).toEqual([s, true]);
  for (const s of ['\ud83d\ude00', 'plain', '', 'é\u00ff\uffff']) expect([s, hasLoneSurrogate(s)]).toEqual([s, false]);
  // Tuples reach the index from the CLI (YAML, CSV) without the HTTP edge: the validation refuses them too.
  const t = { objectType: 'doc', objectId: 'a\ud800', relation: 'owner', subjectType: 'user', subjectId: 'u', subjectRelation: '' };
  expect(() => validateTupleShape(t)).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  expect(() => validateTupleShape({ ...t, objectId: 'ok', subjectId: '\udfff' })).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  expect(() => validateTupleShape({ ...t, objectId: 'smile\ud83d\ude00' })).not.toThrow();
});

describeEachBackend('unpaired UTF-16 surrogates refused at the edge', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let auth: Record<string, string>;
  let store: string;
  const SURROGATE_MESSAGE = /unpaired UTF-16 surrogate/;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: db.url, port: 0, logLevel: 'silent' }) });
    auth = { authorization: `Bearer ${(await gh.apiTokens.create(cliContext(), { name: 'all', scopes: ['admin', 'scim', 'authz'] })).token}`, 'content-type': 'application/json' };
    store = (await gh.http.inject({ method: 'POST', url: '/stores', headers: auth, payload: '{"name":"surrogates"}' })).json().id;
    const model = { schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc', relations: { owner: { this: {} } }, metadata: { relations: { owner: { directly_related_user_types: [{ type: 'user' }] } } } }] };
    expect((await gh.http.inject({ method: 'POST', url: `/stores/${store}/authorization-models`, headers: auth, payload: JSON.stringify(model) })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('OpenFGA: a tuple id with an unpaired surrogate is validation_error 400 and nothing is written; a pair is stored as sent', async () => {
    const write = (id: string) => gh.http.inject({ method: 'POST', url: `/stores/${store}/write`, headers: auth, payload: `{"writes":{"tuple_keys":[{"user":"user:ann","relation":"owner","object":"doc:${id}"}]}}` });
    for (const id of ['a\\ud800', '\\udfffb', '\\udc00\\ud800']) {
      const res = await write(id);
      expect([id, res.statusCode, res.json().code]).toEqual([id, 400, 'validation_error']);
      expect(res.json().message).toMatch(SURROGATE_MESSAGE);
    }
    expect((await write('smile\\ud83d\\ude00')).statusCode).toBe(200);
    const read = await gh.http.inject({ method: 'POST', url: `/stores/${store}/read`, headers: auth, payload: '{}' });
    expect(read.json().tuples.map((t: { key: { object: string } }) => t.key.object)).toEqual(['doc:smile\u{1f600}']);
  });

  it('SCIM and AuthZEN answer 400 in their own formats', async () => {
    const scim = await gh.http.inject({ method: 'POST', url: '/scim/v2/Users', headers: { ...auth, 'content-type': 'application/scim+json' }, payload: '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann\\ud800"}' });
    expect(scim.statusCode).toBe(400);
    expect(scim.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', detail: expect.stringMatching(SURROGATE_MESSAGE) });
    const authzen = await gh.http.inject({ method: 'POST', url: '/access/v1/evaluation', headers: auth, payload: '{"subject":{"type":"user","id":"\\udbff"},"action":{"name":"owner"},"resource":{"type":"doc","id":"x"}}' });
    expect([authzen.statusCode, authzen.json().error.code]).toEqual([400, 'invalid_input']);
    expect(authzen.json().error.message).toMatch(SURROGATE_MESSAGE);
  });
});
