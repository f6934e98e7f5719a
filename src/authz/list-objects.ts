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
 *   parts (`viewer but not blocked` = walk(viewer) minus walk(blocked); intersection likewise);
 *   `this` and tuple-to-userset directly under an intersection or exclusion are exact reverse
 *   steps from the exact sets of the usersets and parents they name (for a plain subject), so
 *   `([user, team#member] or viewer from parent) but not blocked` never checks object by object.
 * - What remains (a conditional edge met, a userset subject there, a cycle through intersection
 *   or exclusion) gives candidates from an unfiltered walk, each decided by Check.
 * Either way the result is the set of objects for which Check is true.
 */
import type { GraphView } from './graph.js';
import type { Evaluator } from './evaluator.js';
import { isGatehouseError } from '../kernel/errors.js';
import { analyse, type ModelAnalysis } from './model-analysis.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';

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

/** The result of a reverse walk. */
interface Walked {
  /** False when a conditional edge was met (the exact walk cannot decide it). */
  exact: boolean;
  /** Objects reached within `deepAfter` hops of the subject. */
  nodes: number[];
  /** The greatest number of hops at which an object of `nodes` was reached (0 when none). */
  span: number;
  /** Objects first reached past `deepAfter` hops (null when none: no allocation in the common case). */
  deep: number[] | null;
}

/**
 * The reverse walk for `objectType#relation`. With `exact`, edges are filtered as Check filters
 * them, and the result is exact unless a conditional edge is met (then `exact` comes back false).
 * Without, the result is a superset (candidates).
 *
 * Hops are counted as Check counts its depth from the object (one per userset, computed relation
 * and tuple-to-userset parent): an object found at h hops has a path to the subject of h hops.
 * The walk is depth-first, so h is the length of the first path found, not always the shortest;
 * objects first found past `deepAfter` hops go to `deep`, for Check to decide.
 */
function walk(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, objectType: number, relation: number, exactMode: boolean, nowMs: number, limit = Infinity, deepAfter = Infinity): Walked {
  let exact = exactMode;
  const relevant = a.relevant(objectType, relation);
  const expandTargets = a.recursive(objectType, relation);
  const targetKey = restrictionKey(objectType, relation);
  const seen = new Set<number>();
  const found: number[] = [];
  let deep: number[] | null = null;
  let span = 0;
  // Triples (node, relation, hops from the subject).
  const stack: number[] = [];
  const push = (n: number, r: number, h: number) => {
    const tk = restrictionKey(view.typeOf(n), r);
    if (!relevant.has(tk)) return;
    const kk = n * 4096 + r;
    if (seen.has(kk)) return;
    seen.add(kk);
    if (tk === targetKey) {
      if (h > deepAfter) (deep ??= []).push(n);
      else {
        found.push(n);
        if (h > span) span = h;
      }
      if (!expandTargets) return;
    }
    stack.push(n, r, h);
  };
  // Reverse tuple edges o#r@x#xr: the subject (or a userset containing it) is named by o#r.
  const reverse = (x: number, xr: number, viaWildcard: boolean, h: number) => {
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
        push(o, r, h);
      };
      if (typeof set === 'number') each(set);
      else for (const o of set) each(o);
    }
  };
  if (q.subjectNode >= 0) reverse(q.subjectNode, q.subjectRelation, false, 0);
  if (q.subjectRelation === 0) {
    const w = view.wildcardNode(q.subjectType);
    if (w >= 0 && w !== q.subjectNode) reverse(w, 0, true, 0);
  }
  while (stack.length > 0) {
    // Enough exact answers: stop (only the top-level exact walk passes a limit).
    if (exact && found.length >= limit) break;
    const h = (stack.pop() as number) + 1;
    const r = stack.pop() as number;
    const x = stack.pop() as number;
    const xt = view.typeOf(x);
    if (exact && !a.monotone(xt, r)) continue;
    reverse(x, r, false, h);
    for (const r2 of a.computedBy(xt, r)) push(x, r2, h);
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
        push(p, use.ownerRelation, h);
      };
      if (typeof parents === 'number') each(parents);
      else for (const p of parents) each(p);
    }
  }
  return { exact, nodes: found, span, deep };
}

