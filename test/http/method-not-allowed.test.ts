/** A wrong HTTP method on a known path answers 405 with `Allow`, in each API's own error format; an unknown path stays 404. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('405 Method Not Allowed', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let auth: { authorization: string };

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: db.url, port: 0, logLevel: 'silent' }) });
    auth = { authorization: `Bearer ${(await gh.apiTokens.create(cliContext(), { name: 'all', scopes: ['admin', 'scim', 'authz'] })).token}` };
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('admin API: problem details with code method_not_allowed', async () => {
    const res = await gh.http.inject({ method: 'PATCH', url: '/api/v1/users?x=1', headers: auth });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toEqual({
      type: 'https://gatehouse.dev/problems/method_not_allowed',
      title: 'Method not allowed',
      status: 405,
      detail: 'PATCH is not allowed on /api/v1/users; allowed: GET, HEAD, POST',
      code: 'method_not_allowed',
      request_id: res.headers['x-request-id'],
      details: { method: 'PATCH', allow: ['GET', 'HEAD', 'POST'] },
    });
    const unknown = await gh.http.inject({ method: 'PATCH', url: '/api/v1/nothing-here', headers: auth });
    expect([unknown.statusCode, unknown.headers.allow, unknown.json().code]).toEqual([404, undefined, 'not_found']);
  });

  it("AuthZEN: AuthZEN's error body, at the root and per store", async () => {
    for (const url of ['/access/v1/evaluation', '/stores/gatehouse/access/v1/evaluation']) {
      const res = await gh.http.inject({ method: 'GET', url, headers: auth });
      expect([url, res.statusCode, res.headers.allow]).toEqual([url, 405, 'POST']);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.json()).toEqual({ error: { code: 'method_not_allowed', message: `GET is not allowed on ${url}; allowed: POST` } });
    }
    const unknown = await gh.http.inject({ method: 'POST', url: '/access/v1/nothing', headers: auth });
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'not_found']);
    const wk = await gh.http.inject({ method: 'POST', url: '/.well-known/authzen-configuration' });
    expect([wk.statusCode, wk.headers.allow]).toEqual([405, 'GET, HEAD']);
  });

  it('SCIM: the SCIM error schema', async () => {
    const res = await gh.http.inject({ method: 'DELETE', url: '/scim/v2/Users', headers: auth });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
    expect(res.headers['content-type']).toBe('application/scim+json; charset=utf-8');
    expect(res.json()).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      status: '405',
      detail: 'DELETE is not allowed on /scim/v2/Users; allowed: GET, HEAD, POST',
    });
    const spc = await gh.http.inject({ method: 'PUT', url: '/scim/v2/ServiceProviderConfig', headers: auth });
    expect([spc.statusCode, spc.headers.allow]).toEqual([405, 'GET, HEAD']);
    const unknown = await gh.http.inject({ method: 'GET', url: '/scim/v2/Nothing', headers: auth });
    expect([unknown.statusCode, unknown.headers.allow]).toEqual([404, undefined]);
  });

  it('OpenFGA: the OpenFGA error shape', async () => {
    const res = await gh.http.inject({ method: 'GET', url: '/stores/01JSTORE/check', headers: auth });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.json()).toEqual({ code: 'unimplemented', message: 'GET is not allowed on /stores/01JSTORE/check; allowed: POST' });
    const store = await gh.http.inject({ method: 'PATCH', url: '/stores/01JSTORE', headers: auth });
    expect([store.statusCode, store.headers.allow]).toEqual([405, 'DELETE, GET, HEAD']);
    const unknown = await gh.http.inject({ method: 'POST', url: '/stores/01JSTORE/nothing', headers: auth });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'undefined_endpoint']);
  });

  it('a malformed URL (bad percent-encoding) is a 400 in the format of the API the path belongs to', async () => {
    const scim = await gh.http.inject({ method: 'GET', url: '/scim/v2/Users/%ff', headers: auth });
    expect([scim.statusCode, scim.headers['content-type'], scim.json().schemas]).toEqual([400, 'application/scim+json; charset=utf-8', ['urn:ietf:params:scim:api:messages:2.0:Error']]);
    const fga = await gh.http.inject({ method: 'GET', url: '/stores/%ff', headers: auth });
    expect([fga.statusCode, typeof fga.json().code, fga.json().type]).toEqual([400, 'string', undefined]);
    const authzen = await gh.http.inject({ method: 'POST', url: '/access/v1/%ff', headers: auth, payload: {} });
    expect([authzen.statusCode, typeof authzen.json().error?.code]).toEqual([400, 'string']);
    const admin = await gh.http.inject({ method: 'GET', url: '/api/v1/users/%ff', headers: auth });
    expect([admin.statusCode, admin.headers['content-type']]).toEqual([400, 'application/problem+json; charset=utf-8']);
  });
});
