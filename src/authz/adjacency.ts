/**
 * {@link Adjacency}: the integer edge index behind a {@link StoreGraph} (graph.ts), one per
 * direction: node → (relation, relation) pair → set of nodes, stored as blocks in shared pages.
 */
import { GatehouseError } from '../kernel/errors.js';
import type { IdSet } from './idset.js';

/** The IdSets of one (node, r1), indexed by r2. */
export type Row = Array<IdSet | undefined>;

/** Packs the two relation ids of an adjacency entry (both below MAX_RELATIONS + 1 = 4096, model.ts). */
function pairKey(r1: number, r2: number): number {
  return r1 * 4096 + r2;
}

/** Int32 slots per page of {@link Adjacency} at most (2^20: 4 MiB); a page starts small and doubles. */
const PAGE_BITS = 20;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;
const FIRST_PAGE_SLOTS = 64;

/** Sets of up to this many nodes are kept in the block itself; a larger one is a `Set` beside it. */
export const INLINE_MAX = 32;
/** A `Set` that shrinks to this many nodes goes back into the block. */
export const INLINE_BACK = 16;

/**
 * A three-level adjacency a → r1 → r2 → set of b, stored as blocks in shared Int32Array pages:
 * node `a`'s block starts at `at[a]` (0: no block; `page << PAGE_BITS | position`) and holds
 * `[n, entry0, entry1, …]`, its n (r1, r2) pairs in ascending {@link pairKey} order, each entry
 * `[key, len, b0, …, b(len-1)]` — the set's nodes themselves, in insertion order — or, for a set of
 * more than {@link INLINE_MAX} nodes, `[key, -1, index]` with the `Set` at `big[index]`.
 *
 * A lookup reads `at[a]` and the block: the node's pairs and the members of its small sets sit
 * next to each other, with no array object per node or per set in between (each was one more
 * dependent load, and a header, per node and set). On a graph of a million tuples those loads miss
 * the cache and are most of a check's time.
 *
 * Readers that must not allocate use {@link has}, {@link size} and {@link into} (a copy into the
 * caller's array); {@link get} builds an {@link IdSet} (a new array for an inline set of two or more).
 *
 * Changes: a block that grows moves to the end of the last page (it grows in place when it is
 * already there, as during a build); a block that shrinks is shifted in place. The slots left
 * behind are garbage, cleared to 0; when garbage exceeds the live slots (and 64 Ki) every block is
 * copied once into fresh pages, in node order.
 */
export class Adjacency {
  /** node → block offset (`page << PAGE_BITS | position`); 0: none. */
  private at = new Int32Array(1024);
  private pages: Int32Array[] = [new Int32Array(FIRST_PAGE_SLOTS)];
  /** Used slots of the last page (slot 0 of page 0 is never a block: offset 0 means none). */
  private top = 1;
  /** Sets larger than {@link INLINE_MAX}, by index; freed indexes are reused. */
  private big: Array<Set<number> | undefined> = [];
  private freeBig: number[] = [];
  /** Slots in blocks, and slots left behind by moved or shrunk blocks. */
  private live = 0;
  private garbage = 0;

  private offset(a: number): number {
    return a < this.at.length ? (this.at[a] as number) : 0;
  }

  /** `page << PAGE_BITS | index` of the `len` word of (a, r1, r2), or -1. */
  private locate(a: number, k: number): number {
    const o = a < this.at.length ? (this.at[a] as number) : 0;
    if (o === 0) return -1;
    const p = this.pages[o >>> PAGE_BITS] as Int32Array;
    let i = o & PAGE_MASK;
    const n = p[i++] as number;
    for (let j = 0; j < n; j++) {
      const pk = p[i] as number;
      if (pk === k) return (o - (o & PAGE_MASK)) | (i + 1);
      if (pk > k) return -1;
      const len = p[i + 1] as number;
      i += 2 + (len < 0 ? 1 : len);
    }
    return -1;
  }

  /** Reads the first slot of `a`'s block (0 when none): issued early, it brings the block into the cache. */
  touch(a: number): number {
    const o = a < this.at.length ? (this.at[a] as number) : 0;
    return o === 0 ? 0 : ((this.pages[o >>> PAGE_BITS] as Int32Array)[o & PAGE_MASK] as number);
  }

