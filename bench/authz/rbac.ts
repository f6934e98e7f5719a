/**
 * Workload (a) of issue 3: RBAC with 10,000 users, 100 roles, 2 roles per user and 500 role grants
 * over 20 objects × 4 actions, asked of Gatehouse in-process, casbin 5.51.1 (CommonJS build),
 * Cedar through @cedar-policy/cedar-wasm 4.13.0 (preparsed policy set, stateful call) and a plain
 * `Set` of materialised `user|object|action` triples (the floor).
 *
 * Gatehouse holds the workload as built-in store tuples (DOMAIN.md): `role:<r>#assignee@user:<u>`
 * and `permission:<object>:<action>#granted@role:<r>#assignee`; a query is Check
 * `permission:<object>:<action>#granted@user:<u>`, through `AuthzService.checkNow` (the
 * in-process hot path: validation, disabled-subject test, evaluation).
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthzService } from '../../src/authz/service.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { BUILTIN_STORE_ID, type RelationTuple } from '../../src/authz/tuples.js';
import { systemClock } from '../../src/kernel/clock.js';
import type { OperationContext } from '../../src/kernel/context.js';
import { openStorage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { measure, rng, type Measurement } from './measure.js';

export const RBAC = { users: 10_000, roles: 100, rolesPerUser: 2, grants: 500, objects: 20, actions: ['read', 'write', 'delete', 'share'] } as const;

/** The generated RBAC data and query set. */
export interface RbacWorkload {
  /** userRoles[u] = the user's role numbers. */
  userRoles: number[][];
  /** grants: [role, object, action index], distinct. */
  grants: Array<[number, number, number]>;
  /** Queries: parallel arrays of user, object and action index. */
  qUser: Int32Array;
  qObject: Int32Array;
  qAction: Int32Array;
}

export const benchCtx: OperationContext = { tenantId: 'default', actor: { type: 'cli', id: 'bench' }, requestId: 'bench', source: 'import' };

/** Generates the workload deterministically (seeded). */
export function rbacWorkload(queries = 100_000, seed = 42): RbacWorkload {
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  const userRoles: number[][] = [];
  for (let u = 0; u < RBAC.users; u++) {
    const a = pick(RBAC.roles);
    let b = pick(RBAC.roles);
    while (b === a) b = pick(RBAC.roles);
    userRoles.push([a, b]);
  }
  const seen = new Set<string>();
  const grants: Array<[number, number, number]> = [];
  while (grants.length < RBAC.grants) {
    const g: [number, number, number] = [pick(RBAC.roles), pick(RBAC.objects), pick(RBAC.actions.length)];
    const k = g.join('|');
    if (seen.has(k)) continue;
    seen.add(k);
    grants.push(g);
  }
  const qUser = new Int32Array(queries);
  const qObject = new Int32Array(queries);
  const qAction = new Int32Array(queries);
  for (let i = 0; i < queries; i++) {
    qUser[i] = pick(RBAC.users);
    qObject[i] = pick(RBAC.objects);
    qAction[i] = pick(RBAC.actions.length);
  }
  return { userRoles, grants, qUser, qObject, qAction };
}

const userId = (u: number) => `u${u}`;
const roleId = (r: number) => `r${r}`;
const objectId = (o: number) => `obj${o}`;

/** The workload as built-in store tuples. */
export function rbacTuples(w: RbacWorkload): RelationTuple[] {
  const out: RelationTuple[] = [];
  w.userRoles.forEach((roles, u) => {
    for (const r of roles) out.push({ objectType: 'role', objectId: roleId(r), relation: 'assignee', subjectType: 'user', subjectId: userId(u), subjectRelation: '' });
  });
  for (const [r, o, a] of w.grants) {
    out.push({ objectType: 'permission', objectId: `${objectId(o)}:${RBAC.actions[a]}`, relation: 'granted', subjectType: 'role', subjectId: roleId(r), subjectRelation: 'assignee' });
  }
  return out;
}

