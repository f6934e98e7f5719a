/**
 * Explain (OpenFGA Check with `explain: true`, real HTTP, SQLite and PostgreSQL) against Check on
 * the shapes of the depth-limit fixes, conditions, cycles, wildcards, exclusions, intersections and
 * contextual tuples: the explanation's verdict is Check's (allowed: a non-empty path whose summary
 * starts `allowed`; denied: an empty path, a `denied` summary; an error: the same 400 as Check),
 * and an allowed path is a real path of tuples within the depth limit.
 *
 * Found here: Explain ran its own search, whose verdict differed from Check's where Check decides
 * a userset from the subject's closure (a group chain past the limit that does not reach the
 * subject is `false` for Check, an error for Explain's search): `can_edit: editor but not banned`
 * with `banned` naming a 30-deep group chain answered `allowed: true` with an explanation
 * `{decision: true, path: [], summary: 'error: resolution_too_complex: …'}`. Its search also
 * followed every path (no visited set), so a lattice of nested groups took time exponential in
 * its depth (the lattice test below held the event loop for over 100 s before). And where Check
 * skips a userset member with no usersets of its own before evaluating the condition of the edge
 * to it (a condition missing its parameter there: Check `false`), Explain said `error:
 * condition_error`. Left open (Check's own rule, not Explain's): had that member one userset
 * tuple more, Check answers 400 validation_error (the condition is evaluated first then).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { folderDepthTuples } from './depth-shapes.js';
import { postJson, startGatehouse, type Running } from '../authz-api/support.js';

const TOO = 'authorization_model_resolution_too_complex';
const rr = { this: {} };
const cu = (relation: string) => ({ computedUserset: { relation } });
const ttu = (r: string) => ({ tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: r } } });
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    {
      type: 'group',
      relations: { member: rr },
      metadata: { relations: { member: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }] } } },
    },
    {
      type: 'club',
      relations: { member: rr },
      metadata: { relations: { member: { directly_related_user_types: [{ type: 'user' }, { type: 'club', relation: 'member' }] } } },
    },
    {
      type: 'folder',
      relations: {
        parent: rr,
        viewer: { union: { child: [rr, ttu('viewer')] } },
        blocked: { union: { child: [rr, ttu('blocked')] } },
        can_view: { difference: { base: cu('viewer'), subtract: cu('blocked') } },
      },
      metadata: { relations: { parent: { directly_related_user_types: [{ type: 'folder' }] }, viewer: { directly_related_user_types: [{ type: 'user' }] }, blocked: { directly_related_user_types: [{ type: 'user' }] } } },
    },
    {
      type: 'node',
      relations: {
        a: rr,
        deep: rr,
        deep_or_a: { union: { child: [cu('deep'), cu('a')] } },
        deep_but_not_a: { difference: { base: cu('deep'), subtract: cu('a') } },
        deep_and_a: { intersection: { child: [cu('deep'), cu('a')] } },
      },
      metadata: { relations: { a: { directly_related_user_types: [{ type: 'user' }] }, deep: { directly_related_user_types: [{ type: 'user' }, { type: 'node', relation: 'deep' }] } } },
    },
    {
      type: 'doc',
      relations: {
        editor: rr,
        banned: rr,
        shared: rr,
        can_edit: { difference: { base: cu('editor'), subtract: cu('banned') } },
        both: { intersection: { child: [cu('editor'), cu('shared')] } },
      },
      metadata: {
        relations: {
          editor: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] },
          banned: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] },
          shared: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }, { type: 'club', relation: 'member', condition: 'needs_x' }] },
        },
      },
    },
  ],
  conditions: { needs_x: { name: 'needs_x', expression: 'x > 1', parameters: { x: { type_name: 'TYPE_NAME_INT' } } } },
};

type Tk = { user: string; relation: string; object: string; condition?: { name: string; context?: Record<string, unknown> } };

describeEachBackend('Explain agrees with Check', (backend) => {
  let gh: Running;
  let store: string;
  const post = (path: string, body: unknown) => postJson(gh, path, body);

  /** Check without and with `explain`: both must give the same status and verdict; returns the explanation (or the error code). */
  const both = async (user: string, relation: string, object: string, extra: { context?: Record<string, unknown>; contextual?: Tk[] } = {}) => {
    const body = { tuple_key: { user, relation, object }, ...(extra.context ? { context: extra.context } : {}), ...(extra.contextual ? { contextual_tuples: { tuple_keys: extra.contextual } } : {}) };
    const plain = await post(`/stores/${store}/check`, body);
    const explained = await post(`/stores/${store}/check`, { ...body, explain: true });
    const where = `${user} ${relation} ${object}`;
    expect([where, explained.status], JSON.stringify(explained.body)).toEqual([where, plain.status]);
    if (plain.status !== 200) {
      expect(plain.status, JSON.stringify(plain.body)).toBe(400);
      expect([where, explained.body.code]).toEqual([where, plain.body.code]);
      return { verdict: plain.body.code as string, path: [] as Array<{ kind: string; at: string; tuple?: string; contextual?: boolean }> };
    }
    const e = explained.body.explanation;
    expect([where, explained.body.allowed, e.decision]).toEqual([where, plain.body.allowed, plain.body.allowed]);
    if (plain.body.allowed) {
      expect(e.summary, where).toMatch(/^allowed: /);
      expect(e.path.length, where).toBeGreaterThan(0);
    } else {
      expect(e.summary, where).toMatch(/^denied: /);
      expect(e.path, where).toEqual([]);
    }
    return { verdict: plain.body.allowed as boolean, path: e.path as Array<{ kind: string; at: string; tuple?: string; contextual?: boolean }> };
  };
  const tuples = (path: Array<{ tuple?: string }>) => path.filter((s) => s.tuple).map((s) => s.tuple);

  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await post('/stores', { name: 'explain-check' })).body.id;
    const m = await post(`/stores/${store}/authorization-models`, MODEL);
    expect(m.status, JSON.stringify(m.body)).toBe(201);
    // depth-paths.test.ts's folders (depth-shapes.ts).
    const w: Tk[] = folderDepthTuples();
    // depth-three-valued.test.ts: node:n0#deep <- ... <- node:n30#deep <- user:q; user:q has a on n0.
    for (let i = 0; i < 30; i++) w.push({ user: `node:n${i + 1}#deep`, relation: 'deep', object: `node:n${i}` });
    w.push({ user: 'user:q', relation: 'deep', object: 'node:n30' }, { user: 'user:q', relation: 'a', object: 'node:n0' });
    // Groups g0 <- g1 <- ... <- g30 (nobody in them) banned from doc:1, edited by user:e and group:t.
    for (let i = 0; i < 30; i++) w.push({ user: `group:g${i + 1}#member`, relation: 'member', object: `group:g${i}` });
    w.push({ user: 'group:g0#member', relation: 'banned', object: 'doc:1' }, { user: 'user:e', relation: 'editor', object: 'doc:1' });
    w.push({ user: 'user:e', relation: 'member', object: 'group:t' }, { user: 'group:t#member', relation: 'editor', object: 'doc:2' }, { user: 'group:g0#member', relation: 'banned', object: 'doc:2' });
    // A cycle of groups (c0 -> c1 -> c0), user:k in c1; doc:3 edited by c0, shared with everyone.
    w.push({ user: 'group:c1#member', relation: 'member', object: 'group:c0' }, { user: 'group:c0#member', relation: 'member', object: 'group:c1' }, { user: 'user:k', relation: 'member', object: 'group:c1' });
    w.push({ user: 'group:c0#member', relation: 'editor', object: 'doc:3' }, { user: 'user:*', relation: 'shared', object: 'doc:3' });
    // Conditioned userset edges: doc:4 shared with club:h (no usersets of its own), doc:5 with club:i (one nested club).
    w.push({ user: 'club:h#member', relation: 'shared', object: 'doc:4', condition: { name: 'needs_x' } }, { user: 'user:m', relation: 'member', object: 'club:h' });
    w.push({ user: 'club:i#member', relation: 'shared', object: 'doc:5', condition: { name: 'needs_x' } }, { user: 'club:j#member', relation: 'member', object: 'club:i' });
    // A lattice of nested groups 30 levels deep, two groups per level each naming both of the next level; nobody in it.
    for (let i = 0; i < 30; i++) for (const a of ['a', 'b']) for (const b of ['a', 'b']) w.push({ user: `group:${b}${i + 1}#member`, relation: 'member', object: `group:${a}${i}` });
    w.push({ user: 'group:a0#member', relation: 'editor', object: 'doc:6' }, { user: 'user:z', relation: 'member', object: 'group:zz' });
    for (let i = 0; i < w.length; i += 100) {
      const res = await post(`/stores/${store}/write`, { writes: { tuple_keys: w.slice(i, i + 100) } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
  });
  afterAll(async () => gh?.close());

  it('a path within the limit whatever path reached a folder first (depth-paths)', async () => {
    const o = await both('user:v', 'viewer', 'folder:o');
    expect(o.verdict).toBe(true);
    const want = ['folder:o#parent@folder:X', 'folder:X#parent@folder:Y1'];
    for (let i = 1; i < 10; i++) want.push(`folder:Y${i}#parent@folder:Y${i + 1}`);
    want.push('folder:Y10#viewer@user:v');
    expect(tuples(o.path)).toEqual(want);
    expect(o.path.map((s) => s.kind)).toEqual([...Array(11).fill('ttu'), 'direct']);
    expect((await both('user:v', 'viewer', 'folder:L1')).verdict).toBe(TOO);
    expect((await both('user:v', 'viewer', 'folder:L6')).verdict).toBe(true);
    expect((await both('user:u', 'can_view', 'folder:x')).verdict).toBe(TOO);
    const s = await both('user:u', 'can_view', 'folder:s');
    expect(s.path).toEqual([
      { kind: 'difference', at: 'folder:s#can_view' },
      { kind: 'computed', at: 'folder:s#can_view' },
      { kind: 'direct', at: 'folder:s#viewer', tuple: 'folder:s#viewer@user:u' },
    ]);
  });

  it('the depth limit is three-valued: another branch decides (depth-three-valued)', async () => {
    expect((await both('user:q', 'deep', 'node:n0')).verdict).toBe(TOO);
    expect(tuples((await both('user:q', 'deep_or_a', 'node:n0')).path)).toEqual(['node:n0#a@user:q']);
    expect((await both('user:q', 'deep_but_not_a', 'node:n0')).verdict).toBe(false);
    expect((await both('user:q', 'deep_and_a', 'node:n0')).verdict).toBe(TOO);
    expect((await both('user:q', 'deep_and_a', 'node:n1')).verdict).toBe(false);
    expect((await both('user:q', 'deep', 'node:n10')).verdict).toBe(true);
  });

  it('an exclusion whose subtracted part is a group chain past the limit that does not reach the subject', async () => {
    const e = await both('user:e', 'can_edit', 'doc:1');
    expect(e.verdict).toBe(true);
    expect(e.path).toEqual([
      { kind: 'difference', at: 'doc:1#can_edit' },
      { kind: 'computed', at: 'doc:1#can_edit' },
      { kind: 'direct', at: 'doc:1#editor', tuple: 'doc:1#editor@user:e' },
    ]);
    expect(tuples((await both('user:e', 'can_edit', 'doc:2')).path)).toEqual(['doc:2#editor@group:t#member', 'group:t#member@user:e']);
    expect((await both('user:e', 'banned', 'doc:1')).verdict).toBe(false);
    expect((await both('user:nobody', 'banned', 'doc:1')).verdict).toBe(false);
    // A contextual editor: the path names the contextual tuple.
    const c = await both('user:f', 'can_edit', 'doc:1', { contextual: [{ user: 'user:f', relation: 'editor', object: 'doc:1' }] });
    expect(c.path.at(-1)).toEqual({ kind: 'direct', at: 'doc:1#editor', tuple: 'doc:1#editor@user:f', contextual: true });
  });

  it('cycles, wildcards and intersections', async () => {
    const k = await both('user:k', 'both', 'doc:3');
    expect(tuples(k.path)).toEqual(['doc:3#editor@group:c0#member', 'group:c0#member@group:c1#member', 'group:c1#member@user:k', 'doc:3#shared@user:*']);
    expect((await both('user:l', 'both', 'doc:3')).verdict).toBe(false);
    expect((await both('user:k', 'editor', 'doc:3', { contextual: [{ user: 'group:c1#member', relation: 'member', object: 'group:c1' }] })).verdict).toBe(true);
  });

  it('a condition missing its parameter on a userset edge: the verdict is Check\'s', async () => {
    // Check skips club:h (no usersets of its own, no user:n) before the edge's condition; club:i it expands.
    expect((await both('user:n', 'shared', 'doc:4')).verdict).toBe(false);
    expect((await both('user:n', 'shared', 'doc:5')).verdict).toBe('validation_error');
    expect((await both('user:m', 'shared', 'doc:4')).verdict).toBe('validation_error');
    for (const d of ['doc:4', 'doc:5']) expect((await both('user:n', 'shared', d, { context: { x: 2 } })).verdict).toBe(false);
    expect(tuples((await both('user:m', 'shared', 'doc:4', { context: { x: 2 } })).path)).toEqual(['doc:4#shared@club:h#member', 'club:h#member@user:m']);
    expect((await both('user:m', 'shared', 'doc:4', { context: { x: 0 } })).verdict).toBe(false);
  });

  it('a lattice of nested groups: Explain visits each group once, as Check does', async () => {
    // 2^30 paths from doc:6 down the lattice; none reaches user:z (Check decides from user:z's closure: false).
    const z = await both('user:z', 'editor', 'doc:6');
    expect(z.verdict).toBe(false);
    const l = await both('user:z', 'editor', 'doc:6', { contextual: [{ user: 'user:z', relation: 'member', object: 'group:b3' }] });
    expect(l.verdict).toBe(true);
    expect(tuples(l.path).at(-1)).toBe('group:b3#member@user:z');
  });
});

