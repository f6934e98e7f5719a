/**
 * {@link LayeredView}: several {@link StoreGraph}s over one node space, read as one graph.
 *
 * Layers, for an object node `o` of type `t`, evaluating in store S:
 * 1. S's own graph;
 * 2. the built-in store's graph, when S is a customer store and `t` is one of Gatehouse's identity
 *    types (user, service_account, group, role, permission, application): Gatehouse groups, roles
 *    and assignments appear in every store of the tenant (the overlay);
 * 3. the request's contextual tuples (OpenFGA contextual_tuples), in their own small graph whose
 *    new nodes live in an {@link ExtendedNodeSpace}.
 *
 * Forward edges of `o` are the union over its layers; reverse edges are the union over every
 * layer, keeping from the built-in layer only objects of identity types, so forward and reverse
 * agree. Merged sets are built per call (this view serves overlays and contextual requests; a
 * plain built-in-store check reads its StoreGraph directly).
 */
import type { EdgeMeta, GraphView, StoreGraph } from './graph.js';
import { idsHas, idsSize, type IdSet } from './idset.js';
import type { Symbols } from './model.js';
import type { NodeSpaceLike } from './nodes.js';

type Space = NodeSpaceLike & { nodesOfType(typeId: number): Iterable<number> };

function addAll(into: Set<number>, s: IdSet, keep?: (n: number) => boolean): void {
  if (typeof s === 'number') {
    if (!keep || keep(s)) into.add(s);
  } else for (const n of s) if (!keep || keep(n)) into.add(n);
}

/** Union of sets (undefined when all are empty). */
function merge(sets: Array<IdSet | undefined>, keeps?: Array<((n: number) => boolean) | undefined>): IdSet | undefined {
  let only: IdSet | undefined;
  let count = 0;
  for (let i = 0; i < sets.length; i++) {
    const s = sets[i];
    if (s !== undefined && idsSize(s) > 0) {
      count++;
      if (keeps?.[i]) count++; // force a filtered copy
      only = s;
    }
  }
  if (count === 0) return undefined;
  if (count === 1) return only;
  const out = new Set<number>();
  for (let i = 0; i < sets.length; i++) {
    const s = sets[i];
    if (s !== undefined) addAll(out, s, keeps?.[i]);
  }
  if (out.size === 0) return undefined;
  return out.size === 1 ? (out.values().next().value as number) : out;
}

function mergeRows(rows: Array<ReadonlyArray<IdSet | undefined> | undefined>, keeps?: Array<((n: number) => boolean) | undefined>): ReadonlyArray<IdSet | undefined> | undefined {
  const present = rows.filter((r) => r !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1 && !keeps?.some((k, i) => k && rows[i] !== undefined)) return present[0];
  let len = 0;
  for (const r of present) if (r.length > len) len = r.length;
  const out: Array<IdSet | undefined> = new Array(len);
  for (let i = 0; i < len; i++) out[i] = merge(rows.map((r) => r?.[i]), keeps);
  return out;
}

/** Copies `s` into `out`; returns the count. */
function copyInto(s: IdSet | undefined, out: number[]): number {
  if (s === undefined) return 0;
  if (typeof s === 'number') {
    out[0] = s;
    return 1;
  }
  let n = 0;
  for (const x of s) out[n++] = x;
  return n;
}

/** Several graphs read as one (see the module comment). */
export class LayeredView implements GraphView {
  private readonly isBuiltinNode: (n: number) => boolean;

  /**
   * @param own - the store's own graph (may be undefined: no tuple written yet)
   * @param builtin - the built-in store's graph, for the identity-type overlay (undefined in the built-in store itself)
   * @param builtinTypes - type ids of Gatehouse's identity types
   * @param contextual - the request's contextual tuples (over `space`)
   */
  constructor(
    readonly symbols: Symbols,
    private readonly space: Space,
    private readonly own: StoreGraph | undefined,
    private readonly builtin: StoreGraph | undefined,
    private readonly builtinTypes: ReadonlySet<number>,
    private readonly contextual: StoreGraph | undefined,
  ) {
    this.isBuiltinNode = (n: number) => builtinTypes.has(space.typeOf(n));
    let max = -1;
    for (const t of builtinTypes) if (t > max) max = t;
    this.identity = new Uint8Array(max + 1);
    for (const t of builtinTypes) this.identity[t] = 1;
  }

  /** Identity types as flags by type id (asked on every edge read). */
  private readonly identity: Uint8Array;

  /** The built-in layer applies to `o` (an identity-type object, in a customer store). */
  private overlay(o: number): boolean {
    return this.builtin !== undefined && this.identity[this.space.typeOf(o)] === 1;
  }

  private layers(o: number): StoreGraph[] {
    const out: StoreGraph[] = [];
    if (this.own) out.push(this.own);
    if (this.overlay(o)) out.push(this.builtin!);
    if (this.contextual) out.push(this.contextual);
    return out;
  }

  /** The single layer holding edges of `o`, when only one can (no merge needed); null otherwise. */
  private single(o: number): StoreGraph | undefined | null {
    const ov = this.overlay(o);
    if (this.contextual) return !ov && !this.own ? this.contextual : null;
    if (ov) return this.own ? null : this.builtin;
    return this.own;
  }

  typeOf(node: number): number {
    return this.space.typeOf(node);
  }