/**
 * An exact object set, and its span: an upper bound of the depth (as Check counts it from the
 * object) at which the subject was found for any of its objects.
 */
interface Exact {
  set: Set<number>;
  span: number;
}

/**
 * How deep Check's expansion of a rewrite can go below the depth it starts at (one per userset,
 * computed relation, tuple-to-userset parent and operator operand, as the evaluator counts):
 * from the model alone ({@link Heights.staticRelation}, Infinity when a relation it reaches is recursive)
 * or from the data below one object ({@link Heights.dataRelation}, memoised, Infinity on a cycle). Used for
 * the subtracted part of an exclusion: the walks start from the subject, so they never see an
 * expansion from the object that passes the limit without reaching the subject, where Check
 * answers "unknown" (and fails with `resolution_too_complex`) instead of false.
 */
class Heights {
  private readonly statics = new Map<number, number>();
  private readonly data = new Map<number, number>();
  constructor(
    private readonly view: GraphView,
    private readonly model: CompiledModel,
    /** Past this, heights are not computed exactly (anything greater is as bad). */
    private readonly cap: number,
  ) {}

  /** Static height of `typeId#relation` (no data read). */
  staticRelation(typeId: number, relation: number): number {
    const key = restrictionKey(typeId, relation);
    const m = this.statics.get(key);
    if (m !== undefined) return m;
    const cr = this.model.relation(typeId, relation);
    if (!cr) return 0;
    this.statics.set(key, Infinity); // a cycle: recursive
    const h = this.staticRewrite(cr, cr.rewrite);
    this.statics.set(key, h);
    return h;
  }

  staticRewrite(cr: CompiledRelation, rw: Rewrite): number {
    switch (rw.kind) {
      case 'this': {
        let h = 0;
        for (const key of cr.directTypes) {
          const rel = key % 4096;
          if (rel === 0 || rel === WILDCARD_REL) continue;
          h = Math.max(h, 1 + this.staticRelation(Math.floor(key / 4096), rel));
        }
        return h;
      }
      case 'computed':
        return 1 + this.staticRelation(cr.typeId, rw.relation);
      case 'ttu': {
        const ts = this.model.relation(cr.typeId, rw.tupleset);
        let h = 0;
        if (ts) {
          for (const key of ts.directTypes) {
            if (key % 4096 !== 0) continue;
            const pt = Math.floor(key / 4096);
            if (this.model.relation(pt, rw.computed)) h = Math.max(h, 1 + this.staticRelation(pt, rw.computed));
          }
        }
        return h;
      }
      case 'union':
        return Math.max(0, ...rw.children.map((c) => this.staticRewrite(cr, c)));
      case 'intersection':
        return 1 + Math.max(0, ...rw.children.map((c) => this.staticRewrite(cr, c)));
      case 'difference':
        return 1 + Math.max(this.staticRewrite(cr, rw.base), this.staticRewrite(cr, rw.subtract));
    }
  }

  /** Height of Check's expansion of `node#relation` in the data. */
  dataRelation(node: number, relation: number): number {
    const key = node * 4096 + relation;
    const m = this.data.get(key);
    if (m !== undefined) return m;
    const cr = this.model.relation(this.view.typeOf(node), relation);
    if (!cr) return 0;
    this.data.set(key, Infinity); // a cycle: as bad as the limit
    const h = this.dataRewrite(node, cr, cr.rewrite);
    this.data.set(key, h);
    return h;
  }

