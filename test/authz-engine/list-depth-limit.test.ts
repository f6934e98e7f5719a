/**
 * Issue #3: ListObjects and ListUsers list exactly the objects / subjects for which Check is true,
 * also when a chain passes the resolution depth limit (25). Before, the walks applied no limit:
 * with 26 or 30 nested groups, ListObjects(user, member, group) listed `group:...-0` while
 * Check(user, member, group:...-0) answered 400 authorization_model_resolution_too_complex.
 * Chains of 24, 25, 26 and 30 hops, through usersets (nested groups) and tuple-to-userset
 * (`viewer from parent`), plus an exclusion over them; real HTTP, SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { checkOrCode, postJson, startGatehouse, type Running } from '../authz-api/support.js';

const LENGTHS = [24, 25, 26, 30];
const rr = { this: {} };
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    { type: 'group', relations: { member: rr }, metadata: { relations: { member: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] } } } },
    {
      type: 'folder',
      relations: {
        parent: rr,
        blocked: rr,
        viewer: { union: { child: [rr, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } },
        can_view: { difference: { base: { computedUserset: { relation: 'viewer' } }, subtract: { computedUserset: { relation: 'blocked' } } } },
      },
      metadata: {
        relations: {
          parent: { directly_related_user_types: [{ type: 'folder' }] },
          blocked: { directly_related_user_types: [{ type: 'user' }] },
          viewer: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] },
        },
      },
    },
  ],
};

describeEachBackend('ListObjects / ListUsers and the depth limit', (backend) => {
  let gh: Running;
  let store: string;
  const groups: string[] = [];
  const folders: string[] = [];
  const post = (path: string, body: unknown) => postJson(gh, path, body);
  /** true, false, or the 400 error code. */
  const check = (user: string, relation: string, object: string) => checkOrCode(gh, store, user, relation, object);
  const listObjects = async (user: string, relation: string, type: string): Promise<string[]> => {
    const res = await post(`/stores/${store}/list-objects`, { user, relation, type });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return [...(res.body.objects as string[])].sort();
  };
  const listUsers = async (object: string, relation: string, filter: { type: string; relation?: string }): Promise<string[]> => {
    const [type, id] = object.split(':');
    const res = await post(`/stores/${store}/list-users`, { object: { type, id }, relation, user_filters: [filter] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body.users as any[]).map((u) => (u.object ? `${u.object.type}:${u.object.id}` : `${u.userset.type}:${u.userset.id}#${u.userset.relation}`)).sort();
  };
  /** The objects among `objects` whose Check is true. */
  const allowed = async (user: string, relation: string, objects: string[]) => {
    const out: string[] = [];
    for (const o of objects) if ((await check(user, relation, o)) === true) out.push(o);
    return out.sort();
  };

  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await post('/stores', { name: 'list-depth' })).body.id;
    expect((await post(`/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
    const w: Array<{ user: string; relation: string; object: string }> = [];
    for (const L of LENGTHS) {
      // group:gL-0 <- group:gL-1#member <- ... <- group:gL-L#member <- user:u: L userset hops from gL-0.
      for (let i = 0; i <= L; i++) groups.push(`group:g${L}-${i}`);
      for (let i = 0; i < L; i++) w.push({ user: `group:g${L}-${i + 1}#member`, relation: 'member', object: `group:g${L}-${i}` });
      w.push({ user: 'user:u', relation: 'member', object: `group:g${L}-${L}` });
      // folder:fL-0 parent folder:fL-1 ... parent folder:fL-L, user:u viewer of fL-L: L parent hops.
      for (let i = 0; i <= L; i++) folders.push(`folder:f${L}-${i}`);
      for (let i = 0; i < L; i++) w.push({ user: `folder:f${L}-${i + 1}`, relation: 'parent', object: `folder:f${L}-${i}` });
      w.push({ user: 'user:u', relation: 'viewer', object: `folder:f${L}-${L}` });
      // folder:hL viewer through the group chain: 1 + L hops.
      folders.push(`folder:h${L}`);
      w.push({ user: `group:g${L}-0#member`, relation: 'viewer', object: `folder:h${L}` });
    }
    w.push({ user: 'user:u', relation: 'blocked', object: 'folder:f30-10' });
    for (let i = 0; i < w.length; i += 100) {
      const res = await post(`/stores/${store}/write`, { writes: { tuple_keys: w.slice(i, i + 100) } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
  });
  afterAll(async () => gh?.close());

  it('Check: true up to 25 hops, resolution_too_complex past them', async () => {
    const TOO = 'authorization_model_resolution_too_complex';
    expect(await check('user:u', 'member', 'group:g24-0')).toBe(true);
    expect(await check('user:u', 'member', 'group:g25-0')).toBe(true);
    expect(await check('user:u', 'member', 'group:g26-0')).toBe(TOO);
    expect(await check('user:u', 'member', 'group:g30-0')).toBe(TOO);
    expect(await check('user:u', 'member', 'group:g30-5')).toBe(true);
    expect(await check('user:u', 'viewer', 'folder:f25-0')).toBe(true);
    expect(await check('user:u', 'viewer', 'folder:f26-0')).toBe(TOO);
    expect(await check('user:u', 'viewer', 'folder:h24')).toBe(true);
    expect(await check('user:u', 'viewer', 'folder:h25')).toBe(TOO);
  });

  it('ListObjects through usersets lists exactly the groups whose Check is true', async () => {
    const want = await allowed('user:u', 'member', groups);
    // Per chain of L: g_i is L - i hops away, listed when L - i <= 25 (25 + 26 + 26 + 26).
    expect(want).toHaveLength(103);
    expect(want).not.toContain('group:g26-0');
    expect(want).toContain('group:g30-5');
    expect(want).not.toContain('group:g30-4');
    expect(await listObjects('user:u', 'member', 'group')).toEqual(want);
  });

  it('ListObjects through tuple-to-userset (and usersets below it) lists exactly the folders whose Check is true', async () => {
    const want = await allowed('user:u', 'viewer', folders);
    // Folder chains as the group chains (103), and h24 (25 hops); h25, h26, h30 are past the limit.
    expect(want).toHaveLength(104);
    expect(want).toContain('folder:h24');
    expect(want).not.toContain('folder:h25');
    expect(want).not.toContain('folder:f30-4');
    expect(await listObjects('user:u', 'viewer', 'folder')).toEqual(want);
  });

  it('ListObjects through an exclusion over the chains lists exactly the folders whose Check is true', async () => {
    const want = await allowed('user:u', 'can_view', folders);
    // The exclusion's operand and `viewer` add two hops: f_i of a chain of L when L - i <= 23
    // (24 per chain), without folder:f30-10 (blocked); no folder:hL (L + 3 hops).
    expect(want).toHaveLength(95);
    expect(want).not.toContain('folder:f30-10');
    expect(want).not.toContain('folder:f30-6');
    expect(want).toContain('folder:f30-7');
    expect(want).toContain('folder:f24-1');
    expect(want).not.toContain('folder:f24-0');
    expect(await listObjects('user:u', 'can_view', 'folder')).toEqual(want);
  });

  it('ListUsers lists exactly the users and usersets whose Check is true', async () => {
    for (const L of LENGTHS) {
      for (const [object, relation] of [[`group:g${L}-0`, 'member'], [`folder:f${L}-0`, 'viewer'], [`folder:h${L}`, 'viewer'], [`folder:f${L}-0`, 'can_view']] as const) {
        const users = await listUsers(object, relation, { type: 'user' });
        expect(users, `${object}#${relation}`).toEqual(await allowed('user:u', relation, [object]).then((a) => (a.length > 0 ? ['user:u'] : [])));
      }
      const usersets = await listUsers(`group:g${L}-0`, 'member', { type: 'group', relation: 'member' });
      const want: string[] = [];
      for (let i = 1; i <= L; i++) if ((await check(`group:g${L}-${i}#member`, 'member', `group:g${L}-0`)) === true) want.push(`group:g${L}-${i}#member`);
      // g_i#member is named by g_(i-1): i - 1 hops from g0, so up to g26#member.
      expect(want).toHaveLength(Math.min(L, 26));
      expect(usersets, `group:g${L}-0 usersets`).toEqual(want.sort());
    }
    expect(await listUsers('group:g25-0', 'member', { type: 'user' })).toEqual(['user:u']);
    expect(await listUsers('group:g26-0', 'member', { type: 'user' })).toEqual([]);
  });
});
