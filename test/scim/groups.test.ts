import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { BASE, GROUP_SCHEMA, PATCH_OP, expectScimError, startScim, userBody, type ScimHarness } from './support.js';

const patch = (...ops: unknown[]) => ({ schemas: [PATCH_OP], Operations: ops });
const ids = (g: { members?: Array<{ value: string }> }) => (g.members ?? []).map((m) => m.value).sort();

describeEachBackend('SCIM /Groups', (backend) => {
  let h: ScimHarness;
  let alice: string;
  let bob: string;
  let carol: string;
  beforeAll(async () => {
    h = await startScim(backend);
    alice = (await h.call('POST', '/Users', { body: userBody('alice') })).body.id;
    bob = (await h.call('POST', '/Users', { body: userBody('bob') })).body.id;
    carol = (await h.call('POST', '/Users', { body: userBody('carol') })).body.id;
  });
  afterAll(async () => h?.close());

  async function tupleMembers(groupId: string): Promise<string[]> {
    const rows = await h.gh.storage.db.selectFrom('authz_tuples').select('subject_id').where('object_type', '=', 'group').where('object_id', '=', groupId).where('relation', '=', 'member').execute();
    return rows.map((r) => r.subject_id).sort();
  }

  it('creates a group with members (RFC 7644 §3.3), 201 with Location and ETag', async () => {
    const res = await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Tour Guides', externalId: 'tg', members: [{ value: alice, type: 'User' }, { value: bob }] } });
    expect(res.status).toBe(201);
    const id = res.body.id;
    expect(res.headers.location).toBe(`${BASE}/Groups/${id}`);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.body).toMatchObject({ schemas: [GROUP_SCHEMA], id, displayName: 'Tour Guides', externalId: 'tg', meta: { resourceType: 'Group', location: `${BASE}/Groups/${id}`, version: 'W/"1"' } });
    expect(res.body.members.sort((a: { display: string }, b: { display: string }) => a.display.localeCompare(b.display))).toEqual([
      { value: alice, $ref: `${BASE}/Users/${alice}`, type: 'User', display: 'alice' },
      { value: bob, $ref: `${BASE}/Users/${bob}`, type: 'User', display: 'bob' },
    ]);
    expect(await tupleMembers(id)).toEqual([alice, bob].sort());
    expectScimError(await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'TOUR GUIDES' } }), 409, 'uniqueness');
    const found = await h.call('GET', `/Groups?filter=${encodeURIComponent('displayName eq "tour guides"')}&excludedAttributes=members`);
    expect(found.body.totalResults).toBe(1);
    expect(found.body.Resources[0].members).toBeUndefined();
    expect(found.body.Resources[0].displayName).toBe('Tour Guides');
    expect((await h.call('GET', `/Groups?filter=${encodeURIComponent('externalId eq "tg"')}`)).body.Resources[0].id).toBe(id);
    expectScimError(await h.call('GET', `/Groups?filter=${encodeURIComponent('userName eq "x"')}`), 400, 'invalidFilter');
  });

  it('adds and removes members with PATCH (RFC 7644 §3.5.2 examples): one removal leaves the others', async () => {
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Patchers', members: [{ value: alice }] } })).body;
    const add = await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'add', path: 'members', value: [{ display: 'Bob', $ref: `${BASE}/Users/${bob}`, value: bob }, { value: alice }] }) });
    expect(add.status).toBe(200);
    expect(ids(add.body)).toEqual([alice, bob].sort());
    const rm = await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'remove', path: `members[value eq "${alice}"]` }) });
    expect(ids(rm.body)).toEqual([bob]);
    expect(await tupleMembers(g.id)).toEqual([bob]);
    const events = await h.gh.storage.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', g.id).where('action', 'in', ['group.member_add', 'group.member_remove']).orderBy('seq').execute();
    expect(events.map((e) => [e.action, JSON.parse(e.details!).member.id, JSON.parse(e.details!).source])).toEqual([
      ['group.member_add', alice, 'scim'],
      ['group.member_add', bob, 'scim'],
      ['group.member_remove', alice, 'scim'],
    ]);
  });

  it('accepts the Microsoft Entra ID shapes: capitalised ops, remove with a value array, rename', async () => {
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Entra Group' } })).body;
    const add = await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'Add', path: 'members', value: [{ value: alice }, { value: bob }, { value: carol }] }) });
    expect(ids(add.body)).toEqual([alice, bob, carol].sort());
    const rm = await h.call('PATCH', `/Groups/${g.id}`, {
      body: patch({ op: 'Remove', path: 'members', value: [{ value: alice }, { value: carol }] }, { op: 'Replace', path: 'displayName', value: 'Entra Group 2' }),
    });
    expect(rm.status).toBe(200);
    expect([ids(rm.body), rm.body.displayName]).toEqual([[bob], 'Entra Group 2']);
    expect(await tupleMembers(g.id)).toEqual([bob]);
    const okta = await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'replace', value: { id: g.id, displayName: 'Okta Renamed' } }) });
    expect([okta.body.displayName, ids(okta.body)]).toEqual(['Okta Renamed', [bob]]);
  });

  it('nests groups and refuses a cycle without writing anything', async () => {
    const parent = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Parent' } })).body;
    const child = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Child', members: [{ value: carol }] } })).body;
    const nest = await h.call('PATCH', `/Groups/${parent.id}`, { body: patch({ op: 'add', path: 'members', value: [{ value: child.id }] }) });
    expect(nest.body.members).toEqual([{ value: child.id, $ref: `${BASE}/Groups/${child.id}`, type: 'Group', display: 'Child' }]);
    expectScimError(await h.call('PATCH', `/Groups/${child.id}`, { body: patch({ op: 'add', path: 'members', value: [{ value: parent.id, type: 'Group' }] }) }), 400, 'invalidValue');
    expect(await tupleMembers(child.id)).toEqual([carol]);
  });

  it('applies all PATCH operations or none: an unknown member cancels the whole request', async () => {
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Atomic', members: [{ value: alice }] } })).body;
    const res = await h.call('PATCH', `/Groups/${g.id}`, {
      body: patch({ op: 'Replace', path: 'displayName', value: 'Atomic 2' }, { op: 'remove', path: `members[value eq "${alice}"]` }, { op: 'add', path: 'members', value: [{ value: bob }, { value: '0190a8a0-0000-7000-8000-000000000000' }] }),
    });
    expectScimError(res, 400, 'invalidValue');
    const after = await h.call('GET', `/Groups/${g.id}`);
    expect([after.body.displayName, ids(after.body), after.body.meta.version]).toEqual(['Atomic', [alice], 'W/"1"']);
    expect(await tupleMembers(g.id)).toEqual([alice]);
    expectScimError(await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'add', path: 'members', value: [{ value: bob, type: 'Robot' }] }) }), 400, 'invalidValue');
    expectScimError(await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'replace', path: 'members[value eq "x"].nope', value: 1 }) }), 400, 'invalidPath');
    expectScimError(await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'replace', path: 'displayName', value: 'Tour Guides' }) }), 409, 'uniqueness');
    expect(await tupleMembers(g.id)).toEqual([alice]);
  });

  it('replaces with PUT and deletes', async () => {
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Put Group', members: [{ value: alice }, { value: bob }] } })).body;
    const put = await h.call('PUT', `/Groups/${g.id}`, { body: { schemas: [GROUP_SCHEMA], displayName: 'Put Group', members: [{ value: carol }] }, headers: { 'if-match': g.meta.version } });
    expect([put.status, ids(put.body), put.headers.etag]).toEqual([200, [carol], 'W/"2"']);
    expect(await tupleMembers(g.id)).toEqual([carol]);
    expectScimError(await h.call('PUT', `/Groups/${g.id}`, { body: { schemas: [GROUP_SCHEMA], displayName: 'x' }, headers: { 'if-match': 'W/"1"' } }), 412);
    expect((await h.call('DELETE', `/Groups/${g.id}`)).status).toBe(204);
    expectScimError(await h.call('GET', `/Groups/${g.id}`), 404);
    expect(await tupleMembers(g.id)).toEqual([]);
  });

  it('keeps service-account members that SCIM cannot see when a client replaces the members', async () => {
    const sa = await h.gh.serviceAccounts.create({ tenantId: 'default', actor: { type: 'cli', id: null } }, { name: 'bot', ownerUserId: alice });
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Mixed', members: [{ value: alice }] } })).body;
    await h.gh.groups.addMembers({ tenantId: 'default', actor: { type: 'cli', id: null } }, g.id, [{ type: 'service_account', id: sa.id }]);
    const got = await h.call('GET', `/Groups/${g.id}`);
    expect(ids(got.body)).toEqual([alice]);
    await h.call('PUT', `/Groups/${g.id}`, { body: { schemas: [GROUP_SCHEMA], displayName: 'Mixed', members: [{ value: bob }] } });
    expect(await tupleMembers(g.id)).toEqual([bob, sa.id].sort());
  });
});
