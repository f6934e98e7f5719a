/**
 * SCIM provisioning benchmark (`npm run bench:scim`, issue 4): on SQLite and on PostgreSQL,
 * provisions 100,000 users and 10,000 groups over real HTTP — half through `POST /Bulk`
 * (1,000 operations a request), half through single `POST /Users` / `POST /Groups` requests —
 * with a progress line, then times the two filtered list queries the issue names at 100,000
 * users and prints p50/p99.
 *
 * Options (environment): BENCH_USERS (default 100000), BENCH_GROUPS (10000), BENCH_QUERIES (300),
 * BENCH_BACKENDS (`sqlite,postgres`), BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_HTTP_USERS (default all): how many of the users go through HTTP; the rest are created
 * in-process through the same UserService (same transaction and audit event, no HTTP) so the
 * query figures at 100,000 users can be had when the provisioning rate is measured on fewer.
 * The HTTP client runs in a worker thread (./client.ts), the server on the main thread.
 * Prints one JSON summary line per backend at the end: users/s and groups/s through Bulk, through
 * single requests and in total (wall clock), and the CPU seconds of this process (client and
 * server) per phase, for comparisons on a loaded machine.
 */
import { sql } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { createGatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { Progress, userBody, type ClientOptions, type Lap, type PhaseTimes } from './client.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 10_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 300);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',');
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const HTTP_USERS = Math.min(USERS, Number(process.env.BENCH_HTTP_USERS ?? USERS));
const BULK_SIZE = 1000;
const CONCURRENCY = 4;
const MEMBERS_PER_GROUP = 5;

async function createDatabase(kind: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
    return { url: `sqlite:${join(dir, 'bench.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `gh_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}


/** Rates of one provisioning phase: `n` resources in `t`. */
function rate(n: number, t: Lap) {
  return { count: n, seconds: Number(t.seconds.toFixed(1)), perSecond: Math.round(n / Math.max(t.seconds, 1e-9)), cpuSeconds: Number(t.cpuSeconds.toFixed(1)), perCpuSecond: Math.round(n / Math.max(t.cpuSeconds, 1e-9)), clientCpuSeconds: Number(t.clientCpuSeconds.toFixed(1)) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runBackend(kind: string) {
  const { url, drop } = await createDatabase(kind);
  const config = loadConfig({}, { databaseUrl: url, logLevel: 'silent', host: '127.0.0.1', port: 0, bodyLimitBytes: 4 * 1024 * 1024 });
  const gh = await createGatehouse({ config, logger: createLogger('silent') });
  const base = `${await gh.listen()}/scim/v2`;
  const { token } = await gh.apiTokens.create(cliContext(), { name: 'bench', scopes: ['scim'] });
  // The worker loads client.ts through tsx (a worker does not inherit the main thread's loader).
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => m.tsImport(${JSON.stringify(new URL('./client.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;
  const worker = new Worker(boot, {
    eval: true,
    workerData: { base, token, label: kind, httpUsers: HTTP_USERS, users: USERS, groups: GROUPS, bulkSize: BULK_SIZE, concurrency: CONCURRENCY, membersPerGroup: MEMBERS_PER_GROUP } satisfies ClientOptions,
  });
  const ask = <T>(msg: unknown) =>
    new Promise<T>((resolve, reject) => {
      worker.once('message', (m: { ok?: T; error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m.ok as T)));
      worker.once('error', reject);
      worker.postMessage(msg);
    });

  // Users over HTTP from the client worker; the rest (BENCH_HTTP_USERS < BENCH_USERS) in-process.
  const { userIds, times: usersTimes } = await ask<{ userIds: string[]; times: PhaseTimes }>({ cmd: 'users' });
  const pu = new Progress(`[${kind}] users in-process`, USERS);
  const ctx = { ...cliContext(), source: 'scim' as const };
  for (let i = HTTP_USERS; i < USERS; i++) {
    const b = userBody(i);
    userIds[i] = (await gh.users.create(ctx, { userName: b.userName, externalId: b.externalId, name: b.name, emails: b.emails, active: true })).id;
    pu.tick(i + 1);
  }
  // Groups with MEMBERS_PER_GROUP user members each: half through Bulk, half single.
  const groupsTimes = await ask<PhaseTimes>({ cmd: 'groups', userIds });
  await worker.terminate();
  if (kind === 'postgres') {
    // Autovacuum is off on this machine's PostgreSQL server; a production server's autovacuum
    // analyses the tables after a load like this one. Without statistics the planner ignores the
    // trigram index (docs: EXPLAIN findings in BENCHMARKS.md).
    const t = performance.now();
    await sql`analyze`.execute(gh.storage.db);
    process.stdout.write(`[${kind}] ANALYZE after provisioning: ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  }
  const call = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 400) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const bulkUsers = Math.floor(HTTP_USERS / 2);
  const bulkGroups = Math.floor(GROUPS / 2);

  // Filtered list queries at USERS users.
  const queries: Record<string, (i: number) => string> = {
    'userName eq': (i) => `userName eq "USER-${i}"`,
    'emails[type eq "work" and value co …]': (i) => `emails[type eq "work" and value co "r-${i}@"]`,
  };
  const latency: Record<string, { p50: number; p99: number; checked: number }> = {};
  for (const [label, make] of Object.entries(queries)) {
    const times: number[] = [];
    for (let q = 0; q < QUERIES + 20; q++) {
      const i = Math.floor(Math.random() * USERS);
      const t = performance.now();
      const res = (await call(`/Users?filter=${encodeURIComponent(make(i))}`)) as { totalResults: number; Resources: Array<{ userName: string }> };
      const ms = performance.now() - t;
      if (res.totalResults !== 1 || res.Resources[0]!.userName !== `user-${i}`) throw new Error(`${label} for ${i}: ${JSON.stringify(res).slice(0, 200)}`);
      if (q >= 20) times.push(ms); // the first 20 warm up
    }
    times.sort((a, b) => a - b);
    latency[label] = { p50: Number(percentile(times, 50).toFixed(2)), p99: Number(percentile(times, 99).toFixed(2)), checked: times.length };
  }
  await gh.close();
  await drop();
  return {
    backend: kind,
    users: USERS,
    httpUsers: HTTP_USERS,
    groups: GROUPS,
    membersPerGroup: MEMBERS_PER_GROUP,
    usersOverHttp: { bulk: rate(bulkUsers, usersTimes.bulk), single: rate(HTTP_USERS - bulkUsers, usersTimes.single), total: rate(HTTP_USERS, usersTimes.total) },
    groupsOverHttp: { bulk: rate(bulkGroups, groupsTimes.bulk), single: rate(GROUPS - bulkGroups, groupsTimes.single), total: rate(GROUPS, groupsTimes.total) },
    latencyMs: latency,
  };
}

const results = [];
for (const kind of BACKENDS) results.push(await runBackend(kind));
process.stderr.write(`\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}, ${new Date().toISOString()}\n`);
for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
