import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { ctx, events, failure, identityFixture, tupleStrings, type IdentityFixture } from './fixture.js';

describeEachBackend('RoleService contract', (backend) => {
  let f: IdentityFixture;
  let alice: string;
  let eng: string;
  beforeAll(async () => {
    f = await identityFixture(backend);
    alice = (await f.users.create(ctx, { userName: 'alice' })).id;
    eng = (await f.groups.create(ctx, { displayName: 'eng' })).id;
  });
  afterAll(async () => f.close());

  it('creates a role whose permissions are permission:<perm>#granted@role:<id>#assignee tuples', async () => {
    const r = await f.roles.create(ctx, { name: 'Editor', description: 'Edits documents', permissions: ['documents:write', 'documents:read', 'documents:read'] });
    expect(r).toMatchObject({ name: 'Editor', description: 'Edits documents', permissions: ['documents:read', 'documents:write'] });
    const t = await tupleStrings(f);
    expect(t).toContain(`permission:documents:read#granted@role:${r.id}#assignee`);
    expect(t).toContain(`permission:documents:write#granted@role:${r.id}#assignee`);
    expect(await f.roles.get(ctx, r.id)).toEqual(r);
    expect((await events(f, 'role.create')).at(-1)?.target).toEqual({ type: 'role', id: r.id });
  });

  it('validates permission strings and writes nothing on failure', async () => {
    for (const bad of ['documents', 'documents:', ':read', 'doc uments:read', 'a:b:c', 42]) {
      const e = await failure(() => f.roles.create(ctx, { name: `bad-${String(bad)}`, permissions: ['ok:read', bad as string] }), 'invalid_input');
      expect(e.details).toMatchObject({ field: 'permissions[1]' });
    }
    expect((await f.roles.list(ctx, { startIndex: 1, count: 100 })).items.map((r) => r.name)).toEqual(['Editor']);
    expect((await tupleStrings(f)).filter((t) => t.startsWith('permission:ok:read'))).toEqual([]);
  });

  it('enforces name uniqueness on the normalised form', async () => {
    expect((await failure(() => f.roles.create(ctx, { name: 'EDITOR', permissions: [] }), 'conflict')).details).toEqual({ attribute: 'name' });
  });

  it('replaces permissions exactly', async () => {
    const r = await f.roles.create(ctx, { name: 'Viewer', permissions: ['documents:read', 'reports:read'] });
    const u = await f.roles.setPermissions(ctx, r.id, ['reports:read', 'reports:export']);
    expect(u.permissions).toEqual(['reports:export', 'reports:read']);
    const t = (await tupleStrings(f)).filter((s) => s.includes(r.id));
    expect(t).toEqual([`permission:reports:export#granted@role:${r.id}#assignee`, `permission:reports:read#granted@role:${r.id}#assignee`]);
    const ev = (await events(f, 'role.update')).at(-1);
    expect((ev?.before as { permissions: string[] }).permissions).toEqual(['documents:read', 'reports:read']);
    await failure(() => f.roles.setPermissions(ctx, 'nope', []), 'not_found');
  });

  it('assigns to users and groups, with an optional expiry, and unassigns', async () => {
    const r = await f.roles.create(ctx, { name: 'Auditor', permissions: ['audit:read'] });
    const a1 = await f.roles.assign(ctx, r.id, { type: 'user', id: alice });
    expect(a1).toEqual({ roleId: r.id, principal: { type: 'user', id: alice }, expiresAt: null });
    const a2 = await f.roles.assign(ctx, r.id, { type: 'group', id: eng }, { expiresAt: '2026-02-01T00:00:00Z' });
    expect(a2.expiresAt).toBe('2026-02-01T00:00:00.000Z');
    const t = await tupleStrings(f);
    expect(t).toContain(`role:${r.id}#assignee@user:${alice}`);
    expect(t).toContain(`role:${r.id}#assignee@group:${eng}#member`);
    const row = await f.storage.db.selectFrom('authz_tuples').select(['expires_at', 'source']).where('object_id', '=', r.id).where('subject_id', '=', eng).executeTakeFirstOrThrow();
    expect(row).toEqual({ expires_at: '2026-02-01T00:00:00.000Z', source: 'admin' });

    // Re-assigning changes only the expiry.
    await f.roles.assign(ctx, r.id, { type: 'group', id: eng }, { expiresAt: '2026-03-01T00:00:00.000Z' });
    const list = await f.roles.listAssignments(ctx, r.id);
    expect(list).toHaveLength(2);
    expect(list).toEqual(
      expect.arrayContaining([
        { roleId: r.id, principal: { type: 'user', id: alice }, expiresAt: null },
        { roleId: r.id, principal: { type: 'group', id: eng }, expiresAt: '2026-03-01T00:00:00.000Z' },
      ]),
    );
    const assigns = (await events(f, 'role.assign')).filter((e) => e.target?.id === r.id);
    expect(assigns.map((e) => (e.details as { replaced: boolean }).replaced)).toEqual([false, false, true]);

    await f.roles.unassign(ctx, r.id, { type: 'user', id: alice });
    await f.roles.unassign(ctx, r.id, { type: 'user', id: alice });
    expect((await f.roles.listAssignments(ctx, r.id)).map((a) => a.principal.type)).toEqual(['group']);
    expect((await events(f, 'role.unassign')).filter((e) => e.target?.id === r.id)).toHaveLength(1);
  });

  it('refuses unknown principals, unknown roles and bad expiries', async () => {
    const r = await f.roles.create(ctx, { name: 'Ops', permissions: ['servers:restart'] });
    expect((await failure(() => f.roles.assign(ctx, r.id, { type: 'user', id: 'ghost' }), 'not_found')).details).toMatchObject({ resource: 'user', id: 'ghost' });
    await failure(() => f.roles.assign(ctx, r.id, { type: 'group', id: 'ghost' }), 'not_found');
    await failure(() => f.roles.assign(ctx, 'no-role', { type: 'user', id: alice }), 'not_found');
    await failure(() => f.roles.assign(ctx, r.id, { type: 'user', id: alice }, { expiresAt: 'tomorrow' }), 'invalid_input');
    await failure(() => f.roles.assign(ctx, r.id, { type: 'user', id: alice }, { expiresAt: '2025-01-01T00:00:00Z' }), 'invalid_input');
    expect(await f.roles.listAssignments(ctx, r.id)).toEqual([]);
  });

  it('deletes a role with its permissions and assignments', async () => {
    const r = await f.roles.create(ctx, { name: 'Temp', permissions: ['x:y'] });
    await f.roles.assign(ctx, r.id, { type: 'user', id: alice });
    await f.roles.delete(ctx, r.id);
    await failure(() => f.roles.get(ctx, r.id), 'not_found');
    expect((await tupleStrings(f)).filter((t) => t.includes(r.id))).toEqual([]);
    const deletes = await f.storage.db.selectFrom('authz_changelog').select('operation').where('operation', '=', 'delete').where((eb) => eb.or([eb('object_id', '=', r.id), eb('subject_id', '=', r.id)])).execute();
    expect(deletes).toHaveLength(2);
    // The name is free again.
    expect((await f.roles.create(ctx, { name: 'temp', permissions: [] })).name).toBe('temp');
  });
});
