/**
 * {@link ChainMemo}: a memo, kept across checks, of self-recursive parent chains such as
 * `define viewer: [user, team#member] or viewer from parent` (docs/authz-engine.md, "Parent chains").
 *
 * For a node F of such a relation the entry holds every direct edge `X#relation@s[#sr]` of F and
 * of all its ancestors X through the tupleset (`parent`) — a flattened list of `(sr, s)` pairs —
 * the ancestor nodes themselves, and the longest parent chain. A check then probes that list once
 * instead of walking the chain level by level. Only the graph's shape is memoised, never a
 * decision: which subject, wildcard or userset grants is still decided per check (the subject's
 * membership closure, expiry) by the {@link Resolution}.
 *
 * An entry is usable (`len` > 0) only when no node of the chain has an edge with an expiry or a
 * condition (those are decided per check, never flattened), every parent has the node's own type
 * (the same compiled relation applies at every level), the parent graph has no cycle, the chain
 * is at most {@link MAX_CHAIN_LEN} long and the list at most {@link MAX_CHAIN_PAIRS} pairs.
 * Otherwise the check expands the chain as before.
 *
 * Validity: the memo of a view is dropped whenever the view's {@link GraphView.memoVersion}
 * changes (every tuple write or delete in its graphs) or another model is used; views with
 * contextual tuples (version -1) are never memoised. At most {@link MAX_CHAIN_ENTRIES} entries are
 * kept per view (then the memo starts over).
 */
import type { GraphView } from './graph.js';
import type { IdSet } from './idset.js';
import { allows, restrictionKey, type CompiledModel, type CompiledRelation } from './model.js';

/** Longest parent chain memoised (nodes from F to its root). */
export const MAX_CHAIN_LEN = 16;
/** Most direct edges of one flattened chain. */
export const MAX_CHAIN_PAIRS = 64;
/** Most entries per view before the memo is cleared. */
export const MAX_CHAIN_ENTRIES = 16_384;

/**
 * The flattened chain of one `node#relation`, as one packed array of small integers (one object
 * to load per check): `[len, pairCount, nodeCount, sr0, s0, sr1, s1, …, node0, node1, …]`.
 * - `len`: nodes on the longest parent chain from the node (the node itself counts 1); 0 when the
 *   entry is not usable (expand the chain instead, see the module comment);
 * - the pairs: the direct edges of the chain (subject relation, subject);
 * - the nodes: the chain's nodes, the node itself first.
 */
export type ChainEntry = readonly number[];

/** Offsets into a {@link ChainEntry}. */
export const CHAIN_LEN = 0;
export const CHAIN_PAIRS = 1;
export const CHAIN_NODES = 2;
export const CHAIN_HEAD = 3;

const NOT_OK: ChainEntry = [0, 0, 0];

/** Memo of one view, for one model and one graph version. */
class ViewMemo {
  model: CompiledModel | null = null;
  version = -1;
  size = 0;
  /** relation id → node → entry. */
  readonly byRelation = new Map<number, Map<number, ChainEntry>>();
}

function forEachId(s: IdSet, fn: (id: number) => void): void {
  if (typeof s === 'number') fn(s);
  else if (Array.isArray(s)) for (let i = 0; i < s.length; i++) fn(s[i] as number);
  else for (const id of s) fn(id);
}

/** Flattened parent chains per view (one instance per {@link Evaluator}). */
export class ChainMemo {
  private lastView: GraphView | null = null;
  private last: ViewMemo | null = null;
  private readonly views = new WeakMap<GraphView, ViewMemo>();
  private readonly building = new Set<number>();

