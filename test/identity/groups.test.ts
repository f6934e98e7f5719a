import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { ctx, events, failure, identityFixture, tupleStrings, type IdentityFixture } from './fixture.js';

describeEachBackend('GroupService contract', (backend) => {
  let f: IdentityFixture;
  let alice: string;
  let bob: string;
  let sa: string;
  beforeAll(async () => {
    f = await identityFixture(backend);
    alice = (await f.users.create(ctx, { userName: 'alice' })).id;
    bob = (await f.users.create(ctx, { userName: 'bob' })).id;
    sa = (await f.serviceAccounts.create(ctx, { name: 'ci-bot', ownerUserId: alice })).id;
  });
  afterAll(async () => f.close());

  it('creates a group with members as tuples in the built-in store and shows their display names', async () => {
    const g = await f.groups.create(ctx, { displayName: 'Engineering', externalId: 'eng-1', members: [{ type: 'user', id: alice }, { type: 'service_account', id: sa }] });
    expect(g).toMatchObject({ displayName: 'Engineering', externalId: 'eng-1', description: null, version: 1 });
    expect(g.members).toEqual(
      expect.arrayContaining([
        { type: 'user', id: alice, display: 'alice' },
        { type: 'service_account', id: sa, display: 'ci-bot' },
      ]),
    );
    expect(g.members).toHaveLength(2);
    const tuples = await tupleStrings(f);
    expect(tuples).toContain(`group:${g.id}#member@user:${alice}`);
    expect(tuples).toContain(`group:${g.id}#member@service_account:${sa}`);
    const adds = (await events(f, 'group.member_add')).filter((e) => e.target?.id === g.id);
    expect(adds.map((e) => e.details)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ group: g.id, member: { type: 'user', id: alice }, source: 'admin' }),
        expect.objectContaining({ group: g.id, member: { type: 'service_account', id: sa }, source: 'admin' }),
      ]),
    );
    expect(adds).toHaveLength(2);
  });

  it('enforces displayName uniqueness on the normalised form', async () => {
    expect((await failure(() => f.groups.create(ctx, { displayName: 'ENGINEERING' }), 'conflict')).details).toEqual({ attribute: 'displayName' });
    await f.groups.create(ctx, { displayName: 'Straße' });
    await failure(() => f.groups.create(ctx, { displayName: 'STRASSE' }), 'conflict');
  });

  it('refuses an unknown member with not_found and writes nothing', async () => {
    const e = await failure(() => f.groups.create(ctx, { displayName: 'Ghosts', members: [{ type: 'user', id: alice }, { type: 'user', id: 'no-such-user' }] }), 'not_found');
    expect(e.details).toMatchObject({ resource: 'user', id: 'no-such-user' });
    expect((await f.groups.list(ctx, { displayName: 'ghosts' }, { startIndex: 1, count: 10 })).totalResults).toBe(0);
    expect((await tupleStrings(f)).filter((t) => t.includes('no-such-user'))).toEqual([]);
  });

  it('adds and removes members idempotently, one audit event per member, version growing', async () => {
    const g = await f.groups.create(ctx, { displayName: 'Ops' });
    const a = await f.groups.addMembers(ctx, g.id, [{ type: 'user', id: alice }, { type: 'user', id: bob }]);
    expect(a.version).toBe(2);
    expect(a.members.map((m) => m.id).sort()).toEqual([alice, bob].sort());
    const same = await f.groups.addMembers(ctx, g.id, [{ type: 'user', id: alice }]);
    expect(same.version).toBe(2);
    const r = await f.groups.removeMembers(ctx, g.id, [{ type: 'user', id: bob }, { type: 'user', id: 'never-a-member' }]);
    expect(r.members.map((m) => m.id)).toEqual([alice]);
    expect(r.version).toBe(3);
    const removes = (await events(f, 'group.member_remove')).filter((e) => e.target?.id === g.id);
    expect(removes.map((e) => e.details)).toEqual([expect.objectContaining({ group: g.id, member: { type: 'user', id: bob }, source: 'admin' })]);
    const adds = (await events(f, 'group.member_add')).filter((e) => e.target?.id === g.id);
    expect(adds).toHaveLength(2);
    const changelog = await f.storage.db.selectFrom('authz_changelog').select(['operation', 'subject_id']).where('object_id', '=', g.id).orderBy('revision').execute();
    expect(changelog).toEqual([
      { operation: 'write', subject_id: alice },
      { operation: 'write', subject_id: bob },
      { operation: 'delete', subject_id: bob },
    ]);
  });

  it('nests groups, answers groupsOf transitively and refuses cycles', async () => {
    const top = await f.groups.create(ctx, { displayName: 'All staff' });
    const mid = await f.groups.create(ctx, { displayName: 'Tech' });
    const leaf = await f.groups.create(ctx, { displayName: 'Backend', members: [{ type: 'user', id: bob }] });
    await f.groups.addMembers(ctx, top.id, [{ type: 'group', id: mid.id }]);
    await f.groups.addMembers(ctx, mid.id, [{ type: 'group', id: leaf.id }]);
    expect(await tupleStrings(f)).toContain(`group:${mid.id}#member@group:${leaf.id}#member`);
    expect((await f.groups.groupsOf(ctx, { type: 'user', id: bob })).map((g) => g.displayName)).toEqual(['All staff', 'Backend', 'Tech']);
    expect((await f.groups.groupsOf(ctx, { type: 'group', id: leaf.id })).map((g) => g.displayName)).toEqual(['All staff', 'Tech']);

    const cycle = await failure(() => f.groups.addMembers(ctx, leaf.id, [{ type: 'group', id: top.id }]), 'invariant_violation');
    expect(cycle.details).toMatchObject({ group: leaf.id, member: { type: 'group', id: top.id } });
    await failure(() => f.groups.addMembers(ctx, mid.id, [{ type: 'group', id: mid.id }]), 'invariant_violation');
    // All-or-nothing: a valid member listed before the cycle is not added either.
    const before = (await f.groups.get(ctx, leaf.id)).version;
    await failure(() => f.groups.addMembers(ctx, leaf.id, [{ type: 'user', id: alice }, { type: 'group', id: mid.id }]), 'invariant_violation');
    const after = await f.groups.get(ctx, leaf.id);
    expect(after.members.map((m) => m.id)).toEqual([bob]);
    expect(after.version).toBe(before);
    // A replace that would create a cycle is refused too.
    await failure(() => f.groups.replace(ctx, top.id, { displayName: 'All staff', members: [{ type: 'group', id: top.id }] }), 'invariant_violation');
    expect((await f.groups.get(ctx, top.id)).members.map((m) => m.id)).toEqual([mid.id]);
  });

  it('replaces members exactly and checks expectedVersion', async () => {
    const g = await f.groups.create(ctx, { displayName: 'Support', members: [{ type: 'user', id: alice }] });
    const r = await f.groups.replace(ctx, g.id, { displayName: 'Customer Support', description: 'Tier 1', members: [{ type: 'user', id: bob }] }, 1);
    expect(r).toMatchObject({ displayName: 'Customer Support', description: 'Tier 1', version: 2 });
    expect(r.members).toEqual([{ type: 'user', id: bob, display: 'bob' }]);
    expect((await failure(() => f.groups.replace(ctx, g.id, { displayName: 'X' }, 1), 'precondition_failed')).details).toMatchObject({ currentVersion: 2 });
    const u = await f.groups.update(ctx, g.id, { externalId: 'sup-9' }, 2);
    expect(u).toMatchObject({ displayName: 'Customer Support', externalId: 'sup-9', description: 'Tier 1', version: 3 });
    expect(u.members).toHaveLength(1);
    await failure(() => f.groups.update(ctx, g.id, { displayName: 'engineering' }), 'conflict');
    expect((await f.groups.get(ctx, g.id)).displayName).toBe('Customer Support');
  });

  it('lists with filters and paging', async () => {
    const all = await f.groups.list(ctx, {}, { startIndex: 1, count: 100 });
    expect(all.totalResults).toBe(all.items.length);
    expect((await f.groups.list(ctx, { displayName: 'engineering' }, { startIndex: 1, count: 10 })).items.map((g) => g.displayName)).toEqual(['Engineering']);
    expect((await f.groups.list(ctx, { externalId: 'eng-1' }, { startIndex: 1, count: 10 })).totalResults).toBe(1);
    const p = await f.groups.list(ctx, {}, { startIndex: 3, count: 2 });
    expect(p.items.map((g) => g.id)).toEqual(all.items.slice(2, 4).map((g) => g.id));
  });

  it('deletes a group and every tuple naming it', async () => {
    const parent = await f.groups.create(ctx, { displayName: 'Parent' });
    const g = await f.groups.create(ctx, { displayName: 'Temp', members: [{ type: 'user', id: alice }] });
    await f.groups.addMembers(ctx, parent.id, [{ type: 'group', id: g.id }]);
    const role = await f.roles.create(ctx, { name: 'temp-role', permissions: ['documents:read'] });
    await f.roles.assign(ctx, role.id, { type: 'group', id: g.id });
    await f.groups.delete(ctx, g.id);
    await failure(() => f.groups.get(ctx, g.id), 'not_found');
    expect((await tupleStrings(f)).filter((t) => t.includes(g.id))).toEqual([]);
    expect((await f.groups.get(ctx, parent.id)).members).toEqual([]);
    expect(await f.roles.listAssignments(ctx, role.id)).toEqual([]);
    expect((await events(f, 'group.delete')).at(-1)?.details).toMatchObject({ tuplesDeleted: 3 });
    await failure(() => f.groups.delete(ctx, g.id), 'not_found');
  });

  it('refuses a cycle made by two concurrent nestings (A into B while B into A)', async () => {
    const a = await f.groups.create(ctx, { displayName: 'race-a' });
    const b = await f.groups.create(ctx, { displayName: 'race-b' });
    const results = await Promise.allSettled([
      f.groups.addMembers(ctx, a.id, [{ type: 'group', id: b.id }]),
      f.groups.addMembers(ctx, b.id, [{ type: 'group', id: a.id }]),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as { code: string }).code).toBe('invariant_violation');
    const edges = (await tupleStrings(f)).filter((t) => t.includes(a.id) && t.includes(b.id));
    expect(edges).toHaveLength(1);
  });

  it('rejects malformed members with invalid_input', async () => {
    await failure(() => f.groups.create(ctx, { displayName: 'Bad', members: [{ type: 'robot' as 'user', id: 'x' }] }), 'invalid_input');
    await failure(() => f.groups.create(ctx, { displayName: '' }), 'invalid_input');
  });
});
