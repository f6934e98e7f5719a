/**
 * Fresh-eyes tester (issue #3): a store large enough for several 2^20-slot adjacency pages, then
 * most of it deleted so the automatic compaction runs (garbage > live and > 64 Ki slots), then part
 * re-added (freed node ids reused, blocks growing again). After every phase, Check and ListObjects
 * of the engine (StoreGraph + Evaluator, in process) against a naive evaluator over string tuples.
 * Ids of 15, 16 and 17 characters, with U+00FF and U+0100, the same id under several types.
 */
import { describe, expect, it } from 'vitest';
import { Evaluator } from '../../src/authz/evaluator.js';
import { TupleIndex } from '../../src/authz/index.js';
import { listObjectNodes } from '../../src/authz/list-objects.js';
import { compileModel, type AuthorizationModel } from '../../src/authz/model.js';
import type { RelationTuple } from '../../src/authz/tuples.js';
import { rng } from '../support/random.js';

const rr = { this: {} };
const MODEL: AuthorizationModel = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'person' },
    { type: 'team', relations: { member: rr }, metadata: { relations: { member: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] } } } },
    {
      type: 'folder',
      relations: { parent: rr, viewer: { union: { child: [rr, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } } },
      metadata: { relations: { parent: { directly_related_user_types: [{ type: 'folder' }] }, viewer: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] } } },
    },
    {
      type: 'doc',
      relations: {
        parent: rr,
        blocked: rr,
        viewer: { difference: { base: { union: { child: [rr, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } }, subtract: { computedUserset: { relation: 'blocked' } } } },
      },
      metadata: {
        relations: {
          parent: { directly_related_user_types: [{ type: 'folder' }] },
          blocked: { directly_related_user_types: [{ type: 'person' }] },
          viewer: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] },
        },
      },
    },
  ],
} as AuthorizationModel;

const NOW = Date.parse('2026-06-01T00:00:00Z');

/** Ids of 15, 16 and 17 characters; some with U+00FF or U+0100 at the end. */
function idOf(prefix: string, k: number): string {
  const body = `${prefix}${k.toString(36)}`;
  const len = 15 + (k % 3);
  const tail = k % 5 === 0 ? '\u00ff' : k % 5 === 1 ? '\u0100' : '';
  return (body + tail).padStart(len, '0');
}

const tuple = (object: string, relation: string, user: string): RelationTuple => {
  const [ot, oid] = [object.slice(0, object.indexOf(':')), object.slice(object.indexOf(':') + 1)];
  const hash = user.indexOf('#');
  const subj = hash < 0 ? user : user.slice(0, hash);
  return { objectType: ot, objectId: oid, relation, subjectType: subj.slice(0, subj.indexOf(':')), subjectId: subj.slice(subj.indexOf(':') + 1), subjectRelation: hash < 0 ? '' : user.slice(hash + 1) } as RelationTuple;
};

/** object#relation -> users, with the naive rules of MODEL. */
class Naive {
  readonly by = new Map<string, Set<string>>();
  add(o: string, r: string, u: string) {
    const k = `${o}#${r}`;
    let s = this.by.get(k);
    if (!s) this.by.set(k, (s = new Set()));
    s.add(u);
  }
  del(o: string, r: string, u: string) {
    const k = `${o}#${r}`;
    const s = this.by.get(k);
    s?.delete(u);
    if (s && s.size === 0) this.by.delete(k);
  }
  private users(o: string, r: string): Set<string> {
    return this.by.get(`${o}#${r}`) ?? new Set();
  }
  member(p: string, team: string, seen = new Set<string>()): boolean {
    if (seen.has(team)) return false;
    seen.add(team);
    for (const u of this.users(team, 'member')) {
      if (u === p) return true;
      if (u.endsWith('#member') && this.member(p, u.slice(0, -7), seen)) return true;
    }
    return false;
  }
  folderViewer(p: string, f: string, seen = new Set<string>()): boolean {
    if (seen.has(f)) return false;
    seen.add(f);
    for (const u of this.users(f, 'viewer')) if (u === p || (u.endsWith('#member') && this.member(p, u.slice(0, -7)))) return true;
    for (const u of this.users(f, 'parent')) if (this.folderViewer(p, u, seen)) return true;
    return false;
  }
  docViewer(p: string, d: string): boolean {
    if (this.users(d, 'blocked').has(p)) return false;
    for (const u of this.users(d, 'viewer')) if (u === p || (u.endsWith('#member') && this.member(p, u.slice(0, -7)))) return true;
    for (const u of this.users(d, 'parent')) if (this.folderViewer(p, u)) return true;
    return false;
  }
}

