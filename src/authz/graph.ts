/**
 * The in-memory relation graph of one authorization store: every live tuple as an integer edge,
 * indexed forward (object#relation → subjects) and in reverse (subject → objects#relation).
 *
 * Layout (all integers are interned ids; see {@link Symbols} and {@link StoreGraph.nodes}):
 * - a node is one `type:id` (objects and subjects share the space; `user:*` is a node too),
 *   found through a per-type map from id to node;
 * - forward:  out[objectNode] → (relation, subjectRelation) → IdSet of subject nodes
 *   (subjectRelation 0 is a plain subject, others are usersets such as `group:eng#member`);
 * - reverse:  in[subjectNode] → (subjectRelation, relation) → IdSet of object nodes;
 *   each node's pairs are one block in pages shared by all nodes (see {@link Adjacency});
 * - the rare edges that carry an expiry or a condition keep it in a side table, and the objects
 *   that have such edges are marked, so the check of an ordinary edge never looks there.
 *
 * A plain tuple costs two IdSet entries (a few bytes each when small) plus its share of the node
 * arrays; strings are stored once per node, not per tuple.
 */
import { idsAdd, idsDelete, idsHas, type IdSet } from './idset.js';
import { MAX_RELATIONS, type Symbols } from './model.js';
import { NodeSpace, type NodeSpaceLike } from './nodes.js';
import { GatehouseError } from '../kernel/errors.js';
import type { RelationTuple } from './tuples.js';

/** What an edge carries besides its endpoints. */
export interface EdgeMeta {
  /** Epoch milliseconds after which the edge grants nothing; `Infinity` when it never expires. */
  expiresAtMs: number;
  condition: { name: string; context: Record<string, unknown> | null } | null;
}

type Row = Array<IdSet | undefined>;

/** Packs the two relation ids of an adjacency entry (both below {@link MAX_RELATIONS} + 1 = 4096). */
function pairKey(r1: number, r2: number): number {
  return r1 * 4096 + r2;
}

/** Slots per page of {@link Adjacency} (2^20: 8 MiB of tagged slots). */
const PAGE_BITS = 20;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;

/**
 * A three-level adjacency a → r1 → r2 → IdSet of b, stored as blocks in shared pages: node `a`'s
 * block starts at `at[a]` (0: no block) and holds `[n, key0, set0, key1, set1, …]`, its n
 * (r1, r2) pairs ({@link pairKey}, ascending) and their IdSets. Pages are plain arrays of
 * {@link PAGE_SLOTS} slots; `at[a]` is `page << PAGE_BITS | position`.
 *
 * A lookup reads `at[a]` (a typed array) and the block — the node's pairs sit next to each other
 * and next to other nodes' blocks, with no array object per node in between (a per-node array was
 * one more dependent load, and its header 48 bytes, per node and direction). On a graph of a
 * million tuples those loads miss the cache and are most of a check's time.
 *
 * Changes: a set that grows or shrinks is replaced in its slot; a new pair moves the node's block
 * to the end of the last page (exactly one pair larger); a dropped pair shifts the block in place.
 * The slots left behind are garbage, cleared to 0; when garbage exceeds the live slots (and 64 Ki)
 * every block is copied once into fresh pages, in node order.
 */
class Adjacency {
  /** node → block offset (`page << PAGE_BITS | position`); 0: none. */
  private at = new Int32Array(1024);
  private pages: Array<Array<number | IdSet>> = [[0]];
  /** Slots in blocks, and slots left behind by moved or shrunk blocks. */
  private live = 0;
  private garbage = 0;

  private offset(a: number): number {
    return a < this.at.length ? (this.at[a] as number) : 0;
  }

  get(a: number, r1: number, r2: number): IdSet | undefined {
    const o = a < this.at.length ? (this.at[a] as number) : 0;
    if (o === 0) return undefined;
    const p = this.pages[o >>> PAGE_BITS] as Array<number | IdSet>;
    const b = o & PAGE_MASK;
    const end = b + 1 + 2 * (p[b] as number);
    const k = pairKey(r1, r2);
    for (let i = b + 1; i < end; i += 2) {
      const pk = p[i] as number;
      if (pk === k) return p[i + 1] as IdSet;
      if (pk > k) return undefined;
    }
    return undefined;
  }

