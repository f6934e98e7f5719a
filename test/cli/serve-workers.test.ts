/**
 * `gatehouse serve` with GATEHOUSE_WORKERS=2 (node:cluster), run from the built CLI as an operator
 * does, on SQLite and PostgreSQL: both workers serve the same port; a tuple written through one
 * worker is seen by a check through the other when the check carries the write's consistency token
 * (`x-gatehouse-revision` → `x-gatehouse-at-least-revision`); SIGTERM to the primary stops every
 * worker, and the command exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { CLI_MAIN, ROOT, ensureBuilt, runCli } from '../support/cli.js';

interface LogLine {
  pid?: number;
  msg?: string;
  url?: string;
  request_id?: string;
  worker?: number;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** One request on a new connection (no keep-alive), so the cluster hands each to the next worker. */
function call(base: string, path: string, token: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    { type: 'doc', relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user' }] } } } },
  ],
};

describeEachBackend('gatehouse serve with GATEHOUSE_WORKERS=2', (backend) => {
  let dbUrl: string;
  let drop: () => Promise<void>;
  let token: string;
  let server: ChildProcess | undefined;
  const lines: LogLine[] = [];

  /** Waits until a log line matching `pred` has been written. */
  async function logLine(pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(pred);
      if (found) return found;
      if (Date.now() > until) throw new Error(`no such log line; seen:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    await ensureBuilt();
    ({ url: dbUrl, drop } = await backend.create());
    const created = runCli(['token', 'create', '--name', 'workers', '--scopes', 'authz', '--json'], { GATEHOUSE_DATABASE_URL: dbUrl });
    expect(created.status).toBe(0);
    token = (JSON.parse(created.stdout) as { token: string }).token;
  }, 180_000);

  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    await drop?.();
  });

  it('serves from two workers; a write through one is seen by a consistent check through the other; SIGTERM stops all', async () => {
    server = spawn(process.execPath, [CLI_MAIN, 'serve'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEHOUSE_DATABASE_URL: dbUrl, GATEHOUSE_WORKERS: '2', HOST: '127.0.0.1', PORT: '0', GATEHOUSE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    server.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const p of parts) if (p.startsWith('{')) lines.push(JSON.parse(p) as LogLine);
    });
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));

    await logLine((l) => l.msg === 'Gatehouse: 2 workers listening');
    // Each worker logs its own line once listening (asynchronously: it may follow the primary's).
    await logLine(() => lines.filter((l) => l.msg?.startsWith('Gatehouse listening on')).length >= 2);
    const listening = lines.filter((l) => l.msg?.startsWith('Gatehouse listening on'));
    expect(listening).toHaveLength(2);
    const workerPids = listening.map((l) => l.pid as number);
    expect(new Set(workerPids).size).toBe(2);
    expect(workerPids).not.toContain(server.pid);
    const base = listening[0]!.url as string;
    expect(listening[1]!.url).toBe(base);

    // A store and its model, then one tuple: each answer names the revision it committed.
    const store = await call(base, '/stores', token, { name: 'workers' }, {});
    expect(store.status).toBe(201);
    const storeId = (store.body as { id: string }).id;
    const model = await call(base, `/stores/${storeId}/authorization-models`, token, MODEL, {});
    expect(model.status).toBe(201);
    const write = await call(base, `/stores/${storeId}/write`, token, { writes: { tuple_keys: [{ user: 'user:alice', relation: 'viewer', object: 'doc:1' }] } }, { 'x-request-id': 'workers-write' });
    expect(write.status).toBe(200);
    const revision = String(write.headers['x-gatehouse-revision']);
    expect(Number(revision)).toBeGreaterThan(0);
    const writer = (await logLine((l) => l.request_id === 'workers-write' && l.msg === 'request completed')).pid;
    expect(workerPids).toContain(writer);

    // New connections go to the workers in turn: check until one lands on the other worker.
    let seenByOther: unknown;
    for (let i = 0; i < 10 && seenByOther === undefined; i++) {
      const id = `workers-check-${i}`;
      const check = await call(base, `/stores/${storeId}/check`, token, { tuple_key: { user: 'user:alice', relation: 'viewer', object: 'doc:1' } }, { 'x-request-id': id, 'x-gatehouse-at-least-revision': revision });
      const pid = (await logLine((l) => l.request_id === id && l.msg === 'request completed')).pid;
      if (pid !== writer) seenByOther = { status: check.status, allowed: (check.body as { allowed?: boolean }).allowed };
    }
    expect(seenByOther).toEqual({ status: 200, allowed: true });

    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workerPids) expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(lines.filter((l) => l.msg === 'shutting down').map((l) => l.pid).sort()).toEqual([...workerPids].sort());
  }, 120_000);
});