describe('a large store: several adjacency pages, compaction after mass deletes, node ids reused', () => {
  it('Check and ListObjects equal the naive evaluator after build, mass delete and re-add', () => {
    const r = rng(42);
    const index = new TupleIndex();
    const model = compileModel(MODEL, index.symbols);
    const g = index.storeForWrite('t', 's');
    const ev = new Evaluator();
    const naive = new Naive();
    const live = new Map<string, [string, string, string]>();
    const DOCS = 140_000;
    const FOLDERS = 800;
    const PERSONS = 3000;
    const TEAMS = 200;
    const doc = (k: number) => `doc:${idOf('d', k)}`;
    const folder = (k: number) => `folder:${idOf('d', k)}`; // same ids as some docs, another type
    const person = (k: number) => `person:${idOf('p', k)}`;
    const team = (k: number) => `team:${idOf('p', k)}`; // same ids as some persons
    const write = (o: string, rel: string, u: string) => {
      const key = `${o}#${rel}@${u}`;
      if (live.has(key)) return;
      live.set(key, [o, rel, u]);
      naive.add(o, rel, u);
      expect(g.write(tuple(o, rel, u))).toBe(true);
    };
    const remove = (key: string) => {
      const [o, rel, u] = live.get(key)!;
      live.delete(key);
      naive.del(o, rel, u);
      expect(g.delete(tuple(o, rel, u))).toBe(true);
    };
    const stats = () => ({ out: (g as any).out.stats(), in: (g as any).in.stats() }) as { out: { live: number; garbage: number; capacity: number }; in: { live: number; garbage: number; capacity: number } };
    let compactions = 0;
    let prevGarbage = 0;
    const watch = () => {
      const s = stats().out.garbage + stats().in.garbage;
      if (s < prevGarbage) compactions++;
      prevGarbage = s;
    };
    let compared = 0;
    const verify = (phase: string) => {
      const bad: string[] = [];
      for (let i = 0; i < 4000; i++) {
        const p = person(Math.floor(r() * PERSONS));
        const d = doc(Math.floor(r() * DOCS));
        const [pt, pid] = [p.slice(0, 6), p.slice(7)];
        const got = ev.check(g, model, { subjectType: pt, subjectId: pid, relation: 'viewer', objectType: 'doc', objectId: d.slice(4) }, NOW);
        const want = naive.docViewer(p, d);
        compared++;
        if (got !== want) bad.push(`${phase}: ${p} viewer ${d}: engine ${got}, naive ${want}`);
      }
      // ListObjects for a few persons (the naive side checks every doc).
      const docType = index.symbols.types.lookup('doc');
      const personType = index.symbols.types.lookup('person');
      for (let i = 0; i < 3; i++) {
        const p = person(Math.floor(r() * PERSONS));
        const node = g.lookupNodeOfType(personType, p.slice(7));
        const got = listObjectNodes(ev, g, model, { subjectType: personType, subjectNode: node, subjectRelation: 0, objectType: docType, relation: index.symbols.relations.lookup('viewer') }, NOW, undefined, 1_000_000)
          .map((n) => `doc:${g.describe(n).id}`)
          .sort();
        const want: string[] = [];
        for (let k = 0; k < DOCS; k++) if (naive.docViewer(p, doc(k))) want.push(doc(k));
        want.sort();
        compared++;
        if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${phase}: list-objects ${p}: engine ${got.length} objects, naive ${want.length}`);
      }
      expect(bad.slice(0, 10)).toEqual([]);
    };

    // Build: every doc has a parent folder and a viewer; folders nest (a forest); teams nest; persons join teams.
    for (let k = 0; k < FOLDERS; k++) if (k > 0 && k % 10 !== 0) write(folder(k), 'parent', folder(Math.floor(r() * k)));
    for (let k = 0; k < FOLDERS; k++) write(folder(k), 'viewer', r() < 0.5 ? person(Math.floor(r() * PERSONS)) : `${team(Math.floor(r() * TEAMS))}#member`);
    for (let k = 1; k < TEAMS; k++) if (k % 4 !== 0) write(team(k), 'member', `${team(Math.floor(r() * k))}#member`);
    for (let k = 0; k < PERSONS; k++) write(team(Math.floor(r() * TEAMS)), 'member', person(k));
    for (let k = 0; k < DOCS; k++) {
      write(doc(k), 'parent', folder(Math.floor(r() * FOLDERS)));
      write(doc(k), 'viewer', person(Math.floor(r() * PERSONS)));
      if (k % 7 === 0) write(doc(k), 'blocked', person(Math.floor(r() * PERSONS)));
    }
    watch();
    const built = stats();
    expect(built.out.capacity).toBeGreaterThan(1 << 20); // more than one page
    verify('built');

    // Mass delete: 90% of the doc tuples (the nodes of deleted docs are freed).
    const keys = [...live.keys()].filter((k) => k.startsWith('doc:'));
    for (let i = 0; i < keys.length; i++) {
      if (r() < 0.9) remove(keys[i] as string);
      if (i % 5000 === 0) watch();
    }
    watch();
    expect(compactions).toBeGreaterThan(0);
    verify('after mass delete');

    // Re-add: new docs (reusing freed node ids) and tuples on surviving ones.
    for (let k = 0; k < DOCS; k += 3) {
      write(doc(k), 'viewer', person(Math.floor(r() * PERSONS)));
      if (k % 2 === 0) write(doc(k), 'parent', folder(Math.floor(r() * FOLDERS)));
      if (k % 3000 === 0) watch();
    }
    watch();
    verify('after re-add');
    console.log(`[tester] large store: ${compared} answers compared, ${compactions} compactions, pages: built out ${built.out.capacity} / in ${built.in.capacity} slots, ${live.size} tuples at the end`);
  }, 120_000);
});