  /** 1 + the greatest r2 with an entry under (a, r1); 0 when there is none. */
  extent(a: number, r1: number): number {
    const o = this.offset(a);
    if (o === 0) return 0;
    const p = this.pages[o >>> PAGE_BITS] as Array<number | IdSet>;
    const b = o & PAGE_MASK;
    const end = b + 1 + 2 * (p[b] as number);
    const lo = pairKey(r1, 0);
    let n = 0;
    for (let i = b + 1; i < end; i += 2) {
      const pk = p[i] as number;
      if (pk >= lo + 4096) break;
      if (pk >= lo) n = pk - lo + 1;
    }
    return n;
  }

  /** The entries under (a, r1) as an array indexed by r2 (a new array), or undefined when none. */
  row(a: number, r1: number): Row | undefined {
    const n = this.extent(a, r1);
    if (n === 0) return undefined;
    const o = this.offset(a);
    const p = this.pages[o >>> PAGE_BITS] as Array<number | IdSet>;
    const b = o & PAGE_MASK;
    const end = b + 1 + 2 * (p[b] as number);
    const lo = pairKey(r1, 0);
    const out: Row = new Array<IdSet | undefined>(n);
    for (let i = b + 1; i < end; i += 2) {
      const pk = p[i] as number;
      if (pk >= lo && pk < lo + n) out[pk - lo] = p[i + 1] as IdSet;
    }
    return out;
  }

  /** Calls `fn(r1, r2, set)` for every entry of `a`, in ascending (r1, r2). */
  entries(a: number, fn: (r1: number, r2: number, set: IdSet) => void): void {
    const o = this.offset(a);
    if (o === 0) return;
    const p = this.pages[o >>> PAGE_BITS] as Array<number | IdSet>;
    const b = o & PAGE_MASK;
    const end = b + 1 + 2 * (p[b] as number);
    for (let i = b + 1; i < end; i += 2) {
      const k = p[i] as number;
      fn(Math.floor(k / 4096), k % 4096, p[i + 1] as IdSet);
    }
  }

  /** Drops every edge. */
  reset(): void {
    this.at = new Int32Array(1024);
    this.pages = [[0]];
    this.live = 0;
    this.garbage = 0;
  }

  add(a: number, r1: number, r2: number, b: number): boolean {
    const k = pairKey(r1, r2);
    const o = this.offset(a);
    let n = 0;
    let p: Array<number | IdSet> | undefined;
    let base = 0;
    let at = 0;
    if (o !== 0) {
      p = this.pages[o >>> PAGE_BITS] as Array<number | IdSet>;
      base = o & PAGE_MASK;
      n = p[base] as number;
      for (; at < n; at++) {
        const i = base + 1 + 2 * at;
        const pk = p[i] as number;
        if (pk === k) {
          const res = idsAdd(p[i + 1] as IdSet, b);
          p[i + 1] = res.set;
          return res.added;
        }
        if (pk > k) break;
      }
    }
    // A new pair at index `at`: the block moves to the end, one pair larger.
    const size = 1 + 2 * (n + 1);
    const [q, qb] = this.reserve(size);
    q[qb] = n + 1;
    for (let j = 0; j < at; j++) {
      q[qb + 1 + 2 * j] = (p as Array<number | IdSet>)[base + 1 + 2 * j] as number;
      q[qb + 2 + 2 * j] = (p as Array<number | IdSet>)[base + 2 + 2 * j] as IdSet;
    }
    q[qb + 1 + 2 * at] = k;
    q[qb + 2 + 2 * at] = b;
    for (let j = at; j < n; j++) {
      q[qb + 3 + 2 * j] = (p as Array<number | IdSet>)[base + 1 + 2 * j] as number;
      q[qb + 4 + 2 * j] = (p as Array<number | IdSet>)[base + 2 + 2 * j] as IdSet;
    }
    if (p !== undefined) this.discard(p, base, 1 + 2 * n);
    this.live += size;
    this.place(a, ((this.pages.length - 1) << PAGE_BITS) | qb);
    this.maybeCompact();
    return true;
  }

