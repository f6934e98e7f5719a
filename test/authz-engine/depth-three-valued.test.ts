/**
 * Fresh-eyes tester (issue #3): the depth limit is three-valued as OpenFGA's resolution errors
 * are (and as Gatehouse's own condition errors and explain already were): a union holds when any
 * branch holds, an intersection is denied by an operand that does not hold, an exclusion is denied
 * when its base does not hold or its subtracted set holds, whatever the other side's error.
 * Before, Check failed with authorization_model_resolution_too_complex as soon as any branch
 * passed the limit: `c: [user, node#c] and a` on a node whose `c` names itself answered 400 for a
 * user without `a`, and `deep or a` answered 400 for a user who has `a`, depending on the order
 * of the branches. Only when no definite answer remains is it the error. Real HTTP (fetch),
 * SQLite and PostgreSQL; ListObjects and ListUsers agree with Check.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { checkOrCode, postJson, startGatehouse, type Running } from '../authz-api/support.js';

const DEPTH = 30;
const rr = { this: {} };
const cu = (relation: string) => ({ computedUserset: { relation } });
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    {
      type: 'node',
      relations: {
        a: rr,
        deep: rr,
        c: { intersection: { child: [rr, cu('a')] } },
        c_rev: { intersection: { child: [cu('a'), cu('c')] } },
        deep_or_a: { union: { child: [cu('deep'), cu('a')] } },
        a_or_deep: { union: { child: [cu('a'), cu('deep')] } },
        deep_but_not_a: { difference: { base: cu('deep'), subtract: cu('a') } },
        a_but_not_deep: { difference: { base: cu('a'), subtract: cu('deep') } },
        deep_and_a: { intersection: { child: [cu('deep'), cu('a')] } },
      },
      metadata: {
        relations: {
          a: { directly_related_user_types: [{ type: 'user' }] },
          deep: { directly_related_user_types: [{ type: 'user' }, { type: 'node', relation: 'deep' }] },
          c: { directly_related_user_types: [{ type: 'user' }, { type: 'node', relation: 'c' }] },
        },
      },
    },
  ],
};

describeEachBackend('the depth limit is three-valued (OpenFGA)', (backend) => {
  let gh: Running;
  let store: string;
  const post = (path: string, body: unknown) => postJson(gh, path, body);
  const check = (user: string, relation: string, object: string) => checkOrCode(gh, store, user, relation, object);

  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await post('/stores', { name: 'depth3' })).body.id;
    expect((await post(`/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
    const w: Array<{ user: string; relation: string; object: string }> = [];
    // node:n0#deep <- node:n1#deep <- ... <- node:n30#deep <- user:q (past the limit from n0).
    for (let i = 0; i < DEPTH; i++) w.push({ user: `node:n${i + 1}#deep`, relation: 'deep', object: `node:n${i}` });
    w.push({ user: 'user:q', relation: 'deep', object: `node:n${DEPTH}` });
    w.push({ user: 'user:q', relation: 'a', object: 'node:n0' });
    // node:k1#c names itself; user:z has c on node:k2, whose c names node:k1#c.
    w.push({ user: 'node:k1#c', relation: 'c', object: 'node:k1' }, { user: 'node:k1#c', relation: 'c', object: 'node:k2' }, { user: 'user:z', relation: 'a', object: 'node:k1' });
    const res = await post(`/stores/${store}/write`, { writes: { tuple_keys: w } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
  afterAll(async () => gh?.close());

  it('a chain past the limit alone is still the error', async () => {
    expect(await check('user:q', 'deep', 'node:n0')).toBe('authorization_model_resolution_too_complex');
    expect(await check('user:q', 'deep_and_a', 'node:n0')).toBe('authorization_model_resolution_too_complex');
    expect(await check('user:q', 'deep_but_not_a', 'node:n1')).toBe('authorization_model_resolution_too_complex');
    expect(await check('user:q', 'deep', 'node:n10')).toBe(true);
  });

  it('a union holds when another branch holds, in either order', async () => {
    expect(await check('user:q', 'a_or_deep', 'node:n0')).toBe(true);
    expect(await check('user:q', 'deep_or_a', 'node:n0')).toBe(true);
  });

  it('an exclusion is denied by a subtracted set that holds, or a base that does not', async () => {
    expect(await check('user:q', 'deep_but_not_a', 'node:n0')).toBe(false);
    expect(await check('user:r', 'a_but_not_deep', 'node:n0')).toBe(false);
  });

  it('an intersection is denied by an operand that does not hold, whatever the order', async () => {
    // user:y has no `a` anywhere; the `c` operand of node:k1 / node:k2 runs round node:k1#c.
    expect(await check('user:y', 'c', 'node:k1')).toBe(false);
    expect(await check('user:y', 'c', 'node:k2')).toBe(false);
    expect(await check('user:y', 'c_rev', 'node:k1')).toBe(false);
    expect(await check('user:q', 'deep_and_a', 'node:n1')).toBe(false);
  });

  it('ListObjects and ListUsers agree with Check', async () => {
    const objs = await post(`/stores/${store}/list-objects`, { user: 'user:y', relation: 'c', type: 'node' });
    expect(objs.status, JSON.stringify(objs.body)).toBe(200);
    expect(objs.body.objects).toEqual([]);
    const ex = await post(`/stores/${store}/list-objects`, { user: 'user:q', relation: 'deep_but_not_a', type: 'node' });
    expect(ex.status, JSON.stringify(ex.body)).toBe(200);
    expect(ex.body.objects).not.toContain('node:n0');
    const users = await post(`/stores/${store}/list-users`, { object: { type: 'node', id: 'n0' }, relation: 'a_or_deep', user_filters: [{ type: 'user' }] });
    expect(users.status, JSON.stringify(users.body)).toBe(200);
    expect(users.body.users).toContainEqual({ object: { type: 'user', id: 'q' } });
  });
});