  dataRewrite(node: number, cr: CompiledRelation, rw: Rewrite): number {
    const cap = this.cap;
    switch (rw.kind) {
      case 'this': {
        let h = 0;
        const usrs = cr.usersetRelations;
        for (let i = 0; i < usrs.length && h <= cap; i++) {
          const usr = usrs[i] as number;
          const set = this.view.subjects(node, cr.relationId, usr);
          if (set === undefined) continue;
          if (typeof set === 'number') h = Math.max(h, 1 + this.dataRelation(set, usr));
          else for (const m of set) if (h <= cap) h = Math.max(h, 1 + this.dataRelation(m, usr));
        }
        return h;
      }
      case 'computed':
        return 1 + this.dataRelation(node, rw.relation);
      case 'ttu': {
        let h = 0;
        const parents = this.view.subjects(node, rw.tupleset, 0);
        if (parents === undefined) return 0;
        const one = (p: number) => {
          if (h <= cap && this.model.relation(this.view.typeOf(p), rw.computed)) h = Math.max(h, 1 + this.dataRelation(p, rw.computed));
        };
        if (typeof parents === 'number') one(parents);
        else for (const p of parents) one(p);
        return h;
      }
      case 'union': {
        let h = 0;
        for (const c of rw.children) if (h <= cap) h = Math.max(h, this.dataRewrite(node, cr, c));
        return h;
      }
      case 'intersection': {
        let h = 0;
        for (const c of rw.children) if (h <= cap) h = Math.max(h, this.dataRewrite(node, cr, c));
        return 1 + h;
      }
      case 'difference':
        return 1 + Math.max(this.dataRewrite(node, cr, rw.base), this.dataRewrite(node, cr, rw.subtract));
    }
  }
}

/** Memo of one ListObjects: exact sets per `type#relation` key, and the keys being computed (cycles). */
interface ExactMemo {
  sets: Map<number, Exact | null>;
  active: Set<number>;
  /** The evaluator's depth limit. */
  maxDepth: number;
  /** Objects the top-level exact walk reached only past the depth limit (for Check to decide). */
  deep: number[] | null;
  /** Heights of subtracted parts (created on first exclusion). */
  heights: Heights | null;
}

/**
 * Adds to `out` the objects `o` of `objectType` with a tuple `o#relation@x#xr` that grants now.
 * @returns false when such a tuple carries a condition (the set algebra cannot decide it).
 */
function addReverse(view: GraphView, out: Set<number>, objectType: number, relation: number, x: number, xr: number, nowMs: number): boolean {
  const objs = view.objectsOf(x, xr, relation);
  if (objs === undefined) return true;
  if (typeof objs === 'number') return addOne(view, out, objectType, relation, objs, x, xr, nowMs);
  for (const o of objs) if (!addOne(view, out, objectType, relation, o, x, xr, nowMs)) return false;
  return true;
}

function addOne(view: GraphView, out: Set<number>, objectType: number, relation: number, o: number, x: number, xr: number, nowMs: number): boolean {
  if (view.typeOf(o) !== objectType) return true;
  const st = edgeState(view, o, relation, xr, x, nowMs);
  if (st === 'conditional') return false;
  if (st === 'ok') out.add(o);
  return true;
}

/**
 * Exact objects of `objectType` whose direct assignment (`this`) of `cr` holds the (plain, named)
 * subject: its own tuples, its type's wildcard, and usersets `T#r` of the exact set of `T#r`.
 * Mirrors the evaluator's direct step; null when undecidable here.
 */
function exactThis(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, cr: CompiledRelation, nowMs: number, depth: number, memo: ExactMemo): Exact | null {
  const out = new Set<number>();
  let span = 0;
  for (const key of cr.directTypes) {
    const t = Math.floor(key / 4096);
    const rel = key % 4096;
    if (rel === 0) {
      if (t === q.subjectType && q.subjectNode >= 0 && !addReverse(view, out, cr.typeId, cr.relationId, q.subjectNode, 0, nowMs)) return null;
    } else if (rel === WILDCARD_REL) {
      const w = t === q.subjectType ? view.wildcardNode(t) : -1;
      if (w >= 0 && !addReverse(view, out, cr.typeId, cr.relationId, w, 0, nowMs)) return null;
    } else {
      const members = exactSet(view, model, a, q, t, rel, nowMs, depth + 1, memo);
      if (!members) return null;
      if (members.set.size > 0 && members.span + 1 > span) span = members.span + 1;
      for (const m of members.set) if (!addReverse(view, out, cr.typeId, cr.relationId, m, rel, nowMs)) return null;
    }
  }
  return { set: out, span };
}

