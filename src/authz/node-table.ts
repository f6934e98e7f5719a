/**
 * {@link NodeTable}: the lookup `(type, id)` → node of a {@link NodeSpace} (nodes.ts), an
 * open-addressing hash table (linear probing) over one Int32Array that keeps each entry's full
 * 32-bit hash next to its node. A lookup computes the hash of the id, reads one slot (usually one
 * cache line) and compares strings only when the hash matches, so a probe of another key costs no
 * load outside the table. It replaced a `Map<string, number>` per type: on a graph of a million
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

/**
 * `(typeId, id)` → node, for the nodes of one space. The strings are not copied: an entry holds
 * its hash and node, and a match is confirmed against the space's own arrays (`ids[node]`,
 * `types[node]`), which must hold the node's key while it is in the table.
 */
export class NodeTable {
  /** Two Int32 per slot: `[hash, node + 1]` (0: empty). */
  private slots = new Int32Array(2 * INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private used = 0;

  /**
   * @param ids - node → object id (the space's array, read on a hash match)
   * @param types - node → type id
   */
  constructor(
    private readonly ids: readonly string[],
    private readonly types: readonly number[],
  ) {}

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
      const n = (s[2 * j + 1] as number) - 1;
      if (n < 0) return -1;
      if (s[2 * j] === h && this.ids[n] === id && this.types[n] === typeId) return n;
    }
  }

  /** Adds `typeId:id` → `node`; the key must not be in the table (see {@link get}). */
  add(typeId: number, id: string, node: number): void {
    if (2 * (this.used + 1) > this.mask + 1) this.grow();
    this.place(hashNodeKey(typeId, id), node);
    this.used++;
  }

  /** Removes `typeId:id` (nothing when absent). */
  delete(typeId: number, id: string): void {
    const h = hashNodeKey(typeId, id);
    const s = this.slots;
    const mask = this.mask;
    let j = h & mask;
    for (; ; j = (j + 1) & mask) {
      const n = (s[2 * j + 1] as number) - 1;
      if (n < 0) return;
      if (s[2 * j] === h && this.ids[n] === id && this.types[n] === typeId) break;
    }
    // Backward shift: move later entries of the cluster into the hole when their home allows.
    let hole = j;
    for (let k = (j + 1) & mask; s[2 * k + 1] !== 0; k = (k + 1) & mask) {
      const home = (s[2 * k] as number) & mask;
      // The entry at k may move to `hole` unless its home lies cyclically in (hole, k].
      const stays = hole <= k ? hole < home && home <= k : hole < home || home <= k;
      if (stays) continue;
      s[2 * hole] = s[2 * k] as number;
      s[2 * hole + 1] = s[2 * k + 1] as number;
      hole = k;
    }
    s[2 * hole] = 0;
    s[2 * hole + 1] = 0;
    this.used--;
  }

  private place(h: number, node: number): void {
    const s = this.slots;
    const mask = this.mask;
    let j = h & mask;
    while (s[2 * j + 1] !== 0) j = (j + 1) & mask;
    s[2 * j] = h;
    s[2 * j + 1] = node + 1;
  }

  /** Doubles the slots (load stays at most one half) and re-places every entry by its kept hash. */
  private grow(): void {
    const old = this.slots;
    const slots = 2 * (this.mask + 1);
    this.slots = new Int32Array(2 * slots);
    this.mask = slots - 1;
    for (let j = 0; j < old.length; j += 2) {
      const n1 = old[j + 1] as number;
      if (n1 !== 0) this.place(old[j] as number, n1 - 1);
    }
  }
}
