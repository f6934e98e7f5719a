import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, startAdmin, type AdminHarness } from './support.js';

describeEachBackend('admin API: groups, memberships, roles, assignments', (backend) => {
  let h: AdminHarness;
  let alice: string;
  let eng: string;
  let staff: string;
  let roleId: string;
  beforeAll(async () => {
    h = await startAdmin(backend);
    alice = (await h.call('POST', '/users', { body: { user_name: 'alice' } })).body.id;
  });
  afterAll(async () => h?.close());

  it('creates, reads, lists and renames groups', async () => {
    const created = await h.call('POST', '/groups', { body: { display_name: 'Engineering', external_id: 'g-eng', description: 'Builders' } });
    expect(created.status).toBe(201);
    eng = created.body.id;
    expect(created.body).toMatchObject({ display_name: 'Engineering', external_id: 'g-eng', description: 'Builders', members: [], version: 1 });
    staff = (await h.call('POST', '/groups', { body: { display_name: 'Staff' } })).body.id;
    expect((await h.call('GET', `/groups/${eng}`)).body.display_name).toBe('Engineering');
    const list = await h.call('GET', '/groups?display_name=engineering');
    expect(list.body.items.map((g: { id: string }) => g.id)).toEqual([eng]);
    const all = await h.call('GET', '/groups');
    expect(all.body.total_results).toBe(2);
    const renamed = await h.call('PATCH', `/groups/${staff}`, { body: { display_name: 'All staff', description: 'Everyone' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ display_name: 'All staff', description: 'Everyone' });
    expectProblem(await h.call('POST', '/groups', { body: { display_name: 'ENGINEERING' } }), 409, 'conflict');
  });

  it('adds and removes members (users and nested groups) and refuses a cycle', async () => {
    const add = await h.call('POST', `/groups/${eng}/members`, { body: { type: 'user', id: alice } });
    expect(add.status).toBe(200);
    expect(add.body.members).toEqual([{ type: 'user', id: alice, display: 'alice' }]);
    const nest = await h.call('POST', `/groups/${staff}/members`, { body: { type: 'group', id: eng } });
    expect(nest.body.members).toEqual([{ type: 'group', id: eng, display: 'Engineering' }]);
    expectProblem(await h.call('POST', `/groups/${eng}/members`, { body: { type: 'group', id: staff } }), 409, 'invariant_violation');
    expectProblem(await h.call('POST', `/groups/${eng}/members`, { body: { type: 'user', id: '0190a8a0-0000-7000-8000-000000000000' } }), 404, 'not_found');
    const tuples = await h.gh.storage.db.selectFrom('authz_tuples').select(['object_id', 'subject_type', 'subject_id', 'subject_relation']).where('object_type', '=', 'group').execute();
    expect(tuples.sort((a, b) => a.object_id.localeCompare(b.object_id))).toEqual(
      [
        { object_id: eng, subject_type: 'user', subject_id: alice, subject_relation: '' },
        { object_id: staff, subject_type: 'group', subject_id: eng, subject_relation: 'member' },
      ].sort((a, b) => a.object_id.localeCompare(b.object_id)),
    );
    const del = await h.call('DELETE', `/groups/${staff}/members/group/${eng}`);
    expect(del.status).toBe(204);
    expect((await h.call('GET', `/groups/${staff}`)).body.members).toEqual([]);
    expectProblem(await h.call('DELETE', `/groups/${staff}/members/robot/${eng}`), 400, 'invalid_input');
  });

  it('creates a role with permissions, replaces them, lists and reads it', async () => {
    const created = await h.call('POST', '/roles', { body: { name: 'Document reader', permissions: ['documents:read'] } });
    expect(created.status).toBe(201);
    roleId = created.body.id;
    expect(created.body).toMatchObject({ name: 'Document reader', description: null, permissions: ['documents:read'] });
    const put = await h.call('PUT', `/roles/${roleId}/permissions`, { body: { permissions: ['documents:read', 'documents:list'] } });
    expect(put.status).toBe(200);
    expect([...put.body.permissions].sort()).toEqual(['documents:list', 'documents:read']);
    expect([...(await h.call('GET', `/roles/${roleId}`)).body.permissions].sort()).toEqual(['documents:list', 'documents:read']);
    const list = await h.call('GET', '/roles');
    expect(list.body.items.map((r: { name: string }) => r.name)).toEqual(['Document reader']);
    expectProblem(await h.call('POST', '/roles', { body: { name: 'document READER', permissions: [] } }), 409, 'conflict');
    expectProblem(await h.call('POST', '/roles', { body: { name: 'Bad', permissions: ['documents'] } }), 400, 'invalid_input');
  });

  it('assigns a role to a user and a group, lists and removes assignments', async () => {
    const toUser = await h.call('POST', `/roles/${roleId}/assignments`, { body: { principal: { type: 'user', id: alice } } });
    expect(toUser.status).toBe(201);
    expect(toUser.body).toEqual({ role_id: roleId, principal: { type: 'user', id: alice }, expires_at: null });
    const toGroup = await h.call('POST', `/roles/${roleId}/assignments`, { body: { principal: { type: 'group', id: eng }, expires_at: '2099-01-01T00:00:00Z' } });
    expect(toGroup.status).toBe(201);
    expect(toGroup.body).toEqual({ role_id: roleId, principal: { type: 'group', id: eng }, expires_at: '2099-01-01T00:00:00.000Z' });
    const list = await h.call('GET', `/roles/${roleId}/assignments`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((a: { principal: { type: string } }) => a.principal.type).sort()).toEqual(['group', 'user']);
    expectProblem(await h.call('POST', `/roles/${roleId}/assignments`, { body: { principal: { type: 'user', id: '0190a8a0-0000-7000-8000-000000000000' } } }), 404, 'not_found');
    const del = await h.call('DELETE', `/roles/${roleId}/assignments/user/${alice}`);
    expect(del.status).toBe(204);
    expect((await h.call('GET', `/roles/${roleId}/assignments`)).body.items).toEqual([{ role_id: roleId, principal: { type: 'group', id: eng }, expires_at: '2099-01-01T00:00:00.000Z' }]);
  });

  it('deletes roles and groups', async () => {
    expect((await h.call('DELETE', `/roles/${roleId}`)).status).toBe(204);
    expectProblem(await h.call('GET', `/roles/${roleId}`), 404, 'not_found');
    expect((await h.call('DELETE', `/groups/${eng}`)).status).toBe(204);
    expectProblem(await h.call('GET', `/groups/${eng}`), 404, 'not_found');
    const left = await h.gh.storage.db.selectFrom('authz_tuples').select('object_id').where('object_id', 'in', [eng, roleId]).execute();
    expect(left).toEqual([]);
  });
});
