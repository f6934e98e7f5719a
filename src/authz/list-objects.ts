/**
 * ListObjects (OpenFGA semantics): exactly the objects of a type for which Check is true.
 *
 * A reverse walk from the subject over the graph's reverse edges and the model's reverse rewrites
 * ({@link analyse}): starting at the subject (and the wildcard `type:*` of its type), each step
 * finds `object#relation`s the subject may be in — through a tuple naming it (directly or as a
 * userset), a computed relation, or a tuple-to-userset parent. Only relations the asked relation
 * depends on are visited, and found objects are expanded further only when the relation is
 * recursive.
 *
 * - A monotone relation (no intersection or exclusion below it): the walk applies the evaluator's
 *   own filters (type restrictions, expiry) and is exact.
 * - Otherwise the relation's rewrite is evaluated as set algebra over exact walks of its monotone
 *   parts (`viewer but not blocked` = walk(viewer) minus walk(blocked); intersection likewise).
 * - What remains (a conditional edge met, or `this` / tuple-to-userset directly under an
 *   intersection or exclusion) gives candidates from an unfiltered walk, each decided by Check.
 * Either way the result is the set of objects for which Check is true.
 */
import type { GraphView } from './graph.js';
import type { Evaluator } from './evaluator.js';
import { analyse, type ModelAnalysis } from './model-analysis.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type Rewrite } from './model.js';

/** The subject and question of a ListObjects, as interned ids. */
export interface ListObjectsQuestion {
  subjectType: number;
  /** -1 when no tuple names the subject. */
  subjectNode: number;
  subjectRelation: number;
  objectType: number;
  relation: number;
}

function usesThis(rw: Rewrite): boolean {
  switch (rw.kind) {
    case 'this':
      return true;
    case 'union':
      return rw.children.some(usesThis);
    default:
      return false;
  }
}

/** Expiry/condition of an edge: 'ok', 'expired' or 'conditional'. */
function edgeState(view: GraphView, o: number, r: number, sr: number, s: number, nowMs: number): 'ok' | 'expired' | 'conditional' {
  if (!view.hasMeta(o)) return 'ok';
  const m = view.edgeMeta(o, r, sr, s);
  if (!m) return 'ok';
  if (m.expiresAtMs <= nowMs) return 'expired';
  return m.condition ? 'conditional' : 'ok';
}

/**
 * The reverse walk for `objectType#relation`. With `exact`, edges are filtered as Check filters
 * them, and the result is exact unless a conditional edge is met (then `exact` comes back false).
 * Without, the result is a superset (candidates).
 */
function walk(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, objectType: number, relation: number, exactMode: boolean, nowMs: number, limit = Infinity): { exact: boolean; nodes: number[] } {
  let exact = exactMode;
  const relevant = a.relevant(objectType, relation);
  const expandTargets = a.recursive(objectType, relation);
  const targetKey = restrictionKey(objectType, relation);
  const seen = new Set<number>();
  const found: number[] = [];
  const stack: number[] = [];
  const push = (n: number, r: number) => {
    const tk = restrictionKey(view.typeOf(n), r);
    if (!relevant.has(tk)) return;
    const kk = n * 4096 + r;
    if (seen.has(kk)) return;
    seen.add(kk);
    if (tk === targetKey) {
      found.push(n);
      if (!expandTargets) return;
    }
    stack.push(n, r);
  };
  // Reverse tuple edges o#r@x#xr: the subject (or a userset containing it) is named by o#r.
  const reverse = (x: number, xr: number, viaWildcard: boolean) => {
    const row = view.objectRow(x, xr);
    if (!row) return;
    const xt = view.typeOf(x);
    for (let r = 1; r < row.length; r++) {
      const set = row[r];
      if (set === undefined) continue;
      const each = (o: number) => {
        if (exact) {
          const cr = model.relation(view.typeOf(o), r);
          if (!cr || !a.monotone(cr.typeId, r) || !usesThis(cr.rewrite)) return;
          if (!cr.directTypes.has(restrictionKey(xt, viaWildcard ? WILDCARD_REL : xr))) return;
          const st = edgeState(view, o, r, xr, x, nowMs);
          if (st === 'expired') return;
          if (st === 'conditional') exact = false;
        }
        push(o, r);
      };
      if (typeof set === 'number') each(set);
      else for (const o of set) each(o);
    }
  };
  if (q.subjectNode >= 0) reverse(q.subjectNode, q.subjectRelation, false);
  if (q.subjectRelation === 0) {
    const w = view.wildcardNode(q.subjectType);
    if (w >= 0 && w !== q.subjectNode) reverse(w, 0, true);
  }
  while (stack.length > 0) {
    // Enough exact answers: stop (only the top-level exact walk passes a limit).
    if (exact && found.length >= limit) break;
    const r = stack.pop() as number;
    const x = stack.pop() as number;
    const xt = view.typeOf(x);
    if (exact && !a.monotone(xt, r)) continue;
    reverse(x, r, false);
    for (const r2 of a.computedBy(xt, r)) push(x, r2);
    for (const use of a.ttuBy(r)) {
      if (!relevant.has(restrictionKey(use.ownerType, use.ownerRelation))) continue;
      const parents = view.objectsOf(x, 0, use.tupleset);
      if (parents === undefined) continue;
      const each = (p: number) => {
        if (view.typeOf(p) !== use.ownerType) return;
        if (exact) {
          const ts = model.relation(use.ownerType, use.tupleset);
          if (!ts || !ts.directTypes.has(restrictionKey(xt, 0))) return;
          const st = edgeState(view, p, use.tupleset, 0, x, nowMs);
          if (st === 'expired') return;
          if (st === 'conditional') exact = false;
        }
        push(p, use.ownerRelation);
      };
      if (typeof parents === 'number') each(parents);
      else for (const p of parents) each(p);
    }
  }
  return { exact, nodes: found };
}