  /** Removes an edge; a pair left empty is dropped, and a node with no edge costs nothing here. */
  delete(a: number, r1: number, r2: number, b: number): boolean {
    const o = this.offset(a);
    if (o === 0) return false;
    const p = this.pages[o >>> PAGE_BITS] as Array<number | IdSet>;
    const base = o & PAGE_MASK;
    const n = p[base] as number;
    const k = pairKey(r1, r2);
    for (let j = 0; j < n; j++) {
      const i = base + 1 + 2 * j;
      if (p[i] !== k) continue;
      const res = idsDelete(p[i + 1] as IdSet, b);
      if (res.set !== undefined) {
        p[i + 1] = res.set;
        return res.deleted;
      }
      // The pair is empty: shift the rest of the block left over it.
      for (let m = i; m < base + 2 * n - 1; m++) p[m] = p[m + 2] as number | IdSet;
      p[base + 2 * n - 1] = 0;
      p[base + 2 * n] = 0;
      p[base] = n - 1;
      this.live -= 2;
      this.garbage += 2;
      if (n - 1 === 0) {
        p[base] = 0;
        this.live -= 1;
        this.garbage += 1;
        this.at[a] = 0;
      }
      this.maybeCompact();
      return res.deleted;
    }
    return false;
  }

  /** Calls `fn(a, b)` for every edge. */
  forEach(fn: (a: number, b: number) => void): void {
    for (let a = 0; a < this.at.length; a++) {
      if (this.at[a] === 0) continue;
      this.entries(a, (_r1, _r2, set) => {
        if (typeof set === 'number') fn(a, set);
        else for (const b of set) fn(a, b);
      });
    }
  }

  /** `size` free slots at the end of the last page (a new page when they do not fit). */
  private reserve(size: number): [Array<number | IdSet>, number] {
    if (size > PAGE_SLOTS) throw new GatehouseError('invalid_input', 'too many distinct relation pairs on one node');
    let q = this.pages[this.pages.length - 1] as Array<number | IdSet>;
    if (q.length + size > PAGE_SLOTS) {
      q = [];
      this.pages.push(q);
    }
    const qb = q.length;
    for (let j = 0; j < size; j++) q.push(0);
    return [q, qb];
  }

  private discard(p: Array<number | IdSet>, base: number, size: number): void {
    for (let j = 0; j < size; j++) p[base + j] = 0;
    this.live -= size;
    this.garbage += size;
  }

  private place(a: number, offset: number): void {
    if (a >= this.at.length) {
      const grown = new Int32Array(Math.max(a + 1, this.at.length * 2));
      grown.set(this.at);
      this.at = grown;
    }
    this.at[a] = offset;
  }

  /** Copies every block into fresh pages (node order) once garbage outweighs the live slots. */
  private maybeCompact(): void {
    if (this.garbage <= this.live || this.garbage < 65_536) return;
    this.compact();
  }

  /** Copies every block into fresh pages, in node order (no garbage left). */
  compact(): void {
    const old = this.pages;
    this.pages = [[0]];
    const at = this.at;
    for (let a = 0; a < at.length; a++) {
      const o = at[a] as number;
      if (o === 0) continue;
      const p = old[o >>> PAGE_BITS] as Array<number | IdSet>;
      const b = o & PAGE_MASK;
      const size = 1 + 2 * (p[b] as number);
      const [q, qb] = this.reserve(size);
      for (let j = 0; j < size; j++) q[qb + j] = p[b + j] as number | IdSet;
      at[a] = ((this.pages.length - 1) << PAGE_BITS) | qb;
    }
    this.garbage = 0;
  }
}

function expiryMs(expiresAt: string | null | undefined): number {
  if (!expiresAt) return Infinity;
  const ms = Date.parse(expiresAt);
  return Number.isNaN(ms) ? -Infinity : ms;
}

/**
 * What the evaluator reads: one store's graph ({@link StoreGraph}) or several layered
 * ({@link LayeredView}: the built-in identity overlay and a request's contextual tuples).
 */
