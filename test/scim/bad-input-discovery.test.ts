import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { BASE, ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, expectScimError, startScim, userBody, type ScimHarness } from './support.js';

describeEachBackend('SCIM bad input and discovery', (backend) => {
  let h: ScimHarness;
  let userId: string;
  beforeAll(async () => {
    h = await startScim(backend, 64 * 1024);
    userId = (await h.call('POST', '/Users', { body: userBody('existing') })).body.id;
  });
  afterAll(async () => h?.close());

  async function counts() {
    const db = h.gh.storage.db;
    const n = async (t: 'users' | 'groups' | 'audit_events' | 'authz_tuples') => Number((await db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    return { users: await n('users'), groups: await n('groups'), audit: await n('audit_events'), tuples: await n('authz_tuples') };
  }

  const big = 'x'.repeat(70 * 1024);
  const table: Array<[string, string, string, { body?: unknown; raw?: string; contentType?: string; token?: string | null }, number, string | undefined]> = [
    ['malformed JSON', 'POST', '/Users', { raw: '{"schemas": [', contentType: 'application/scim+json' }, 400, 'invalidSyntax'],
    ['empty JSON body', 'POST', '/Users', { raw: '', contentType: 'application/json' }, 400, 'invalidSyntax'],
    ['JSON array body', 'POST', '/Users', { body: [] }, 400, 'invalidSyntax'],
    ['a JSON string body', 'POST', '/Groups', { raw: '"hello"' }, 400, 'invalidSyntax'],
    ['__proto__ in the body', 'POST', '/Users', { raw: `{"schemas":["${USER_SCHEMA}"],"userName":"p","__proto__":{"x":1}}` }, 400, 'invalidSyntax'],
    ['form content type', 'POST', '/Users', { raw: 'userName=x', contentType: 'application/x-www-form-urlencoded' }, 415, undefined],
    ['text/plain content type', 'PATCH', '/Users/{id}', { raw: '{}', contentType: 'text/plain' }, 415, undefined],
    ['XML content type', 'PUT', '/Users/{id}', { raw: '<user/>', contentType: 'application/xml' }, 415, undefined],
    ['no body', 'POST', '/Users', {}, 400, 'invalidSyntax'],
    ['unknown attribute', 'POST', '/Users', { body: userBody('u1', { favouriteColour: 'blue' }) }, 400, 'invalidSyntax'],
    ['unknown enterprise attribute', 'POST', '/Users', { body: userBody('u1', { [ENTERPRISE]: { shoeSize: 9 } }) }, 400, 'invalidSyntax'],
    ['missing userName', 'POST', '/Users', { body: { schemas: [USER_SCHEMA], displayName: 'x' } }, 400, 'invalidValue'],
    ['missing schemas', 'POST', '/Users', { body: { userName: 'u1' } }, 400, 'invalidValue'],
    ['userName a number', 'POST', '/Users', { body: userBody(42 as unknown as string) }, 400, 'invalidValue'],
    ['active an object', 'POST', '/Users', { body: userBody('u1', { active: { yes: true } }) }, 400, 'invalidValue'],
    ['emails an object', 'POST', '/Users', { body: userBody('u1', { emails: { value: 'a@b.c' } }) }, 400, 'invalidValue'],
    ['email without value', 'POST', '/Users', { body: userBody('u1', { emails: [{ type: 'work' }] }) }, 400, 'invalidValue'],
    ['weak password', 'POST', '/Users', { body: userBody('u1', { password: 'short' }) }, 400, 'invalidValue'],
    ['oversize body', 'POST', '/Users', { body: userBody('u1', { displayName: big }) }, 413, undefined],
    ['group without displayName', 'POST', '/Groups', { body: { schemas: [GROUP_SCHEMA] } }, 400, 'invalidValue'],
    ['group member without value', 'POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'g', members: [{ type: 'User' }] } }, 400, 'invalidValue'],
    ['group with unknown member', 'POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'g', members: [{ value: 'nobody' }] } }, 400, 'invalidValue'],
    ['group with User schema', 'POST', '/Groups', { body: { schemas: [USER_SCHEMA], displayName: 'g' } }, 400, 'invalidValue'],
    ['PATCH without PatchOp schema', 'PATCH', '/Users/{id}', { body: { Operations: [{ op: 'replace', path: 'active', value: false }] } }, 400, 'invalidSyntax'],
    ['PATCH with a bad path', 'PATCH', '/Users/{id}', { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'emails[type eq', value: 'x' }] } }, 400, 'invalidPath'],
    ['PATCH wrong value type', 'PATCH', '/Users/{id}', { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 12 }] } }, 400, 'invalidValue'],
    ['no token', 'GET', '/Users', { token: null }, 401, undefined],
    ['a bogus token', 'GET', '/Users', { token: 'gh_at_nope' }, 401, undefined],
    ['unknown endpoint', 'GET', '/Devices', {}, 404, undefined],
    ['unknown user id', 'GET', '/Users/not-an-id', {}, 404, undefined],
    ['unknown resource type', 'GET', '/ResourceTypes/Device', {}, 404, undefined],
    ['filter on an unknown attribute', 'GET', `/Users?filter=${encodeURIComponent('name.nickname eq "x"')}`, {}, 400, 'invalidFilter'],
    ['filter on a write-only attribute', 'GET', `/Users?filter=${encodeURIComponent('password eq "x"')}`, {}, 400, 'invalidFilter'],
    ['filter gibberish', 'GET', `/Groups?filter=${encodeURIComponent(')(]["')}`, {}, 400, 'invalidFilter'],
    ['two filters', 'GET', `/Users?filter=${encodeURIComponent('userName eq "a"')}&filter=${encodeURIComponent('userName eq "b"')}`, {}, 400, 'invalidFilter'],
    ['attributes and excludedAttributes', 'GET', '/Users?attributes=userName&excludedAttributes=emails', {}, 400, 'invalidValue'],
  ];

  it.each(table)('answers %s in the SCIM error format and writes nothing', async (_label, method, path, opts, status, scimType) => {
    const before = await counts();
    const res = await h.call(method, path.replace('{id}', userId), opts);
    expectScimError(res, status, scimType);
    if (status === 401) expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer/);
    expect(await counts()).toEqual(before);
  });

  it('refuses a token without the scim scope with 403', async () => {
    expectScimError(await h.call('GET', '/Users', { token: h.adminToken }), 403);
  });

  it('accepts application/json as well as application/scim+json, and answers application/scim+json', async () => {
    const res = await h.call('POST', '/Users', { body: userBody('json-client'), contentType: 'application/json; charset=utf-8' });
    expect([res.status, res.contentType]).toEqual([201, 'application/scim+json; charset=utf-8']);
    const list = await h.call('GET', '/Users');
    expect(list.contentType).toBe('application/scim+json; charset=utf-8');
  });

  it('serves a truthful /ServiceProviderConfig', async () => {
    const res = await h.call('GET', '/ServiceProviderConfig');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 65536 },
      filter: { supported: true, maxResults: 1000 },
      sort: { supported: true },
      etag: { supported: true },
      changePassword: { supported: true },
      meta: { resourceType: 'ServiceProviderConfig', location: `${BASE}/ServiceProviderConfig` },
    });
    expect(res.body.authenticationSchemes[0]).toMatchObject({ type: 'oauthbearertoken', primary: true });
  });

  it('serves /ResourceTypes and /Schemas that describe Users (with the enterprise extension) and Groups', async () => {
    const rts = await h.call('GET', '/ResourceTypes');
    expect(rts.body.totalResults).toBe(2);
    expect(rts.body.Resources.map((r: { id: string; endpoint: string; schema: string }) => [r.id, r.endpoint, r.schema])).toEqual([
      ['User', '/Users', USER_SCHEMA],
      ['Group', '/Groups', GROUP_SCHEMA],
    ]);
    expect(rts.body.Resources[0].schemaExtensions).toEqual([{ schema: ENTERPRISE, required: false }]);
    expect((await h.call('GET', '/ResourceTypes/User')).body.meta).toEqual({ resourceType: 'ResourceType', location: `${BASE}/ResourceTypes/User` });
    const schemas = await h.call('GET', '/Schemas');
    expect(schemas.body.Resources.map((s: { id: string }) => s.id)).toEqual([USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA]);
    const user = (await h.call('GET', `/Schemas/${USER_SCHEMA}`)).body;
    const userName = user.attributes.find((a: { name: string }) => a.name === 'userName');
    expect(userName).toMatchObject({ type: 'string', required: true, caseExact: false, uniqueness: 'server', mutability: 'readWrite' });
    expect(user.attributes.find((a: { name: string }) => a.name === 'password')).toMatchObject({ mutability: 'writeOnly', returned: 'never' });
    const ent = (await h.call('GET', `/Schemas/${ENTERPRISE}`)).body;
    expect(ent.attributes.map((a: { name: string }) => a.name)).toEqual(['employeeNumber', 'costCenter', 'organization', 'division', 'department', 'manager']);
  });
});
