/**
 * A Gatehouse server for the HTTP benchmark (workload (c)), run in its own process so the load
 * generator does not share its event loop: SQLite in a temporary folder, the RBAC workload's
 * tuples in the built-in store, an API token with the `authz` scope, listening on 127.0.0.1 only.
 * Prints one JSON line `{"url", "token"}` on stdout when ready; stops on SIGTERM.
 *
 * With `BENCH_WORKERS=N` (N > 1) the same database is seeded, then served by `gatehouse serve`
 * with `GATEHOUSE_WORKERS=N` (node:cluster) in a child process, the way an operator runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGatehouse } from '../../src/gatehouse.js';
import { BUILTIN_STORE_ID } from '../../src/authz/tuples.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { benchCtx, rbacTuples, rbacWorkload } from './rbac.js';

const workers = Number(process.env.BENCH_WORKERS ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'gh-bench-http-'));
const databaseUrl = `sqlite:${join(dir, 'http.db')}`;
const gh = await createGatehouse({
  config: loadConfig({}, { databaseUrl, logLevel: 'silent', host: '127.0.0.1', port: 0 }),
  logger: createLogger('silent'),
});
const all = rbacTuples(rbacWorkload(1));
for (let i = 0; i < all.length; i += 5000) {
  await gh.storage.db.transaction().execute((trx) => gh.tuples.write(trx, benchCtx, BUILTIN_STORE_ID, { writes: all.slice(i, i + 5000) }));
}
await gh.authz.refresh();
const { token } = await gh.apiTokens.create(cliContext(), { name: 'bench', scopes: ['authz'] });

let serve: ChildProcess | null = null;
let url: string;
if (workers > 1) {
  await gh.close();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env = { ...process.env, GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_WORKERS: String(workers), HOST: '127.0.0.1', PORT: String(port), GATEHOUSE_LOG_LEVEL: 'silent' };
  serve = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  serve.once('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`gatehouse serve exited with ${code}\n`);
      process.exit(1);
    }
  });
  await untilServing(url, serve.pid!, workers);
} else {
  url = await gh.listen();
}
process.stdout.write(`${JSON.stringify({ url, token })}\n`);

/** A TCP port free on 127.0.0.1 now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Waits until `gatehouse serve` answers `/healthz`, runs `n` worker processes, and they are done
 * starting (their CPU time grew by less than 250 ms each over the last second): the cluster hands
 * connections only to workers already listening, so an answer alone does not mean all are up.
 */
async function untilServing(base: string, pid: number, n: number): Promise<void> {
  const until = Date.now() + 120_000;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (;;) {
    if (Date.now() > until) throw new Error('gatehouse serve did not start');
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  let last = -1;
  for (;;) {
    if (Date.now() > until) throw new Error('gatehouse serve workers did not settle');
    const kids = childPids(pid);
    const cpu = kids.reduce((sum, k) => sum + cpuTicks(k), 0);
    // Starting (migrations, the index build) keeps a worker's core busy; an idle worker still
    // polls the changelog (about 100 ms of CPU per second here), so "settled" is under 25 % of a core each.
    if (kids.length === n && last >= 0 && cpu - last < 25 * n) return;
    last = kids.length === n ? cpu : -1;
    await sleep(1000);
  }
}

/** The `gatehouse serve` workers among the child processes of `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids.filter((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0').includes('serve'));
  } catch {
    return [];
  }
}

/** utime + stime of `pid` in clock ticks (1/100 s), from /proc/<pid>/stat. */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  if (serve) {
    const exited = new Promise((r) => serve!.once('exit', r));
    serve.kill('SIGTERM');
    await exited;
  } else await gh.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
