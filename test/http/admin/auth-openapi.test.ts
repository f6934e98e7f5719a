import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliContext } from '../../../src/kernel/context.js';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, startAdmin, type AdminHarness } from './support.js';

describeEachBackend('admin API: authentication and the OpenAPI document', (backend) => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin(backend);
  });
  afterAll(async () => h?.close());

  it('answers 401 problem details without a token, with a bad token, and with a revoked one', async () => {
    const none = await h.call('GET', '/users', { token: null });
    expectProblem(none, 401, 'unauthenticated');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expectProblem(await h.call('GET', '/users', { token: 'gh_at_not-a-real-token' }), 401, 'unauthenticated');
    const t = await h.gh.apiTokens.create(cliContext(), { name: 'soon revoked', scopes: ['admin'] });
    expect((await h.call('GET', '/users', { token: t.token })).status).toBe(200);
    await h.gh.apiTokens.revoke(cliContext(), t.apiToken.id);
    expectProblem(await h.call('GET', '/users', { token: t.token }), 401, 'unauthenticated');
    // Unauthenticated writes are refused before the body is read, and change nothing.
    expectProblem(await h.call('POST', '/users', { token: null, body: { user_name: 'mallory' } }), 401, 'unauthenticated');
    expect((await h.call('GET', '/users?user_name=mallory')).body.total_results).toBe(0);
  });

  it('answers 403 to a token without the admin scope', async () => {
    const res = await h.call('GET', '/users', { token: h.scimToken });
    expectProblem(res, 403, 'forbidden');
    expectProblem(await h.call('POST', '/roles', { token: h.scimToken, body: { name: 'x', permissions: [] } }), 403, 'forbidden');
  });

  it('answers 404 problem details for unknown paths under /api/v1', async () => {
    expectProblem(await h.call('GET', '/nope'), 404, 'not_found');
    expectProblem(await h.call('GET', '/nope', { token: null }), 401, 'unauthenticated');
  });

  it('serves a valid OpenAPI 3.1 document without authentication', async () => {
    const res = await h.call('GET', '/openapi.json', { token: null });
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('application/json; charset=utf-8');
    const doc = res.body;
    const result = await new Validator().validate(doc);
    expect(result).toEqual({ valid: true });
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('Gatehouse admin API');
    expect(doc.info.version).toBe(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version);
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', description: 'A Gatehouse API token with the `admin` scope.' });
    const expected: Record<string, string[]> = {
      '/api/v1/users': ['get', 'post'],
      '/api/v1/users/{id}': ['delete', 'get', 'patch'],
      '/api/v1/users/{id}/password': ['post'],
      '/api/v1/users/{id}/totp': ['post'],
      '/api/v1/users/{id}/activate': ['post'],
      '/api/v1/users/{id}/deactivate': ['post'],
      '/api/v1/groups': ['get', 'post'],
      '/api/v1/groups/{id}': ['delete', 'get', 'patch'],
      '/api/v1/groups/{id}/members': ['post'],
      '/api/v1/groups/{id}/members/{type}/{member_id}': ['delete'],
      '/api/v1/roles': ['get', 'post'],
      '/api/v1/roles/{id}': ['delete', 'get'],
      '/api/v1/roles/{id}/permissions': ['put'],
      '/api/v1/roles/{id}/assignments': ['get', 'post'],
      '/api/v1/roles/{id}/assignments/{type}/{principal_id}': ['delete'],
      '/api/v1/service-accounts': ['get', 'post'],
      '/api/v1/service-accounts/{id}': ['delete', 'get'],
      '/api/v1/service-accounts/{id}/activate': ['post'],
      '/api/v1/service-accounts/{id}/deactivate': ['post'],
      '/api/v1/service-accounts/{id}/owner': ['post'],
      '/api/v1/service-accounts/{id}/credentials': ['get', 'post'],
      '/api/v1/service-accounts/{id}/credentials/{credential_id}': ['get'],
      '/api/v1/service-accounts/{id}/credentials/{credential_id}/rotate': ['post'],
      '/api/v1/service-accounts/{id}/credentials/{credential_id}/revoke': ['post'],
      '/api/v1/applications': ['get', 'post'],
      '/api/v1/applications/{id}': ['delete', 'get'],
      '/api/v1/audit': ['get'],
      '/api/v1/api-tokens': ['get', 'post'],
      '/api/v1/api-tokens/{id}': ['delete'],
      '/api/v1/api-tokens/{id}/rotate': ['post'],
      '/api/v1/sessions': ['get'],
      '/api/v1/sessions/{id}': ['delete'],
      '/api/v1/outbox': ['get'],
      '/api/v1/openapi.json': ['get'],
    };
    expect(Object.keys(doc.paths).sort()).toEqual(Object.keys(expected).sort());
    for (const [path, methods] of Object.entries(expected)) expect(Object.keys(doc.paths[path]).sort(), path).toEqual(methods);
    expect(doc.paths['/api/v1/openapi.json'].get.security).toEqual([]);
  });

  it('derives the schemas from the validating zod schemas', async () => {
    const doc = (await h.call('GET', '/openapi.json', { token: null })).body;
    const s = doc.components.schemas;
    // Request bodies are strict: unknown members are refused, and the document says so.
    expect(s.RoleCreate).toMatchObject({ type: 'object', required: ['name', 'permissions'], additionalProperties: false });
    expect(s.RoleCreate.properties.permissions.items.pattern).toBe('^[A-Za-z0-9_.\\-/]+:[A-Za-z0-9_.\\-/*]+$');
    expect(s.PasswordSet).toEqual({ type: 'object', properties: { password: { type: 'string', minLength: 1, maxLength: 1024, description: 'The new password; checked against the password policy.' } }, required: ['password'], additionalProperties: false });
    expect(s.RoleAssignmentCreate.required).toEqual(['principal']);
    expect(s.RolePrincipal.properties.type.enum).toEqual(['user', 'service_account', 'group']);
    expect(s.UserCreate.required).toEqual(['user_name']);
    expect(s.TotpEnrollment.required).toEqual(['secret', 'otpauth_uri']);
    expect(s.Problem.required).toEqual(['type', 'title', 'status', 'detail', 'code']);
    expect(s.Problem.properties.code.enum).toContain('weak_password');
    const createUser = doc.paths['/api/v1/users'].post;
    expect(createUser.requestBody).toEqual({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/UserCreate' } } } });
    expect(createUser.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/User' });
    expect(createUser.responses['409'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(Object.keys(createUser.responses).sort()).toEqual(['201', '400', '401', '403', '409', '413', '415', '500']);
    const listUsers = doc.paths['/api/v1/users'].get;
    expect(listUsers.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(['query:start_index', 'query:count', 'query:user_name', 'query:external_id']);
    const audit = doc.paths['/api/v1/audit'].get;
    expect(audit.parameters.map((p: { name: string }) => p.name)).toEqual(['limit', 'after', 'action', 'actor_id', 'target_id', 'outcome', 'since', 'until']);
    // Every member name of every schema is snake_case.
    const names = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (o.properties && typeof o.properties === 'object') for (const k of Object.keys(o.properties)) names.add(k);
        Object.values(o).forEach(walk);
      }
    };
    walk(s);
    expect([...names].filter((n) => !/^[a-z][a-z0-9_]*$/.test(n))).toEqual([]);
  });
});
