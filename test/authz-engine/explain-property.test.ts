/**
 * Property test: Explain's verdict equals Check's on random models and tuples, and an allowed
 * explanation's path is a real granting path. The shapes: recursive groups and parent folders
 * (cycles included), documents that name documents (`deep`), wildcards, CEL conditions whose
 * parameter may be missing from the request (condition_error), expired tuples, intersections and
 * exclusions, contextual tuples (a layered view), and a small random depth limit (1..8) so that
 * the limit is met on most draws (resolution_too_complex, three-valued).
 *
 * The verdict is `true`, `false` or the error code: Check's thrown GatehouseError code, Explain's
 * `error: CODE: …` summary. The path is checked against the model and the tuples by a separate
 * walk: every step is a live tuple whose condition holds with the request context, under a type
 * restriction that admits it, each step continuing where the previous one ended, every hop within
 * the depth limit, and the path ending at the subject.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Evaluator } from '../../src/authz/evaluator.js';
import { explainCheck } from '../../src/authz/explain.js';
import { TupleIndex } from '../../src/authz/index.js';
import { StoreGraph, type GraphView } from '../../src/authz/graph.js';
import { LayeredView } from '../../src/authz/view.js';
import { ExtendedNodeSpace } from '../../src/authz/nodes.js';
import { compileModel, type AuthorizationModel, type CompiledModel, type RelationReference, type Userset } from '../../src/authz/model.js';
import type { ExplainStep, Explanation } from '../../src/authz/contract.js';
import type { RelationTuple } from '../../src/authz/tuples.js';
import { rewriteArbitrary, toUserset, type Expr } from './random-rewrites.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const USERS = ['u0', 'u1', 'u2'];
const GROUPS = ['g0', 'g1', 'g2', 'g3'];
const FOLDERS = ['f0', 'f1', 'f2', 'f3'];
const DOCS = ['d0', 'd1', 'd2'];
const BASE_DOC = ['owner', 'editor', 'blocked', 'shared', 'deep'];
const COND = 'needs_x';

const DOC_RESTRICTIONS: Record<string, RelationReference[]> = {
  owner: [{ type: 'user' }, { type: 'user', condition: COND }],
  editor: [{ type: 'user' }, { type: 'group', relation: 'member' }, { type: 'group', relation: 'member', condition: COND }],
  blocked: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'user', condition: COND }],
  shared: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }],
  deep: [{ type: 'user' }, { type: 'document', relation: 'deep' }, { type: 'document', relation: 'deep', condition: COND }],
  parent: [{ type: 'folder' }, { type: 'folder', condition: COND }],
};

const expr = rewriteArbitrary(BASE_DOC);

/** Folder viewer: plain, recursive through parents, or recursive and gated by an intersection with `allowed`. */
type FolderShape = 'plain' | 'recursive' | 'gated';

/** `pureGroups`: group#member names no condition, so Check decides group usersets from the subject's closure. */
function buildModel(derived: Expr[], folder: FolderShape, pureGroups: boolean): AuthorizationModel {
  const docRel: Record<string, Userset> = { parent: { this: {} } };
  for (const b of BASE_DOC) docRel[b] = { this: {} };
  derived.forEach((e, i) => (docRel[`r${i}`] = toUserset(e)));
  const fromParent = { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } };
  const viewer: Userset =
    folder === 'plain'
      ? { this: {} }
      : folder === 'recursive'
        ? { union: { child: [{ this: {} }, fromParent] } }
        : { intersection: { child: [{ union: { child: [{ this: {} }, fromParent] } }, { computedUserset: { relation: 'allowed' } }] } };
  return {
    schema_version: '1.1',
    type_definitions: [
      { type: 'user' },
      {
        type: 'group',
        relations: { member: { this: {} } },
        metadata: {
          relations: { member: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }, ...(pureGroups ? [] : [{ type: 'user', condition: COND }])] } },
        },
      },
      {
        type: 'folder',
        relations: { parent: { this: {} }, allowed: { this: {} }, viewer },
        metadata: {
          relations: {
            parent: { directly_related_user_types: [{ type: 'folder' }] },
            allowed: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }] },
            viewer: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }, { type: 'user', condition: COND }] },
          },
        },
      },
      {
        type: 'document',
        relations: docRel,
        metadata: { relations: Object.fromEntries(Object.entries(DOC_RESTRICTIONS).map(([r, t]) => [r, { directly_related_user_types: t }])) },
      },
    ],
    conditions: { [COND]: { name: COND, expression: 'x > 1', parameters: { x: { type_name: 'TYPE_NAME_INT' } } } },
  };
}

