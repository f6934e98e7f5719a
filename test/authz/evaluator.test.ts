/** Evaluator constructs over a custom OpenFGA JSON model, on an in-memory graph (no database involved). */
import { describe, expect, it } from 'vitest';
import { Evaluator } from '../../src/authz/evaluator.js';
import { TupleIndex } from '../../src/authz/index.js';
import { compileModel, type AuthorizationModel } from '../../src/authz/model.js';
import { BUILTIN_MODEL } from '../../src/authz/builtin-model.js';
import { parseTuple } from '../../src/authz/tuples.js';
import { isGatehouseError } from '../../src/kernel/errors.js';
import { idsAdd, idsDelete, idsHas, idsSize, idsToArray, type IdSet } from '../../src/authz/idset.js';

// folder:   define viewer: [user, group#member] or viewer from parent
// document: define viewer: [user, user:*, group#member] or editor or viewer from parent
// define editor: [user] ; define blocked: [user]
// define can_view: viewer but not blocked ; define can_edit: editor and viewer
const DOCS: AuthorizationModel = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    {
      type: 'group',
      relations: { member: { this: {} } },
      metadata: { relations: { member: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }] } } },
    },
    {
      type: 'folder',
      relations: {
        viewer: { union: { child: [{ this: {} }, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } },
        parent: { this: {} },
      },
      metadata: {
        relations: {
          viewer: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] },
          parent: { directly_related_user_types: [{ type: 'folder' }] },
        },
      },
    },
    {
      type: 'document',
      relations: {
        parent: { this: {} },
        editor: { this: {} },
        blocked: { this: {} },
        viewer: { union: { child: [{ this: {} }, { computedUserset: { relation: 'editor' } }, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } },
        can_view: { difference: { base: { computedUserset: { relation: 'viewer' } }, subtract: { computedUserset: { relation: 'blocked' } } } },
        can_edit: { intersection: { child: [{ computedUserset: { relation: 'editor' } }, { computedUserset: { relation: 'viewer' } }] } },
      },
      metadata: {
        relations: {
          parent: { directly_related_user_types: [{ type: 'folder' }] },
          editor: { directly_related_user_types: [{ type: 'user' }] },
          blocked: { directly_related_user_types: [{ type: 'user' }] },
          viewer: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }] },
        },
      },
    },
  ],
};

function setup(model: AuthorizationModel, specs: string[], options: { maxDepth?: number } = {}) {
  const index = new TupleIndex();
  const compiled = compileModel(model, index.symbols);
  const graph = index.storeForWrite('default', 's');
  for (const s of specs) graph.write(parseTuple(s));
  const ev = new Evaluator(options);
  const check = (subject: string, relation: string, object: string, nowMs = 0) => {
    const [st, rest] = [subject.slice(0, subject.indexOf(':')), subject.slice(subject.indexOf(':') + 1)];
    const [sid, srel] = rest.split('#');
    const [ot, oid] = [object.slice(0, object.indexOf(':')), object.slice(object.indexOf(':') + 1)];
    return ev.check(graph, compiled, { subjectType: st!, subjectId: sid!, subjectRelation: srel ?? '', relation, objectType: ot, objectId: oid }, nowMs);
  };
  return { check, graph, index };
}

