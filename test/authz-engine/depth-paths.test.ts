/**
 * Issue #3, the depth limit and the order of paths (real HTTP, SQLite and PostgreSQL).
 * Check kept one visited set per question, so an `object#relation` first reached by a long path
 *   (whose rest passed the limit) was not expanded again when a short path reached it: folder:o,
 *   with parents folder:L1 (20 more folders to folder:X) and folder:X (10 folders to a viewer),
 *   answered 400 authorization_model_resolution_too_complex for a viewer 11 parent hops away
 *   (OpenFGA: true), while ListObjects listed it. Check now re-runs such a check expanding nodes
 *   reached at a smaller depth again; ListObjects and ListUsers agree with it.
 * ListObjects evaluated `viewer but not blocked` as set algebra over reverse walks from the
 * subject, which never see a `blocked from parent` chain that passes the limit without reaching
 * the subject; Check does, and fails with resolution_too_complex, so folder:x was listed while
 * Check on it was the error. The algebra now measures how deep Check's expansion of a subtracted
 * part can go (from the model, or from the data when it reaches a recursive relation).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { folderDepthTuples } from './depth-shapes.js';
import { checkOrCode, postJson, startGatehouse, type Running } from '../authz-api/support.js';

const rr = { this: {} };
const ttu = (r: string) => ({ tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: r } } });
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    {
      type: 'folder',
      relations: {
        parent: rr,
        viewer: { union: { child: [rr, ttu('viewer')] } },
        blocked: { union: { child: [rr, ttu('blocked')] } },
        can_view: { difference: { base: { computedUserset: { relation: 'viewer' } }, subtract: { computedUserset: { relation: 'blocked' } } } },
      },
      metadata: { relations: { parent: { directly_related_user_types: [{ type: 'folder' }] }, viewer: { directly_related_user_types: [{ type: 'user' }] }, blocked: { directly_related_user_types: [{ type: 'user' }] } } },
    },
  ],
};
const TOO = 'authorization_model_resolution_too_complex';

describeEachBackend('the depth limit and the order of paths', (backend) => {
  let gh: Running;
  let store: string;
  const folders: string[] = [];
  const post = (path: string, body: unknown) => postJson(gh, path, body);
  const check = (user: string, relation: string, object: string) => checkOrCode(gh, store, user, relation, object);
  const listObjects = async (user: string, relation: string): Promise<string[]> => {
    const res = await post(`/stores/${store}/list-objects`, { user, relation, type: 'folder' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return [...(res.body.objects as string[])].sort();
  };
  const allowed = async (user: string, relation: string) => {
    const out: string[] = [];
    for (const o of folders) if ((await check(user, relation, o)) === true) out.push(o);
    return out.sort();
  };

  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await post('/stores', { name: 'depth-paths' })).body.id;
    expect((await post(`/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
    const w = folderDepthTuples();
    folders.push('folder:o', 'folder:X', 'folder:x', 'folder:s', 'folder:d1');
    for (let i = 1; i <= 30; i++) folders.push(`folder:c${i}`);
    for (let i = 1; i <= 20; i++) folders.push(`folder:L${i}`);
    for (let i = 1; i <= 10; i++) folders.push(`folder:Y${i}`);
    for (let i = 0; i < w.length; i += 100) {
      const res = await post(`/stores/${store}/write`, { writes: { tuple_keys: w.slice(i, i + 100) } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
  });
  afterAll(async () => gh?.close());

  it('Check finds a path within the limit whatever path reached a folder first', async () => {
    expect(await check('user:v', 'viewer', 'folder:X')).toBe(true);
    expect(await check('user:v', 'viewer', 'folder:o')).toBe(true);
    // folder:L1 is 1 + 19 + 1 + 10 = 31 parent hops from Y10: past the limit.
    expect(await check('user:v', 'viewer', 'folder:L1')).toBe(TOO);
    expect(await check('user:v', 'viewer', 'folder:L6')).toBe(true);
    const want = await allowed('user:v', 'viewer');
    expect(want).toContain('folder:o');
    expect(want).not.toContain('folder:L5');
    expect(await listObjects('user:v', 'viewer')).toEqual(want);
    const users = await post(`/stores/${store}/list-users`, { object: { type: 'folder', id: 'o' }, relation: 'viewer', user_filters: [{ type: 'user' }] });
    expect(users.status, JSON.stringify(users.body)).toBe(200);
    expect(users.body.users).toEqual([{ object: { type: 'user', id: 'v' } }]);
  });

  it('ListObjects leaves out an object whose subtracted relation passes the limit in Check', async () => {
    // can_view = viewer but not blocked; blocked from parent runs up 30 folders from folder:x.
    expect(await check('user:u', 'can_view', 'folder:x')).toBe(TOO);
    expect(await check('user:u', 'can_view', 'folder:s')).toBe(true);
    const want = await allowed('user:u', 'can_view');
    expect(want).toEqual(['folder:s']);
    expect(await listObjects('user:u', 'can_view')).toEqual(want);
    const users = await post(`/stores/${store}/list-users`, { object: { type: 'folder', id: 'x' }, relation: 'can_view', user_filters: [{ type: 'user' }] });
    expect(users.status, JSON.stringify(users.body)).toBe(200);
    expect(users.body.users).toEqual([]);
  });
});