/** Gatehouse in-process: tuples written through TupleStore into SQLite, index built by AuthzService.start. */
async function gatehouseEngine(w: RbacWorkload): Promise<{ decide: (i: number) => boolean; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-rbac-'));
  const storage = openStorage(`sqlite:${join(dir, 'rbac.db')}`);
  await migrateToLatest(storage);
  const store = new TupleStore(systemClock);
  const all = rbacTuples(w);
  for (let i = 0; i < all.length; i += 5000) {
    await storage.db.transaction().execute((trx) => store.write(trx, benchCtx, BUILTIN_STORE_ID, { writes: all.slice(i, i + 5000) }));
  }
  const authz = await AuthzService.start({ storage, clock: systemClock, pollIntervalMs: 60_000 });
  // Prebuilt request objects: the benchmark measures the decision, not string building.
  const reqs = Array.from(w.qUser, (u, i) => ({
    subject: { type: 'user', id: userId(u) },
    relation: 'granted',
    object: { type: 'permission', id: `${objectId(w.qObject[i] as number)}:${RBAC.actions[w.qAction[i] as number]}` },
  }));
  return {
    decide: (i) => authz.checkNow(benchCtx, reqs[i]!).decision,
    close: async () => {
      await authz.close();
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** casbin 5.51.1, CommonJS build (the ESM build is 1.5–2× slower), RBAC model, `enforceSync`. */
async function casbinEngine(w: RbacWorkload): Promise<(i: number) => boolean> {
  const require = createRequire(import.meta.url);
  const casbin = require('casbin') as typeof import('casbin');
  const model = casbin.newModelFromString(`
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`);
  const lines: string[] = [];
  for (const [r, o, a] of w.grants) lines.push(`p, ${roleId(r)}, ${objectId(o)}, ${RBAC.actions[a]}`);
  w.userRoles.forEach((roles, u) => roles.forEach((r) => lines.push(`g, ${userId(u)}, ${roleId(r)}`)));
  const enforcer = await casbin.newEnforcer(model, new casbin.StringAdapter(lines.join('\n')));
  const reqs = Array.from(w.qUser, (u, i) => [userId(u), objectId(w.qObject[i] as number), RBAC.actions[w.qAction[i] as number]] as const);
  return (i) => {
    const q = reqs[i]!;
    return enforcer.enforceSync(q[0], q[1], q[2]);
  };
}

/**
 * Cedar (cedar-wasm 4.13.0): one `permit` per role grant, preparsed once (`preparsePolicySet`);
 * each call passes the principal entity with its roles as parents (`statefulIsAuthorized`).
 */
async function cedarEngine(w: RbacWorkload): Promise<(i: number) => boolean> {
  const require = createRequire(import.meta.url);
  const cedar = require('@cedar-policy/cedar-wasm/nodejs') as typeof import('@cedar-policy/cedar-wasm/nodejs');
  const policies: Record<string, string> = {};
  w.grants.forEach(([r, o, a], k) => {
    policies[`g${k}`] = `permit(principal in Role::"${roleId(r)}", action == Action::"${RBAC.actions[a]}", resource == Obj::"${objectId(o)}");`;
  });
  const parsed = cedar.preparsePolicySet('rbac', { staticPolicies: policies });
  if (parsed.type !== 'success') throw new Error(`cedar: ${JSON.stringify(parsed.errors)}`);
  const entitiesOf = w.userRoles.map((roles, u) => [
    { uid: { type: 'User', id: userId(u) }, attrs: {}, parents: roles.map((r) => ({ type: 'Role', id: roleId(r) })) },
    ...roles.map((r) => ({ uid: { type: 'Role', id: roleId(r) }, attrs: {}, parents: [] })),
  ]);
  const calls = Array.from(w.qUser, (u, i) => ({
    principal: { type: 'User', id: userId(u) },
    action: { type: 'Action', id: RBAC.actions[w.qAction[i] as number] as string },
    resource: { type: 'Obj', id: objectId(w.qObject[i] as number) },
    context: {},
    preparsedPolicySetId: 'rbac',
    entities: entitiesOf[u]!,
  }));
  return (i) => {
    const a = cedar.statefulIsAuthorized(calls[i]!);
    if (a.type !== 'success') throw new Error(`cedar: ${JSON.stringify(a.errors)}`);
    return a.response.decision === 'allow';
  };
}

/** The floor: a `Set` of every allowed `user|object|action` (materialised once). */
function setEngine(w: RbacWorkload): (i: number) => boolean {
  const byRole = new Map<number, string[]>();
  for (const [r, o, a] of w.grants) {
    const list = byRole.get(r) ?? [];
    list.push(`${objectId(o)}|${RBAC.actions[a]}`);
    byRole.set(r, list);
  }
  const allowed = new Set<string>();
  w.userRoles.forEach((roles, u) => roles.forEach((r) => (byRole.get(r) ?? []).forEach((p) => allowed.add(`${userId(u)}|${p}`))));
  const keys = Array.from(w.qUser, (u, i) => `${userId(u)}|${objectId(w.qObject[i] as number)}|${RBAC.actions[w.qAction[i] as number]}`);
  return (i) => allowed.has(keys[i]!);
}

/**
 * Runs workload (a) and returns one row per engine. Before measuring, every engine answers the
 * first `slowQueries` queries and must give exactly the Set floor's decisions (a disagreement
 * throws). casbin and Cedar are measured over that prefix only (they are ~1000× slower).
 */
export async function runRbac(opts: { minMs: number; queries: number; slowQueries: number }): Promise<Measurement[]> {
  const w = rbacWorkload(opts.queries);
  const gh = await gatehouseEngine(w);
  try {
    const slow = Math.min(opts.queries, opts.slowQueries);
    const engines: Array<{ name: string; decide: (i: number) => boolean; n: number; latencySamples?: number }> = [
      { name: 'gatehouse in-process', decide: gh.decide, n: opts.queries },
      { name: 'Set floor', decide: setEngine(w), n: opts.queries },
      { name: 'casbin 5.51.1 (cjs)', decide: await casbinEngine(w), n: slow, latencySamples: 10_000 },
      { name: 'cedar-wasm 4.13.0', decide: await cedarEngine(w), n: slow, latencySamples: 10_000 },
    ];
    const floor = engines[1]!.decide;
    for (const e of engines) {
      for (let i = 0; i < slow; i++) {
        if (e.decide(i) !== floor(i)) throw new Error(`RBAC: ${e.name} disagrees with the Set floor on query ${i}`);
      }
    }
    return engines.map((e) => measure(e.name, e.n, e.decide, { minMs: opts.minMs, ...(e.latencySamples ? { latencySamples: e.latencySamples } : {}) }));
  } finally {
    await gh.close();
  }
}
