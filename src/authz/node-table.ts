/**
 * {@link NodeTable}: the lookup `(type, id)` → node of a {@link NodeSpace} (nodes.ts), an
 * open-addressing hash table (linear probing) over one Int32Array that keeps each entry's full
 * 32-bit hash, type and (for a short id) characters next to its node. A lookup computes the hash of
 * the id and reads one slot; a probe of another key costs no load outside the table, and neither
 * does the match of a short id. It replaced a `Map<string, number>` per type: on a graph of a million
 * tuples the two lookups of a check (object and subject) were a fifth of its CPU time.
 *
 * The hash mixes a per-process random seed, so which ids collide cannot be known in advance
 * (hash flooding). Deletion shifts the following entries back (no tombstones).
 */
import { randomBytes } from 'node:crypto';

/** Slots of a new table (a power of two). */
const INITIAL_SLOTS = 1024;

const SEED = randomBytes(4).readInt32LE(0);

/**
 * The table's hash of `typeId:id`: FNV-1a over the UTF-16 code units, seeded, with the type mixed
 * in and murmur3's finaliser (every bit of the result depends on every input bit).
 */
export function hashNodeKey(typeId: number, id: string): number {
  let h = (SEED ^ Math.imul(typeId + 1, 0x9e3779b1)) | 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Int32 words per slot: `[hash, node + 1, typeId, length, chars 0-3, 4-7, 8-11, 12-15]`. */
const W = 8;
/** Ids of at most this many characters, each below 256, are kept in the slot itself. */
export const INLINE_CHARS = 16;

/** The slot's length word for `id`: its length when it fits in the slot, else -1. */
function inlineLength(id: string): number {
  const n = id.length;
  if (n > INLINE_CHARS) return -1;
  for (let i = 0; i < n; i++) if (id.charCodeAt(i) > 255) return -1;
  return n;
}

/**
 * `(typeId, id)` → node, for the nodes of one space. Each slot holds the entry's hash, node and
 * type, and — for an id of at most {@link INLINE_CHARS} characters below 256 (`u123`, `doc-42`) —
 * the id's characters, so a lookup of such an id reads one slot (32 bytes, one cache line) and
 * nothing else. A longer id is confirmed against the space's array (`ids[node]`), which must hold
 * the node's id while it is in the table.
 */
export class NodeTable {
  private slots = new Int32Array(W * INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private used = 0;

  /** @param ids - node → object id (the space's array, read on a hash match of a long id) */
  constructor(private readonly ids: readonly string[]) {}

  /** Number of entries. */
  get size(): number {
    return this.used;
  }

  /** The node of `typeId:id`, or -1. */
  get(typeId: number, id: string): number {
    const h = hashNodeKey(typeId, id);
    const s = this.slots;
    const mask = this.mask;
    for (let j = h & mask; ; j = (j + 1) & mask) {
      const b = W * j;
      const n = (s[b + 1] as number) - 1;
      if (n < 0) return -1;
      if (s[b] === h && s[b + 2] === typeId && this.matches(s, b, id, n)) return n;
    }
  }

  /** Does the entry at word `b` (node `n`, hash and type equal) hold `id`? */
  private matches(s: Int32Array, b: number, id: string, n: number): boolean {
    const len = s[b + 3] as number;
    if (len < 0) return this.ids[n] === id;
    if (len !== id.length) return false;
    for (let i = 0; i < len; i++) if (((s[b + 4 + (i >> 2)] as number) >>> ((i & 3) << 3)) & 255 ^ id.charCodeAt(i)) return false;
    return true;
  }

  /** Adds `typeId:id` → `node`; the key must not be in the table (see {@link get}). */
  add(typeId: number, id: string, node: number): void {
    if (2 * (this.used + 1) > this.mask + 1) this.grow();
    const s = this.slots;
    const mask = this.mask;
    let j = hashNodeKey(typeId, id) & mask;
    while (s[W * j + 1] !== 0) j = (j + 1) & mask;
    const b = W * j;
    s[b] = hashNodeKey(typeId, id);
    s[b + 1] = node + 1;
    s[b + 2] = typeId;
    const len = inlineLength(id);
    s[b + 3] = len;
    for (let k = 4; k < W; k++) s[b + k] = 0;
    for (let i = 0; i < len; i++) s[b + 4 + (i >> 2)] = (s[b + 4 + (i >> 2)] as number) | (id.charCodeAt(i) << ((i & 3) << 3));
    this.used++;
  }

  /** Removes `typeId:id` (nothing when absent). */
  delete(typeId: number, id: string): void {
    const h = hashNodeKey(typeId, id);
    const s = this.slots;
    const mask = this.mask;
    let j = h & mask;
    for (; ; j = (j + 1) & mask) {
      const b = W * j;
      const n = (s[b + 1] as number) - 1;
      if (n < 0) return;
      if (s[b] === h && s[b + 2] === typeId && this.matches(s, b, id, n)) break;
    }
    // Backward shift: move later entries of the cluster into the hole when their home allows.
    let hole = j;
    for (let k = (j + 1) & mask; s[W * k + 1] !== 0; k = (k + 1) & mask) {
      const home = (s[W * k] as number) & mask;
      // The entry at k may move to `hole` unless its home lies cyclically in (hole, k].
      const stays = hole <= k ? hole < home && home <= k : hole < home || home <= k;
      if (stays) continue;
      s.copyWithin(W * hole, W * k, W * k + W);
      hole = k;
    }
    s.fill(0, W * hole, W * hole + W);
    this.used--;
  }

  /** Doubles the slots (load stays at most one half) and re-places every entry by its kept hash. */
  private grow(): void {
    const old = this.slots;
    const slots = 2 * (this.mask + 1);
    const s = new Int32Array(W * slots);
    const mask = slots - 1;
    for (let o = 0; o < old.length; o += W) {
      if (old[o + 1] === 0) continue;
      let j = (old[o] as number) & mask;
      while (s[W * j + 1] !== 0) j = (j + 1) & mask;
      s.set(old.subarray(o, o + W), W * j);
    }
    this.slots = s;
    this.mask = mask;
  }
}