export interface GraphView {
  readonly symbols: Symbols;
  /** Type id of a node. */
  typeOf(node: number): number;
  lookupNode(type: string, id: string): number;
  lookupNodeOfType(typeId: number, id: string): number;
  wildcardNode(typeId: number): number;
  subjects(objectNode: number, relation: number, subjectRelation: number): IdSet | undefined;
  subjectRow(objectNode: number, relation: number): ReadonlyArray<IdSet | undefined> | undefined;
  /** 1 + the greatest subject relation of an edge `object#relation@x#sr`; 0 when none (no allocation, unlike {@link subjectRow}). */
  subjectRelationsEnd(objectNode: number, relation: number): number;
  objectsOf(subjectNode: number, subjectRelation: number, relation: number): IdSet | undefined;
  /** Reverse edges of `subject#subjectRelation`, indexed by relation. */
  objectRow(subjectNode: number, subjectRelation: number): ReadonlyArray<IdSet | undefined> | undefined;
  has(objectNode: number, relation: number, subjectRelation: number, subjectNode: number): boolean;
  hasMeta(objectNode: number): boolean;
  edgeMeta(objectNode: number, relation: number, subjectRelation: number, subjectNode: number): EdgeMeta | undefined;
  describe(node: number): { type: string; id: string };
  /** Nodes of a type named by any tuple of the view. */
  nodesOfType(typeId: number): Iterable<number>;
  /** True when the edge exists only in the request's contextual tuples. */
  isContextual(objectNode: number, relation: number, subjectRelation: number, subjectNode: number): boolean;
  /**
   * A number that grows with every change to the view's edges, for memos kept across checks
   * (chain-memo.ts); -1 when the view must not be memoised (a request's contextual tuples).
   */
  memoVersion(): number;
}

/** The relation graph of one store. Mutated only by the changelog follower; read by checks. */
export class StoreGraph implements GraphView {
  private readonly out = new Adjacency();
  private readonly in = new Adjacency();
  private readonly meta = new Map<string, EdgeMeta>();
  /** object node → number of its outgoing edges that have meta. */
  private readonly metaObjects = new Map<number, number>();
  /** Number of live tuples. */
  tupleCount = 0;
  /** Grows with every write, delete or clear (see {@link GraphView.memoVersion}). */
  version = 0;
  /** The node space (shared by every store of the tenant). */
  readonly space: NodeSpaceLike & { nodesOfType(typeId: number): Iterable<number> };

  constructor(
    readonly symbols: Symbols,
    space?: NodeSpaceLike & { nodesOfType(typeId: number): Iterable<number> },
  ) {
    this.space = space ?? new NodeSpace(symbols);
  }

  /** The node of `type:id`, created if new. */
  node(type: string, id: string): number {
    return this.space.nodeOfType(this.symbols.types.intern(type), id);
  }

  /** The node of `type:id`, or -1 if no tuple ever named it. */
  lookupNode(type: string, id: string): number {
    const typeId = this.symbols.types.lookup(type);
    if (typeId < 0) return -1;
    return this.space.lookupNodeOfType(typeId, id);
  }

  /** The node of `typeId:id`, or -1. */
  lookupNodeOfType(typeId: number, id: string): number {
    return this.space.lookupNodeOfType(typeId, id);
  }

  typeOf(node: number): number {
    return this.space.typeOf(node);
  }

  nodesOfType(typeId: number): Iterable<number> {
    return this.space.nodesOfType(typeId);
  }

  /** Number of nodes (distinct `type:id`s ever named in the node space). */
  get nodeCount(): number {
    return this.space.count;
  }

  /** The node of `type:*`, or -1. */
  wildcardNode(typeId: number): number {
    return this.space.wildcardNode(typeId);
  }

  isContextual(): boolean {
    return false;
  }

  memoVersion(): number {
    return this.version;
  }

  private relationId(name: string): number {
    const id = this.symbols.relations.intern(name);
    if (id >= MAX_RELATIONS) throw new GatehouseError('invalid_input', `too many distinct relation names (at most ${MAX_RELATIONS - 1})`);
    return id;
  }

  /** Adds (or replaces the expiry/condition of) a tuple. Returns true if the tuple is new. */
  write(t: RelationTuple): boolean {
    this.version++;
    const r = this.relationId(t.relation);
    const sr = this.relationId(t.subjectRelation);
    const o = this.node(t.objectType, t.objectId);
    const s = this.node(t.subjectType, t.subjectId);
    const added = this.out.add(o, r, sr, s);
    this.in.add(s, sr, r, o);
    if (added) {
      this.tupleCount++;
      this.space.ref?.(o);
      this.space.ref?.(s);
    }
    const key = `${o}|${r}|${sr}|${s}`;
    const hadMeta = this.meta.has(key);
    const condition = t.condition ? { name: t.condition.name, context: t.condition.context ?? null } : null;
    if (t.expiresAt || condition) {
      this.meta.set(key, { expiresAtMs: expiryMs(t.expiresAt), condition });
      if (!hadMeta) this.metaObjects.set(o, (this.metaObjects.get(o) ?? 0) + 1);
    } else if (hadMeta) {
      this.dropMeta(key, o);
    }
    return added;
  }

