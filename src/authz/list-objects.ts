/**
 * ListObjects (OpenFGA semantics): exactly the objects of a type for which Check is true.
 *
 * A reverse walk from the subject over the graph's reverse edges and the model's reverse rewrites
 * ({@link analyse}): starting at the subject (and the wildcard `type:*` of its type), each step
 * finds `object#relation`s the subject may be in — through a tuple naming it (directly or as a
 * userset), a computed relation, or a tuple-to-userset parent. When the asked relation is
 * monotone (no intersection or exclusion anywhere below it) and no conditional edge is met, the
 * walk applies the evaluator's own filters (type restrictions, expiry) and is exact. Otherwise the
 * walk only yields candidates, and each candidate is decided by Check. Either way the result is
 * the set of objects for which Check is true.
 */
import type { GraphView } from './graph.js';
import type { Evaluator } from './evaluator.js';
import { analyse } from './model-analysis.js';
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
  const exactAllowed = a.monotone(q.objectType, q.relation) && !(q.subjectNode >= 0 && q.subjectNode === view.wildcardNode(q.subjectType));
  let exact = exactAllowed;
  const seen = new Set<number>();
  const found: number[] = [];
  const stack: number[] = [];
  const key = (n: number, r: number) => n * 4096 + r;
  const push = (n: number, r: number) => {
    const kk = key(n, r);
    if (seen.has(kk)) return;
    seen.add(kk);
    stack.push(n, r);
    if (r === q.relation && view.typeOf(n) === q.objectType) found.push(n);
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
    const r = stack.pop() as number;
    const x = stack.pop() as number;
    const xt = view.typeOf(x);
    if (exact && !a.monotone(xt, r)) continue;
    reverse(x, r, false);
    for (const r2 of a.computedBy(xt, r)) push(x, r2);
    for (const use of a.ttuBy(r)) {
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
  if (exact) return found.length > limit ? found.slice(0, limit) : found;
  // Candidates only: decide each by Check. A walk that turned inexact midway is redone in full.
  if (exactAllowed) return listObjectNodesInexact(ev, view, model, q, nowMs, context, limit);
  const out: number[] = [];
  for (const o of found) {
    if (out.length >= limit) break;
    if (ev.checkNodes(view, model, q.subjectType, q.subjectNode, q.subjectRelation, o, q.relation, nowMs, context)) out.push(o);
  }
  return out;
}

function listObjectNodesInexact(
  ev: Evaluator,
  view: GraphView,
  model: CompiledModel,
  q: ListObjectsQuestion,
  nowMs: number,
  context: Record<string, unknown> | undefined,
  limit: number,
): number[] {
  // Same walk without filters (a superset), then Check.
  const a = analyse(model);
  const seen = new Set<number>();
  const cands: number[] = [];
  const stack: number[] = [];
  const push = (n: number, r: number) => {
    const kk = n * 4096 + r;
    if (seen.has(kk)) return;
    seen.add(kk);
    stack.push(n, r);
    if (r === q.relation && view.typeOf(n) === q.objectType) cands.push(n);
  };
  const reverse = (x: number, xr: number) => {
    const row = view.objectRow(x, xr);
    if (!row) return;
    for (let r = 1; r < row.length; r++) {
      const set = row[r];
      if (set === undefined) continue;
      if (typeof set === 'number') push(set, r);
      else for (const o of set) push(o, r);
    }
  };
  if (q.subjectNode >= 0) reverse(q.subjectNode, q.subjectRelation);
  if (q.subjectRelation === 0) {
    const w = view.wildcardNode(q.subjectType);
    if (w >= 0 && w !== q.subjectNode) reverse(w, 0);
  }
  while (stack.length > 0) {
    const r = stack.pop() as number;
    const x = stack.pop() as number;
    reverse(x, r);
    for (const r2 of a.computedBy(view.typeOf(x), r)) push(x, r2);
    for (const use of a.ttuBy(r)) {
      const parents = view.objectsOf(x, 0, use.tupleset);
      if (parents === undefined) continue;
      if (typeof parents === 'number') {
        if (view.typeOf(parents) === use.ownerType) push(parents, use.ownerRelation);
      } else for (const p of parents) if (view.typeOf(p) === use.ownerType) push(p, use.ownerRelation);
    }
  }
  const out: number[] = [];
  for (const o of cands) {
    if (out.length >= limit) break;
    if (ev.checkNodes(view, model, q.subjectType, q.subjectNode, q.subjectRelation, o, q.relation, nowMs, context)) out.push(o);
  }
  return out;
}