  /**
   * The entry of `node#cr` (a relation of the chain shape, tupleset `tupleset`), built on first
   * use; not usable (`len` 0) when the view is not memoisable (contextual tuples).
   */
  entry(view: GraphView, model: CompiledModel, node: number, cr: CompiledRelation, tupleset: number): ChainEntry {
    const version = view.memoVersion();
    if (version < 0) return NOT_OK;
    let m = this.last;
    if (this.lastView !== view || m === null) {
      m = this.views.get(view) ?? null;
      if (m === null) {
        m = new ViewMemo();
        this.views.set(view, m);
      }
      this.lastView = view;
      this.last = m;
    }
    if (m.model !== model || m.version !== version || m.size >= MAX_CHAIN_ENTRIES) {
      m.byRelation.clear();
      m.size = 0;
      m.model = model;
      m.version = version;
    }
    let byNode = m.byRelation.get(cr.relationId);
    if (byNode === undefined) {
      byNode = new Map();
      m.byRelation.set(cr.relationId, byNode);
    }
    const e = byNode.get(node);
    if (e !== undefined) return e;
    this.building.clear();
    return this.build(view, model, m, byNode, node, cr, tupleset, 1);
  }

  private build(g: GraphView, model: CompiledModel, m: ViewMemo, byNode: Map<number, ChainEntry>, node: number, cr: CompiledRelation, tupleset: number, level: number): ChainEntry {
    const cached = byNode.get(node);
    if (cached !== undefined) return cached;
    // A cycle, a chain too long, or an edge decided per check: expand instead. (Not cached when
    // only this walk's position made it so: the node may still be fine from elsewhere.)
    if (this.building.has(node) || level > MAX_CHAIN_LEN) return NOT_OK;
    let e: ChainEntry = NOT_OK;
    if (!g.hasMeta(node)) {
      this.building.add(node);
      e = this.flatten(g, model, m, byNode, node, cr, tupleset, level);
      this.building.delete(node);
    }
    byNode.set(node, e);
    m.size++;
    return e;
  }

  private flatten(g: GraphView, model: CompiledModel, m: ViewMemo, byNode: Map<number, ChainEntry>, node: number, cr: CompiledRelation, tupleset: number, level: number): ChainEntry {
    const rel = cr.relationId;
    const pairs: number[] = [];
    const nodes: number[] = [node];
    const end = g.subjectRelationsEnd(node, rel);
    for (let sr = 0; sr < end; sr++) {
      const s = g.subjects(node, rel, sr);
      if (s !== undefined) forEachId(s, (id) => pairs.push(sr, id));
    }
    let len = 1;
    const ts = model.relation(cr.typeId, tupleset);
    const parents = ts ? g.subjects(node, tupleset, 0) : undefined;
    if (parents !== undefined) {
      const ids: number[] = [];
      forEachId(parents, (p) => ids.push(p));
      for (const p of ids) {
        // Another type would be another compiled relation: not this memo's shape.
        if (g.typeOf(p) !== cr.typeId) return NOT_OK;
        // A parent the tupleset's type restrictions exclude grants nothing (as in Check).
        if (!allows(ts as CompiledRelation, restrictionKey(cr.typeId, 0))) continue;
        const pe = this.build(g, model, m, byNode, p, cr, tupleset, level + 1);
        const plen = pe[CHAIN_LEN] as number;
        if (plen === 0) return NOT_OK;
        const pairsEnd = CHAIN_HEAD + 2 * (pe[CHAIN_PAIRS] as number);
        for (let i = CHAIN_HEAD; i < pairsEnd; i++) pairs.push(pe[i] as number);
        for (let i = pairsEnd; i < pairsEnd + (pe[CHAIN_NODES] as number); i++) nodes.push(pe[i] as number);
        if (plen + 1 > len) len = plen + 1;
        if (pairs.length > MAX_CHAIN_PAIRS * 2 || nodes.length > MAX_CHAIN_LEN * 4) return NOT_OK;
      }
    }
    if (pairs.length > MAX_CHAIN_PAIRS * 2) return NOT_OK;
    return [len, pairs.length / 2, nodes.length].concat(pairs, nodes);
  }
}
