/**
 * Group nesting is refused at write time when a chain would be deeper than the authorization
 * engine can resolve (MAX_GROUP_NESTING = 25 − 2 levels: a permission check also passes through
 * the permission and the role), through the admin API and SCIM, in the write's transaction.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_GROUP_NESTING } from '../../../src/identity/graph.js';
import { cliContext } from '../../../src/kernel/context.js';
import { describeEachBackend } from '../../support/backends.js';
import { snapshot, expectProblem, startAdmin, type AdminHarness } from './support.js';

const ctx = cliContext();
const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describeEachBackend('group nesting depth limit', (backend) => {
  let h: AdminHarness;
  let g: string[];
  let h2: string[];
  let spare: string;
  let alice: string;
  let bob: string;

  /** A chain of `n + 1` groups, each the member of the previous one (n nesting levels). */
  const chain = async (prefix: string, n: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i <= n; i++) ids.push((await h.gh.groups.create(ctx, { displayName: `${prefix}${i}` })).id);
    for (let i = 0; i < n; i++) await h.gh.groups.addMembers(ctx, ids[i]!, [{ type: 'group', id: ids[i + 1]! }]);
    return ids;
  };
  const may = async (user: string) =>
    (await h.gh.authz.check(ctx, { subject: { type: 'user', id: user }, relation: 'granted', object: { type: 'permission', id: 'docs:read' } })).decision;

  beforeAll(async () => {
    h = await startAdmin(backend);
    alice = (await h.gh.users.create(ctx, { userName: 'alice' })).id;
    bob = (await h.gh.users.create(ctx, { userName: 'bob' })).id;
    g = await chain('g', MAX_GROUP_NESTING);
    h2 = await chain('h', 12);
    spare = (await h.gh.groups.create(ctx, { displayName: 'spare' })).id;
    await h.gh.groups.addMembers(ctx, g[MAX_GROUP_NESTING]!, [{ type: 'user', id: alice }]);
    await h.gh.groups.addMembers(ctx, h2[12]!, [{ type: 'user', id: bob }]);
    const role = await h.gh.roles.create(ctx, { name: 'reader', permissions: ['docs:read'] });
    await h.gh.roles.assign(ctx, role.id, { type: 'group', id: g[0]! });
  }, 120_000);
  afterAll(async () => h?.close());

  it('the deepest chain allowed still answers permission checks', async () => {
    expect(MAX_GROUP_NESTING).toBe(23);
    expect(await may(alice)).toBe(true);
  });

  it('admin API: one level more is 409 group_nesting_too_deep and writes nothing', async () => {
    const before = await snapshot(h.gh);
    const res = await h.call('POST', `/groups/${g[MAX_GROUP_NESTING]}/members`, { body: { type: 'group', id: spare } });
    expectProblem(res, 409, 'group_nesting_too_deep');
    expect(res.body.details).toEqual({ group: g[MAX_GROUP_NESTING], member: { type: 'group', id: spare }, depth: 24, maxDepth: 23 });
    expect(await snapshot(h.gh)).toEqual(before);
  });

  it('joining two chains counts the levels above and below the new edge', async () => {
    // g0..g11 above (11 levels) + 1 + h0..h12 below (12 levels) = 24: refused; under g10 it is 23: allowed.
    const before = await snapshot(h.gh);
    expectProblem(await h.call('POST', `/groups/${g[11]}/members`, { body: { type: 'group', id: h2[0] } }), 409, 'group_nesting_too_deep');
    expect(await snapshot(h.gh)).toEqual(before);
    expect(await may(bob)).toBe(false);
    const ok = await h.call('POST', `/groups/${g[10]}/members`, { body: { type: 'group', id: h2[0] } });
    expect(ok.status).toBe(200);
    expect(await may(bob)).toBe(true);
    // Re-adding an existing membership changes nothing and passes.
    expect((await h.call('POST', `/groups/${g[10]}/members`, { body: { type: 'group', id: h2[0] } })).status).toBe(200);
  });

  it('the service refuses the whole change: a valid member listed first is not added either', async () => {
    const err = await h.gh.groups.addMembers(ctx, g[MAX_GROUP_NESTING]!, [{ type: 'user', id: bob }, { type: 'group', id: spare }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'group_nesting_too_deep', details: { depth: 24, maxDepth: 23 } });
    expect((await h.gh.groups.get(ctx, g[MAX_GROUP_NESTING]!)).members.map((m) => m.id)).toEqual([alice]);
  });

  it('SCIM: PATCH add and PUT are 400 invalidValue and write nothing', async () => {
    const scim = (method: 'PATCH' | 'PUT', path: string, body: unknown) =>
      h.gh.http.inject({ method, url: `/scim/v2${path}`, headers: { authorization: `Bearer ${h.scimToken}`, 'content-type': 'application/scim+json' }, payload: JSON.stringify(body) });
    const before = await snapshot(h.gh);
    const last = g[MAX_GROUP_NESTING]!;
    const patch = await scim('PATCH', `/Groups/${last}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: bob }, { value: spare, type: 'Group' }] }] });
    expect(patch.statusCode).toBe(400);
    expect(patch.json()).toEqual({
      schemas: [SCIM_ERROR],
      status: '400',
      scimType: 'invalidValue',
      detail: `adding group ${spare} to group ${last} would nest groups more than 23 levels deep; authorization checks through such a chain cannot be answered`,
    });
    const put = await scim('PUT', `/Groups/${spare}`, { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'spare', members: [{ value: g[0], type: 'Group' }] });
    expect([put.statusCode, put.json().scimType]).toEqual([400, 'invalidValue']);
    expect(await snapshot(h.gh)).toEqual(before);
  });
});
