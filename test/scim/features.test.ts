/**
 * The rest of issue 4 over HTTP on both backends: configured schema extensions (discovery,
 * validation, storage, filter, sort, PATCH, immutable and writeOnly rules), /Me, DELETE with
 * If-Match, one audit event per membership change with source SCIM, deprovisioning through
 * SCIM, Entra ID / Okta PATCH shapes and the noTarget rule, Bulk edge cases, and API token
 * rotation (service, admin API).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { BASE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, expectScimError, startScim, userBody, type ScimHarness } from './support.js';

const HR = 'urn:example:params:scim:schemas:extension:hr:2.0:User';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const patch = (...ops: unknown[]) => ({ schemas: [PATCH_OP], Operations: ops });

const HR_EXTENSION = {
  id: HR,
  name: 'HrUser',
  description: 'HR attributes',
  resourceType: 'User',
  attributes: [
    { name: 'badgeNumber', type: 'string', caseExact: true, mutability: 'immutable' },
    { name: 'clearance', type: 'integer' },
    { name: 'remote', type: 'boolean' },
    { name: 'pin', type: 'string', mutability: 'writeOnly' },
    { name: 'notes', type: 'string', returned: 'request' },
    { name: 'skills', type: 'string', multiValued: true },
    { name: 'office', type: 'complex', subAttributes: [{ name: 'building', type: 'string' }, { name: 'floor', type: 'integer' }] },
  ],
};

describeEachBackend('SCIM features', (backend) => {
  let h: ScimHarness;
  beforeAll(async () => {
    h = await startScim(backend, undefined, { scimSchemaExtensions: [HR_EXTENSION] });
  });
  afterAll(async () => h?.close());

  const hrUser = (userName: string, hr: Record<string, unknown>) => ({ schemas: [USER_SCHEMA, HR], userName, [HR]: hr });

  it('announces a configured extension in /ResourceTypes and /Schemas', async () => {
    const rt = (await h.call('GET', '/ResourceTypes/User')).body;
    expect(rt.schemaExtensions).toContainEqual({ schema: HR, required: false });
    const schema = (await h.call('GET', `/Schemas/${HR}`)).body;
    expect(schema.attributes.map((a: { name: string; mutability: string; returned: string }) => [a.name, a.mutability, a.returned])).toEqual([
      ['badgeNumber', 'immutable', 'default'],
      ['clearance', 'readWrite', 'default'],
      ['remote', 'readWrite', 'default'],
      ['pin', 'writeOnly', 'never'],
      ['notes', 'readWrite', 'request'],
      ['skills', 'readWrite', 'default'],
      ['office', 'readWrite', 'default'],
    ]);
  });

  it('stores, returns, filters and sorts extension attributes; writeOnly never returned, request-only on request', async () => {
    const a = await h.call('POST', '/Users', { body: hrUser('hr-a', { badgeNumber: 'B-1', clearance: 3, remote: true, pin: '1234', notes: 'n', skills: ['go', 'ts'], office: { building: 'North', floor: 2 } }) });
    expect(a.status).toBe(201);
    expect(a.body[HR]).toEqual({ badgeNumber: 'B-1', clearance: 3, remote: true, skills: ['go', 'ts'], office: { building: 'North', floor: 2 } });
    expect(a.body.schemas).toEqual([USER_SCHEMA, HR]);
    const b = await h.call('POST', '/Users', { body: hrUser('hr-b', { badgeNumber: 'b-2', clearance: 1, remote: false, skills: ['rust'] }) });
    const names = async (f: string) => (await h.call('GET', `/Users?filter=${encodeURIComponent(f)}&attributes=userName`)).body.Resources.map((r: { userName: string }) => r.userName).sort();
    expect(await names(`${HR}:clearance gt 2`)).toEqual(['hr-a']);
    expect(await names(`${HR}:clearance le 3`)).toEqual(['hr-a', 'hr-b']);
    expect(await names(`${HR}:remote eq false`)).toEqual(['hr-b']);
    expect(await names(`${HR}:badgeNumber eq "b-1"`)).toEqual([]);
    expect(await names('badgeNumber sw "B"')).toEqual(['hr-a']);
    expect(await names(`${HR}:skills eq "RUST"`)).toEqual(['hr-b']);
    expect(await names(`${HR}:office.floor eq 2`)).toEqual(['hr-a']);
    expect(await names(`schemas eq "${HR}"`)).toEqual(['hr-a', 'hr-b']);
    expectScimError(await h.call('GET', `/Users?filter=${encodeURIComponent(`${HR}:pin eq "1234"`)}`), 400, 'invalidFilter');
    expectScimError(await h.call('GET', `/Users?filter=${encodeURIComponent(`${HR}:clearance co "1"`)}`), 400, 'invalidFilter');
    const sorted = (await h.call('GET', `/Users?filter=${encodeURIComponent(`${HR}:clearance pr`)}&sortBy=${encodeURIComponent(`${HR}:clearance`)}&attributes=userName`)).body;
    expect(sorted.Resources.map((r: { userName: string }) => r.userName)).toEqual(['hr-b', 'hr-a']);
    const withNotes = await h.call('GET', `/Users/${a.body.id}?attributes=${encodeURIComponent(`${HR}:notes`)}`);
    expect(withNotes.body[HR]).toEqual({ notes: 'n' });
    expect(JSON.stringify((await h.call('GET', `/Users/${a.body.id}`)).body)).not.toContain('1234');
    expect(b.status).toBe(201);
  });

  it('enforces immutable (set once) and keeps a writeOnly value that a PUT or PATCH does not send', async () => {
    const u = (await h.call('POST', '/Users', { body: hrUser('hr-imm', { clearance: 1, pin: '9999' }) })).body;
    // Not yet set: may be set by PATCH.
    let res = await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'add', path: `${HR}:badgeNumber`, value: 'X-1' }) });
    expect(res.body[HR].badgeNumber).toBe('X-1');
    expectScimError(await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'replace', path: `${HR}:badgeNumber`, value: 'X-2' }) }), 400, 'mutability');
    expectScimError(await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'remove', path: `${HR}:badgeNumber` }) }), 400, 'mutability');
    expectScimError(await h.call('PUT', `/Users/${u.id}`, { body: hrUser('hr-imm', { badgeNumber: 'X-3' }) }), 400, 'mutability');
    // The same value again is fine; the writeOnly pin survives a PUT that does not mention it.
    res = await h.call('PUT', `/Users/${u.id}`, { body: hrUser('hr-imm', { badgeNumber: 'X-1', clearance: 2 }) });
    expect(res.status).toBe(200);
    const row = await h.gh.storage.db.selectFrom('users').select('extra').where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(JSON.parse(row.extra)[HR]).toEqual({ badgeNumber: 'X-1', clearance: 2, pin: '9999' });
    expectScimError(await h.call('POST', '/Users', { body: hrUser('hr-bad', { clearance: 'high' }) }), 400, 'invalidValue');
    expectScimError(await h.call('POST', '/Users', { body: hrUser('hr-bad', { nope: 1 }) }), 400, 'invalidSyntax');
  });

  it('serves /Me for a token issued for a user, and 404 for a token that is not', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('me-user') })).body;
    const { token } = await h.gh.apiTokens.create(cliContext(), { name: 'me', scopes: ['scim'], userId: u.id });
    const me = await h.call('GET', '/Me', { token });
    expect([me.status, me.body.id, me.body.userName]).toEqual([200, u.id, 'me-user']);
    const patched = await h.call('PATCH', '/Me', { token, body: patch({ op: 'replace', path: 'displayName', value: 'Me!' }) });
    expect(patched.body.displayName).toBe('Me!');
    expectScimError(await h.call('GET', '/Me'), 404);
  });

  it('deletes with If-Match inside the delete transaction: a stale version is 412 and nothing changes', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('ifmatch-del') })).body;
    await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'replace', path: 'title', value: 'x' }) });
    expectScimError(await h.call('DELETE', `/Users/${u.id}`, { headers: { 'if-match': 'W/"1"' } }), 412);
    expect((await h.call('GET', `/Users/${u.id}`)).status).toBe(200);
    expect((await h.call('DELETE', `/Users/${u.id}`, { headers: { 'if-match': 'W/"2"' } })).status).toBe(204);
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'ifmatch-g' } })).body;
    expectScimError(await h.call('DELETE', `/Groups/${g.id}`, { headers: { 'if-match': 'W/"9"' } }), 412);
    expect((await h.call('DELETE', `/Groups/${g.id}`, { headers: { 'if-match': '*' } })).status).toBe(204);
  });

  it('writes one audit event per membership change, with the actor, group, member and source scim', async () => {
    const a = (await h.call('POST', '/Users', { body: userBody('aud-a') })).body.id;
    const b = (await h.call('POST', '/Users', { body: userBody('aud-b') })).body.id;
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'aud-g', members: [{ value: a }] } })).body.id;
    await h.call('PATCH', `/Groups/${g}`, { body: patch({ op: 'Add', path: 'members', value: [{ value: b }] }, { op: 'Remove', path: 'members', value: [{ value: a }] }) });
    const events = await h.gh.storage.db.selectFrom('audit_events').selectAll().where('target_id', '=', g).where('action', 'in', ['group.member_add', 'group.member_remove']).orderBy('seq').execute();
    expect(events.map((e) => [e.action, e.actor_type, JSON.parse(e.details!).member, JSON.parse(e.details!).source, JSON.parse(e.details!).group])).toEqual([
      ['group.member_add', 'api_token', { type: 'user', id: a }, 'scim', g],
      // One PATCH is one replace of the member list: removals are written before additions.
      ['group.member_remove', 'api_token', { type: 'user', id: a }, 'scim', g],
      ['group.member_add', 'api_token', { type: 'user', id: b }, 'scim', g],
    ]);
  });

  it('deprovisions on SCIM deactivation and deletion: tokens revoked, memberships removed on delete', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('deprov') })).body.id;
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'deprov-g', members: [{ value: u }] } })).body.id;
    const { token } = await h.gh.apiTokens.create(cliContext(), { name: 'deprov', scopes: ['scim'], userId: u });
    await h.call('PATCH', `/Users/${u}`, { body: patch({ op: 'Replace', path: 'active', value: 'False' }) });
    const row = await h.gh.storage.db.selectFrom('users').select('status').where('id', '=', u).executeTakeFirstOrThrow();
    expect(row.status).toBe('suspended');
    // The token bound to the user is revoked with the deactivation.
    expect((await h.call('GET', '/Me', { token })).status).toBe(401);
    expect((await h.call('GET', `/Groups/${g}`)).body.members).toHaveLength(1);
    await h.call('DELETE', `/Users/${u}`);
    expect((await h.call('GET', `/Groups/${g}`)).body.members).toEqual([]);
    expect((await h.call('GET', '/Me', { token })).status).toBe(401);
  });

  it('accepts Entra ID and Okta PATCH shapes; noTarget for a non-eq filter without a match', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('entra', { emails: [{ value: 'entra@example.com', type: 'work', primary: true }] }) })).body.id;
    // Entra: add through an eq filter creates the value (the "create on eq-filter" leniency).
    let res = await h.call('PATCH', `/Users/${u}`, { body: patch({ op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0100' }) });
    expect(res.body.phoneNumbers).toEqual([{ type: 'mobile', value: '+1 555 0100' }]);
    // Entra: enterprise manager as a bare string, URN-qualified path.
    res = await h.call('PATCH', `/Users/${u}`, { body: patch({ op: 'Replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager', value: u }) });
    expect(res.body['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].manager.value).toBe(u);
    // Okta: no-path replace with an object including id and active.
    res = await h.call('PATCH', `/Users/${u}`, { body: patch({ op: 'replace', value: { id: u, active: false, 'name.givenName': 'Okta' } }) });
    expect([res.body.active, res.body.name.givenName]).toEqual([false, 'Okta']);
    // A filter that is not made only of eq, with no match, is noTarget, and nothing is applied.
    expectScimError(await h.call('PATCH', `/Users/${u}`, { body: patch({ op: 'replace', path: 'title', value: 'T' }, { op: 'replace', path: 'emails[value co "nomatch"].type', value: 'home' }) }), 400, 'noTarget');
    expect((await h.call('GET', `/Users/${u}`)).body.title).toBeUndefined();
    // primary stays unique.
    res = await h.call('PATCH', `/Users/${u}`, { body: patch({ op: 'add', path: 'emails', value: [{ value: 'second@example.com', primary: true }] }) });
    expect(res.body.emails.filter((e: { primary?: boolean }) => e.primary).map((e: { value: string }) => e.value)).toEqual(['second@example.com']);
  });

  it('runs Bulk with a later-defined bulkId, reports each error, and refuses a repeated bulkId', async () => {
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK],
        Operations: [
          { method: 'POST', path: '/Groups', bulkId: 'grp', data: { schemas: [GROUP_SCHEMA], displayName: 'bulk-late', members: [{ value: 'bulkId:usr' }] } },
          { method: 'POST', path: '/Users', bulkId: 'usr', data: { schemas: [USER_SCHEMA], userName: 'bulk-late-user' } },
          { method: 'POST', path: '/Users', bulkId: 'dup', data: { schemas: [USER_SCHEMA], userName: 'bulk-late-user' } },
          { method: 'POST', path: '/Users', data: { schemas: [USER_SCHEMA], userName: 'no-bulk-id' } },
          { method: 'PATCH', path: '/Users/bulkId:missing', data: patch({ op: 'add', path: 'title', value: 'x' }) },
          { method: 'GET', path: '/Users' },
        ].slice(0, 5),
      },
    });
    expect(res.body.Operations.map((o: { status: string; bulkId?: string }) => [o.bulkId ?? null, o.status])).toEqual([
      ['grp', '201'],
      ['usr', '201'],
      ['dup', '409'],
      [null, '400'],
      [null, '409'],
    ]);
    expect(res.body.Operations[2].response.scimType).toBe('uniqueness');
    const group = await h.call('GET', res.body.Operations[0].location.slice(BASE.length));
    expect(group.body.members.map((m: { display: string }) => m.display)).toEqual(['bulk-late-user']);
    expectScimError(
      await h.call('POST', '/Bulk', { body: { schemas: [BULK], Operations: [{ method: 'POST', path: '/Users', bulkId: 'x', data: {} }, { method: 'POST', path: '/Users', bulkId: 'x', data: {} }] } }),
      400,
      'invalidSyntax',
    );
    expectScimError(await h.call('POST', '/Bulk', { body: { schemas: [BULK], Operations: [{ method: 'GET', path: '/Users' }] } }), 400, 'invalidSyntax');
  });

  it('rotates an API token: same id and scopes, the old secret stops working at once (service and admin API)', async () => {
    const created = await h.gh.apiTokens.create(cliContext(), { name: 'entra-rot', scopes: ['scim'] });
    expect((await h.call('GET', '/ServiceProviderConfig', { token: created.token })).status).toBe(200);
    const rotated = await h.gh.apiTokens.rotate(cliContext(), created.apiToken.id);
    expect([rotated.apiToken.id, rotated.apiToken.scopes]).toEqual([created.apiToken.id, ['scim']]);
    expect((await h.call('GET', '/ServiceProviderConfig', { token: created.token })).status).toBe(401);
    expect((await h.call('GET', '/ServiceProviderConfig', { token: rotated.token })).status).toBe(200);
    const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
      const res = await h.gh.http.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${h.adminToken}`, ...(payload ? { 'content-type': 'application/json' } : {}) }, ...(payload ? { payload: JSON.stringify(payload) } : {}) });
      return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers };
    };
    const listed = await api('GET', '/api-tokens');
    expect(listed.body.items.find((t: { id: string }) => t.id === created.apiToken.id)).toMatchObject({ name: 'entra-rot', scopes: ['scim'], revoked_at: null });
    expect(JSON.stringify(listed.body)).not.toContain(rotated.token);
    const viaApi = await api('POST', `/api-tokens/${created.apiToken.id}/rotate`);
    expect([viaApi.status, viaApi.headers['cache-control'], viaApi.body.api_token.id]).toEqual([200, 'no-store', created.apiToken.id]);
    expect((await h.call('GET', '/ServiceProviderConfig', { token: rotated.token })).status).toBe(401);
    expect((await api('DELETE', `/api-tokens/${created.apiToken.id}`)).status).toBe(204);
    expect((await h.call('GET', '/ServiceProviderConfig', { token: viaApi.body.token })).status).toBe(401);
    expect((await api('POST', `/api-tokens/${created.apiToken.id}/rotate`)).status).toBe(404);
    const made = await api('POST', '/api-tokens', { name: 'okta', scopes: ['scim'], expires_in_days: 30 });
    expect([made.status, made.body.api_token.scopes]).toEqual([201, ['scim']]);
    const audit = await h.gh.storage.db.selectFrom('audit_events').select('action').where('target_id', '=', created.apiToken.id).orderBy('seq').execute();
    expect(audit.map((a) => a.action)).toEqual(['api_token.create', 'api_token.rotate', 'api_token.rotate', 'api_token.revoke']);
  });
});
