/** NodeTable (the `(type, id)` → node lookup of a node space) against a plain Map, under adds and deletes. */
import { describe, expect, it } from 'vitest';
import { NodeTable, hashNodeKey } from '../../src/authz/node-table.js';
import { NodeSpace } from '../../src/authz/nodes.js';
import { Symbols } from '../../src/authz/model.js';
import { rng } from '../support/random.js';

/** A small deterministic generator (tests must not depend on Math.random). */
describe('NodeTable', () => {
  it('answers like a Map through growth, deletes (backward shift) and re-adds', () => {
    const ids: string[] = [];
    const table = new NodeTable(ids);
    const ref = new Map<string, number>();
    const r = rng(7);
    let next = 0;
    const key = (t: number, id: string) => `${t}\u0000${id}`;
    // Ids kept in the slot (short) and confirmed against `ids` (long, or a character past 255).
    const idOf = (i: number) => (i % 3 === 0 ? `k${i}` : i % 3 === 1 ? `long-identifier-${i}` : `k\u0101${i}`);
    // 30,000 operations over 6,000 keys of 3 types: the table grows from 1,024 slots and its
    // clusters see deletions in every position.
    for (let op = 0; op < 30_000; op++) {
      const t = Math.floor(r() * 3);
      const id = idOf(Math.floor(r() * 2000));
      const k = key(t, id);
      if (r() < 0.6) {
        if (!ref.has(k)) {
          ref.set(k, next);
          ids[next] = id;
          table.add(t, id, next);
          next++;
        }
      } else if (ref.has(k)) {
        ref.delete(k);
        table.delete(t, id);
      } else table.delete(t, id); // absent: nothing happens
      if (op % 1000 === 999) {
        expect(table.size).toBe(ref.size);
        for (let tt = 0; tt < 3; tt++) for (let i = 0; i < 2000; i++) expect(table.get(tt, idOf(i))).toBe(ref.get(key(tt, idOf(i))) ?? -1);
      }
    }
  });

  it('tells the same id apart by type and ids apart by every character', () => {
    const ids: string[] = [];
    const table = new NodeTable(ids);
    const put = (t: number, id: string, node: number) => {
      ids[node] = id;
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

  it('compares short ids kept in the slot character by character, and long ones by string', () => {
    const ids: string[] = [];
    const table = new NodeTable(ids);
    const sixteen = 'abcdefghijklmnop';
    const keys = [sixteen, `${sixteen}q`, 'abcdefghijklmnoq', '\u00ff\u00ff', '\u0100', '\u00ff\u0100', 'a\u0000', 'a', 'A', `${sixteen}${sixteen}`];
    keys.forEach((id, node) => {
      ids[node] = id;
      table.add(5, id, node);
    });
    keys.forEach((id, node) => expect(table.get(5, id)).toBe(node));
    // Same length, one character off (inside the slot and past it), and prefixes.
    for (const id of ['abcdefghijklmnoo', 'bbcdefghijklmnop', `${sixteen}r`, 'abcdefghijklmno', '\u00fe\u00ff', '\u0101', 'a\u0001', 'b', `${sixteen}${sixteen}x`]) {
      expect(table.get(5, id)).toBe(-1);
    }
    expect(table.get(6, sixteen)).toBe(-1);
    table.delete(5, sixteen);
    table.delete(5, `${sixteen}q`);
    expect([table.get(5, sixteen), table.get(5, `${sixteen}q`), table.get(5, 'abcdefghijklmnoq'), table.get(5, '\u0100')]).toEqual([-1, -1, 2, 4]);
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
