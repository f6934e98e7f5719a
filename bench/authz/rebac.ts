/**
 * Workload (b) of issue 3: ReBAC document sharing with 1,000,000 tuples in a customer store.
 *
 * Model: folders nested 5 deep (`viewer from parent`), teams nested 3 deep (`team#member`),
 * documents in leaf folders with direct viewers, team viewers and an exclusion for blocked users
 * (`but not blocked`). The store and its model are created through the store and model services;
 * the tuples are inserted straight into `authz_tuples`, 1,000 rows per statement (bench seeding:
 * the OpenFGA Write API takes 100 tuples per call). Then:
 * - index build time: `AuthzService.start` on that database (one snapshot, every tuple);
 * - memory per tuple: growth of the heap and of typed-array buffers (ArrayBuffers, outside the
 *   heap: the index's pages and tables) across the build, after GC, divided by the tuple count;
 * - Check throughput and latency (`checkNow`, the in-process hot path), every decision of a
 *   sample compared with a naive reference evaluator written here;
 * - ListObjects for users over the 100,000 documents.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthzService } from '../../src/authz/service.js';
import type { RelationTuple } from '../../src/authz/tuples.js';
import { createGatehouse } from '../../src/gatehouse.js';
import { systemClock } from '../../src/kernel/clock.js';
import { loadConfig } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';
import { openStorage } from '../../src/storage/database.js';
import { benchCtx } from './rbac.js';
import { fmt, measure, percentile, rng, type Measurement } from './measure.js';

export const REBAC_MODEL = `model
  schema 1.1

type user

type team
  relations
    define member: [user, team#member]

type folder
  relations
    define parent: [folder]
    define viewer: [user, team#member] or viewer from parent

type doc
  relations
    define parent: [folder]
    define blocked: [user]
    define viewer: ([user, team#member] or viewer from parent) but not blocked
`;

/** Sizes; the defaults give about 1,000,000 tuples. */
export interface RebacSizes {
  users: number;
  docs: number;
  viewersPerDoc: number;
}

interface Data {
  tuples: RelationTuple[];
  // Plain maps for the reference evaluator.
  teamParents: Map<string, string[]>; // child team -> teams it is a member-set of (parent teams)
  userTeams: Map<string, string[]>;
  folderParent: Map<string, string>;
  folderUsers: Map<string, Set<string>>;
  folderTeams: Map<string, string[]>;
  docParent: Map<string, string>;
  docUsers: Map<string, Set<string>>;
  docTeams: Map<string, string[]>;
  docBlocked: Map<string, Set<string>>;
}

const t = (objectType: string, objectId: string, relation: string, subjectType: string, subjectId: string, subjectRelation = ''): RelationTuple => ({
  objectType,
  objectId,
  relation,
  subjectType,
  subjectId,
  subjectRelation,
});

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}
function add<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s) s.add(v);
  else m.set(k, new Set([v]));
}

