import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';

// docs/authzen.md: "An unknown or deleted store answers 404 not_found." The process that deleted
// the store still answers 200 {"decision": false} for up to storeTtlMs (1 s) afterwards.
describeEachBackend('AuthZEN on a store just deleted by this process', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let token: string;
  const call = async (method: 'POST' | 'DELETE', url: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await gh.http.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
  };
  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0 }), logger: createLogger('silent') });
    token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
  });
  afterAll(async () => {
    await gh.close();
    await drop();
  });

  it('answers 404 at once after DELETE /stores/{id}', async () => {
    const store = (await call('POST', '/stores', { name: 'gone' })).body.id as string;
    await call('POST', `/stores/${store}/authorization-models`, {
      schema_version: '1.1',
      type_definitions: [{ type: 'user' }, { type: 'doc', relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user' }] } } } }],
    });
    await call('POST', `/stores/${store}/write`, { writes: { tuple_keys: [{ user: 'user:u1', relation: 'viewer', object: 'doc:d1' }] } });
    const ev = { subject: { type: 'user', id: 'u1' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'd1' } };
    expect(await call('POST', `/stores/${store}/access/v1/evaluation`, ev)).toEqual({ status: 200, body: { decision: true } });
    expect((await call('DELETE', `/stores/${store}`)).status).toBe(204);
    expect((await call('POST', `/stores/${store}/check`, { tuple_key: { user: 'user:u1', relation: 'viewer', object: 'doc:d1' } })).status).toBe(404);
    const single = await call('POST', `/stores/${store}/access/v1/evaluation`, ev);
    const batch = await call('POST', `/stores/${store}/access/v1/evaluations`, { evaluations: [ev] });
    expect([single.status, single.body?.error?.code]).toEqual([404, 'not_found']);
    expect([batch.status, batch.body?.error?.code]).toEqual([404, 'not_found']);
  });

  it('the root endpoints decide against a store marked default in this process at once, and fall back to the built-in store when it is deleted', async () => {
    const store = (await call('POST', '/stores', { name: 'default-now' })).body.id as string;
    await call('POST', `/stores/${store}/authorization-models`, { schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc', relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user' }] } } } }] });
    await call('POST', `/stores/${store}/write`, { writes: { tuple_keys: [{ user: 'user:u2', relation: 'viewer', object: 'doc:d2' }] } });
    const ev = { subject: { type: 'user', id: 'u2' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'd2' } };
    expect(await call('POST', '/access/v1/evaluation', ev)).toEqual({ status: 200, body: { decision: false } });
    await gh.authzStores.setDefault(cliContext(), store);
    expect(await call('POST', '/access/v1/evaluation', ev)).toEqual({ status: 200, body: { decision: true } });
    expect((await call('DELETE', `/stores/${store}`)).status).toBe(204);
    expect(await call('POST', '/access/v1/evaluation', ev)).toEqual({ status: 200, body: { decision: false } });
  });
});