  lookupNode(type: string, id: string): number {
    const t = this.symbols.types.lookup(type);
    return t < 0 ? -1 : this.space.lookupNodeOfType(t, id);
  }

  lookupNodeOfType(typeId: number, id: string): number {
    return this.space.lookupNodeOfType(typeId, id);
  }

  wildcardNode(typeId: number): number {
    return this.space.wildcardNode(typeId);
  }

  nodesOfType(typeId: number): Iterable<number> {
    return this.space.nodesOfType(typeId);
  }

  subjects(o: number, r: number, sr: number): IdSet | undefined {
    const one = this.single(o);
    if (one !== null) return one?.subjects(o, r, sr);
    return merge(this.layers(o).map((g) => g.subjects(o, r, sr)));
  }

  subjectsInto(o: number, r: number, sr: number, out: number[]): number {
    const one = this.single(o);
    if (one !== null) return one === undefined ? 0 : one.subjectsInto(o, r, sr, out);
    return copyInto(this.subjects(o, r, sr), out);
  }

  touch(o: number, s: number): number {
    return this.own === undefined ? 0 : this.own.touch(o, s);
  }

  subjectRow(o: number, r: number): ReadonlyArray<IdSet | undefined> | undefined {
    const one = this.single(o);
    if (one !== null) return one?.subjectRow(o, r);
    const rows = this.layers(o).map((g) => g.subjectRow(o, r));
    if (rows.filter((x) => x !== undefined).length <= 1) return rows.find((x) => x !== undefined);
    return mergeRows(rows);
  }

  subjectRelationsEnd(o: number, r: number): number {
    const one = this.single(o);
    if (one !== null) return one === undefined ? 0 : one.subjectRelationsEnd(o, r);
    let end = 0;
    for (const g of this.layers(o)) end = Math.max(end, g.subjectRelationsEnd(o, r));
    return end;
  }

  private reverse<T>(fn: (g: StoreGraph) => T): { values: T[]; keeps: Array<((n: number) => boolean) | undefined> } {
    const values: T[] = [];
    const keeps: Array<((n: number) => boolean) | undefined> = [];
    if (this.own) {
      values.push(fn(this.own));
      keeps.push(undefined);
    }
    if (this.builtin) {
      values.push(fn(this.builtin));
      keeps.push(this.isBuiltinNode);
    }
    if (this.contextual) {
      values.push(fn(this.contextual));
      keeps.push(undefined);
    }
    return { values, keeps };
  }

  objectsOf(s: number, sr: number, r: number): IdSet | undefined {
    if (!this.contextual) {
      // The common cases without a merge: one layer has no such reverse edges.
      if (this.builtin === undefined || this.builtin.objectsCount(s, sr, r) === 0) return this.own?.objectsOf(s, sr, r);
    }
    const { values, keeps } = this.reverse((g) => g.objectsOf(s, sr, r));
    return merge(values, keeps);
  }

  objectsInto(s: number, sr: number, r: number, out: number[]): number {
    if (!this.contextual && (this.builtin === undefined || this.builtin.objectsCount(s, sr, r) === 0)) return this.own === undefined ? 0 : this.own.objectsInto(s, sr, r, out);
    return copyInto(this.objectsOf(s, sr, r), out);
  }

  objectRow(s: number, sr: number): ReadonlyArray<IdSet | undefined> | undefined {
    if (!this.contextual && this.builtin?.objectRow(s, sr) === undefined) return this.own?.objectRow(s, sr);
    const { values, keeps } = this.reverse((g) => g.objectRow(s, sr));
    return mergeRows(values, keeps);
  }

  has(o: number, r: number, sr: number, s: number): boolean {
    const one = this.single(o);
    if (one !== null) return one !== undefined && one.has(o, r, sr, s);
    for (const g of this.layers(o)) if (g.has(o, r, sr, s)) return true;
    return false;
  }

  hasMeta(o: number): boolean {
    const one = this.single(o);
    if (one !== null) return one !== undefined && one.hasMeta(o);
    for (const g of this.layers(o)) if (g.hasMeta(o)) return true;
    return false;
  }

  /** The meta of the edge; undefined (unconditional) if any layer holds the edge without meta. */
  edgeMeta(o: number, r: number, sr: number, s: number): EdgeMeta | undefined {
    const one = this.single(o);
    if (one !== null) return one?.edgeMeta(o, r, sr, s);
    let first: EdgeMeta | undefined;
    for (const g of this.layers(o)) {
      if (!idsHas(g.subjects(o, r, sr), s)) continue;
      const m = g.edgeMeta(o, r, sr, s);
      if (!m) return undefined;
      first ??= m;
    }
    return first;
  }

  isContextual(o: number, r: number, sr: number, s: number): boolean {
    if (!this.contextual?.has(o, r, sr, s)) return false;
    for (const g of this.layers(o)) if (g !== this.contextual && g.has(o, r, sr, s)) return false;
    return true;
  }

  /** -1 with contextual tuples (a per-request view); else grows with every change to its graphs. */
  memoVersion(): number {
    if (this.contextual) return -1;
    return (this.own?.version ?? 0) + (this.builtin?.version ?? 0);
  }

  describe(node: number): { type: string; id: string } {
    if (node < 0 || node >= this.space.count) throw new RangeError(`no node ${node}`);
    return { type: this.symbols.types.name(this.space.typeOf(node)), id: this.space.idOf(node) };
  }
}
