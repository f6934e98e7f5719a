/**
 * Stored tuples the current model no longer allows grant nothing, whoever asks — also when the
 * subject is the wildcard `user:*` itself (OpenFGA filters every stored tuple against the model's
 * type restrictions before evaluating it: Check, ListObjects, ListUsers and Expand alike).
 *
 * Model A allows `user:*` on team#member, folder#viewer and doc#viewer; the tuples are written
 * under A; model B (then the latest) allows only `user` there. Every API, on both backends, over
 * the OpenFGA HTTP API and AuthZEN: direct, through a userset, through a parent (tuple-to-userset),
 * under an exclusion, and with contextual tuples.
 */
import syntaxTransformer from '@openfga/syntax-transformer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { startGatehouse, type Running } from './support.js';

const MODEL_A = `model
  schema 1.1
type user
type bot
type team
  relations
    define member: [user, user:*]
type folder
  relations
    define viewer: [user, user:*, team#member]
type doc
  relations
    define parent: [folder, doc]
    define owner: [user, bot]
    define public: [user, user:*]
    define blocked: [user]
    define viewer: [user, user:*, team#member] or public or viewer from parent
    define visible: viewer but not blocked
`;

/** A without `user:*` on team#member, folder#viewer and doc#viewer, without `team#member` on folder#viewer, `bot` on doc#owner and `doc` on doc#parent. */
const MODEL_B = `model
  schema 1.1
type user
type bot
type team
  relations
    define member: [user]
type folder
  relations
    define viewer: [user]
type doc
  relations
    define parent: [folder]
    define owner: [user]
    define public: [user, user:*]
    define blocked: [user]
    define viewer: [user, team#member] or public or viewer from parent
    define visible: viewer but not blocked
`;

const TUPLES = [
  // Stale under B: a wildcard directly, in a userset, on a parent.
  { user: 'user:*', relation: 'viewer', object: 'doc:pub' },
  { user: 'user:*', relation: 'member', object: 'team:t' },
  { user: 'team:t#member', relation: 'viewer', object: 'doc:1' },
  { user: 'user:*', relation: 'viewer', object: 'folder:f' },
  { user: 'folder:f', relation: 'parent', object: 'doc:2' },
  // Stale under B: a userset on a parent, and a concrete subject of a type no longer allowed.
  { user: 'team:t#member', relation: 'viewer', object: 'folder:g' },
  { user: 'folder:g', relation: 'parent', object: 'doc:3' },
  { user: 'bot:b', relation: 'owner', object: 'doc:pub' },
  { user: 'doc:open', relation: 'parent', object: 'doc:4' },
  // Valid under both.
  { user: 'user:anne', relation: 'member', object: 'team:t' },
  { user: 'user:*', relation: 'public', object: 'doc:open' },
];

