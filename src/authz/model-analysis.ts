/**
 * Tables derived from a compiled model for the list operations (cached on the model):
 *
 * - `monotone(type, relation)`: the relation is built from `this`, computed relations,
 *   tuple-to-userset and union only, and so is everything it reaches (usersets allowed by its type
 *   restrictions, computed relations, tupleset parents). For such a relation, walking the graph
 *   (reverse for ListObjects, forward for ListUsers) with the evaluator's edge filters gives exactly
 *   the Check answers; otherwise (intersection, exclusion) the walk gives candidates that are then
 *   checked one by one.
 * - `computedBy(type, relation)`: relations of the same type whose rewrite mentions it as a
 *   computed relation (anywhere in the tree).
 * - `ttuBy(relation)`: `(ownerType, ownerRelation, tupleset)` for every `relation from tupleset`.
 */
import { restrictionKey, type CompiledModel, type Rewrite } from './model.js';

export interface TtuUse {
  ownerType: number;
  ownerRelation: number;
  tupleset: number;
}

export interface ModelAnalysis {
  monotone(typeId: number, relationId: number): boolean;
  /** `type*4096+relation` keys of every relation `type#relation` depends on, itself included. */
  relevant(typeId: number, relationId: number): ReadonlySet<number>;
  /**
   * True when `type#relation` is pure direct assignment whose usersets are all `U#relation` of the
   * same relation name, themselves pure (like `group#member: [user, group#member]`): membership is
   * then exactly reachability over reverse edges of that one relation.
   */
  pure(typeId: number, relationId: number): boolean;
  /** True when `type#relation` depends on itself (recursion such as `viewer from parent`). */
  recursive(typeId: number, relationId: number): boolean;
  computedBy(typeId: number, relationId: number): readonly number[];
  ttuBy(relationId: number): readonly TtuUse[];
  /**
   * The tupleset relation when `type#relation` is a self-recursive parent chain — exactly
   * `this` or `relation from tupleset` (a union of those two, like
   * `define viewer: [user, team#member] or viewer from parent`) — else -1 (chain-memo.ts).
   */
  chain(typeId: number, relationId: number): number;
}

const KEY = 'model-analysis';
const EMPTY: readonly never[] = [];