type Drawn = RelationTuple & { contextual: boolean };

const tupleArb: fc.Arbitrary<Drawn> = fc
  .oneof(
    fc.record({ o: fc.constantFrom(...GROUPS), s: fc.constantFrom(...USERS, '*') }).map(({ o, s }) => ['group', o, 'member', 'user', s, '']),
    { weight: 3, arbitrary: fc.record({ o: fc.constantFrom(...GROUPS), s: fc.constantFrom(...GROUPS) }).map(({ o, s }) => ['group', o, 'member', 'group', s, 'member']) },
    // Any parent, cycles included.
    { weight: 2, arbitrary: fc.record({ o: fc.constantFrom(...FOLDERS), s: fc.constantFrom(...FOLDERS) }).map(({ o, s }) => ['folder', o, 'parent', 'folder', s, '']) },
    fc.record({ o: fc.constantFrom(...FOLDERS), s: fc.constantFrom(...USERS) }).map(({ o, s }) => ['folder', o, 'viewer', 'user', s, '']),
    fc.record({ o: fc.constantFrom(...FOLDERS), s: fc.constantFrom(...USERS, '*') }).map(({ o, s }) => ['folder', o, 'allowed', 'user', s, '']),
    fc.record({ o: fc.constantFrom(...FOLDERS), s: fc.constantFrom(...GROUPS) }).map(({ o, s }) => ['folder', o, 'viewer', 'group', s, 'member']),
    fc.record({ o: fc.constantFrom(...DOCS), s: fc.constantFrom(...FOLDERS) }).map(({ o, s }) => ['document', o, 'parent', 'folder', s, '']),
    fc.record({ o: fc.constantFrom(...DOCS), r: fc.constantFrom(...BASE_DOC), s: fc.constantFrom(...USERS) }).map(({ o, r, s }) => ['document', o, r, 'user', s, '']),
    fc.record({ o: fc.constantFrom(...DOCS), r: fc.constantFrom('blocked', 'shared') }).map(({ o, r }) => ['document', o, r, 'user', '*', '']),
    fc.record({ o: fc.constantFrom(...DOCS), r: fc.constantFrom('editor', 'shared'), s: fc.constantFrom(...GROUPS) }).map(({ o, r, s }) => ['document', o, r, 'group', s, 'member']),
    { weight: 2, arbitrary: fc.record({ o: fc.constantFrom(...DOCS), s: fc.constantFrom(...DOCS) }).map(({ o, s }) => ['document', o, 'deep', 'document', s, 'deep']) },
  )
  .chain((p) =>
    fc
      .record({
        expired: fc.integer({ min: 0, max: 19 }).map((n) => n < 2),
        // Conditioned on a quarter of the tuples: x missing (request context decides), true or false.
        condition: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, fc.constantFrom<Record<string, unknown>>({}, { x: 2 }, { x: 0 })),
        contextual: fc.boolean(),
      })
      .map(({ expired, condition, contextual }) => ({
        objectType: p[0]!,
        objectId: p[1]!,
        relation: p[2]!,
        subjectType: p[3]!,
        subjectId: p[4]!,
        subjectRelation: p[5]!,
        expiresAt: expired ? '2026-01-01T00:00:00Z' : null,
        condition: condition === null || p[4] === '*' ? null : { name: COND, context: condition },
        contextual,
      })),
  );

type Verdict = boolean | string;

function checkVerdict(ev: Evaluator, view: GraphView, model: CompiledModel, q: Q, context: Record<string, unknown> | undefined): Verdict {
  try {
    return ev.checkNodes(view, model, q.st, q.sn, q.sr, q.on, q.rel, NOW, context);
  } catch (err) {
    return (err as { code: string }).code;
  }
}

