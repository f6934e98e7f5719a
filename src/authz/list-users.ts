/**
 * ListUsers (OpenFGA semantics): the subjects of the filtered types for which Check is true.
 *
 * A forward walk from `object#relation` through the rewrites (computed relations, tuple-to-userset
 * parents, usersets) collects candidate subjects: plain subjects, wildcards `type:*` and usersets
 * `type:id#relation`. When the relation is monotone and no conditional edge is met, the walk
 * applies the evaluator's filters and is exact; otherwise each candidate is decided by Check.
 * A wildcard is listed when Check is true for the wildcard subject itself.
 *
 * The walk counts Check's depth (one per computed relation, tuple-to-userset parent and userset);
 * a subject found only past the depth limit is decided by Check, and a subject whose Check fails
 * with `resolution_too_complex` is not listed.
 */
import type { GraphView } from './graph.js';
import type { Evaluator } from './evaluator.js';
import { analyse } from './model-analysis.js';
import { isGatehouseError } from '../kernel/errors.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';
import type { IdSet } from './idset.js';

/** A listed subject: node and subject relation (0 = plain, including a wildcard node). */
export interface ListedNode {
  node: number;
  subjectRelation: number;
}

/** A filter: subjects of `type` (relation 0) or usersets `type#relation`. */
export interface NodeFilter {
  type: number;
  relation: number;
}

function each(set: IdSet | undefined, fn: (n: number) => void): void {
  if (set === undefined) return;
  if (typeof set === 'number') fn(set);
  else for (const n of set) fn(n);
}

/**
 * Subjects matching `filters` for which Check(subject, relation, object) is true; a subject whose
 * Check would fail with `resolution_too_complex` is not listed.
 * @throws GatehouseError `condition_error` as Check does.
 */
export function listUserNodes(
  ev: Evaluator,
  view: GraphView,
  model: CompiledModel,
  object: number,
  relation: number,
  filters: NodeFilter[],
  nowMs: number,
  context: Record<string, unknown> | undefined,
  limit: number,
  isDisabled: (node: number) => boolean,
): ListedNode[] {
  const a = analyse(model);
  const maxDepth = ev.maxDepth;
  /** Check for one candidate; false when it fails with `resolution_too_complex`. */
  const holds = (c: ListedNode): boolean => {
    try {
      return ev.checkNodes(view, model, view.typeOf(c.node), c.node, c.subjectRelation, object, relation, nowMs, context);
    } catch (err) {
      if (isGatehouseError(err, 'resolution_too_complex')) return false;
      throw err;
    }
  };
  const run = (exactMode: boolean): { exact: boolean; out: ListedNode[] } => {
    let exact = exactMode;
    const seen = new Set<number>();
    const cands = new Map<number, ListedNode>();
    /** Candidates found only past the depth limit so far (null when none: nothing allocated). */
    let deep: Set<number> | null = null;
    // Triples (node, relation, depth as Check counts it from the object).
    const stack: number[] = [];
    const wanted = (t: number, sr: number) => filters.some((f) => f.type === t && f.relation === sr);
    const candidate = (n: number, sr: number, d: number) => {
      if (!wanted(view.typeOf(n), sr)) return;
      const key = n * 4096 + sr;
      if (d > maxDepth) {
        if (!cands.has(key)) (deep ??= new Set()).add(key);
      } else if (deep !== null) deep.delete(key);
      cands.set(key, { node: n, subjectRelation: sr });
    };
    const push = (n: number, r: number, d: number) => {
      const kk = n * 4096 + r;
      if (seen.has(kk)) return;
      seen.add(kk);
      stack.push(n, r, d);
    };
    const state = (o: number, r: number, sr: number, s: number): boolean => {
      if (!view.hasMeta(o)) return true;
      const m = view.edgeMeta(o, r, sr, s);
      if (!m) return true;
      if (m.expiresAtMs <= nowMs) return !exact; // expired: skip when exact; keep as candidate otherwise
      if (m.condition) exact = false;
      return true;
    };
    const walk = (o: number, cr: CompiledRelation, rw: Rewrite, d: number): void => {
      switch (rw.kind) {
        case 'this': {
          const row = view.subjectRow(o, cr.relationId);
          if (!row) return;
          for (let sr = 0; sr < row.length; sr++) {
            each(row[sr], (s) => {
              const st = view.typeOf(s);
              if (exact) {
                const wild = sr === 0 && view.wildcardNode(st) === s;
                if (!cr.directTypes.has(restrictionKey(st, wild ? WILDCARD_REL : sr))) return;
              }
              if (!state(o, cr.relationId, sr, s)) return;
              candidate(s, sr, d);
              if (sr !== 0) push(s, sr, d + 1);
            });
          }
          return;
        }
        case 'computed':
          push(o, rw.relation, d + 1);
          return;
        case 'ttu': {
          const ts = model.relation(cr.typeId, rw.tupleset);
          each(view.subjects(o, rw.tupleset, 0), (p) => {
            const pt = view.typeOf(p);
            if (!model.relation(pt, rw.computed)) return;
            if (exact && !ts?.directTypes.has(restrictionKey(pt, 0))) return;
            if (!state(o, rw.tupleset, 0, p)) return;
            push(p, rw.computed, d + 1);
          });
          return;
        }
        case 'union':
        case 'intersection':
          for (const c of rw.children) walk(o, cr, c, d);
          return;
        case 'difference':
          walk(o, cr, rw.base, d);
          walk(o, cr, rw.subtract, d);
          return;
      }
    };
    push(object, relation, 0);
    while (stack.length > 0) {
      const d = stack.pop() as number;
      const r = stack.pop() as number;
      const o = stack.pop() as number;
      const cr = model.relation(view.typeOf(o), r);
      if (cr) walk(o, cr, cr.rewrite, d);
    }
    // (TypeScript does not see the closures' writes to `deep`.)
    const deepKeys = deep as Set<number> | null;
    const out: ListedNode[] = [];
    for (const [key, c] of cands) {
      if (out.length >= limit) break;
      if (c.subjectRelation === 0 && isDisabled(c.node)) continue;
      if ((exact && (deepKeys === null || !deepKeys.has(key))) || holds(c)) out.push(c);
    }
    return { exact, out };
  };
  const monotone = a.monotone(view.typeOf(object), relation);
  if (monotone) {
    const first = run(true);
    if (first.exact) return first.out;
  }
  return run(false).out;
}