  /** True if `b` is in the set of (a, r1, r2). Allocates nothing. */
  has(a: number, r1: number, r2: number, b: number): boolean {
    const h = this.locate(a, pairKey(r1, r2));
    if (h < 0) return false;
    const p = this.pages[h >>> PAGE_BITS] as Int32Array;
    const i = h & PAGE_MASK;
    const len = p[i] as number;
    if (len < 0) return (this.big[p[i + 1] as number] as Set<number>).has(b);
    for (let j = i + 1; j <= i + len; j++) if (p[j] === b) return true;
    return false;
  }

  /** Number of nodes in the set of (a, r1, r2). */
  size(a: number, r1: number, r2: number): number {
    const h = this.locate(a, pairKey(r1, r2));
    if (h < 0) return 0;
    const p = this.pages[h >>> PAGE_BITS] as Int32Array;
    const len = p[h & PAGE_MASK] as number;
    return len < 0 ? (this.big[p[(h & PAGE_MASK) + 1] as number] as Set<number>).size : len;
  }

  /** Copies the set of (a, r1, r2) into `out[0 .. count-1]` (insertion order); returns the count. */
  into(a: number, r1: number, r2: number, out: number[]): number {
    const h = this.locate(a, pairKey(r1, r2));
    if (h < 0) return 0;
    const p = this.pages[h >>> PAGE_BITS] as Int32Array;
    const i = h & PAGE_MASK;
    const len = p[i] as number;
    if (len < 0) {
      let n = 0;
      for (const b of this.big[p[i + 1] as number] as Set<number>) out[n++] = b;
      return n;
    }
    for (let j = 0; j < len; j++) out[j] = p[i + 1 + j] as number;
    return len;
  }

  /** The set of (a, r1, r2) as an IdSet: a number, a new array, or the `Set` itself (do not change it). */
  get(a: number, r1: number, r2: number): IdSet | undefined {
    const h = this.locate(a, pairKey(r1, r2));
    return h < 0 ? undefined : this.setAt(this.pages[h >>> PAGE_BITS] as Int32Array, h & PAGE_MASK);
  }

  /** The IdSet whose `len` word is at `p[i]`. */
  private setAt(p: Int32Array, i: number): IdSet {
    const len = p[i] as number;
    if (len < 0) return this.big[p[i + 1] as number] as Set<number>;
    if (len === 1) return p[i + 1] as number;
    const out = new Array<number>(len);
    for (let j = 0; j < len; j++) out[j] = p[i + 1 + j] as number;
    return out;
  }

  /** 1 + the greatest r2 with an entry under (a, r1); 0 when there is none. */
  extent(a: number, r1: number): number {
    const o = this.offset(a);
    if (o === 0) return 0;
    const p = this.pages[o >>> PAGE_BITS] as Int32Array;
    let i = o & PAGE_MASK;
    const count = p[i++] as number;
    const lo = pairKey(r1, 0);
    let n = 0;
    for (let j = 0; j < count; j++) {
      const k = p[i] as number;
      if (k >= lo + 4096) break;
      if (k >= lo) n = k - lo + 1;
      const len = p[i + 1] as number;
      i += 2 + (len < 0 ? 1 : len);
    }
    return n;
  }

  /** The entries under (a, r1) as an array indexed by r2 (a new array), or undefined when none. */
  row(a: number, r1: number): Row | undefined {
    const n = this.extent(a, r1);
    if (n === 0) return undefined;
    const lo = pairKey(r1, 0);
    const out: Row = new Array<IdSet | undefined>(n);
    this.scan(a, (k, p, i) => {
      if (k >= lo + n) return false;
      if (k >= lo) out[k - lo] = this.setAt(p, i);
      return true;
    });
    return out;
  }

  /** Calls `fn(r1, r2, set)` for every entry of `a`, in ascending (r1, r2). */
  entries(a: number, fn: (r1: number, r2: number, set: IdSet) => void): void {
    this.scan(a, (k, p, i) => {
      fn(Math.floor(k / 4096), k % 4096, this.setAt(p, i));
      return true;
    });
  }

  /** Calls `fn(key, page, index of len)` for the entries of `a` in key order while it returns true. */
  private scan(a: number, fn: (k: number, p: Int32Array, i: number) => boolean): void {
    const o = this.offset(a);
    if (o === 0) return;
    const p = this.pages[o >>> PAGE_BITS] as Int32Array;
    let i = o & PAGE_MASK;
    const n = p[i++] as number;
    for (let j = 0; j < n; j++) {
      if (!fn(p[i] as number, p, i + 1)) return;
      const len = p[i + 1] as number;
      i += 2 + (len < 0 ? 1 : len);
    }
  }