function explainVerdict(e: Explanation): Verdict {
  const m = /^error: ([a-z_]+):/.exec(e.summary);
  if (m) {
    expect(e.decision).toBe(false);
    return m[1]!;
  }
  return e.decision;
}

interface Q {
  st: number;
  sn: number;
  sr: number;
  on: number;
  rel: number;
}

/**
 * A separate walk over the model's JSON and the drawn tuples: the possible indexes after a valid
 * derivation of `obj#rel` from `steps[i]` (several when a union could consume the steps in more
 * than one way). `subject` is `type:id` or `type:id#relation`.
 */
function pathChecker(model: AuthorizationModel, tuples: Drawn[], context: Record<string, unknown> | undefined, subject: string, maxDepth: number, steps: ExplainStep[]) {
  const usable = new Set<string>();
  for (const t of tuples) {
    if (t.expiresAt && Date.parse(t.expiresAt) <= NOW) continue;
    if (t.condition) {
      const x = { ...(context ?? {}), ...(t.condition.context ?? {}) }.x;
      if (typeof x !== 'number' || !(x > 1)) continue;
    }
    usable.add(`${t.objectType}:${t.objectId}#${t.relation}@${t.subjectType}:${t.subjectId}${t.subjectRelation ? `#${t.subjectRelation}` : ''}`);
  }
  const td = (type: string) => model.type_definitions.find((t) => t.type === type)!;
  const admits = (type: string, rel: string, sType: string, sRel: string, wildcard: boolean) =>
    (td(type).metadata?.relations?.[rel]?.directly_related_user_types ?? []).some((r) => r.type === sType && (wildcard ? !!r.wildcard : !r.wildcard && (r.relation ?? '') === sRel));
  const [sObj, sRel = ''] = subject.split('#') as [string, string?];
  const sType = sObj.split(':')[0]!;
  const typeOf = (obj: string) => obj.split(':')[0]!;
  const inRel = (obj: string, rel: string, i: number, depth: number): number[] => {
    if (depth > maxDepth) return [];
    const us = td(typeOf(obj)).relations?.[rel];
    return us ? inUs(obj, rel, us, i, depth) : [];
  };
  const inUs = (obj: string, rel: string, us: Userset, i: number, depth: number): number[] => {
    const s = steps[i];
    const here = `${obj}#${rel}`;
    if ('this' in us) {
      if (!s || s.at !== here || !s.tuple || !usable.has(s.tuple) || !s.tuple.startsWith(`${here}@`)) return [];
      const target = s.tuple.slice(here.length + 1);
      if (s.kind === 'direct') return target === subject && admits(typeOf(obj), rel, sType, sRel, false) ? [i + 1] : [];
      if (s.kind === 'wildcard') return sRel === '' && target === `${sType}:*` && admits(typeOf(obj), rel, sType, '', true) ? [i + 1] : [];
      if (s.kind !== 'userset') return [];
      const [m, usr] = target.split('#') as [string, string];
      return usr && admits(typeOf(obj), rel, typeOf(m), usr, false) ? inRel(m, usr, i + 1, depth + 1) : [];
    }
    if ('computedUserset' in us) return s?.kind === 'computed' && s.at === here ? inRel(obj, us.computedUserset.relation, i + 1, depth + 1) : [];
    if ('tupleToUserset' in us) {
      const ts = us.tupleToUserset.tupleset.relation;
      if (s?.kind !== 'ttu' || s.at !== here || !s.tuple || !usable.has(s.tuple) || !s.tuple.startsWith(`${obj}#${ts}@`)) return [];
      const p = s.tuple.slice(`${obj}#${ts}@`.length);
      return !p.includes('#') && admits(typeOf(obj), ts, typeOf(p), '', false) ? inRel(p, us.tupleToUserset.computedUserset.relation, i + 1, depth + 1) : [];
    }
    if ('union' in us) return us.union.child.flatMap((c) => inUs(obj, rel, c, i, depth));
    if ('intersection' in us) {
      if (s?.kind !== 'intersection' || s.at !== here) return [];
      let ends = [i + 1];
      for (const c of us.intersection.child) ends = ends.flatMap((e) => inUs(obj, rel, c, e, depth + 1));
      return ends;
    }
    // The subtracted part not holding is the verdict's business (compared with Check).
    return s?.kind === 'difference' && s.at === here ? inUs(obj, rel, us.difference.base, i + 1, depth + 1) : [];
  };
  return (obj: string, rel: string) => inRel(obj, rel, 0, 0).includes(steps.length);
}

const SUBJECTS = [...USERS.map((u) => `user:${u}`), 'user:unnamed', 'user:*', ...GROUPS.map((g) => `group:${g}#member`), 'document:d0#deep'];
const CONTEXTS: Array<Record<string, unknown> | undefined> = [undefined, { x: 2 }, { x: 0 }];

describe('Explain agrees with Check (fast-check)', () => {
  it('same verdict (allowed, denied or error code) and a real granting path, on the layered and the stored view', () => {
    fc.assert(
      fc.property(
        fc.tuple(expr(0), expr(1), expr(2)),
        fc.constantFrom<FolderShape>('plain', 'recursive', 'gated'),
        fc.array(tupleArb, { minLength: 0, maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(...CONTEXTS),
        fc.boolean(),
        (derived, folder, drawn, maxDepth, context, pureGroups) => {
          const model = buildModel(derived, folder, pureGroups);
          const tuples = pureGroups ? drawn.map((t) => (t.objectType === 'group' ? { ...t, condition: null } : t)) : drawn;
          const index = new TupleIndex();
          const compiled = compileModel(model, index.symbols);
          const stored = index.storeForWrite('t', 's');
          const seen = new Set<string>();
          const uniq = tuples.filter((t) => {
            const k = `${t.objectType}:${t.objectId}#${t.relation}@${t.subjectType}:${t.subjectId}#${t.subjectRelation}`;
            if (seen.has(k)) return false;
            seen.add(k);
            return true;
          });
          for (const t of uniq) if (!t.contextual) stored.write(t);
          const ext = new ExtendedNodeSpace(index.space('t'));
          const ctxGraph = new StoreGraph(index.symbols, ext);
          for (const t of uniq) if (t.contextual) ctxGraph.write(t);
          const layered = new LayeredView(index.symbols, ext, stored, undefined, new Set(), ctxGraph);
          const ev = new Evaluator({ maxDepth });
          const sym = index.symbols;
          const relations = [...BASE_DOC, 'r0', 'r1', 'r2'];
          for (const [viewName, view, visible] of [
            ['layered', layered, uniq],
            ['stored', stored, uniq.filter((t) => !t.contextual)],
          ] as const) {
            for (const rel of relations) {
              for (const s of SUBJECTS) {
                const [obj, srel = ''] = s.split('#') as [string, string?];
                const [stName, sid] = obj.split(':') as [string, string];
                const st = sym.types.lookup(stName);
                const q0 = { st, sn: st < 0 ? -1 : view.lookupNodeOfType(st, sid), sr: srel ? sym.relations.lookup(srel) : 0, rel: sym.relations.lookup(rel) };
                for (const d of DOCS) {
                  const on = view.lookupNode('document', d);
                  if (on < 0) continue;
                  const q = { ...q0, on };
                  const want = checkVerdict(ev, view, compiled, q, context);
                  const e = explainCheck(ev, view, compiled, { type: q.st, node: q.sn, relation: q.sr }, on, q.rel, NOW, context);
                  const got = explainVerdict(e);
                  const where = `${viewName}: ${s} ${rel} document:${d} (maxDepth ${maxDepth}, context ${JSON.stringify(context)})`;
                  if (got !== want) {
                    throw new Error(`${where}: Check ${want}, Explain ${got} (${e.summary})\n${JSON.stringify(model.type_definitions.slice(2).map((t) => t.relations))}\n${visible.map((t) => JSON.stringify(t)).join('\n')}`);
                  }
                  if (got === true) {
                    const valid = pathChecker(model, visible, context, s, maxDepth, e.path)(`document:${d}`, rel);
                    if (!valid) throw new Error(`${where}: not a granting path: ${JSON.stringify(e.path)}\n${visible.map((t) => JSON.stringify(t)).join('\n')}`);
                  } else {
                    expect(e.path).toEqual([]);
                  }
                }
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
