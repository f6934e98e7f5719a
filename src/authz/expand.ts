/**
 * Expand (OpenFGA / Zanzibar §2.4.5): one level of the userset tree of `object#relation`, in
 * OpenFGA's `UsersetTree` JSON shape. Leaves list direct subjects (`user:ann`, `user:*`,
 * `group:eng#member`), name computed usersets, or name the tuple-to-userset's parents; callers
 * expand further by calling Expand on those names. Expired tuples are left out, and so are tuples
 * the model's type restrictions do not admit (written under an older model: Check ignores them,
 * and OpenFGA filters them out of Expand too); conditional tuples are listed (Expand does not
 * evaluate conditions, as OpenFGA).
 */
import type { GraphView } from './graph.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';
import type { UsersetTreeNode } from './contract.js';
import type { IdSet } from './idset.js';

function members(set: IdSet | undefined): number[] {
  if (set === undefined) return [];
  if (typeof set === 'number') return [set];
  return [...set];
}

/** The userset tree of `node#relation` (node -1: an object no tuple names). */
export function expandTree(view: GraphView, model: CompiledModel, objectType: string, objectId: string, node: number, cr: CompiledRelation, nowMs: number): UsersetTreeNode {
  const obj = `${objectType}:${objectId}`;
  const symbols = model.symbols;
  const rel = (r: number) => symbols.relations.name(r);
  const name = `${obj}#${cr.name}`;
  const fmt = (n: number) => {
    const d = view.describe(n);
    return `${d.type}:${d.id}`;
  };
  const live = (r: number, sr: number, s: number) => {
    if (!view.hasMeta(node)) return true;
    const m = view.edgeMeta(node, r, sr, s);
    return !m || m.expiresAtMs > nowMs;
  };
  const build = (rw: Rewrite): UsersetTreeNode => {
    switch (rw.kind) {
      case 'this': {
        const users: string[] = [];
        const row = node >= 0 ? view.subjectRow(node, cr.relationId) : undefined;
        if (row) {
          for (let sr = 0; sr < row.length; sr++) {
            for (const s of members(row[sr])) {
              const st = view.typeOf(s);
              const key = restrictionKey(st, sr === 0 && view.wildcardNode(st) === s ? WILDCARD_REL : sr);
              if (cr.directTypes.has(key) && live(cr.relationId, sr, s)) users.push(sr === 0 ? fmt(s) : `${fmt(s)}#${rel(sr)}`);
            }
          }
        }
        users.sort();
        return { name, leaf: { users: { users } } };
      }
      case 'computed':
        return { name, leaf: { computed: { userset: `${obj}#${rel(rw.relation)}` } } };
      case 'ttu': {
        const computed: Array<{ userset: string }> = [];
        const ts = model.relation(cr.typeId, rw.tupleset);
        if (node >= 0 && ts) {
          for (const p of members(view.subjects(node, rw.tupleset, 0))) {
            const pt = view.typeOf(p);
            if (!ts.directTypes.has(restrictionKey(pt, 0)) || !live(rw.tupleset, 0, p) || !model.relation(pt, rw.computed)) continue;
            computed.push({ userset: `${fmt(p)}#${rel(rw.computed)}` });
          }
        }
        computed.sort((a, b) => (a.userset < b.userset ? -1 : a.userset > b.userset ? 1 : 0));
        return { name, leaf: { tupleToUserset: { tupleset: `${obj}#${rel(rw.tupleset)}`, computed } } };
      }
      case 'union':
        return { name, union: { nodes: rw.children.map(build) } };
      case 'intersection':
        return { name, intersection: { nodes: rw.children.map(build) } };
      case 'difference':
        return { name, difference: { base: build(rw.base), subtract: build(rw.subtract) } };
    }
  };
  return build(cr.rewrite);
}