/** Exact objects of `objectType` for `computed from tupleset`: parents in the exact set of `P#computed`. */
function exactTtu(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, objectType: number, tupleset: number, computed: number, nowMs: number, depth: number, memo: ExactMemo): Exact | null {
  const out = new Set<number>();
  let span = 0;
  const ts = model.relation(objectType, tupleset);
  if (!ts) return { set: out, span };
  for (const key of ts.directTypes) {
    if (key % 4096 !== 0) continue;
    const pt = Math.floor(key / 4096);
    if (!model.relation(pt, computed)) continue;
    const parents = exactSet(view, model, a, q, pt, computed, nowMs, depth + 1, memo);
    if (!parents) return null;
    if (parents.set.size > 0 && parents.span + 1 > span) span = parents.span + 1;
    for (const p of parents.set) if (!addReverse(view, out, objectType, tupleset, p, 0, nowMs)) return null;
  }
  return { set: out, span };
}

/**
 * Exact object set of `objectType#relation` by set algebra over exact walks; null when not
 * possible (a conditional edge, a cycle through intersection or exclusion, nesting past 8, or a
 * userset subject). Returned sets are never mutated (they are memoized).
 */
function exactSet(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, objectType: number, relation: number, nowMs: number, depth: number, memo: ExactMemo, limit = Infinity): Exact | null {
  if (depth > 8) return null;
  const key = restrictionKey(objectType, relation);
  if (limit === Infinity && memo.sets.has(key)) return memo.sets.get(key) as Exact | null;
  if (memo.active.has(key)) return null;
  memo.active.add(key);
  try {
    const result = computeExact(view, model, a, q, objectType, relation, nowMs, depth, memo, limit);
    if (limit === Infinity) memo.sets.set(key, result);
    return result;
  } finally {
    memo.active.delete(key);
  }
}