  /** Drops every edge. */
  reset(): void {
    this.at = new Int32Array(1024);
    this.pages = [new Int32Array(FIRST_PAGE_SLOTS)];
    this.top = 1;
    this.big = [];
    this.freeBig = [];
    this.live = 0;
    this.garbage = 0;
  }

  /** Adds the edge; returns true if it was new. */
  add(a: number, r1: number, r2: number, b: number): boolean {
    const k = pairKey(r1, r2);
    const o = this.offset(a);
    let n = 0;
    let rel = 1; // position of the new entry, relative to the block start
    if (o !== 0) {
      const p = this.pages[o >>> PAGE_BITS] as Int32Array;
      const base = o & PAGE_MASK;
      n = p[base] as number;
      for (let j = 0; j < n; j++) {
        const i = base + rel;
        const pk = p[i] as number;
        const len = p[i + 1] as number;
        if (pk === k) return this.addTo(a, o, p, base, i, b);
        if (pk > k) break;
        rel += 2 + (len < 0 ? 1 : len);
      }
    }
    // A new pair: three slots at `rel`.
    const [q, qb] = this.widen(a, o, rel, 3);
    q[qb] = n + 1;
    q[qb + rel] = k;
    q[qb + rel + 1] = 1;
    q[qb + rel + 2] = b;
    this.maybeCompact();
    return true;
  }

  /** Adds `b` to the entry at `p[i]` of the block of `a` (at offset `o`, index `base`). */
  private addTo(a: number, o: number, p: Int32Array, base: number, i: number, b: number): boolean {
    const len = p[i + 1] as number;
    if (len < 0) {
      const set = this.big[p[i + 2] as number] as Set<number>;
      if (set.has(b)) return false;
      set.add(b);
      return true;
    }
    for (let j = i + 2; j < i + 2 + len; j++) if (p[j] === b) return false;
    if (len === INLINE_MAX) {
      // Into a Set beside the block: the entry shrinks to [key, -1, index].
      const end = base + this.blockSize(p, base);
      const set = new Set<number>(p.subarray(i + 2, i + 2 + len));
      set.add(b);
      let idx = this.freeBig.pop();
      if (idx === undefined) idx = this.big.push(set) - 1;
      else this.big[idx] = set;
      p[i + 1] = -1;
      p[i + 2] = idx;
      this.shrink(p, end, i + 3, len - 1);
      return true;
    }
    const rel = i - base;
    const [q, qb] = this.widen(a, o, rel + 2 + len, 1);
    q[qb + rel + 1] = len + 1;
    q[qb + rel + 2 + len] = b;
    this.maybeCompact();
    return true;
  }

