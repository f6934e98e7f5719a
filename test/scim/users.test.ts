import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { BASE, ENTERPRISE, PATCH_OP, USER_SCHEMA, expectScimError, startScim, userBody, type ScimHarness } from './support.js';

const patch = (...ops: unknown[]) => ({ schemas: [PATCH_OP], Operations: ops });

describeEachBackend('SCIM /Users', (backend) => {
  let h: ScimHarness;
  beforeAll(async () => {
    h = await startScim(backend);
  });
  afterAll(async () => h?.close());

  async function status(id: string) {
    return (await h.gh.storage.db.selectFrom('users').select(['status', 'version']).where('id', '=', id).executeTakeFirstOrThrow());
  }

  it('creates a user (RFC 7644 §3.3): 201, Location, ETag, RFC 7643 representation, no password', async () => {
    const res = await h.call('POST', '/Users', {
      body: {
        schemas: [USER_SCHEMA, ENTERPRISE],
        userName: 'bjensen',
        externalId: 'bjensen',
        name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
        password: 'correct horse battery staple 42',
        emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
        [ENTERPRISE]: { employeeNumber: '701984', costCenter: '4130', organization: 'Universal Studios', division: 'Theme Park', department: 'Tour Operations' },
      },
    });
    expect(res.status).toBe(201);
    expect(res.contentType).toBe('application/scim+json; charset=utf-8');
    const id = res.body.id;
    expect(res.headers.location).toBe(`${BASE}/Users/${id}`);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.body).toEqual({
      schemas: [USER_SCHEMA, ENTERPRISE],
      id,
      externalId: 'bjensen',
      userName: 'bjensen',
      name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
      active: true,
      emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
      [ENTERPRISE]: { employeeNumber: '701984', costCenter: '4130', organization: 'Universal Studios', division: 'Theme Park', department: 'Tour Operations' },
      meta: { resourceType: 'User', created: res.body.meta.created, lastModified: res.body.meta.lastModified, location: `${BASE}/Users/${id}`, version: 'W/"1"' },
    });
    expect(res.text).not.toContain('password');
    const row = await h.gh.storage.db.selectFrom('users').select(['password_hash']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    const got = await h.call('GET', `/Users/${id}`);
    expect([got.status, got.body, got.headers.etag]).toEqual([200, res.body, 'W/"1"']);
    expect((await h.call('GET', `/Users/${id}`, { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(304);
  });

  it('refuses a userName that differs only in case with 409 uniqueness, and writes nothing', async () => {
    await h.call('POST', '/Users', { body: userBody('BJensen2') });
    const before = await h.gh.storage.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expectScimError(await h.call('POST', '/Users', { body: userBody('bjensen2') }), 409, 'uniqueness');
    expectScimError(await h.call('POST', '/Users', { body: userBody('BJENSEN') }), 409, 'uniqueness');
    const after = await h.gh.storage.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('lists with filter (case-insensitive userName, exact externalId), startIndex and count', async () => {
    for (const n of ['page-a', 'page-b', 'page-c']) await h.call('POST', '/Users', { body: userBody(n, { externalId: `ext-${n}` }) });
    const f = await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq "BJENSEN"')}`);
    expect(f.status).toBe(200);
    expect(f.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 1, itemsPerPage: 1, startIndex: 1 });
    expect(f.body.Resources[0].userName).toBe('bjensen');
    const ext = await h.call('GET', `/Users?filter=${encodeURIComponent('externalId eq "ext-page-b"')}`);
    expect(ext.body.Resources.map((u: { userName: string }) => u.userName)).toEqual(['page-b']);
    const extCase = await h.call('GET', `/Users?filter=${encodeURIComponent('externalId eq "EXT-PAGE-B"')}`);
    expect(extCase.body.totalResults).toBe(0);
    const none = await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq "nobody"')}`);
    expect(none.body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, itemsPerPage: 0, startIndex: 1, Resources: [] });
    const all = await h.call('GET', '/Users');
    const total = all.body.totalResults;
    expect(total).toBe(5);
    const page = await h.call('GET', '/Users?startIndex=2&count=2');
    expect(page.body).toMatchObject({ totalResults: total, itemsPerPage: 2, startIndex: 2 });
    expect(page.body.Resources.map((u: { id: string }) => u.id)).toEqual(all.body.Resources.slice(1, 3).map((u: { id: string }) => u.id));
    const last = await h.call('GET', `/Users?startIndex=${total}&count=10`);
    expect([last.body.itemsPerPage, last.body.totalResults]).toEqual([1, total]);
    const zero = await h.call('GET', '/Users?count=0');
    expect([zero.body.totalResults, zero.body.itemsPerPage, zero.body.Resources]).toEqual([total, 0, []]);
    const proj = await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq "bjensen"')}&attributes=userName`);
    expect(Object.keys(proj.body.Resources[0])).toEqual(['schemas', 'id', 'userName']);
    expect((await h.call('GET', `/Users?filter=${encodeURIComponent('userName co "JENS"')}`)).body.totalResults).toBe(2);
    expectScimError(await h.call('GET', `/Users?filter=${encodeURIComponent('title eq 1')}`), 400, 'invalidFilter');
    expectScimError(await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
    expectScimError(await h.call('GET', '/Users?count=abc'), 400, 'invalidValue');
  });

  it('replaces with PUT (RFC 7644 §3.5.1): omitted attributes are cleared, active false deprovisions', async () => {
    const created = (await h.call('POST', '/Users', { body: userBody('put-me', { displayName: 'Put Me', title: 'Guide' }) })).body;
    await h.gh.storage.db
      .insertInto('oidc_payloads')
      .values({ tenant_id: 'default', model: 'Session', id: `s-${created.id}`, payload: '{}', account_id: created.id, grant_id: null, user_code: null, uid: null, expires_at: null, consumed_at: null })
      .execute();
    const res = await h.call('PUT', `/Users/${created.id}`, { body: userBody('put-me', { displayName: 'Put Me Too', active: false }), headers: { 'if-match': 'W/"1"' } });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe('W/"2"');
    expect(res.body).toMatchObject({ userName: 'put-me', displayName: 'Put Me Too', active: false });
    expect(res.body.title).toBeUndefined();
    expect(await status(created.id)).toEqual({ status: 'suspended', version: 2 });
    const sessions = await h.gh.storage.db.selectFrom('oidc_payloads').select('id').where('account_id', '=', created.id).execute();
    expect(sessions).toEqual([]);
    // A PUT that omits active does not re-activate.
    const again = await h.call('PUT', `/Users/${created.id}`, { body: userBody('put-me') });
    expect(again.body.active).toBe(false);
    // Stale If-Match: 412, nothing changed.
    expectScimError(await h.call('PUT', `/Users/${created.id}`, { body: userBody('put-me', { title: 'x' }), headers: { 'if-match': 'W/"1"' } }), 412);
    expect((await status(created.id)).version).toBe(3);
    expectScimError(await h.call('PUT', '/Users/0190a8a0-0000-7000-8000-000000000000', { body: userBody('ghost') }), 404);
  });

  it('deactivates with PATCH the way Microsoft Entra ID sends it ("Replace", "False")', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('entra-user') })).body;
    const res = await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'Replace', path: 'active', value: 'False' }) });
    expect([res.status, res.body.active]).toEqual([200, false]);
    expect((await status(u.id)).status).toBe('suspended');
    const disabled = await h.gh.storage.db.selectFrom('authz_changelog').select('operation').where('subject_id', '=', u.id).where('operation', '=', 'disable').execute();
    expect(disabled.length).toBe(1);
    const back = await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'Replace', path: 'active', value: 'True' }) });
    expect(back.body.active).toBe(true);
    expect((await status(u.id)).status).toBe('active');
    const bool = await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'replace', path: 'active', value: false }) });
    expect(bool.body.active).toBe(false);
  });

  it('applies a PATCH without path (Okta / Entra) and Entra attribute paths', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('okta-user', { emails: [{ value: 'okta@example.com', type: 'work', primary: true }] }) })).body;
    const res = await h.call('PATCH', `/Users/${u.id}`, {
      body: patch(
        { op: 'replace', value: { id: u.id, active: false, displayName: 'Okta User' } },
        { op: 'Add', path: 'name.givenName', value: 'Otto' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'otto@example.com' },
        { op: 'Add', path: `${ENTERPRISE}:department`, value: 'Sales' },
        { op: 'Replace', path: `${ENTERPRISE}:manager`, value: u.id },
      ),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      active: false,
      displayName: 'Okta User',
      name: { givenName: 'Otto' },
      emails: [{ value: 'otto@example.com', type: 'work', primary: true }],
      [ENTERPRISE]: { department: 'Sales', manager: { value: u.id, $ref: `${BASE}/Users/${u.id}` } },
    });
    expect(res.headers.etag).toBe('W/"2"');
  });

  it('applies all PATCH operations or none: a bad operation leaves the user unchanged', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('atomic-user', { title: 'Before' }) })).body;
    const auditBefore = await h.gh.storage.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const cases: Array<[unknown, number, string]> = [
      [patch({ op: 'replace', path: 'title', value: 'After' }, { op: 'replace', path: 'active', value: 'nope' }), 400, 'invalidValue'],
      [patch({ op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'favouriteColour', value: 'blue' }), 400, 'invalidPath'],
      [patch({ op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'id', value: 'x' }), 400, 'mutability'],
      [patch({ op: 'replace', path: 'active', value: false }, { op: 'remove', path: 'userName' }), 400, 'invalidValue'],
      [patch({ op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'userName', value: 'BJENSEN' }), 409, 'uniqueness'],
      [patch({ op: 'replace', path: 'active', value: false }, { op: 'move', path: 'title', value: 'x' }), 400, 'invalidSyntax'],
    ];
    for (const [body, st, type] of cases) expectScimError(await h.call('PATCH', `/Users/${u.id}`, { body }), st, type);
    expect(await status(u.id)).toEqual({ status: 'active', version: 1 });
    expect((await h.call('GET', `/Users/${u.id}`)).body.title).toBe('Before');
    const auditAfter = await h.gh.storage.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(auditAfter.n)).toBe(Number(auditBefore.n));
    expectScimError(await h.call('PATCH', `/Users/${u.id}`, { body: patch({ op: 'replace', path: 'title', value: 'x' }), headers: { 'if-match': 'W/"7"' } }), 412);
  });

  it('deletes (RFC 7644 §3.6): 204, then 404, gone from lists, userName free again', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('delete-me') })).body;
    const del = await h.call('DELETE', `/Users/${u.id}`);
    expect([del.status, del.text]).toEqual([204, '']);
    expectScimError(await h.call('GET', `/Users/${u.id}`), 404);
    expectScimError(await h.call('DELETE', `/Users/${u.id}`), 404);
    expect((await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq "delete-me"')}`)).body.totalResults).toBe(0);
    expect((await status(u.id)).status).toBe('deprovisioned');
    expect((await h.call('POST', '/Users', { body: userBody('delete-me') })).status).toBe(201);
  });

  it('deletes when the client sends Content-Type with an empty body, as provisioning clients do', async () => {
    for (const contentType of ['application/scim+json', 'application/json']) {
      const u = (await h.call('POST', '/Users', { body: userBody(`ct-delete-${contentType.length}`) })).body;
      const del = await h.call('DELETE', `/Users/${u.id}`, { contentType });
      expect([del.status, del.text]).toEqual([204, '']);
      expect((await status(u.id)).status).toBe('deprovisioned');
    }
    const g = (await h.call('POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'ct-delete-group' } })).body;
    expect((await h.call('DELETE', `/Groups/${g.id}`, { contentType: 'application/scim+json' })).status).toBe(204);
    // A create with an empty body is still refused in the SCIM error format.
    expectScimError(await h.call('POST', '/Users', { raw: '', contentType: 'application/scim+json' }), 400, 'invalidSyntax');
  });

  it('records SCIM as the source of changes in the audit log', async () => {
    const u = (await h.call('POST', '/Users', { body: userBody('audited') })).body;
    const ev = await h.gh.storage.db.selectFrom('audit_events').selectAll().where('target_id', '=', u.id).where('action', '=', 'user.create').executeTakeFirstOrThrow();
    expect(ev.actor_type).toBe('api_token');
    expect(JSON.parse(ev.details ?? '{}').source).toBe('scim');
  });
});