function computeExact(view: GraphView, model: CompiledModel, a: ModelAnalysis, q: ListObjectsQuestion, objectType: number, relation: number, nowMs: number, depth: number, memo: ExactMemo, limit: number): Exact | null {
  if (a.monotone(objectType, relation)) {
    // Only the top-level walk (depth 0: Check's own depth 0) sets objects past the limit aside;
    // below an operator the walk's span says how deep it went.
    const w = walk(view, model, a, q, objectType, relation, true, nowMs, limit, depth === 0 ? memo.maxDepth : Infinity);
    if (!w.exact) return null;
    if (w.deep !== null) memo.deep = w.deep;
    return { set: new Set(w.nodes), span: w.span };
  }
  const cr = model.relation(objectType, relation);
  if (!cr) return { set: new Set(), span: 0 };
  // `this` and tuple-to-userset under intersection / exclusion need a plain subject (the walk handles usersets).
  const plain = q.subjectRelation === 0;
  // Spans follow Check's depth: +1 for a computed relation, a parent, a userset, and an operand of
  // an intersection or exclusion (evaluated as its own question one level down).
  const ev = (rw: Rewrite): Exact | null => {
    switch (rw.kind) {
      case 'this':
        return plain ? exactThis(view, model, a, q, cr, nowMs, depth, memo) : null;
      case 'ttu':
        return plain ? exactTtu(view, model, a, q, objectType, rw.tupleset, rw.computed, nowMs, depth, memo) : null;
      case 'computed': {
        const s = exactSet(view, model, a, q, objectType, rw.relation, nowMs, depth + 1, memo);
        return s && { set: s.set, span: s.span + 1 };
      }
      case 'union': {
        const out = new Set<number>();
        let span = 0;
        for (const c of rw.children) {
          const s = ev(c);
          if (!s) return null;
          if (s.span > span) span = s.span;
          for (const n of s.set) out.add(n);
        }
        return { set: out, span };
      }
      case 'intersection': {
        let out: Set<number> | null = null;
        let span = 0;
        for (const c of rw.children) {
          const s = ev(c);
          if (!s) return null;
          if (s.span + 1 > span) span = s.span + 1;
          if (out === null) out = s.set;
          else {
            const both = new Set<number>();
            for (const n of out) if (s.set.has(n)) both.add(n);
            out = both;
          }
        }
        return { set: out ?? new Set(), span };
      }
      case 'difference': {
        const base = ev(rw.base);
        if (!base || base.set.size === 0) return base;
        const sub = ev(rw.subtract);
        if (!sub) return null;
        const out = new Set<number>();
        for (const n of base.set) if (!sub.set.has(n)) out.add(n);
        // For the objects kept, Check must find the subtracted part false, not "unknown": its
        // expansion must stay within the limit. Bounded by the model unless it reaches a recursive
        // relation; only then is the data below each kept object measured.
        const hs = (memo.heights ??= new Heights(view, model, memo.maxDepth));
        let h = hs.staticRewrite(cr, rw.subtract);
        if (h === Infinity) {
          h = 0;
          for (const o of out) {
            h = Math.max(h, hs.dataRewrite(o, cr, rw.subtract));
            if (h > memo.maxDepth) break;
          }
        }
        return { set: out, span: Math.max(base.span, sub.span, h) + 1 };
      }
    }
  };
  return ev(cr.rewrite);
}

/**
 * Check for one candidate; an object whose Check fails with `resolution_too_complex` (its answer
 * depends on a path past the depth limit) is not listed.
 * @throws GatehouseError `condition_error` as Check does.
 */
function holds(ev: Evaluator, view: GraphView, model: CompiledModel, q: ListObjectsQuestion, o: number, nowMs: number, context: Record<string, unknown> | undefined): boolean {
  try {
    return ev.checkNodes(view, model, q.subjectType, q.subjectNode, q.subjectRelation, o, q.relation, nowMs, context);
  } catch (err) {
    if (isGatehouseError(err, 'resolution_too_complex')) return false;
    throw err;
  }
}

/**
 * Object nodes of `q.objectType` for which Check(subject, relation, object) is true, up to `limit`.
 * An object whose Check would fail with `resolution_too_complex` is not listed. The walks count
 * Check's depth; when no path reaches the limit (the common case) nothing else is done. An exact
 * walk sets the objects it reached only past the limit aside and Check decides each of them; set
 * algebra whose span passes the limit falls back to Check per candidate.
 * @throws GatehouseError `condition_error` as Check does.
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
    const memo: ExactMemo = { sets: new Map(), active: new Set(), maxDepth: ev.maxDepth, deep: null, heights: null };
    const exact = exactSet(view, model, a, q, q.objectType, q.relation, nowMs, 0, memo, limit);
    if (exact && exact.span <= ev.maxDepth) {
      const out: number[] = [];
      for (const n of exact.set) {
        if (out.length >= limit) break;
        out.push(n);
      }
      // Reached only past the limit by the walk: Check (which may find a shorter path) decides.
      if (memo.deep !== null) {
        for (const o of memo.deep) {
          if (out.length >= limit) break;
          if (holds(ev, view, model, q, o, nowMs, context)) out.push(o);
        }
      }
      return out;
    }
  }
  // Candidates from an unfiltered walk, each decided by Check.
  const cands = walk(view, model, a, q, q.objectType, q.relation, false, nowMs).nodes;
  const out: number[] = [];
  for (const o of cands) {
    if (out.length >= limit) break;
    if (holds(ev, view, model, q, o, nowMs, context)) out.push(o);
  }
  return out;
}