describeEachBackend('stale tuples, wildcard subject included, grant nothing', (backend) => {
  let r: Running;
  let store: string;
  let modelA: string;

  const post = async (path: string, body: unknown) => r.call('POST', `/stores/${store}${path}`, body);
  const ok = async (path: string, body: unknown) => {
    const res = await post(path, body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  const check = async (user: string, relation: string, object: string, extra: Record<string, unknown> = {}) =>
    (await ok('/check', { tuple_key: { user, relation, object }, ...extra })).allowed as boolean;
  const listObjects = async (user: string, relation: string, type: string, extra: Record<string, unknown> = {}) =>
    ((await ok('/list-objects', { user, relation, type, ...extra })).objects as string[]).sort();
  const listUsers = async (object: string, relation: string, filter: { type: string; relation?: string }) => {
    const [type, id] = object.split(':') as [string, string];
    const users = (await ok('/list-users', { object: { type, id }, relation, user_filters: [filter] })).users as Array<Record<string, any>>;
    return users
      .map((u) => (u.object ? `${u.object.type}:${u.object.id}` : u.userset ? `${u.userset.type}:${u.userset.id}#${u.userset.relation}` : `${u.wildcard.type}:*`))
      .sort();
  };
  /** The users of every `this` leaf and the parents' usersets of every tuple-to-userset leaf of Expand's tree. */
  const expandUsers = async (object: string, relation: string) => {
    const tree = (await ok('/expand', { tuple_key: { object, relation } })).tree;
    const out: string[] = [];
    const walk = (n: any): void => {
      if (n.leaf?.users) out.push(...n.leaf.users.users);
      if (n.leaf?.tupleToUserset) out.push(...n.leaf.tupleToUserset.computed.map((c: { userset: string }) => c.userset));
      for (const c of n.union?.nodes ?? n.intersection?.nodes ?? []) walk(c);
      if (n.difference) {
        walk(n.difference.base);
        walk(n.difference.subtract);
      }
    };
    walk(tree.root);
    return out.sort();
  };
  const authzen = async (path: string, body: unknown) => {
    const res = await post(`/access/v1/${path}`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    r = await startGatehouse(backend);
    store = (await r.call('POST', '/stores', { name: 'stale' })).body.id;
    const write = async (dsl: string) => {
      const res = await post('/authorization-models', syntaxTransformer.transformer.transformDSLToJSONObject(dsl));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.authorization_model_id as string;
    };
    modelA = await write(MODEL_A);
    await ok('/write', { writes: { tuple_keys: TUPLES } });
    await write(MODEL_B);
  }, 60_000);
  afterAll(async () => r?.close());

  it('under model A (by id) the same tuples grant user:* and any user', async () => {
    const a = { authorization_model_id: modelA };
    for (const o of ['doc:pub', 'doc:1', 'doc:2', 'doc:open']) {
      expect(await check('user:*', 'viewer', o, a), o).toBe(true);
      expect(await check('user:x', 'viewer', o, a), o).toBe(true);
    }
    expect(await check('user:anne', 'viewer', 'doc:3', a)).toBe(true);
    expect(await check('user:*', 'viewer', 'doc:4', a)).toBe(true);
    expect(await check('bot:b', 'owner', 'doc:pub', a)).toBe(true);
    expect(await listObjects('user:*', 'viewer', 'doc', a)).toEqual(['doc:1', 'doc:2', 'doc:3', 'doc:4', 'doc:open', 'doc:pub']);
  });

  it('Check: false for user:* and for any user, directly, through a userset and through a parent', async () => {
    for (const rel of ['viewer', 'visible']) {
      for (const o of ['doc:pub', 'doc:1', 'doc:2', 'doc:3', 'doc:4']) {
        expect(await check('user:*', rel, o), `user:* ${rel} ${o}`).toBe(false);
        expect(await check('user:x', rel, o), `user:x ${rel} ${o}`).toBe(false);
      }
      expect(await check('user:*', rel, 'doc:open')).toBe(true);
      expect(await check('user:x', rel, 'doc:open')).toBe(true);
    }
    expect(await check('user:*', 'member', 'team:t')).toBe(false);
    expect(await check('user:*', 'viewer', 'folder:f')).toBe(false);
    expect(await check('user:anne', 'viewer', 'doc:1')).toBe(true);
    expect(await check('user:anne', 'viewer', 'doc:3')).toBe(false);
    expect(await check('bot:b', 'owner', 'doc:pub')).toBe(false);
  });

  it('BatchCheck answers as Check', async () => {
    const items = ['doc:pub', 'doc:1', 'doc:2', 'doc:open'].map((o, i) => ({ tuple_key: { user: 'user:*', relation: 'viewer', object: o }, correlation_id: `c${i}` }));
    const { result } = await ok('/batch-check', { checks: items });
    expect(result).toEqual({ c0: { allowed: false }, c1: { allowed: false }, c2: { allowed: false }, c3: { allowed: true } });
  });

  it('ListObjects lists only what Check allows', async () => {
    expect(await listObjects('user:*', 'viewer', 'doc')).toEqual(['doc:open']);
    expect(await listObjects('user:*', 'visible', 'doc')).toEqual(['doc:open']);
    expect(await listObjects('user:x', 'viewer', 'doc')).toEqual(['doc:open']);
    expect(await listObjects('user:anne', 'viewer', 'doc')).toEqual(['doc:1', 'doc:open']);
    expect(await listObjects('user:*', 'member', 'team')).toEqual([]);
    expect(await listObjects('user:*', 'viewer', 'folder')).toEqual([]);
  });

  it('ListUsers lists only what Check allows', async () => {
    expect(await listUsers('doc:pub', 'viewer', { type: 'user' })).toEqual([]);
    expect(await listUsers('doc:1', 'viewer', { type: 'user' })).toEqual(['user:anne']);
    expect(await listUsers('doc:2', 'viewer', { type: 'user' })).toEqual([]);
    expect(await listUsers('doc:3', 'viewer', { type: 'user' })).toEqual([]);
    expect(await listUsers('doc:open', 'viewer', { type: 'user' })).toEqual(['user:*']);
    expect(await listUsers('team:t', 'member', { type: 'user' })).toEqual(['user:anne']);
    expect(await listUsers('doc:pub', 'owner', { type: 'bot' })).toEqual([]);
  });

  it('Expand leaves out tuples the model does not allow, wildcard, userset or concrete', async () => {
    expect(await expandUsers('doc:pub', 'viewer')).toEqual([]);
    expect(await expandUsers('doc:1', 'viewer')).toEqual(['team:t#member']);
    expect(await expandUsers('doc:2', 'viewer')).toEqual(['folder:f#viewer']);
    expect(await expandUsers('doc:4', 'viewer')).toEqual([]);
    expect(await expandUsers('team:t', 'member')).toEqual(['user:anne']);
    expect(await expandUsers('folder:f', 'viewer')).toEqual([]);
    expect(await expandUsers('folder:g', 'viewer')).toEqual([]);
    expect(await expandUsers('doc:pub', 'owner')).toEqual([]);
    expect(await expandUsers('doc:open', 'public')).toEqual(['user:*']);
    // Under model A (by id) they are all there.
    const a = (await ok('/expand', { tuple_key: { object: 'team:t', relation: 'member' }, authorization_model_id: modelA })).tree.root.leaf.users.users;
    expect([...a].sort()).toEqual(['user:*', 'user:anne']);
  });

  it('Explain denies with no path through a stale tuple; under model A it shows the path', async () => {
    for (const o of ['doc:pub', 'doc:1', 'doc:2']) {
      const res = await ok('/check', { tuple_key: { user: 'user:*', relation: 'viewer', object: o }, explain: true });
      expect(res.allowed, o).toBe(false);
      expect(res.explanation.decision, o).toBe(false);
      expect(res.explanation.path, o).toEqual([]);
    }
    const a = await ok('/check', { tuple_key: { user: 'user:*', relation: 'viewer', object: 'doc:1' }, explain: true, authorization_model_id: modelA });
    expect(a.allowed).toBe(true);
    expect(a.explanation.path.map((s: { tuple?: string }) => s.tuple).filter(Boolean)).toEqual(['doc:1#viewer@team:t#member', 'team:t#member@user:*']);
    const open = await ok('/check', { tuple_key: { user: 'user:*', relation: 'viewer', object: 'doc:open' }, explain: true });
    expect(open.explanation.decision).toBe(true);
  });

  it('AuthZEN evaluation, evaluations and searches agree', async () => {
    const wild = { type: 'user', id: '*' };
    for (const id of ['pub', '1', '2']) {
      expect(await authzen('evaluation', { subject: wild, action: { name: 'viewer' }, resource: { type: 'doc', id } }), id).toEqual({ decision: false });
    }
    expect(await authzen('evaluation', { subject: wild, action: { name: 'viewer' }, resource: { type: 'doc', id: 'open' } })).toEqual({ decision: true });
    const many = await authzen('evaluations', { subject: wild, action: { name: 'viewer' }, evaluations: ['pub', '1', '2', 'open'].map((id) => ({ resource: { type: 'doc', id } })) });
    expect(many.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([false, false, false, true]);
    expect((await authzen('search/resource', { subject: wild, action: { name: 'viewer' }, resource: { type: 'doc' } })).results).toEqual([{ type: 'doc', id: 'open' }]);
    expect((await authzen('search/resource', { subject: { type: 'user', id: 'x' }, action: { name: 'viewer' }, resource: { type: 'doc' } })).results).toEqual([{ type: 'doc', id: 'open' }]);
    for (const id of ['pub', '1', '2']) {
      expect((await authzen('search/subject', { subject: { type: 'user' }, action: { name: 'viewer' }, resource: { type: 'doc', id } })).results, id).toEqual(id === '1' ? [{ type: 'user', id: 'anne' }] : []);
    }
    expect((await authzen('search/subject', { subject: { type: 'user' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'open' } })).results).toEqual([{ type: 'user', id: '*' }]);
    const actions = (await authzen('search/action', { subject: wild, resource: { type: 'doc', id: 'pub' } })).results;
    expect(actions).toEqual([]);
  });

  it('contextual tuples: a user:* tuple the model does not allow is invalid_tuple; stored stale tuples stay filtered under allowed ones', async () => {
    for (const [path, body] of [
      ['/check', { tuple_key: { user: 'user:*', relation: 'viewer', object: 'doc:c' } }],
      ['/list-objects', { user: 'user:*', relation: 'viewer', type: 'doc' }],
    ] as const) {
      for (const bad of [
        { user: 'user:*', relation: 'viewer', object: 'doc:c' },
        { user: 'user:*', relation: 'member', object: 'team:t2' },
      ]) {
        const res = await post(path, { ...body, contextual_tuples: { tuple_keys: [bad] } });
        expect(res.status, `${path} ${JSON.stringify(bad)}`).toBe(400);
        expect(res.body.code).toBe('invalid_tuple');
      }
    }
    // Allowed contextual tuples: one grants through public, one reaches only the stale team:t#member@user:*.
    const ctx = { contextual_tuples: { tuple_keys: [{ user: 'user:*', relation: 'public', object: 'doc:y' }, { user: 'team:t#member', relation: 'viewer', object: 'doc:c' }] } };
    expect(await check('user:*', 'viewer', 'doc:y', ctx)).toBe(true);
    expect(await check('user:*', 'viewer', 'doc:c', ctx)).toBe(false);
    expect(await check('user:anne', 'viewer', 'doc:c', ctx)).toBe(true);
    expect(await listObjects('user:*', 'viewer', 'doc', ctx)).toEqual(['doc:open', 'doc:y']);
    const { result } = await ok('/batch-check', {
      checks: [
        { tuple_key: { user: 'user:*', relation: 'viewer', object: 'doc:c' }, contextual_tuples: ctx.contextual_tuples, correlation_id: 'a' },
        { tuple_key: { user: 'user:*', relation: 'viewer', object: 'doc:c' }, contextual_tuples: { tuple_keys: [{ user: 'user:*', relation: 'viewer', object: 'doc:c' }] }, correlation_id: 'b' },
      ],
    });
    expect(result.a).toEqual({ allowed: false });
    expect(result.b.allowed).toBe(false);
    expect(result.b.error?.input_error).toBe('invalid_tuple');
  });
});
