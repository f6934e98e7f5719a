/** NodeTable (the `(type, id)` → node lookup of a node space) against a plain Map, under adds and deletes. */
import { describe, expect, it } from 'vitest';
import { NodeTable, hashNodeKey } from '../../src/authz/node-table.js';
import { NodeSpace } from '../../src/authz/nodes.js';
import { Symbols } from '../../src/authz/model.js';

/** A small deterministic generator (tests must not depend on Math.random). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('NodeTable', () => {
  it('answers like a Map through growth, deletes (backward shift) and re-adds', () => {
    const ids: string[] = [];
    const types: number[] = [];
    const table = new NodeTable(ids, types);
    const ref = new Map<string, number>();
    const r = rng(7);
    let next = 0;
    const key = (t: number, id: string) => `${t}\u0000${id}`;
    // 30,000 operations over 6,000 keys of 3 types: the table grows from 1,024 slots and its
    // clusters see deletions in every position.
    for (let op = 0; op < 30_000; op++) {
      const t = Math.floor(r() * 3);
      const id = `k${Math.floor(r() * 2000)}`;
      const k = key(t, id);
      if (r() < 0.6) {
        if (!ref.has(k)) {
          ref.set(k, next);
          ids[next] = id;
          types[next] = t;
          table.add(t, id, next);
          next++;
        }
      } else if (ref.has(k)) {
        ref.delete(k);
        table.delete(t, id);
      } else table.delete(t, id); // absent: nothing happens
      if (op % 1000 === 999) {
        expect(table.size).toBe(ref.size);
        for (let tt = 0; tt < 3; tt++) for (let i = 0; i < 2000; i++) expect(table.get(tt, `k${i}`)).toBe(ref.get(key(tt, `k${i}`)) ?? -1);
      }
    }
  });

  it('tells the same id apart by type and ids apart by every character', () => {
    const ids: string[] = [];
    const types: number[] = [];
    const table = new NodeTable(ids, types);
    const put = (t: number, id: string, node: number) => {
      ids[node] = id;
      types[node] = t;
      table.add(t, id, node);
    };
    put(1, 'ann', 10);
    put(2, 'ann', 11);
    put(1, 'an', 12);
    put(1, 'ann\u00e9', 13);
    put(1, '', 14);
    expect([table.get(1, 'ann'), table.get(2, 'ann'), table.get(1, 'an'), table.get(1, 'ann\u00e9'), table.get(1, '')]).toEqual([10, 11, 12, 13, 14]);
    expect(table.get(3, 'ann')).toBe(-1);
    expect(table.get(1, 'anne')).toBe(-1);
    expect(hashNodeKey(1, 'ann')).not.toBe(hashNodeKey(2, 'ann'));
    table.delete(1, 'ann');
    expect([table.get(1, 'ann'), table.get(2, 'ann'), table.get(1, 'an')]).toEqual([-1, 11, 12]);
  });

  it('serves a node space: lookups follow frees and id reuse', () => {
    const symbols = new Symbols();
    const space = new NodeSpace(symbols);
    const user = symbols.types.intern('user');
    const doc = symbols.types.intern('doc');
    const ann = space.nodeOfType(user, 'ann');
    const d1 = space.nodeOfType(doc, 'ann');
    expect(ann).not.toBe(d1);
    expect(space.nodeOfType(user, 'ann')).toBe(ann);
    space.ref(ann);
    space.unref(ann);
    expect(space.lookupNodeOfType(user, 'ann')).toBe(-1);
    expect(space.lookupNodeOfType(doc, 'ann')).toBe(d1);
    const bob = space.nodeOfType(user, 'bob');
    expect(bob).toBe(ann); // the freed id is reused
    expect(space.lookupNodeOfType(user, 'bob')).toBe(bob);
    expect([...space.nodesOfType(user)]).toEqual([bob]);
  });
});
