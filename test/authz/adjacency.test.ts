/**
 * Adjacency (graph.ts's edge index: blocks in Int32Array pages, small sets inline, large ones a Set
 * beside the block) against a plain Map of Sets, under adds and deletes.
 */
import { describe, expect, it } from 'vitest';
import { Adjacency, INLINE_BACK, INLINE_MAX } from '../../src/authz/adjacency.js';
import { idsToArray } from '../../src/authz/idset.js';
import { rng } from '../support/random.js';

/** A small deterministic generator (tests must not depend on Math.random). */
type Ref = Map<string, Set<number>>;
const key = (a: number, r1: number, r2: number) => `${a}|${r1}|${r2}`;

/** Every read of `adj` for (a, r1, r2) gives the reference set, in insertion order. */
function expectSame(adj: Adjacency, ref: Ref, a: number, r1: number, r2: number, scratch: number[]): void {
  const want = [...(ref.get(key(a, r1, r2)) ?? [])];
  expect(adj.size(a, r1, r2)).toBe(want.length);
  expect(idsToArray(adj.get(a, r1, r2))).toEqual(want);
  const n = adj.into(a, r1, r2, scratch);
  expect(scratch.slice(0, n)).toEqual(want);
  for (const b of want) expect(adj.has(a, r1, r2, b)).toBe(true);
  expect(adj.has(a, r1, r2, 1_000_000)).toBe(false);
}

