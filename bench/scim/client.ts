/**
 * The provisioning client of `bench:scim`, run in a worker thread (as a provisioning client is a
 * separate program, its HTTP and JSON work must not share the server's event loop): sends the
 * users and the groups over HTTP — half through `POST /Bulk` (BULK_SIZE operations a request),
 * half through single `POST /Users` / `POST /Groups` (CONCURRENCY in flight) — prints a progress
 * line, and answers each phase's wall and CPU time (process-wide CPU: client and server).
 *
 * Messages from the main thread: `{ cmd: 'users' }`, then `{ cmd: 'groups', userIds }`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface ClientOptions {
  base: string;
  token: string;
  label: string;
  /** Users over HTTP (the first half through Bulk). */
  httpUsers: number;
  /** All users, for the progress line (the rest are created in-process by the main thread). */
  users: number;
  groups: number;
  bulkSize: number;
  concurrency: number;
  membersPerGroup: number;
}

/** Wall and CPU seconds of one phase. */
export interface Lap {
  seconds: number;
  /** CPU seconds of the whole process (client and server). */
  cpuSeconds: number;
  /** CPU seconds of the client's thread alone (Linux `/proc/thread-self/stat`, 10 ms resolution; 0 elsewhere). */
  clientCpuSeconds: number;
}

export interface PhaseTimes {
  bulk: Lap;
  single: Lap;
  total: Lap;
}

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const BULK_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** The SCIM User of benchmark user `i`. */
export function userBody(i: number) {
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

/** A `\r` progress line on stderr, at most every 250 ms. */
export class Progress {
  private last = 0;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly start = performance.now(),
  ) {}
  tick(done: number): void {
    const now = performance.now();
    if (done < this.total && now - this.last < 250) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    process.stderr.write(`\r${this.label}: ${done}/${this.total} (${Math.round(done / Math.max(secs, 0.001))}/s, ${secs.toFixed(1)} s)   `);
    if (done >= this.total) process.stderr.write('\n');
  }
}

/** CPU seconds (user + system) of the calling thread so far; 0 where /proc is missing. */
function threadCpuSeconds(): number {
  try {
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15 (in clock ticks of 1/100 s).
    const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

const mark = () => ({ wall: performance.now(), cpu: process.cpuUsage(), thread: threadCpuSeconds() });
function lap(start: ReturnType<typeof mark>): Lap {
  const cpu = process.cpuUsage(start.cpu);
  return { seconds: (performance.now() - start.wall) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, clientCpuSeconds: threadCpuSeconds() - start.thread };
}

/** Runs `count` tasks `run(i)` for i in [from, from+count) with `concurrency` in flight. */
async function pool(from: number, count: number, concurrency: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < from + count; i = next++) await run(i);
    }),
  );
}

function client(o: ClientOptions) {
  // node:http with a keep-alive agent (one socket per request in flight) rather than fetch:
  // undici's fetch cost the client thread about 0.9 ms of CPU per request, a third of the single-request
  // phase's CPU, more than this client's job (serialise, send, parse the answer) needs.
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const base = new URL(o.base);
  const send = (method: string, path: string, payload: string | undefined) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${o.token}` };
      if (payload !== undefined) {
        headers['content-type'] = 'application/scim+json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      const req = http.request({ agent, host: base.hostname, port: base.port, method, path: `${base.pathname}${path}`, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  const call = async (method: string, path: string, body?: unknown) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // A keep-alive connection left idle while users are created in-process may have been closed: retry once.
    const res = await send(method, path, payload).catch(() => send(method, path, payload));
    const json = JSON.parse(res.text) as Record<string, unknown>;
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  type BulkAnswer = { Operations: Array<{ status: string; location: string; bulkId: string }> };
  const bulk = (path: string, prefix: string, from: number, n: number, body: (i: number) => unknown) =>
    call('POST', '/Bulk', { schemas: [BULK_SCHEMA], Operations: Array.from({ length: n }, (_, k) => ({ method: 'POST', path, bulkId: `${prefix}${from + k}`, data: body(from + k) })) }) as Promise<BulkAnswer>;

  /** Users 0..httpUsers-1; returns their ids. */
  async function users(): Promise<{ userIds: string[]; times: PhaseTimes }> {
    const userIds: string[] = new Array(o.httpUsers);
    const bulkUsers = Math.floor(o.httpUsers / 2);
    const progress = new Progress(`[${o.label}] users`, o.users);
    const t0 = mark();
    for (let from = 0; from < bulkUsers; from += o.bulkSize) {
      const n = Math.min(o.bulkSize, bulkUsers - from);
      for (const r of (await bulk('/Users', 'u', from, n, userBody)).Operations) {
        if (r.status !== '201') throw new Error(`bulk user failed: ${JSON.stringify(r)}`);
        userIds[Number(r.bulkId.slice(1))] = r.location.slice(r.location.lastIndexOf('/') + 1);
      }
      progress.tick(from + n);
    }
    const bulkTime = lap(t0);
    const t1 = mark();
    let done = bulkUsers;
    await pool(bulkUsers, o.httpUsers - bulkUsers, o.concurrency, async (i) => {
      userIds[i] = (await call('POST', '/Users', userBody(i))).id as string;
      progress.tick(++done);
    });
    return { userIds, times: { bulk: bulkTime, single: lap(t1), total: lap(t0) } };
  }

  /** Groups with membersPerGroup user members each. */
  async function groups(userIds: string[]): Promise<PhaseTimes> {
    const groupBody = (i: number) => ({
      schemas: [GROUP_SCHEMA],
      displayName: `group-${i}`,
      externalId: `gext-${i}`,
      members: Array.from({ length: o.membersPerGroup }, (_, k) => ({ value: userIds[(i * o.membersPerGroup + k) % userIds.length], type: 'User' })),
    });
    const bulkGroups = Math.floor(o.groups / 2);
    const progress = new Progress(`[${o.label}] groups`, o.groups);
    const t0 = mark();
    for (let from = 0; from < bulkGroups; from += o.bulkSize) {
      const n = Math.min(o.bulkSize, bulkGroups - from);
      const res = await bulk('/Groups', 'g', from, n, groupBody);
      if (res.Operations.some((r) => r.status !== '201')) throw new Error('bulk group failed');
      progress.tick(from + n);
    }
    const bulkTime = lap(t0);
    const t1 = mark();
    let done = bulkGroups;
    await pool(bulkGroups, o.groups - bulkGroups, o.concurrency, async (i) => {
      await call('POST', '/Groups', groupBody(i));
      progress.tick(++done);
    });
    progress.tick(o.groups);
    return { bulk: bulkTime, single: lap(t1), total: lap(t0) };
  }

  return { users, groups };
}

if (parentPort && workerData) {
  const port = parentPort;
  const c = client(workerData as ClientOptions);
  port.on('message', (msg: { cmd: 'users' } | { cmd: 'groups'; userIds: string[] }) => {
    const work = msg.cmd === 'users' ? c.users() : c.groups(msg.userIds);
    work.then(
      (result) => port.postMessage({ ok: result }),
      (err: Error) => port.postMessage({ error: err.stack ?? String(err) }),
    );
  });
}