/** Generates the workload deterministically. */
export function rebacData(sizes: RebacSizes, seed = 11): Data {
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  const d: Data = {
    tuples: [],
    teamParents: new Map(),
    userTeams: new Map(),
    folderParent: new Map(),
    folderUsers: new Map(),
    folderTeams: new Map(),
    docParent: new Map(),
    docUsers: new Map(),
    docTeams: new Map(),
    docBlocked: new Map(),
  };
  const T = d.tuples;
  // Teams nested 3 deep: 10 -> 100 -> 1000; a child team's members are members of its parent.
  const teams: string[][] = [[], [], []];
  for (let i = 0; i < 10; i++) teams[0]!.push(`t0-${i}`);
  for (let i = 0; i < 100; i++) {
    const id = `t1-${i}`;
    teams[1]!.push(id);
    const p = teams[0]![i % 10]!;
    T.push(t('team', p, 'member', 'team', id, 'member'));
    push(d.teamParents, id, p);
  }
  for (let i = 0; i < 1000; i++) {
    const id = `t2-${i}`;
    teams[2]!.push(id);
    const p = teams[1]![i % 100]!;
    T.push(t('team', p, 'member', 'team', id, 'member'));
    push(d.teamParents, id, p);
  }
  const allTeams = teams.flat();
  for (let u = 0; u < sizes.users; u++) {
    for (const tm of new Set([teams[2]![pick(1000)]!, teams[2]![pick(1000)]!])) {
      T.push(t('team', tm, 'member', 'user', `u${u}`));
      push(d.userTeams, `u${u}`, tm);
    }
  }
  // Folders nested 5 deep: 10 roots, 5 children each per level.
  let level = Array.from({ length: 10 }, (_, i) => `f${i}`);
  const folders = [...level];
  for (let depth = 1; depth < 5; depth++) {
    const next: string[] = [];
    for (const p of level) {
      for (let c = 0; c < 5; c++) {
        const id = `${p}.${c}`;
        next.push(id);
        T.push(t('folder', id, 'parent', 'folder', p));
        d.folderParent.set(id, p);
      }
    }
    folders.push(...next);
    level = next;
  }
  const leaves = level;
  for (const f of folders) {
    for (let k = 0; k < 2; k++) {
      const u = `u${pick(sizes.users)}`;
      T.push(t('folder', f, 'viewer', 'user', u));
      add(d.folderUsers, f, u);
      const tm = allTeams[pick(allTeams.length)]!;
      T.push(t('folder', f, 'viewer', 'team', tm, 'member'));
      push(d.folderTeams, f, tm);
    }
  }
  for (let i = 0; i < sizes.docs; i++) {
    const doc = `d${i}`;
    const f = leaves[pick(leaves.length)]!;
    T.push(t('doc', doc, 'parent', 'folder', f));
    d.docParent.set(doc, f);
    for (let k = 0; k < sizes.viewersPerDoc; k++) {
      const u = `u${pick(sizes.users)}`;
      if (d.docUsers.get(doc)?.has(u)) continue;
      T.push(t('doc', doc, 'viewer', 'user', u));
      add(d.docUsers, doc, u);
    }
    const tm = allTeams[pick(allTeams.length)]!;
    T.push(t('doc', doc, 'viewer', 'team', tm, 'member'));
    push(d.docTeams, doc, tm);
    if (i % 10 === 0) {
      const u = `u${pick(sizes.users)}`;
      T.push(t('doc', doc, 'blocked', 'user', u));
      add(d.docBlocked, doc, u);
    }
  }
  return d;
}

/** The naive reference: the model's meaning written out by hand over plain maps. */
function reference(d: Data): (user: string, doc: string) => boolean {
  const inTeam = (user: string, team: string): boolean => {
    // Teams of the user, then up through parent teams.
    const stack = [...(d.userTeams.get(user) ?? [])];
    const seen = new Set<string>();
    while (stack.length) {
      const x = stack.pop()!;
      if (x === team) return true;
      if (seen.has(x)) continue;
      seen.add(x);
      stack.push(...(d.teamParents.get(x) ?? []));
    }
    return false;
  };
  const folderViewer = (user: string, f: string | undefined): boolean => {
    for (let x = f; x !== undefined; x = d.folderParent.get(x)) {
      if (d.folderUsers.get(x)?.has(user)) return true;
      if ((d.folderTeams.get(x) ?? []).some((tm) => inTeam(user, tm))) return true;
    }
    return false;
  };
  return (user, doc) => {
    if (d.docBlocked.get(doc)?.has(user)) return false;
    if (d.docUsers.get(doc)?.has(user)) return true;
    if ((d.docTeams.get(doc) ?? []).some((tm) => inTeam(user, tm))) return true;
    return folderViewer(user, d.docParent.get(doc));
  };
}

/** Figures of workload (b). */
export interface RebacResult {
  tuples: number;
  seedSeconds: number;
  buildMs: number;
  /** CPU time of the build (this process), in milliseconds. */
  buildCpuMs: number;
  bytesPerTuple: number;
  check: Measurement;
  listObjects: { users: number; p50Ms: number; maxMs: number; cpuP50Ms: number; cpuMaxMs: number; meanObjects: number; docs: number } | null;
  note: string;
}

