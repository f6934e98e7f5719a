/**
 * Explain under OpenFGA's three-valued semantics: a branch whose CEL condition cannot be evaluated
 * (missing parameter) is an error, not a denial; a union with a true branch is allowed, an
 * intersection with a false operand and an exclusion whose base fails or whose subtracted set holds
 * are denied, whatever the erroring branch. Explain must agree with plain check in every case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '../../src/storage/database.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { AuthzService } from '../../src/authz/service.js';
import { DecisionLog } from '../../src/authz/decision-log.js';
import { parseDsl } from '../../src/authz/dsl.js';
import { parseTuple, type RelationTuple } from '../../src/authz/tuples.js';
import { explainCheck } from '../../src/authz/explain.js';
import { Evaluator } from '../../src/authz/evaluator.js';
import { compileModel } from '../../src/authz/model.js';
import { TupleIndex } from '../../src/authz/index.js';
import { StoreGraph } from '../../src/authz/graph.js';
import { LayeredView } from '../../src/authz/view.js';
import { ExtendedNodeSpace } from '../../src/authz/nodes.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';
import { ctx, newClock } from '../authz/support.js';
import { writeModel, writeTo } from './support.js';

const S = 'explain-errors';
const DSL = `model
  schema 1.1
type user
type team
  relations
    define member: [user]
type doc
  relations
    define editor: [user]
    define blocked: [user]
    define gated: [user with needs_x]
    define union_first: [user with needs_x] or editor
    define union_last: editor or gated
    define union_computed: gated or editor
    define both: gated and editor
    define both_rev: editor and gated
    define open_unless: editor but not gated
    define gated_unless: gated but not blocked
    define shared: [team#member, team#member with needs_x]
condition needs_x(x: int) {
  x > 1
}
`;

describeEachBackend('explain agrees with check when a branch cannot be evaluated', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let authz: AuthzService;

  beforeAll(async () => {
    let url: string;
    ({ storage, url, close } = await freshStorage(backend));
    const clock = newClock();
    const store = new TupleStore(clock, { notify: backend.kind === 'postgres' });
    await writeModel(storage, S, '01JEXPLAINERRORSMODEL00001', parseDsl(DSL));
    const decisionLog = new DecisionLog({ storage, clock, mode: 'full', flushIntervalMs: 60_000 });
    authz = await AuthzService.start({ storage, clock, tuples: store, listenUrl: url, pollIntervalMs: 50, decisionLog });
    const gated = (rel: string, id: string) => ({ ...parseTuple(`doc:1#${rel}@user:${id}`), condition: { name: 'needs_x', context: {} } });
    const rev = await writeTo(storage, store, S, [
      'team:b#member@user:ann',
      'team:a#member@user:ann',
      { ...parseTuple('doc:1#shared@team:a#member'), condition: { name: 'needs_x', context: {} } },
      'doc:1#shared@team:b#member',
      'doc:1#editor@user:ann',
      'doc:1#blocked@user:bob',
      gated('gated', 'ann'),
      gated('gated', 'bob'),
      gated('gated', 'cat'),
      gated('union_first', 'ann'),
      gated('union_first', 'cat'),
    ]);
    await authz.waitForRevision(rev);
  });
  afterAll(async () => {
    await authz.close();
    await close();
  });

  /** Plain check and explained check, as `true`, `false` or the error code. */
  const both = async (user: string, relation: string) => {
    const q = { storeId: S, subject: { type: 'user', id: user }, relation, object: { type: 'doc', id: '1' } };
    const plain = await authz.check(ctx, q).then((r) => r.decision, (e: { code: string }) => e.code);
    const explained = await authz.check(ctx, { ...q, explain: true }).then((r) => r, (e: { code: string }) => e.code);
    return { plain, explained };
  };

  it('union: a true branch (first in evaluation order) wins over an erroring one', async () => {
    for (const rel of ['union_last']) {
      const { plain, explained } = await both('ann', rel);
      expect([rel, plain]).toEqual([rel, true]);
      expect(typeof explained === 'object' && explained.decision).toBe(true);
      expect(typeof explained === 'object' && explained.explanation?.path.map((s) => s.tuple ?? s.kind).at(-1)).toBe('doc:1#editor@user:ann');
    }
  });

  it('usersets: a granting team wins over a team whose tuple cannot be evaluated', async () => {
    const { plain, explained } = await both('ann', 'shared');
    expect(plain).toBe(true);
    expect(typeof explained === 'object' && explained.explanation?.path.map((s) => s.tuple)).toEqual(['doc:1#shared@team:b#member', 'team:b#member@user:ann']);
  });

  it('union: every branch false or erroring is the error, explained or not', async () => {
    expect(await both('cat', 'union_first')).toEqual({ plain: 'condition_error', explained: 'condition_error' });
    expect(await both('cat', 'union_computed')).toEqual({ plain: 'condition_error', explained: 'condition_error' });
  });

  it('intersection: a false operand denies; both true-or-erroring is the error', async () => {
    const cat = await both('cat', 'both_rev');
    expect(cat.plain).toBe(false);
    expect(typeof cat.explained === 'object' && [cat.explained.decision, cat.explained.explanation?.denied]).toEqual([
      false,
      [{ at: 'doc:1#editor', reason: 'no tuple names the subject, a wildcard for it, or a userset containing it' }, { at: 'doc:1#both_rev', reason: 'an operand of the intersection does not hold' }],
    ]);
    for (const rel of ['both', 'both_rev']) expect(await both('ann', rel)).toEqual({ plain: 'condition_error', explained: 'condition_error' });
  });

  it('exclusion: base false or subtracted true denies; otherwise the erroring side is the error', async () => {
    const dan = await both('dan', 'open_unless');
    expect(dan.plain).toBe(false);
    expect(typeof dan.explained === 'object' && dan.explained.decision).toBe(false);
    expect(await both('ann', 'open_unless')).toEqual({ plain: 'condition_error', explained: 'condition_error' });
    expect(await both('cat', 'gated_unless')).toEqual({ plain: 'condition_error', explained: 'condition_error' });
  });

  it('whatever the branch order: the erroring branch first still lets a definite branch decide (plain and explained)', async () => {
    // union: erroring direct branch first (union_first), erroring computed branch first (union_computed).
    for (const rel of ['union_first', 'union_computed']) {
      const { plain, explained } = await both('ann', rel);
      expect([rel, plain]).toEqual([rel, true]);
      expect(typeof explained === 'object' && explained.decision).toBe(true);
    }
    // intersection: erroring operand before a false one.
    expect(await both('cat', 'both')).toMatchObject({ plain: false });
    // exclusion: erroring base, subtracted part holds.
    expect(await both('bob', 'gated_unless')).toMatchObject({ plain: false });
  });

  it('the condition holding with context: explain gives the conditioned path', async () => {
    const res = await authz.check(ctx, { storeId: S, subject: { type: 'user', id: 'cat' }, relation: 'union_first', object: { type: 'doc', id: '1' }, context: { x: 2 }, explain: true });
    expect(res.decision).toBe(true);
    expect(res.explanation?.path).toEqual([{ kind: 'direct', at: 'doc:1#union_first', tuple: 'doc:1#union_first@user:cat', condition: 'needs_x' }]);
  });
});

