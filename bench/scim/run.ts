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
 * Prints one JSON summary line per backend at the end: users/s and groups/s through Bulk, through
 * single requests and in total (wall clock), and the CPU seconds of this process (client and
 * server both run in it) per phase, for comparisons on a loaded machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createGatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 10_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 300);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',');
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const HTTP_USERS = Math.min(USERS, Number(process.env.BENCH_HTTP_USERS ?? USERS));
const BULK_SIZE = 1000;
const CONCURRENCY = 4;
const MEMBERS_PER_GROUP = 5;

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const BULK_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

function userBody(i: number) {
  return {
    schemas: [USER_SCHEMA],
    userName: `user-${i}`,
    externalId: `ext-${i}`,
    name: { givenName: `Given${i}`, familyName: `Family${i % 997}` },
    emails: [
      { value: `user-${i}@example.com`, type: 'work', primary: true },
      { value: `u${i}@home.example.org`, type: 'home' },
    ],
    active: true,
  };
}

class Progress {
  private last = 0;
  constructor(private readonly label: string, private readonly total: number, private readonly start = performance.now()) {}
  tick(done: number): void {
    const now = performance.now();
    if (done < this.total && now - this.last < 250) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    process.stderr.write(`\r${this.label}: ${done}/${this.total} (${Math.round(done / Math.max(secs, 0.001))}/s, ${secs.toFixed(1)} s)   `);
    if (done >= this.total) process.stderr.write('\n');
  }
}

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

/** Wall and CPU seconds since `start`. */
function lap(start: { wall: number; cpu: NodeJS.CpuUsage }): { seconds: number; cpuSeconds: number } {
  const cpu = process.cpuUsage(start.cpu);
  return { seconds: (performance.now() - start.wall) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
const mark = () => ({ wall: performance.now(), cpu: process.cpuUsage() });

/** Rates of one provisioning phase: `n` resources in `t`. */
function rate(n: number, t: { seconds: number; cpuSeconds: number }) {
  return { count: n, seconds: Number(t.seconds.toFixed(1)), perSecond: Math.round(n / Math.max(t.seconds, 1e-9)), cpuSeconds: Number(t.cpuSeconds.toFixed(1)), perCpuSecond: Math.round(n / Math.max(t.cpuSeconds, 1e-9)) };
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
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const send = () => fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    // A keep-alive connection left idle while users are created in-process may have been closed: retry once.
    const res = await send().catch(() => send());
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const userIds: string[] = new Array(USERS);
  const bulkUsers = Math.floor(HTTP_USERS / 2);

  // Users: the first half through Bulk, the rest through single requests (CONCURRENCY in flight).
  const t0 = mark();
  const pu = new Progress(`[${kind}] users`, USERS);
  for (let from = 0; from < bulkUsers; from += BULK_SIZE) {
    const n = Math.min(BULK_SIZE, bulkUsers - from);
    const ops = Array.from({ length: n }, (_, k) => ({ method: 'POST', path: '/Users', bulkId: `u${from + k}`, data: userBody(from + k) }));
    const res = (await call('POST', '/Bulk', { schemas: [BULK_SCHEMA], Operations: ops })) as { Operations: Array<{ status: string; location: string; bulkId: string }> };
    for (const r of res.Operations) {
      if (r.status !== '201') throw new Error(`bulk user failed: ${JSON.stringify(r)}`);
      userIds[Number(r.bulkId.slice(1))] = r.location.slice(r.location.lastIndexOf('/') + 1);
    }
    pu.tick(from + n);
  }
  const usersBulk = lap(t0);
  const t0s = mark();
  let next = bulkUsers;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < HTTP_USERS; i = next++) {
        userIds[i] = (await call('POST', '/Users', userBody(i))).id as string;
        pu.tick(i + 1);
      }
    }),
  );
  const usersSingle = lap(t0s);
  const usersAll = lap(t0);
  const ctx = { ...cliContext(), source: 'scim' as const };
  for (let i = HTTP_USERS; i < USERS; i++) {
    const b = userBody(i);
    userIds[i] = (await gh.users.create(ctx, { userName: b.userName, externalId: b.externalId, name: b.name, emails: b.emails, active: true })).id;
    pu.tick(i + 1);
  }
  pu.tick(USERS);

  // Groups with MEMBERS_PER_GROUP user members each: half through Bulk, half single.
  const t1 = mark();
  const pg2 = new Progress(`[${kind}] groups`, GROUPS);
  const groupBody = (i: number) => ({
    schemas: [GROUP_SCHEMA],
    displayName: `group-${i}`,
    externalId: `gext-${i}`,
    members: Array.from({ length: MEMBERS_PER_GROUP }, (_, k) => ({ value: userIds[(i * MEMBERS_PER_GROUP + k) % USERS], type: 'User' })),
  });
  const bulkGroups = Math.floor(GROUPS / 2);
  for (let from = 0; from < bulkGroups; from += BULK_SIZE) {
    const n = Math.min(BULK_SIZE, bulkGroups - from);
    const ops = Array.from({ length: n }, (_, k) => ({ method: 'POST', path: '/Groups', bulkId: `g${from + k}`, data: groupBody(from + k) }));
    const res = (await call('POST', '/Bulk', { schemas: [BULK_SCHEMA], Operations: ops })) as { Operations: Array<{ status: string }> };
    if (res.Operations.some((r) => r.status !== '201')) throw new Error('bulk group failed');
    pg2.tick(from + n);
  }
  const groupsBulk = lap(t1);
  const t1s = mark();
  let nextG = bulkGroups;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = nextG++; i < GROUPS; i = nextG++) {
        await call('POST', '/Groups', groupBody(i));
        pg2.tick(i + 1);
      }
    }),
  );
  pg2.tick(GROUPS);
  const groupsSingle = lap(t1s);
  const groupsAll = lap(t1);

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
      const res = (await call('GET', `/Users?filter=${encodeURIComponent(make(i))}`)) as { totalResults: number; Resources: Array<{ userName: string }> };
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
    usersOverHttp: { bulk: rate(bulkUsers, usersBulk), single: rate(HTTP_USERS - bulkUsers, usersSingle), total: rate(HTTP_USERS, usersAll) },
    groupsOverHttp: { bulk: rate(bulkGroups, groupsBulk), single: rate(GROUPS - bulkGroups, groupsSingle), total: rate(GROUPS, groupsAll) },
    latencyMs: latency,
  };
}

const results = [];
for (const kind of BACKENDS) results.push(await runBackend(kind));
process.stderr.write(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}, ${new Date().toISOString()}\n`);
for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
