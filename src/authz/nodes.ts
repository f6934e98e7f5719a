/**
 * Node spaces: each `type:id` named by a tuple gets a dense integer node id. One space is shared
 * by every store of a tenant, so the built-in store's identity edges (groups, roles) and a
 * customer store's edges can be combined in one evaluation without translating ids (the overlay,
 * docs/authz-engine.md). A request's contextual tuples may name new `type:id`s: those get ids in a
 * throw-away {@link ExtendedNodeSpace} past the tenant's, so requests never grow the shared space.
 * A tenant's space counts the edges naming each node; when the last one goes (tuple deleted,
 * store dropped) the node is freed: its `type:id` leaves the lookup and its id is reused.
 */
import type { Symbols } from './model.js';
import { NodeTable } from './node-table.js';

/** Read access to a node space. */
export interface NodeLookup {
  /** The node of `typeId:id`, or -1. */
  lookupNodeOfType(typeId: number, id: string): number;
  /** Type id of a node. */
  typeOf(node: number): number;
  /** Object id of a node. */
  idOf(node: number): string;
  /** The node of `type:*`, or -1. */
  wildcardNode(typeId: number): number;
  /** Number of nodes (ids are 0 .. count-1). */
  readonly count: number;
}

/** A space that can also create nodes. */
export interface NodeSpaceLike extends NodeLookup {
  /** The node of `typeId:id`, created if new. */
  nodeOfType(typeId: number, id: string): number;
  /** Counts one more edge touching `node` (a tuple names it as object or subject). */
  ref?(node: number): void;
  /** Counts one edge less; the node is freed (its id reusable) when none is left. */
  unref?(node: number): void;
}

/** The node space of one tenant. */
export class NodeSpace implements NodeSpaceLike {
  /** node id → object id ('' when freed). */
  readonly nodeIds: string[] = [];
  /** node id → type id (-1 when freed). */
  readonly nodeType: number[] = [];
  /** `(type id, object id)` → node id. */
  private readonly table = new NodeTable(this.nodeIds);
  private readonly wildcards: number[] = [];
  /** node id → number of edges (in every store of the tenant) naming it. */
  private refs = new Int32Array(1024);
  /** Freed node ids, reused before new ones are appended. */
  private readonly free: number[] = [];

  constructor(readonly symbols: Symbols) {}

  nodeOfType(typeId: number, id: string): number {
    let n = this.table.get(typeId, id);
    if (n < 0) {
      const reuse = this.free.pop();
      if (reuse !== undefined) {
        n = reuse;
        this.nodeType[n] = typeId;
        this.nodeIds[n] = id;
      } else {
        n = this.nodeType.length;
        this.nodeType.push(typeId);
        this.nodeIds.push(id);
      }
      this.table.add(typeId, id, n);
      if (id === '*') this.wildcards[typeId] = n;
    }
    return n;
  }

  ref(node: number): void {
    if (node >= this.refs.length) {
      const grown = new Int32Array(Math.max(node + 1, this.refs.length * 2));
      grown.set(this.refs);
      this.refs = grown;
    }
    this.refs[node] = (this.refs[node] as number) + 1;
  }

  unref(node: number): void {
    if (node >= this.refs.length || (this.refs[node] as number) <= 0) return;
    const left = (this.refs[node] as number) - 1;
    this.refs[node] = left;
    if (left === 0) this.release(node);
  }

  /** Forgets a node no edge names any more: its `type:id` leaves the lookup and the id is reused. */
  private release(node: number): void {
    const typeId = this.nodeType[node] as number;
    const id = this.nodeIds[node] as string;
    this.table.delete(typeId, id);
    if (id === '*' && this.wildcards[typeId] === node) this.wildcards[typeId] = -1;
    this.nodeIds[node] = '';
    this.nodeType[node] = -1;
    this.free.push(node);
  }

  /** Number of live nodes (named by at least one edge, or created and not yet freed). */
  get liveCount(): number {
    return this.nodeType.length - this.free.length;
  }

  lookupNodeOfType(typeId: number, id: string): number {
    return this.table.get(typeId, id);
  }

  typeOf(node: number): number {
    return this.nodeType[node] as number;
  }

  idOf(node: number): string {
    return this.nodeIds[node] as string;
  }

  wildcardNode(typeId: number): number {
    return this.wildcards[typeId] ?? -1;
  }

  /** Every node of a type (objects named by any tuple of any store of the tenant), in node id order. */
  *nodesOfType(typeId: number): IterableIterator<number> {
    const types = this.nodeType;
    for (let n = 0; n < types.length; n++) if (types[n] === typeId) yield n;
  }

  get count(): number {
    return this.nodeType.length;
  }
}

/** A tenant space plus the nodes a request's contextual tuples add (ids from `base.count` on). */
export class ExtendedNodeSpace implements NodeSpaceLike {
  private readonly extra = new Map<string, number>();
  private readonly extraType: number[] = [];
  private readonly extraIds: string[] = [];
  private readonly extraWildcards = new Map<number, number>();
  private readonly offset: number;

  constructor(readonly base: NodeSpace) {
    this.offset = base.count;
  }

  nodeOfType(typeId: number, id: string): number {
    const n = this.lookupNodeOfType(typeId, id);
    if (n >= 0) return n;
    const k = `${typeId}:${id}`;
    const m = this.offset + this.extraType.length;
    this.extraType.push(typeId);
    this.extraIds.push(id);
    this.extra.set(k, m);
    if (id === '*') this.extraWildcards.set(typeId, m);
    return m;
  }

  lookupNodeOfType(typeId: number, id: string): number {
    const n = this.base.lookupNodeOfType(typeId, id);
    if (n >= 0 && n < this.offset) return n;
    return this.extra.get(`${typeId}:${id}`) ?? -1;
  }

  typeOf(node: number): number {
    return node < this.offset ? this.base.typeOf(node) : (this.extraType[node - this.offset] as number);
  }

  idOf(node: number): string {
    return node < this.offset ? this.base.idOf(node) : (this.extraIds[node - this.offset] as string);
  }

  wildcardNode(typeId: number): number {
    const w = this.base.wildcardNode(typeId);
    if (w >= 0 && w < this.offset) return w;
    return this.extraWildcards.get(typeId) ?? -1;
  }

  /** Nodes of a type: the tenant's, then the request's. */
  *nodesOfType(typeId: number): IterableIterator<number> {
    for (const n of this.base.nodesOfType(typeId)) if (n < this.offset) yield n;
    for (let i = 0; i < this.extraType.length; i++) if (this.extraType[i] === typeId) yield this.offset + i;
  }

  get count(): number {
    return this.offset + this.extraType.length;
  }
}