describe('Adjacency', () => {
  it('answers like a Map of Sets through inline growth, Sets, shrinking back, pair removal and compaction', () => {
    const adj = new Adjacency();
    const ref: Ref = new Map();
    const r = rng(3);
    const scratch: number[] = [];
    let sawBig = 0;
    // 40 nodes × 3 × 3 pairs, members drawn from 0..79: sets cross INLINE_MAX both ways.
    for (let op = 0; op < 60_000; op++) {
      const a = Math.floor(r() * 40);
      const r1 = 1 + Math.floor(r() * 3);
      const r2 = Math.floor(r() * 3);
      const b = Math.floor(r() * 80);
      const k = key(a, r1, r2);
      let s = ref.get(k);
      // Phases: mostly adds, then mostly deletes, then mixed, so sets grow large and empty again.
      const phase = Math.floor(op / 10_000) % 3;
      const addP = phase === 0 ? 0.85 : phase === 1 ? 0.15 : 0.5;
      if (r() < addP) {
        const isNew = !s?.has(b);
        expect(adj.add(a, r1, r2, b)).toBe(isNew);
        if (!s) ref.set(k, (s = new Set()));
        s.add(b);
      } else {
        const was = !!s?.has(b);
        expect(adj.delete(a, r1, r2, b)).toBe(was);
        s?.delete(b);
        if (s && s.size === 0) ref.delete(k);
      }
      if ((s?.size ?? 0) > INLINE_MAX) sawBig++;
      if (op % 2000 === 1999) {
        for (let x = 0; x < 40; x++) for (let y = 1; y <= 3; y++) for (let z = 0; z < 3; z++) expectSame(adj, ref, x, y, z, scratch);
        // extent / row / entries agree with the reference too.
        for (let x = 0; x < 40; x++) {
          const seen: string[] = [];
          adj.entries(x, (y, z, set) => {
            seen.push(key(x, y, z));
            expect(idsToArray(set)).toEqual([...(ref.get(key(x, y, z)) ?? [])]);
          });
          expect(seen).toEqual([...ref.keys()].filter((kk) => kk.startsWith(`${x}|`)).sort((p, q) => {
            const [, p1, p2] = p.split('|').map(Number) as [number, number, number];
            const [, q1, q2] = q.split('|').map(Number) as [number, number, number];
            return p1 * 4096 + p2 - (q1 * 4096 + q2);
          }));
          for (let y = 1; y <= 3; y++) {
            let ext = 0;
            for (let z = 0; z < 3; z++) if (ref.has(key(x, y, z))) ext = z + 1;
            expect(adj.extent(x, y)).toBe(ext);
            const row = adj.row(x, y);
            if (ext === 0) expect(row).toBeUndefined();
            else for (let z = 0; z < ext; z++) expect(idsToArray(row?.[z])).toEqual([...(ref.get(key(x, y, z)) ?? [])]);
          }
        }
      }
    }
    expect(sawBig).toBeGreaterThan(0);
    // Every edge once through forEach.
    let edges = 0;
    adj.forEach(() => edges++);
    let want = 0;
    for (const s of ref.values()) want += s.size;
    expect(edges).toBe(want);
    const before = adj.stats();
    adj.compact();
    const after = adj.stats();
    expect(after.garbage).toBe(0);
    expect(after.live).toBe(before.live);
    for (let x = 0; x < 40; x++) for (let y = 1; y <= 3; y++) for (let z = 0; z < 3; z++) expectSame(adj, ref, x, y, z, scratch);
  }, 120_000);

  it('moves one set from inline to a Set and back, keeping insertion order and its neighbours', () => {
    const adj = new Adjacency();
    const scratch: number[] = [];
    adj.add(7, 1, 0, 500);
    adj.add(7, 3, 0, 501);
    for (let b = 0; b < INLINE_MAX; b++) adj.add(7, 2, 0, 100 + b);
    expect(adj.stats().bigSets).toBe(0);
    expect(adj.size(7, 2, 0)).toBe(INLINE_MAX);
    adj.add(7, 2, 0, 99); // one past INLINE_MAX: a Set
    expect(adj.stats().bigSets).toBe(1);
    expect(adj.get(7, 2, 0)).toBeInstanceOf(Set);
    const all = [...Array.from({ length: INLINE_MAX }, (_, i) => 100 + i), 99];
    expect(adj.into(7, 2, 0, scratch)).toBe(INLINE_MAX + 1);
    expect(scratch.slice(0, INLINE_MAX + 1)).toEqual(all);
    // The neighbouring pairs are untouched.
    expect([adj.get(7, 1, 0), adj.get(7, 3, 0)]).toEqual([500, 501]);
    // Down to INLINE_BACK: back into the block, in the Set's order.
    for (let b = 0; b < INLINE_MAX + 1 - INLINE_BACK; b++) expect(adj.delete(7, 2, 0, 100 + b)).toBe(true);
    expect(adj.stats().bigSets).toBe(0);
    expect(Array.isArray(adj.get(7, 2, 0))).toBe(true);
    expect(idsToArray(adj.get(7, 2, 0))).toEqual(all.slice(INLINE_MAX + 1 - INLINE_BACK));
    expect([adj.get(7, 1, 0), adj.get(7, 3, 0)]).toEqual([500, 501]);
    // Down to one (a number), then gone; the node's block goes with its last pair.
    for (const b of all.slice(INLINE_MAX + 1 - INLINE_BACK, -1)) adj.delete(7, 2, 0, b);
    expect(adj.get(7, 2, 0)).toBe(99);
    expect(adj.delete(7, 2, 0, 99)).toBe(true);
    expect(adj.get(7, 2, 0)).toBeUndefined();
    expect(adj.extent(7, 2)).toBe(0);
    adj.delete(7, 1, 0, 500);
    adj.delete(7, 3, 0, 501);
    expect(adj.stats().live).toBe(0);
    expect(adj.has(7, 1, 0, 500)).toBe(false);
    // touch reads a block's first slot (its pair count), 0 without a block.
    expect([adj.touch(7), adj.touch(1_000_000)]).toEqual([0, 0]);
    adj.add(7, 1, 0, 500);
    adj.add(7, 2, 0, 500);
    expect(adj.touch(7)).toBe(2);
    // The freed Set index is reused.
    for (let b = 0; b <= INLINE_MAX; b++) adj.add(8, 1, 0, b);
    expect(adj.stats().bigSets).toBe(1);
  });

  it('spreads blocks over several pages and keeps them readable after compaction', () => {
    const adj = new Adjacency();
    // 120,000 nodes × 10 slots: more than one 2^20-slot page.
    for (let a = 0; a < 120_000; a++) for (let b = 0; b < 5; b++) adj.add(a, 1 + (b % 2), 0, a + b);
    adj.compact();
    expect(adj.stats().capacity).toBeGreaterThan(1 << 20);
    for (let a = 0; a < 120_000; a += 997) {
      expect(idsToArray(adj.get(a, 1, 0))).toEqual([a, a + 2, a + 4]);
      expect(idsToArray(adj.get(a, 2, 0))).toEqual([a + 1, a + 3]);
    }
  });
});
