/**
 * The in-memory relation graph of one authorization store: every live tuple as an integer edge,
 * indexed forward (object#relation → subjects) and in reverse (subject → objects#relation).
 *
 * Layout (all integers are interned ids; see {@link Symbols} and {@link StoreGraph.nodes}):
 * - a node is one `type:id` (objects and subjects share the space; `user:*` is a node too),
 *   found through a per-type map from id to node;
 * - forward:  out[objectNode] → (relation, subjectRelation) → set of subject nodes
 *   (subjectRelation 0 is a plain subject, others are usersets such as `group:eng#member`);
 * - reverse:  in[subjectNode] → (subjectRelation, relation) → set of object nodes;
 *   each node's pairs, with the members of their small sets, are one block in pages shared by
 *   all nodes (see {@link Adjacency});
 * - the rare edges that carry an expiry or a condition keep it in a side table, and the objects
 *   that have such edges are marked, so the check of an ordinary edge never looks there.
 *
 * A plain tuple costs two IdSet entries (a few bytes each when small) plus its share of the node
 * arrays; strings are stored once per node, not per tuple.
 */
import { Adjacency } from './adjacency.js';
import type { IdSet } from './idset.js';
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
  /** {@link subjects} copied into `out[0 .. count-1]` without allocating (once `out` is large enough); returns the count. */
  subjectsInto(objectNode: number, relation: number, subjectRelation: number, out: number[]): number;
  subjectRow(objectNode: number, relation: number): ReadonlyArray<IdSet | undefined> | undefined;
  /**
   * Reads the first slot of the object's forward block and of the subject's reverse block (a
   * check's first two edge reads), so that both come from memory at once instead of one after the
   * other. The value means nothing.
   */
  touch(objectNode: number, subjectNode: number): number;
  /** 1 + the greatest subject relation of an edge `object#relation@x#sr`; 0 when none (no allocation, unlike {@link subjectRow}). */
  subjectRelationsEnd(objectNode: number, relation: number): number;
  objectsOf(subjectNode: number, subjectRelation: number, relation: number): IdSet | undefined;
  /** {@link objectsOf} copied into `out[0 .. count-1]` without allocating (once `out` is large enough); returns the count. */
  objectsInto(subjectNode: number, subjectRelation: number, relation: number, out: number[]): number;
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

  subjectsInto(objectNode: number, relation: number, subjectRelation: number, out: number[]): number {
    return this.out.into(objectNode, relation, subjectRelation, out);
  }

  touch(objectNode: number, subjectNode: number): number {
    return (objectNode < 0 ? 0 : this.out.touch(objectNode)) + (subjectNode < 0 ? 0 : this.in.touch(subjectNode));
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

  /** Number of objects {@link objectsOf} holds (no allocation). */
  objectsCount(subjectNode: number, subjectRelation: number, relation: number): number {
    return this.in.size(subjectNode, subjectRelation, relation);
  }

  objectsInto(subjectNode: number, subjectRelation: number, relation: number, out: number[]): number {
    return this.in.into(subjectNode, subjectRelation, relation, out);
  }

  /** True if `object#relation@subject#subjectRelation` is a live tuple (ignoring expiry). */
  has(objectNode: number, relation: number, subjectRelation: number, subjectNode: number): boolean {
    return this.out.has(objectNode, relation, subjectRelation, subjectNode);
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
