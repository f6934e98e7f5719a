/**
 * Workload (c) of issue 3: AuthZEN over HTTP on loopback, measured with autocannon 9.0.0 against
 * a Gatehouse server in a child process (`server.ts`): single evaluations
 * (`POST /access/v1/evaluation`) and batches of 100 (`POST /access/v1/evaluations`, one subject,
 * 100 resource/action items). Bodies cycle over the RBAC workload's queries. Loopback only,
 * bounded in time (`durationSeconds` per run).
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { RBAC, rbacWorkload } from './rbac.js';

/** One HTTP run's figures. */
export interface HttpResult {
  name: string;
  requestsPerSecond: number;
  decisionsPerSecond: number;
  /** Per request, in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  connections: number;
  /** Server process CPU time (user + system, from /proc) per request, in microseconds. */
  serverCpuUsPerRequest: number;
  /**
   * CPU time (user + system) of the load generator (autocannon, in this process) per request, in
   * microseconds: it runs on the same 2 cores as the server, so it bounds requests/s as well.
   */
  loadGeneratorCpuUsPerRequest: number;
  /** Decisions per second of server CPU time: what one server core gives with nothing else running. */
  decisionsPerServerCpuSecond: number;
}

/**
 * CPU time (user + system) of process `pid` and every live descendant (the `gatehouse serve`
 * primary and its workers), in microseconds, from /proc/<pid>/stat (Linux).
 */
function cpuMicros(pid: number): number {
  let ticks = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5) (utime, stime), counted from the state field (3).
    ticks = Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* no children */
  }
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND + children.reduce((sum, c) => sum + cpuMicros(c), 0);
}
/** `getconf CLK_TCK` on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Sets the CPU affinity of every thread of process `pid` to the CPU list `list` (taskset(1) syntax,
 * e.g. `0` or `1-3`; Linux, util-linux).
 */
function setAffinity(pid: number, list: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
}

/** The CPU list of every CPU of this machine (`0-N`). */
function allCpus(): string {
  return `0-${cpus().length - 1}`;
}

/**
 * Starts the bench server; `pinned`: on CPU 0 only (`taskset -c 0`, which execs node: same pid),
 * so the load generator, pinned to the other CPUs, never runs on the server's core.
 */
async function startServer(workers: number, pinned: boolean): Promise<{ url: string; token: string; pid: number; stop: () => Promise<void> }> {
  const argv = ['--import', 'tsx', join(import.meta.dirname, 'server.ts')];
  const env = { ...process.env, BENCH_WORKERS: String(workers) };
  const child = pinned
    ? spawn('taskset', ['-c', '0', process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'inherit'], env })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const { url, token } = JSON.parse(line) as { url: string; token: string };
  if (!new URL(url).hostname.startsWith('127.')) throw new Error(`refusing to load-test a non-loopback address: ${url}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    token,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * Runs the single and batched HTTP workloads; each for `durationSeconds`. `workers` > 1 serves
 * them from `gatehouse serve` with that many worker processes (same bodies, same connections;
 * the server CPU time is that of every process); the row names say so.
 */
export async function runHttp(opts: { durationSeconds: number; connections: number; batchConnections: number; workers?: number; pinned?: boolean }): Promise<HttpResult[]> {
  const workers = opts.workers ?? 1;
  const pinned = (opts.pinned ?? false) && cpus().length >= 2;
  const suffix = `${workers > 1 ? `, ${workers} workers` : ''}${pinned ? ', pinned' : ''}`;
  const w = rbacWorkload(10_000, 7);
  const server = await startServer(workers, pinned);
  // Pinned: the load generator (this process) on every CPU but the server's.
  if (pinned) setAffinity(process.pid, `1-${cpus().length - 1}`);
  try {
    const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
    const singles = Array.from(w.qUser, (u, i) =>
      JSON.stringify({
        subject: { type: 'user', id: `u${u}` },
        action: { name: RBAC.actions[w.qAction[i] as number] },
        resource: { type: `obj${w.qObject[i] as number}`, id: 'x' },
      }),
    );
    const batches: string[] = [];
    for (let b = 0; b + 100 <= w.qUser.length; b += 100) {
      batches.push(
        JSON.stringify({
          subject: { type: 'user', id: `u${w.qUser[b] as number}` },
          evaluations: Array.from({ length: 100 }, (_, k) => ({
            action: { name: RBAC.actions[w.qAction[b + k] as number] },
            resource: { type: `obj${w.qObject[b + k] as number}`, id: 'x' },
          })),
        }),
      );
    }
    // Warm-up (JIT, caches), not reported.
    await run({ url: `${server.url}/access/v1/evaluation`, method: 'POST', headers, body: singles[0], duration: 2, connections: opts.connections });
    const results: HttpResult[] = [];
    let si = 0;
    let cpu0 = cpuMicros(server.pid);
    let load0 = process.cpuUsage();
    const single = await run({
      url: `${server.url}/access/v1/evaluation`,
      method: 'POST',
      headers,
      duration: opts.durationSeconds,
      connections: opts.connections,
      requests: [{ setupRequest: (req) => ({ ...req, body: singles[si++ % singles.length] }) }],
    });
    results.push(summarize(`evaluation (single)${suffix}`, single, 1, opts.connections, cpuMicros(server.pid) - cpu0, process.cpuUsage(load0)));
    let bi = 0;
    cpu0 = cpuMicros(server.pid);
    load0 = process.cpuUsage();
    const batch = await run({
      url: `${server.url}/access/v1/evaluations`,
      method: 'POST',
      headers,
      duration: opts.durationSeconds,
      connections: opts.batchConnections,
      requests: [{ setupRequest: (req) => ({ ...req, body: batches[bi++ % batches.length] }) }],
    });
    results.push(summarize(`evaluations (batch of 100)${suffix}`, batch, 100, opts.batchConnections, cpuMicros(server.pid) - cpu0, process.cpuUsage(load0)));
    return results;
  } finally {
    if (pinned) setAffinity(process.pid, allCpus());
    await server.stop();
  }
}

function summarize(name: string, r: autocannon.Result, perRequest: number, connections: number, serverCpuUs: number, loadCpu: NodeJS.CpuUsage): HttpResult {
  const ok = r.requests.total - r.non2xx;
  const rps = ok / r.duration;
  const serverCpuUsPerRequest = serverCpuUs / Math.max(1, r.requests.total);
  return {
    name,
    requestsPerSecond: rps,
    decisionsPerSecond: rps * perRequest,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    connections,
    serverCpuUsPerRequest,
    loadGeneratorCpuUsPerRequest: (loadCpu.user + loadCpu.system) / Math.max(1, r.requests.total),
    decisionsPerServerCpuSecond: (perRequest * 1e6) / serverCpuUsPerRequest,
  };
}