/** Exact object set of `objectType#relation` by set algebra over exact walks; null when not possible. */
function exactSet(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, objectType: number, relation: number, nowMs: number, depth: number, limit = Infinity): Set<number> | null {
  if (depth > 8) return null;
  if (a.monotone(objectType, relation)) {
    const w = walk(view, model, a, q, objectType, relation, true, nowMs, limit);
    return w.exact ? new Set(w.nodes) : null;
  }
  const cr = model.relation(objectType, relation);
  if (!cr) return new Set();
  const ev = (rw: Rewrite): Set<number> | null => {
    switch (rw.kind) {
      case 'computed':
        return exactSet(view, model, a, q, objectType, rw.relation, nowMs, depth + 1);
      case 'union': {
        const out = new Set<number>();
        for (const c of rw.children) {
          const s = ev(c);
          if (!s) return null;
          for (const n of s) out.add(n);
        }
        return out;
      }
      case 'intersection': {
        let out: Set<number> | null = null;
        for (const c of rw.children) {
          const s = ev(c);
          if (!s) return null;
          if (out === null) out = s;
          else {
            const both = new Set<number>();
            for (const n of out) if (s.has(n)) both.add(n);
            out = both;
          }
        }
        return out ?? new Set();
      }
      case 'difference': {
        const base = ev(rw.base);
        if (!base || base.size === 0) return base;
        const sub = ev(rw.subtract);
        if (!sub) return null;
        for (const n of sub) base.delete(n);
        return base;
      }
      default:
        return null;
    }
  };
  return ev(cr.rewrite);
}

/**
 * Object nodes of `q.objectType` for which Check(subject, relation, object) is true, up to `limit`.
 * @throws GatehouseError `resolution_too_complex` / `condition_error` as Check does.
 */
export function listObjectNodes(
  ev: Evaluator,
  view: GraphView,
  model: CompiledModel,
  q: ListObjectsQuestion,
  nowMs: number,
  context: Record<string, unknown> | undefined,
  limit: number,
): number[] {
  const a = analyse(model);
  const subjectIsWildcard = q.subjectNode >= 0 && q.subjectNode === view.wildcardNode(q.subjectType);
  if (!subjectIsWildcard) {
    const exact = exactSet(view, model, a, q, q.objectType, q.relation, nowMs, 0, limit);
    if (exact) {
      const out: number[] = [];
      for (const n of exact) {
        if (out.length >= limit) break;
        out.push(n);
      }
      return out;
    }
  }
  // Candidates from an unfiltered walk, each decided by Check.
  const cands = walk(view, model, a, q, q.objectType, q.relation, false, nowMs).nodes;
  const out: number[] = [];
  for (const o of cands) {
    if (out.length >= limit) break;
    if (ev.checkNodes(view, model, q.subjectType, q.subjectNode, q.subjectRelation, o, q.relation, nowMs, context)) out.push(o);
  }
  return out;
}