  /** Removes an edge; a pair left empty is dropped, and a node with no edge costs nothing here. */
  delete(a: number, r1: number, r2: number, b: number): boolean {
    const h = this.locate(a, pairKey(r1, r2));
    if (h < 0) return false;
    const o = this.offset(a);
    const p = this.pages[o >>> PAGE_BITS] as Int32Array;
    const base = o & PAGE_MASK;
    const i = (h & PAGE_MASK) - 1; // the entry's key
    const len = p[i + 1] as number;
    if (len < 0) {
      const idx = p[i + 2] as number;
      const set = this.big[idx] as Set<number>;
      if (!set.delete(b)) return false;
      if (set.size > INLINE_BACK) return true;
      // Back into the block: [key, -1, index] becomes [key, size, members…].
      this.big[idx] = undefined;
      this.freeBig.push(idx);
      const rel = i - base;
      const [q, qb] = this.widen(a, o, rel + 3, set.size - 1);
      q[qb + rel + 1] = set.size;
      let j = qb + rel + 2;
      for (const x of set) q[j++] = x;
      this.maybeCompact();
      return true;
    }
    let at = -1;
    for (let j = i + 2; j < i + 2 + len; j++) {
      if (p[j] === b) {
        at = j;
        break;
      }
    }
    if (at < 0) return false;
    const end = base + this.blockSize(p, base);
    if (len > 1) {
      p[i + 1] = len - 1;
      this.shrink(p, end, at, 1);
    } else if ((p[base] as number) > 1) {
      p[base] = (p[base] as number) - 1;
      this.shrink(p, end, i, 3);
    } else {
      // The node's last pair: the block goes.
      this.discard(p, base, 4);
      this.at[a] = 0;
    }
    this.maybeCompact();
    return true;
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

  /** Slots of the block at `p[base]`. */
  private blockSize(p: Int32Array, base: number): number {
    const n = p[base] as number;
    let i = base + 1;
    for (let j = 0; j < n; j++) {
      const len = p[i + 1] as number;
      i += 2 + (len < 0 ? 1 : len);
    }
    return i - base;
  }

  /**
   * Makes room for `extra` slots at position `rel` of the block of `a` (offset `o`, 0: a new block
   * whose first slot is the pair count): in place when the block ends the last page, else the
   * block moves to the end of the last page. Returns the page and the block's new start.
   */
  private widen(a: number, o: number, rel: number, extra: number): [Int32Array, number] {
    let size = 1;
    let p: Int32Array | undefined;
    let base = 0;
    if (o !== 0) {
      p = this.pages[o >>> PAGE_BITS] as Int32Array;
      base = o & PAGE_MASK;
      size = this.blockSize(p, base);
      const last = this.pages.length - 1;
      if (o >>> PAGE_BITS === last && base + size === this.top && this.fits(extra)) {
        const q = this.pages[last] as Int32Array; // fits() may have replaced the page
        q.copyWithin(base + rel + extra, base + rel, base + size);
        q.fill(0, base + rel, base + rel + extra);
        this.top += extra;
        this.live += extra;
        return [q, base];
      }
    }
    const [q, qb] = this.reserve(size + extra);
    if (p !== undefined) {
      p = this.pages[o >>> PAGE_BITS] as Int32Array; // reserve() may have grown that page
      q.set(p.subarray(base, base + rel), qb);
      q.set(p.subarray(base + rel, base + size), qb + rel + extra);
      this.discard(p, base, size);
    }
    this.live += size + extra;
    this.place(a, ((this.pages.length - 1) << PAGE_BITS) | qb);
    return [q, qb];
  }

  /** Removes `count` slots at `p[at]` of a block that ended at `p[end]`, shifting the rest of the block left. */
  private shrink(p: Int32Array, end: number, at: number, count: number): void {
    p.copyWithin(at, at + count, end);
    p.fill(0, end - count, end);
    this.live -= count;
    if (p === this.pages[this.pages.length - 1] && end === this.top) this.top -= count;
    else this.garbage += count;
  }

  /** True when the last page has (or can grow to) `extra` more slots. */
  private fits(extra: number): boolean {
    const need = this.top + extra;
    if (need > PAGE_SLOTS) return false;
    const last = this.pages.length - 1;
    const q = this.pages[last] as Int32Array;
    if (need <= q.length) return true;
    let cap = q.length * 2;
    while (cap < need) cap *= 2;
    const grown = new Int32Array(Math.min(cap, PAGE_SLOTS));
    grown.set(q.subarray(0, this.top));
    this.pages[last] = grown;
    return true;
  }

  /** `size` free slots at the end of the last page (a new page when they do not fit). */
  private reserve(size: number): [Int32Array, number] {
    if (size > PAGE_SLOTS) throw new GatehouseError('invalid_input', 'too many distinct relation pairs on one node');
    if (!this.fits(size)) {
      let cap = FIRST_PAGE_SLOTS;
      while (cap < size) cap *= 2;
      this.pages.push(new Int32Array(cap));
      this.top = 0;
    }
    const qb = this.top;
    this.top += size;
    return [this.pages[this.pages.length - 1] as Int32Array, qb];
  }

  private discard(p: Int32Array, base: number, size: number): void {
    p.fill(0, base, base + size);
    this.live -= size;
    if (p === this.pages[this.pages.length - 1] && base + size === this.top) this.top -= size;
    else this.garbage += size;
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
    this.pages = [new Int32Array(Math.min(PAGE_SLOTS, Math.max(FIRST_PAGE_SLOTS, this.live + 1)))];
    this.top = 1;
    const at = this.at;
    for (let a = 0; a < at.length; a++) {
      const o = at[a] as number;
      if (o === 0) continue;
      const p = old[o >>> PAGE_BITS] as Int32Array;
      const b = o & PAGE_MASK;
      const size = this.blockSize(p, b);
      const [q, qb] = this.reserve(size);
      q.set(p.subarray(b, b + size), qb);
      at[a] = ((this.pages.length - 1) << PAGE_BITS) | qb;
    }
    this.garbage = 0;
  }

  /** Slots in use, left behind, and reserved by the pages (for tests and memory figures). */
  stats(): { live: number; garbage: number; capacity: number; bigSets: number } {
    let capacity = 0;
    for (const p of this.pages) capacity += p.length;
    return { live: this.live, garbage: this.garbage, capacity, bigSets: this.big.length - this.freeBig.length };
  }
}