/** Heap plus ArrayBuffer bytes in use after GC (the index keeps its pages in typed arrays, outside the heap). */
function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Runs workload (b). Needs `node --expose-gc` for the memory figure. */
export async function runRebac(opts: { sizes: RebacSizes; minMs: number; queries: number; listUsers: number; log: (s: string) => void }): Promise<RebacResult> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-rebac-'));
  const url = `sqlite:${join(dir, 'rebac.db')}`;
  try {
    const data = rebacData(opts.sizes);
    opts.log(`ReBAC: ${fmt(data.tuples.length)} tuples generated; seeding SQLite…`);
    // Store and model through the services.
    const gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0 }), logger: createLogger('silent') });
    const store = await gh.authzStores.create(benchCtx, 'rebac-bench');
    await gh.authzModels.write(benchCtx, store.id, { dsl: REBAC_MODEL });
    await gh.close();
    const seedStart = Date.now();
    const storage = openStorage(url);
    // Bench seeding straight into authz_tuples, 1,000 rows per INSERT: the index build reads only
    // that table (the changelog matters to followers, not to a build).
    const now = new Date().toISOString();
    for (let i = 0; i < data.tuples.length; i += 50_000) {
      const chunk = data.tuples.slice(i, i + 50_000);
      await storage.db.transaction().execute(async (trx) => {
        for (let j = 0; j < chunk.length; j += 1000) {
          await trx
            .insertInto('authz_tuples')
            .values(
              chunk.slice(j, j + 1000).map((x) => ({
                tenant_id: benchCtx.tenantId,
                store_id: store.id,
                object_type: x.objectType,
                object_id: x.objectId,
                relation: x.relation,
                subject_type: x.subjectType,
                subject_id: x.subjectId,
                subject_relation: x.subjectRelation,
                condition_name: null,
                condition_context: null,
                expires_at: null,
                source: 'import',
                created_at: now,
              })),
            )
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
      });
    }
    const seedSeconds = (Date.now() - seedStart) / 1000;
    const stored = Number((await storage.db.selectFrom('authz_tuples').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    opts.log(`ReBAC: seeded in ${fmt(seedSeconds, 1)} s; building the index…`);
    const before = heapAfterGc();
    const buildCpu0 = process.cpuUsage();
    const buildStart = process.hrtime.bigint();
    const authz = await AuthzService.start({ storage, clock: systemClock, pollIntervalMs: 60_000 });
    const buildMs = Number(process.hrtime.bigint() - buildStart) / 1e6;
    const bc = process.cpuUsage(buildCpu0);
    const buildCpuMs = (bc.user + bc.system) / 1000;
    const after = heapAfterGc();
    const bytesPerTuple = (after - before) / stored;
    opts.log(`ReBAC: index built in ${fmt(buildMs)} ms, ${fmt(bytesPerTuple)} bytes/tuple`);
    try {
      const r = rng(5);
      const qs = Array.from({ length: opts.queries }, () => ({ user: `u${Math.floor(r() * opts.sizes.users)}`, doc: `d${Math.floor(r() * opts.sizes.docs)}` }));
      const reqs = qs.map((q) => ({ storeId: store.id, subject: { type: 'user', id: q.user }, relation: 'viewer', object: { type: 'doc', id: q.doc } }));
      const decide = (i: number) => authz.checkNow(benchCtx, reqs[i]!).decision;
      const ref = reference(data);
      const sample = Math.min(qs.length, 20_000);
      for (let i = 0; i < sample; i++) {
        if (decide(i) !== ref(qs[i]!.user, qs[i]!.doc)) throw new Error(`ReBAC: Gatehouse disagrees with the reference on user:${qs[i]!.user} viewer doc:${qs[i]!.doc}`);
      }
      const check = measure('gatehouse check (viewer)', qs.length, decide, { minMs: opts.minMs });
      let listObjects: RebacResult['listObjects'] = null;
      let note = `decisions of ${fmt(sample)} queries equal the naive reference`;
      try {
        const times: number[] = [];
        const cpuTimes: number[] = [];
        let total = 0;
        for (let k = 0; k < opts.listUsers; k++) {
          const user = qs[k]!.user;
          const c0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          const { objects } = await authz.listObjects(benchCtx, { storeId: store.id, subject: { type: 'user', id: user }, relation: 'viewer', objectType: 'doc' });
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
          const c = process.cpuUsage(c0);
          cpuTimes.push((c.user + c.system) / 1000);
          total += objects.length;
          if (k < 3) {
            // ListObjects must be exactly the documents the reference allows.
            const expected = [...data.docParent.keys()].filter((doc) => ref(user, doc)).map((doc) => `doc:${doc}`).sort();
            if (JSON.stringify([...objects].sort()) !== JSON.stringify(expected)) throw new Error(`ReBAC: ListObjects for ${user} differs from the reference`);
          }
        }
        const sorted = Float64Array.from(times).sort();
        const cpuSorted = Float64Array.from(cpuTimes).sort();
        listObjects = {
          users: opts.listUsers,
          p50Ms: percentile(sorted, 0.5),
          maxMs: sorted[sorted.length - 1] ?? NaN,
          cpuP50Ms: percentile(cpuSorted, 0.5),
          cpuMaxMs: cpuSorted[cpuSorted.length - 1] ?? NaN,
          meanObjects: total / opts.listUsers,
          docs: opts.sizes.docs,
        };
        note += '; ListObjects of 3 users equal the reference';
      } catch (err) {
        note += `; ListObjects not measured: ${(err as Error).message}`;
      }
      return { tuples: stored, seedSeconds, buildMs, buildCpuMs, bytesPerTuple, check, listObjects, note };
    } finally {
      await authz.close();
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