/** The analysis of `model`, computed once. */
export function analyse(model: CompiledModel): ModelAnalysis {
  const cached = model.derived.get(KEY) as ModelAnalysis | undefined;
  if (cached) return cached;
  const rels = [...model.relations()];
  const k = (t: number, r: number) => restrictionKey(t, r);
  const computedBy = new Map<number, number[]>();
  const ttuBy = new Map<number, TtuUse[]>();
  const deps = new Map<number, number[]>();
  const mono = new Map<number, boolean>();
  for (const cr of rels) {
    const own = k(cr.typeId, cr.relationId);
    const d: number[] = [];
    let shapeOk = true;
    const walk = (rw: Rewrite): void => {
      switch (rw.kind) {
        case 'this':
          for (const key of cr.directTypes) {
            const rel = key % 4096;
            if (rel !== 0 && rel !== 0xfff) d.push(key);
          }
          return;
        case 'computed': {
          const list = computedBy.get(k(cr.typeId, rw.relation)) ?? [];
          if (!list.includes(cr.relationId)) list.push(cr.relationId);
          computedBy.set(k(cr.typeId, rw.relation), list);
          d.push(k(cr.typeId, rw.relation));
          return;
        }
        case 'ttu': {
          const list = ttuBy.get(rw.computed) ?? [];
          list.push({ ownerType: cr.typeId, ownerRelation: cr.relationId, tupleset: rw.tupleset });
          ttuBy.set(rw.computed, list);
          const ts = model.relation(cr.typeId, rw.tupleset);
          for (const key of ts?.directTypes ?? []) {
            const pt = Math.floor(key / 4096);
            if (key % 4096 === 0 && model.relation(pt, rw.computed)) d.push(k(pt, rw.computed));
          }
          return;
        }
        case 'union':
          for (const c of rw.children) walk(c);
          return;
        case 'intersection':
          shapeOk = false;
          for (const c of rw.children) walk(c);
          return;
        case 'difference':
          shapeOk = false;
          walk(rw.base);
          walk(rw.subtract);
          return;
      }
    };
    walk(cr.rewrite);
    deps.set(own, d);
    mono.set(own, shapeOk);
  }
  // Greatest fixpoint: a relation stays monotone while everything it depends on does.
  for (let changed = true; changed; ) {
    changed = false;
    for (const [key, ok] of mono) {
      if (!ok) continue;
      for (const dep of deps.get(key) ?? []) {
        if (mono.get(dep) === false || !mono.has(dep)) {
          mono.set(key, false);
          changed = true;
          break;
        }
      }
    }
  }
  const pure = new Map<number, boolean>();
  for (const cr of rels) {
    let ok = cr.rewrite.kind === 'this' && cr.conditions.size === 0;
    for (const key of cr.directTypes) {
      const rel = key % 4096;
      if (rel !== 0 && rel !== 0xfff && rel !== cr.relationId) ok = false;
    }
    pure.set(k(cr.typeId, cr.relationId), ok);
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const cr of rels) {
      const own = k(cr.typeId, cr.relationId);
      if (!pure.get(own)) continue;
      for (const key of cr.directTypes) {
        const rel = key % 4096;
        if (rel !== 0 && rel !== 0xfff && pure.get(key) !== true) {
          pure.set(own, false);
          changed = true;
          break;
        }
      }
    }
  }
  // pure as [type][relation] flags: the evaluator asks it for every userset member.
  const pureRows: Array<Uint8Array | undefined> = [];
  for (const [key, ok] of pure) {
    if (!ok) continue;
    const t = Math.floor(key / 4096);
    (pureRows[t] ??= new Uint8Array(4096))[key % 4096] = 1;
  }
  // Self-recursive parent chains as [type][relation] → tupleset + 1 (0: not a chain).
  const chainRows: Array<Int16Array | undefined> = [];
  for (const cr of rels) {
    const rw = cr.rewrite;
    if (rw.kind !== 'union' || rw.children.length !== 2) continue;
    const [a0, a1] = rw.children as [Rewrite, Rewrite];
    const ttu = a0.kind === 'ttu' ? a0 : a1.kind === 'ttu' ? a1 : null;
    const other = ttu === a0 ? a1 : a0;
    if (ttu === null || ttu.kind !== 'ttu' || other.kind !== 'this' || ttu.computed !== cr.relationId || ttu.tupleset === cr.relationId) continue;
    (chainRows[cr.typeId] ??= new Int16Array(4096))[cr.relationId] = ttu.tupleset + 1;
  }
  const closures = new Map<number, { set: Set<number>; recursive: boolean }>();
  const closure = (t: number, r: number) => {
    const own = k(t, r);
    let c = closures.get(own);
    if (c) return c;
    const set = new Set<number>([own]);
    let recursive = false;
    const stack = [...(deps.get(own) ?? [])];
    while (stack.length > 0) {
      const d = stack.pop() as number;
      if (d === own) recursive = true;
      if (set.has(d)) continue;
      set.add(d);
      stack.push(...(deps.get(d) ?? []));
    }
    c = { set, recursive };
    closures.set(own, c);
    return c;
  };
  const a: ModelAnalysis = {
    relevant: (t, r) => closure(t, r).set,
    pure: (t, r) => pureRows[t]?.[r] === 1,
    recursive: (t, r) => closure(t, r).recursive,
    monotone: (t, r) => mono.get(k(t, r)) === true,
    computedBy: (t, r) => computedBy.get(k(t, r)) ?? EMPTY,
    ttuBy: (r) => ttuBy.get(r) ?? EMPTY,
    chain: (t, r) => (chainRows[t]?.[r] ?? 0) - 1,
  };
  model.derived.set(KEY, a);
  return a;
}