describe('explainCheck on its own: OpenFGA three-valued semantics whatever the branch order', () => {
  const index = new TupleIndex();
  const model = compileModel(parseDsl(DSL), index.symbols);
  const stored = index.storeForWrite('t', 's');
  const gated = (rel: string, id: string): RelationTuple => ({ ...parseTuple(`doc:1#${rel}@user:${id}`), condition: { name: 'needs_x', context: {} } });
  for (const t of [parseTuple('doc:1#editor@user:ann'), parseTuple('doc:1#blocked@user:bob'), gated('gated', 'ann'), gated('gated', 'bob'), gated('gated', 'cat'), gated('union_first', 'ann')]) stored.write(t);
  const ext = new ExtendedNodeSpace(index.space('t'));
  const view = new LayeredView(index.symbols, ext, stored, undefined, new Set(), new StoreGraph(index.symbols, ext));
  const explain = (user: string, relation: string) => {
    const sym = index.symbols;
    const type = sym.types.lookup('user');
    return explainCheck(new Evaluator(), view, model, { type, node: view.lookupNodeOfType(type, user), relation: 0 }, view.lookupNode('doc', '1'), sym.relations.lookup(relation), Date.parse('2026-03-01T12:00:00Z'), undefined);
  };

  it('union: the erroring branch first, the granting one second: allowed', () => {
    for (const rel of ['union_first', 'union_computed']) {
      const e = explain('ann', rel);
      expect([rel, e.decision, e.path.at(-1)?.tuple]).toEqual([rel, true, 'doc:1#editor@user:ann']);
    }
  });

  it('intersection with an erroring operand before a false one, exclusion with an erroring base and a holding subtract: denied', () => {
    expect(explain('cat', 'both')).toMatchObject({ decision: false, summary: 'denied: no path from doc:1#both to user:cat' });
    expect(explain('bob', 'gated_unless')).toMatchObject({ decision: false, summary: 'denied: no path from doc:1#gated_unless to user:bob' });
  });

  it('no definite answer: a denial that names the condition error', () => {
    const e = explain('cat', 'union_computed');
    expect(e.decision).toBe(false);
    expect(e.summary).toBe("error: condition_error: condition 'needs_x': missing context parameter(s) x");
    expect(e.denied).toContainEqual({ at: 'doc:1#gated', reason: "condition needs_x of doc:1#gated@user:cat could not be evaluated: condition 'needs_x': missing context parameter(s) x" });
  });
});
