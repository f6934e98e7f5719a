/**
 * Adjacency under a large, delete-heavy load (fresh-eyes tester, issue #3): enough blocks to span
 * several 2^20-slot pages, blocks that grow on a full last page and move to a new one, big sets
 * going inline <-> Set, and the automatic compaction (garbage > live and > 64 Ki slots) firing in
 * the middle of adds and deletes. Reference: a Map of Sets.
 */
import { describe, expect, it } from 'vitest';
import { Adjacency } from '../../src/authz/adjacency.js';
import { idsToArray } from '../../src/authz/idset.js';
import { rng } from '../support/random.js';

/** Equal arrays (a thrown error names the first difference; expect() in the hot loop costs most of the run). */
function same(got: number[], want: number[], what: string): void {
  if (got.length !== want.length || got.some((x, i) => x !== want[i])) throw new Error(`${what}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

describe('Adjacency at scale', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: several pages, automatic compactions, answers equal to a Map of Sets`, () => {
      const adj = new Adjacency();
      const ref = new Map<number, Map<number, Set<number>>>(); // a -> pairKey -> set
      const r = rng(seed);
      const NODES = 60_000;
      let compactions = 0;
      let lastGarbage = 0;
      let maxCapacity = 0;
      const add = (a: number, r1: number, r2: number, b: number) => {
        let m = ref.get(a);
        if (!m) ref.set(a, (m = new Map()));
        const k = r1 * 4096 + r2;
        let s = m.get(k);
        if (!s) m.set(k, (s = new Set()));
        const isNew = !s.has(b);
        s.add(b);
        if (adj.add(a, r1, r2, b) !== isNew) throw new Error(`add ${a} ${r1} ${r2} ${b}: expected ${isNew}`);
      };
      const del = (a: number, r1: number, r2: number, b: number) => {
        const m = ref.get(a);
        const k = r1 * 4096 + r2;
        const s = m?.get(k);
        const was = !!s?.has(b);
        s?.delete(b);
        if (s && s.size === 0) m!.delete(k);
        if (m && m.size === 0) ref.delete(a);
        if (adj.delete(a, r1, r2, b) !== was) throw new Error(`delete ${a} ${r1} ${r2} ${b}: expected ${was}`);
      };
      const watch = () => {
        const st = adj.stats();
        if (st.garbage < lastGarbage) compactions++;
        lastGarbage = st.garbage;
        if (st.capacity > maxCapacity) maxCapacity = st.capacity;
      };
      const verify = (sample: number) => {
        const scratch: number[] = [];
        for (let i = 0; i < sample; i++) {
          const a = Math.floor(r() * NODES);
          const m = ref.get(a);
          let pairs = 0;
          adj.entries(a, (r1, r2, set) => {
            pairs++;
            same(idsToArray(set), [...(m?.get(r1 * 4096 + r2) ?? [])], `entries ${a} ${r1} ${r2}`);
          });
          if (pairs !== (m?.size ?? 0)) throw new Error(`pairs of ${a}: ${pairs}, want ${m?.size ?? 0}`);
          for (const [k, s] of m ?? []) {
            const r1 = Math.floor(k / 4096);
            const r2 = k % 4096;
            if (adj.size(a, r1, r2) !== s.size) throw new Error(`size ${a} ${r1} ${r2}`);
            const n = adj.into(a, r1, r2, scratch);
            same(scratch.slice(0, n), [...s], `into ${a} ${r1} ${r2}`);
            for (const b of s) if (!adj.has(a, r1, r2, b)) throw new Error(`has ${a} ${r1} ${r2} ${b}`);
          }
        }
      };
      // Phase 1: build, 4-8 edges per node over 3 pairs, plus a few hub nodes with big sets.
      for (let a = 0; a < NODES; a++) {
        const n = 4 + Math.floor(r() * 5);
        for (let j = 0; j < n; j++) add(a, 1 + (j % 3), j % 2, Math.floor(r() * NODES));
        if (a % 1000 === 0) for (let b = 0; b < 40; b++) add(a, 7, 0, b);
      }
      watch();
      verify(2000);
      // Phase 2-4: churn: deletes of most edges, then re-adds, big sets crossing 32 / 16 both ways.
      for (let round = 0; round < 3; round++) {
        for (let op = 0; op < 300_000; op++) {
          const a = Math.floor(r() * NODES);
          const m = ref.get(a);
          if (r() < (round === 1 ? 0.3 : 0.75) && m && m.size > 0) {
            // delete a random present edge
            const keys = [...m.keys()];
            const k = keys[Math.floor(r() * keys.length)] as number;
            const s = [...(m.get(k) as Set<number>)];
            del(a, Math.floor(k / 4096), k % 4096, s[Math.floor(r() * s.length)] as number);
          } else if (a % 1000 === 0) {
            add(a, 7, 0, Math.floor(r() * 60));
          } else {
            add(a, 1 + Math.floor(r() * 4), Math.floor(r() * 2), Math.floor(r() * NODES));
          }
          if (op % 5000 === 0) watch();
        }
        watch();
        verify(3000);
      }
      // Every edge, once.
      let edges = 0;
      adj.forEach(() => edges++);
      let want = 0;
      for (const m of ref.values()) for (const s of m.values()) want += s.size;
      expect(edges).toBe(want);
      expect(maxCapacity).toBeGreaterThan(1 << 20);
      expect(compactions).toBeGreaterThan(0);
      const all: number[] = [];
      for (let a = 0; a < NODES; a += 1) if (ref.has(a) || a % 7 === 0) all.push(a);
      const scratch: number[] = [];
      for (const a of all) {
        for (const [k, s] of ref.get(a) ?? []) {
          const n = adj.into(a, Math.floor(k / 4096), k % 4096, scratch);
          same(scratch.slice(0, n), [...s], `final ${a} ${k}`);
        }
      }
    }, 120_000);
  }
});