  /** Removes a tuple. Returns true if it was present. */
  delete(t: RelationTuple): boolean {
    this.version++;
    const o = this.lookupNode(t.objectType, t.objectId);
    const s = this.lookupNode(t.subjectType, t.subjectId);
    const r = this.symbols.relations.lookup(t.relation);
    const sr = this.symbols.relations.lookup(t.subjectRelation);
    if (o < 0 || s < 0 || r < 0 || sr < 0) return false;
    const deleted = this.out.delete(o, r, sr, s);
    this.in.delete(s, sr, r, o);
    const key = `${o}|${r}|${sr}|${s}`;
    if (this.meta.has(key)) this.dropMeta(key, o);
    if (deleted) {
      this.tupleCount--;
      this.space.unref?.(o);
      this.space.unref?.(s);
    }
    return deleted;
  }

  /**
   * Removes every tuple (the store was deleted): each node loses the edges of this graph and is
   * freed in the node space when no other store names it. The graph is empty afterwards.
   */
  clear(): void {
    this.version++;
    const space = this.space;
    this.out.forEach((o, s) => {
      space.unref?.(o);
      space.unref?.(s);
    });
    this.out.reset();
    this.in.reset();
    this.meta.clear();
    this.metaObjects.clear();
    this.tupleCount = 0;
  }

  /** Packs the adjacency (after a build: no slot left behind by blocks that moved while growing). */
  compact(): void {
    this.out.compact();
    this.in.compact();
  }

  private dropMeta(key: string, o: number): void {
    this.meta.delete(key);
    const left = (this.metaObjects.get(o) ?? 1) - 1;
    if (left <= 0) this.metaObjects.delete(o);
    else this.metaObjects.set(o, left);
  }

  /** Subjects of `object#relation` with subject relation `subjectRelation` (0 = plain subjects). */
  subjects(objectNode: number, relation: number, subjectRelation: number): IdSet | undefined {
    return this.out.get(objectNode, relation, subjectRelation);
  }

  /** All subjects of `object#relation`, indexed by subject relation. */
  subjectRow(objectNode: number, relation: number): ReadonlyArray<IdSet | undefined> | undefined {
    return this.out.row(objectNode, relation);
  }

  objectRow(subjectNode: number, subjectRelation: number): ReadonlyArray<IdSet | undefined> | undefined {
    return this.in.row(subjectNode, subjectRelation);
  }

  /** 1 + the greatest subject relation of an edge `object#relation@x#sr`; 0 when the object has no such edge. */
  subjectRelationsEnd(objectNode: number, relation: number): number {
    return this.out.extent(objectNode, relation);
  }

  /** Every edge out of an object: (relation, subjectRelation, subjects). For Expand and tests. */
  *edgesOf(objectNode: number): IterableIterator<[number, number, IdSet]> {
    const out: Array<[number, number, IdSet]> = [];
    this.out.entries(objectNode, (r, sr, set) => out.push([r, sr, set]));
    yield* out;
  }

  /** Objects `o` with a tuple `o#relation@subject[#subjectRelation]` (reverse edge). */
  objectsOf(subjectNode: number, subjectRelation: number, relation: number): IdSet | undefined {
    return this.in.get(subjectNode, subjectRelation, relation);
  }

  /** True if `object#relation@subject#subjectRelation` is a live tuple (ignoring expiry). */
  has(objectNode: number, relation: number, subjectRelation: number, subjectNode: number): boolean {
    return idsHas(this.out.get(objectNode, relation, subjectRelation), subjectNode);
  }

  /** True if some outgoing edge of the object carries an expiry or condition. */
  hasMeta(objectNode: number): boolean {
    return this.metaObjects.size !== 0 && this.metaObjects.has(objectNode);
  }

  /** The expiry/condition of an edge, if any. */
  edgeMeta(objectNode: number, relation: number, subjectRelation: number, subjectNode: number): EdgeMeta | undefined {
    return this.meta.get(`${objectNode}|${relation}|${subjectRelation}|${subjectNode}`);
  }

  /** `type` and `id` of a node. */
  describe(node: number): { type: string; id: string } {
    if (node < 0 || node >= this.space.count) throw new RangeError(`no node ${node}`);
    return { type: this.symbols.types.name(this.space.typeOf(node)), id: this.space.idOf(node) };
  }
}