describe('evaluator: OpenFGA constructs', () => {
  const { check, graph } = setup(DOCS, [
    'folder:root#viewer@group:eng#member',
    'folder:sub#parent@folder:root',
    'document:spec#parent@folder:sub',
    'document:spec#parent@folder:other',
    'folder:other#viewer@user:zoe',
    'group:eng#member@user:ann',
    'document:spec#editor@user:ben',
    'document:spec#blocked@user:ann',
    'document:public#viewer@user:*',
    'document:public#blocked@user:cat',
    'document:spec#viewer@folder:root',
    'group:everyone#member@user:*',
    'document:open#viewer@group:everyone#member',
    'document:open#viewer@group:eng#member',
  ]);

  it('follows tuple-to-userset through nested folders and several parents', () => {
    expect(check('user:ann', 'viewer', 'document:spec')).toBe(true);
    expect(check('user:zoe', 'viewer', 'document:spec')).toBe(true);
    expect(check('user:ben', 'viewer', 'document:spec')).toBe(true); // computed from editor
    expect(check('user:dan', 'viewer', 'document:spec')).toBe(false);
  });

  it('applies exclusion (but not) and intersection (and)', () => {
    expect(check('user:ann', 'can_view', 'document:spec')).toBe(false);
    expect(check('user:zoe', 'can_view', 'document:spec')).toBe(true);
    expect(check('user:ben', 'can_edit', 'document:spec')).toBe(true);
    expect(check('user:ann', 'can_edit', 'document:spec')).toBe(false);
  });

  it('matches wildcards, also under exclusion', () => {
    expect(check('user:anyone', 'viewer', 'document:public')).toBe(true);
    expect(check('user:anyone', 'can_view', 'document:public')).toBe(true);
    expect(check('user:cat', 'can_view', 'document:public')).toBe(false);
    // A wildcard inside a group that is itself assigned as a userset.
    expect(check('user:anyone', 'viewer', 'document:open')).toBe(true);
    // A wildcard is for users only, as the type restriction says.
    expect(check('group:eng', 'viewer', 'document:public')).toBe(false);
  });

  it('ignores tuples the type restrictions do not allow', () => {
    // document#viewer does not allow folder subjects: the stray tuple grants nothing.
    expect(graph.tupleCount).toBe(14);
    expect(check('folder:root', 'viewer', 'document:spec')).toBe(false);
  });

  it('answers usersets as subjects', () => {
    expect(check('group:eng#member', 'viewer', 'folder:root')).toBe(true);
    expect(check('group:eng#member', 'viewer', 'document:spec')).toBe(true);
  });
});

describe('evaluator: expiry, cycles, depth', () => {
  it('does not grant through an expired edge, measured against nowMs', () => {
    const index = new TupleIndex();
    const model = compileModel(BUILTIN_MODEL, index.symbols);
    const g = index.storeForWrite('default', 'gatehouse');
    g.write(parseTuple('permission:a:b#granted@role:r#assignee'));
    g.write({ ...parseTuple('role:r#assignee@user:u'), expiresAt: '2026-01-01T00:00:10.000Z' });
    const ev = new Evaluator();
    const q = { subjectType: 'user', subjectId: 'u', relation: 'granted', objectType: 'permission', objectId: 'a:b' };
    expect(ev.check(g, model, q, Date.parse('2026-01-01T00:00:09.999Z'))).toBe(true);
    expect(ev.check(g, model, q, Date.parse('2026-01-01T00:00:10.000Z'))).toBe(false);
    // Re-written without expiry: grants for ever.
    g.write(parseTuple('role:r#assignee@user:u'));
    expect(ev.check(g, model, q, Date.parse('2030-01-01T00:00:00Z'))).toBe(true);
    // A conditional tuple grants nothing until conditions are evaluated (deny by default).
    g.write({ ...parseTuple('role:r#assignee@user:v'), condition: { name: 'in_office', context: null } });
    expect(ev.check(g, model, { ...q, subjectId: 'v' }, 0)).toBe(false);
  });

  it('terminates on a cycle through exclusion with resolution_too_complex', () => {
    const model: AuthorizationModel = {
      schema_version: '1.1',
      type_definitions: [
        { type: 'user' },
        {
          type: 'doc',
          relations: { blocked: { this: {} }, viewer: { difference: { base: { this: {} }, subtract: { computedUserset: { relation: 'viewer' } } } } },
          metadata: { relations: { blocked: { directly_related_user_types: [{ type: 'user' }] }, viewer: { directly_related_user_types: [{ type: 'user' }] } } },
        },
      ],
    };
    const { check } = setup(model, ['doc:1#viewer@user:a']);
    let err: unknown;
    try {
      check('user:a', 'viewer', 'doc:1');
    } catch (e) {
      err = e;
    }
    expect(isGatehouseError(err, 'resolution_too_complex')).toBe(true);
  });

  it('respects a custom depth limit', () => {
    const specs = ['permission:x:y#granted@role:r#assignee', 'role:r#assignee@group:g0#member'];
    for (let i = 0; i < 5; i++) specs.push(`group:g${i}#member@group:g${i + 1}#member`);
    specs.push('group:g5#member@user:u');
    const q = ['user:u', 'granted', 'permission:x:y'] as const;
    expect(setup(BUILTIN_MODEL, specs, { maxDepth: 7 }).check(...q)).toBe(true);
    expect(() => setup(BUILTIN_MODEL, specs, { maxDepth: 6 }).check(...q)).toThrow(/more than 6/);
  });
});

