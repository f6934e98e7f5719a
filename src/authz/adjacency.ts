/**
 * {@link Adjacency}: the integer edge index behind a {@link StoreGraph} (graph.ts), one per
 * direction: node → (relation, relation) pair → IdSet of nodes, stored as blocks in shared pages.
 */
import { GatehouseError } from '../kernel/errors.js';
import { idsAdd, idsDelete, type IdSet } from './idset.js';

/** The IdSets of one (node, r1), indexed by r2. */
export type Row = Array<IdSet | undefined>;

/** Packs the two relation ids of an adjacency entry (both below MAX_RELATIONS + 1 = 4096, model.ts). */
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
export class Adjacency {
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