describe('evaluator: parent chains memoised across checks', () => {
  // folder#viewer is `[user, group#member] or viewer from parent`: its chains are flattened once
  // per graph version (chain-memo.ts); every answer must follow writes, deletes, expiry, conditions.
  const chain = ['folder:f0#viewer@user:root', 'folder:f2#viewer@group:eng#member', 'group:eng#member@group:core#member', 'group:core#member@user:ann'];
  for (let i = 1; i <= 4; i++) chain.push(`folder:f${i}#parent@folder:f${i - 1}`);

  it('answers from the chain and follows writes and deletes of the same evaluator', () => {
    const { check, graph } = setup(DOCS, chain);
    expect(check('user:root', 'viewer', 'folder:f4')).toBe(true);
    expect(check('user:ann', 'viewer', 'folder:f4')).toBe(true);
    expect(check('user:ann', 'viewer', 'folder:f1')).toBe(false);
    expect(check('user:bob', 'viewer', 'folder:f4')).toBe(false);
    expect(check('group:core#member', 'viewer', 'folder:f3')).toBe(true);
    graph.write(parseTuple('folder:f1#viewer@user:bob'));
    expect(check('user:bob', 'viewer', 'folder:f4')).toBe(true);
    expect(check('user:bob', 'viewer', 'folder:f0')).toBe(false);
    graph.delete(parseTuple('folder:f3#parent@folder:f2'));
    expect(check('user:bob', 'viewer', 'folder:f4')).toBe(false);
    expect(check('user:root', 'viewer', 'folder:f4')).toBe(false);
    expect(check('user:root', 'viewer', 'folder:f2')).toBe(true);
    graph.delete(parseTuple('group:core#member@user:ann'));
    expect(check('user:ann', 'viewer', 'folder:f2')).toBe(false);
    // Two parents (a diamond) and a wildcard member of a group of the chain.
    graph.write(parseTuple('folder:f3#parent@folder:f1'));
    graph.write(parseTuple('folder:f3#parent@folder:x'));
    graph.write(parseTuple('folder:x#viewer@group:all#member'));
    expect(check('user:anyone', 'viewer', 'folder:f4')).toBe(false);
    graph.write(parseTuple('group:all#member@user:*'));
    expect(check('user:anyone', 'viewer', 'folder:f4')).toBe(true);
    expect(check('user:bob', 'viewer', 'folder:f4')).toBe(true);
  });

  it('never flattens an expiring or conditional edge of the chain', () => {
    const { check, graph } = setup(DOCS, chain);
    graph.write({ ...parseTuple('folder:f2#parent@folder:f1'), expiresAt: '2026-01-01T00:00:10.000Z' });
    expect(check('user:root', 'viewer', 'folder:f4', Date.parse('2026-01-01T00:00:09.999Z'))).toBe(true);
    expect(check('user:root', 'viewer', 'folder:f4', Date.parse('2026-01-01T00:00:10.000Z'))).toBe(false);
    expect(check('user:root', 'viewer', 'folder:f1', Date.parse('2026-01-01T00:00:10.000Z'))).toBe(true);
    graph.write({ ...parseTuple('folder:f1#viewer@user:cid'), condition: { name: 'undeclared', context: null } });
    // A condition the model does not declare grants nothing, at any level of the chain.
    expect(check('user:cid', 'viewer', 'folder:f1')).toBe(false);
    expect(check('user:cid', 'viewer', 'folder:f4', 0)).toBe(false);
    // An expiring membership below a userset of the chain is decided per check.
    graph.write({ ...parseTuple('group:core#member@user:eve'), expiresAt: '2026-01-01T00:00:10.000Z' });
    expect(check('user:eve', 'viewer', 'folder:f4', Date.parse('2026-01-01T00:00:09.999Z'))).toBe(true);
    expect(check('user:eve', 'viewer', 'folder:f4', Date.parse('2026-01-01T00:00:10.000Z'))).toBe(false);
  });

  it('keeps only the userset candidates the restrictions admit, and expands a chain with a non-pure one', () => {
    const { check, graph } = setup(DOCS, chain);
    // document has no `member`: the restrictions ([user, group#member]) never admit document:x#member.
    graph.write(parseTuple('document:x#member@user:zed'));
    graph.write(parseTuple('folder:f1#viewer@document:x#member'));
    expect(check('user:zed', 'viewer', 'folder:f4')).toBe(false);
    expect(check('user:ann', 'viewer', 'folder:f4')).toBe(true);
    // group#member = [user] or admin is not pure: no closure decides it, the chain is expanded.
    const impure: AuthorizationModel = {
      schema_version: '1.1',
      type_definitions: [
        { type: 'user' },
        {
          type: 'group',
          relations: { admin: { this: {} }, member: { union: { child: [{ this: {} }, { computedUserset: { relation: 'admin' } }] } } },
          metadata: { relations: { admin: { directly_related_user_types: [{ type: 'user' }] }, member: { directly_related_user_types: [{ type: 'user' }] } } },
        },
        DOCS.type_definitions[2]!,
      ],
    };
    const g = setup(impure, ['folder:f0#viewer@group:g#member', 'group:g#admin@user:ann', 'group:g#member@user:bob', 'folder:f1#parent@folder:f0', 'folder:f2#parent@folder:f1']);
    expect(['user:ann', 'user:bob', 'user:cid'].map((u) => g.check(u, 'viewer', 'folder:f2'))).toEqual([true, true, false]);
  });

  it('ends on a parent cycle and keeps the depth limit', () => {
    const { check, graph } = setup(DOCS, [...chain, 'folder:f0#parent@folder:f4']);
    expect(check('user:root', 'viewer', 'folder:f2')).toBe(true);
    expect(check('user:bob', 'viewer', 'folder:f2')).toBe(false);
    graph.delete(parseTuple('folder:f0#parent@folder:f4'));
    const long = ['folder:c0#viewer@user:top'];
    for (let i = 1; i <= 30; i++) long.push(`folder:c${i}#parent@folder:c${i - 1}`);
    const deep = setup(DOCS, long);
    expect(deep.check('user:top', 'viewer', 'folder:c20')).toBe(true);
    expect(() => deep.check('user:top', 'viewer', 'folder:c30')).toThrow(/more than 25/);
    expect(() => deep.check('user:nobody', 'viewer', 'folder:c30')).toThrow(/more than 25/);
    expect(setup(DOCS, chain, { maxDepth: 4 }).check('user:root', 'viewer', 'folder:f4')).toBe(true);
    expect(setup(DOCS, chain, { maxDepth: 4 }).check('user:ann', 'viewer', 'folder:f4')).toBe(true);
    expect(() => setup(DOCS, chain, { maxDepth: 3 }).check('user:root', 'viewer', 'folder:f4')).toThrow(/more than 3/);
  });
});

describe('model compiler', () => {
  const bad = (m: unknown) => {
    try {
      compileModel(m as AuthorizationModel, new TupleIndex().symbols);
      return null;
    } catch (e) {
      return isGatehouseError(e, 'invalid_input') ? e.message : e;
    }
  };
  it('compiles the built-in model', () => {
    expect(bad(BUILTIN_MODEL)).toBeNull();
    expect(bad(DOCS)).toBeNull();
  });
  it('rejects invalid models with invalid_input naming the place', () => {
    expect(bad({ ...BUILTIN_MODEL, schema_version: '1.0' })).toMatch(/schema_version/);
    expect(bad({ schema_version: '1.1', type_definitions: [{ type: 'a' }, { type: 'a' }] })).toMatch(/defined twice/);
    expect(bad({ schema_version: '1.1', type_definitions: [{ type: 'a', relations: { r: { computedUserset: { relation: 'nope' } } } }] })).toMatch(/a#r: references undefined relation 'a#nope'/);
    expect(bad({ schema_version: '1.1', type_definitions: [{ type: 'a', relations: { r: { this: {} } } }] })).toMatch(/needs at least one type restriction/);
    expect(
      bad({ schema_version: '1.1', type_definitions: [{ type: 'a', relations: { r: { this: {} } }, metadata: { relations: { r: { directly_related_user_types: [{ type: 'ghost' }] } } } }] }),
    ).toMatch(/unknown type 'ghost'/);
    expect(bad({ schema_version: '1.1', type_definitions: [{ type: 'a', relations: { r: { union: { child: [] } } } }] })).toMatch(/at least one child/);
  });
});

describe('IdSet', () => {
  it('moves between its number, array and Set forms without losing members', () => {
    let s: IdSet | undefined;
    for (let i = 0; i < 40; i++) s = idsAdd(s, i).set;
    expect(s instanceof Set).toBe(true);
    expect(idsAdd(s, 3).added).toBe(false);
    for (let i = 0; i < 39; i++) s = idsDelete(s, i).set;
    expect(idsToArray(s)).toEqual([39]);
    expect(idsHas(s, 39)).toBe(true);
    let t: IdSet | undefined = idsAdd(undefined, 7).set;
    expect(t).toBe(7);
    t = idsAdd(t, 8).set;
    expect(t).toEqual([7, 8]);
    t = idsDelete(t, 7).set;
    expect(t).toBe(8);
    t = idsDelete(t, 8).set;
    expect(idsSize(t)).toBe(0);
  });
});

describe('StoreGraph blocks (shared pages)', () => {
  it('keeps every edge through moves, shifts, compaction and packing, forward and reverse', () => {
    let seed = 3;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const index = new TupleIndex();
    const g = index.storeForWrite('default', 's');
    const live = new Set<string>();
    const rels = ['viewer', 'editor', 'owner', 'blocked'];
    const spec = () => `doc:d${rnd(3000)}#${rels[rnd(4)]}@user:u${rnd(400)}`;
    // Enough churn for several compactions (each past 64 Ki slots left behind).
    for (let i = 0; i < 120_000; i++) {
      const t = spec();
      if (rnd(3) === 0) {
        expect(g.delete(parseTuple(t))).toBe(live.delete(t));
      } else {
        expect(g.write(parseTuple(t))).toBe(!live.has(t));
        live.add(t);
      }
    }
    const verify = () => {
      expect(g.tupleCount).toBe(live.size);
      const sym = index.symbols;
      for (let d = 0; d < 3000; d += 7) {
        for (const rel of rels) {
          const o = g.lookupNode('doc', `d${d}`);
          const got = o < 0 ? [] : idsToArray(g.subjects(o, sym.relations.lookup(rel), 0)).map((n) => g.describe(n).id).sort();
          const want = [...live].filter((t) => t.startsWith(`doc:d${d}#${rel}@`)).map((t) => t.slice(t.indexOf('@user:') + 6)).sort();
          expect({ d, rel, got }).toEqual({ d, rel, got: want });
        }
      }
      for (let u = 0; u < 400; u += 13) {
        const s = g.lookupNode('user', `u${u}`);
        const got = s < 0 ? [] : idsToArray(g.objectsOf(s, 0, sym.relations.lookup('viewer'))).map((n) => g.describe(n).id).sort();
        const want = [...live].filter((t) => t.endsWith(`@user:u${u}`) && t.includes('#viewer@')).map((t) => t.slice(4, t.indexOf('#'))).sort();
        expect({ u, got }).toEqual({ u, got: want });
      }
    };
    verify();
    g.compact();
    verify();
    for (const t of [...live]) g.delete(parseTuple(t));
    expect(g.tupleCount).toBe(0);
    expect(g.lookupNode('doc', 'd1')).toBe(-1);
  });
});

describe('evaluator agrees with a naive fixpoint on random built-in data', () => {
  // A deliberately simple reference: membership sets grown until nothing changes.
  function reference(ts: Array<{ t: string; expired: boolean }>) {
    const live = ts.filter((x) => !x.expired).map((x) => parseTuple(x.t));
    const members = new Map<string, Set<string>>();
    const get = (k: string) => members.get(k) ?? members.set(k, new Set()).get(k)!;
    for (let changed = true; changed; ) {
      changed = false;
      for (const t of live) {
        const target = get(`${t.objectType}:${t.objectId}#${t.relation}`);
        const add = t.subjectRelation ? [...get(`${t.subjectType}:${t.subjectId}#${t.subjectRelation}`)] : [`${t.subjectType}:${t.subjectId}`];
        for (const a of add) if (!target.has(a)) (target.add(a), (changed = true));
      }
    }
    return (subject: string, permission: string) => get(`permission:${permission}#granted`).has(subject);
  }

  it('on 20 random graphs with nesting, cycles and expired edges', () => {
    let seed = 7;
    const outcomes = { true: 0, false: 0 };
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    for (let round = 0; round < 20; round++) {
      const specs: Array<{ t: string; expired: boolean }> = [];
      const add = (t: string) => specs.push({ t, expired: rnd(10) === 0 });
      for (let i = 0; i < 30; i++) add(`group:g${rnd(12)}#member@${rnd(4) === 0 ? 'service_account:s' : 'user:u'}${rnd(20)}`);
      for (let i = 0; i < 15; i++) add(`group:g${rnd(12)}#member@group:g${rnd(12)}#member`);
      for (let i = 0; i < 20; i++) add(`role:r${rnd(8)}#assignee@user:u${rnd(20)}`);
      for (let i = 0; i < 10; i++) add(`role:r${rnd(8)}#assignee@group:g${rnd(12)}#member`);
      for (let i = 0; i < 16; i++) add(`permission:p${rnd(6)}:a#granted@role:r${rnd(8)}#assignee`);
      const unique = [...new Map(specs.map((s) => [s.t, s])).values()];
      const index = new TupleIndex();
      const model = compileModel(BUILTIN_MODEL, index.symbols);
      const g = index.storeForWrite('default', 'gatehouse');
      for (const s of unique) g.write({ ...parseTuple(s.t), expiresAt: s.expired ? '2026-01-01T00:00:00.000Z' : null });
      const ref = reference(unique);
      const ev = new Evaluator();
      const now = Date.parse('2026-06-01T00:00:00Z');
      for (let p = 0; p < 6; p++) {
        for (const subject of [...Array.from({ length: 20 }, (_, i) => `user:u${i}`), ...Array.from({ length: 20 }, (_, i) => `service_account:s${i}`)]) {
          const [type, id] = subject.split(':') as [string, string];
          const got = ev.check(g, model, { subjectType: type, subjectId: id, relation: 'granted', objectType: 'permission', objectId: `p${p}:a` }, now);
          expect({ round, subject, p, got }).toEqual({ round, subject, p, got: ref(subject, `p${p}:a`) });
          outcomes[got ? 'true' : 'false']++;
        }
      }
    }
    // Both answers occur often enough for the comparison to mean something.
    expect(outcomes.true).toBeGreaterThan(300);
    expect(outcomes.false).toBeGreaterThan(500);
  });
});
