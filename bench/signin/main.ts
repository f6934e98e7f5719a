/**
 * `npm run bench:signin` (issue 5): on loopback,
 * 1. token endpoint throughput and latency for `client_credentials` issuing ES256-signed JWT
 *    access tokens (RFC 9068), authenticated with `client_secret_basic` and with
 *    `private_key_jwt` (ES256 assertions, each with a fresh jti), measured with autocannon 9.0.0;
 * 2. password sign-ins per second (full authorization code + PKCE flow with the real sign-in form,
 *    openid-client as the relying party) against the argon2id limit `cores ÷ hash time`.
 * The server runs in a child process. Options (environment): BENCH_DURATION_SECONDS (10),
 * BENCH_CONNECTIONS (32), BENCH_SIGNIN_WORKERS (2 × cores), BENCH_DATABASE_URL (PostgreSQL).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import * as client from 'openid-client';
import { importJWK, SignJWT, type JWK } from 'jose';
import { hashPassword, verifyPassword, PASSWORD_HASH_PARAMS } from '../../src/authn/password.js';
import { Browser, REDIRECT_URI, formAction, openLoginPage, startAuthorization } from '../../test/oidc/support.js';

const DURATION = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const CORES = availableParallelism();
const WORKERS = Number(process.env.BENCH_SIGNIN_WORKERS ?? 2 * CORES);

interface Ready {
  url: string;
  resource: string;
  secretClient: { id: string; secret: string };
  keyClient: { id: string; kid: string; privateJwk: JWK };
  app: { clientId: string; clientSecret: string };
  users: string[];
  password: string;
  backend: string;
}

/** CPU time (user + system) the server process has used so far, in ms (Linux /proc; 0 elsewhere). */
function serverCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 100 Hz clock ticks
  } catch {
    return 0;
  }
}

let serverPid: number | undefined;

async function startServer(): Promise<{ ready: Ready; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/signin/server.ts'], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const ready = JSON.parse(line) as Ready;
  serverPid = child.pid;
  if (!new URL(ready.url).hostname.startsWith('127.')) throw new Error(`refusing to load-test a non-loopback address: ${ready.url}`);
  return { ready, stop: () => child.kill('SIGTERM') };
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

/**
 * Throughput, latency and the server's CPU time per request (independent of other load on the
 * machine), with the throughput that CPU time allows on every core.
 */
function summary(name: string, r: autocannon.Result, cpuMs: number) {
  const cpuMsPerRequest = r.requests.total ? cpuMs / r.requests.total : 0;
  return {
    name,
    requestsPerSecond: Math.round(r.requests.total / r.duration),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    serverCpuMsPerRequest: Number(cpuMsPerRequest.toFixed(2)),
    cpuBoundRequestsPerSecond: cpuMsPerRequest ? Math.round((CORES * 1000) / cpuMsPerRequest) : null,
  };
}

async function measured(name: string, opts: autocannon.Options) {
  const before = serverCpuMs(serverPid);
  const r = await run(opts);
  return summary(name, r, serverCpuMs(serverPid) - before);
}

async function tokenEndpoint(ready: Ready) {
  const url = `${ready.url}/oauth2/token`;
  const form = new URLSearchParams({ grant_type: 'client_credentials', resource: ready.resource, scope: 'bench:read' }).toString();
  const basic = `Basic ${Buffer.from(`${ready.secretClient.id}:${ready.secretClient.secret}`).toString('base64')}`;
  const headers = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic };
  // Sanity: one token, checked to be an ES256 JWT.
  const probe = await fetch(url, { method: 'POST', headers, body: form });
  const token = ((await probe.json()) as { access_token: string }).access_token;
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string; typ: string };
  if (probe.status !== 200 || header.alg !== 'ES256' || header.typ !== 'at+jwt') throw new Error('the token endpoint did not issue an ES256 JWT access token');
  await run({ url, method: 'POST', headers, body: form, duration: 2, connections: CONNECTIONS }); // warm-up
  const secret = await measured('client_secret_basic → ES256 JWT', { url, method: 'POST', headers, body: form, duration: DURATION, connections: CONNECTIONS });

  // private_key_jwt: one fresh ES256 assertion per request (assertions are single-use).
  const key = await importJWK(ready.keyClient.privateJwk, 'ES256');
  const expected = Math.ceil(secret.requestsPerSecond * DURATION * 1.5) + 1000;
  const assertions: string[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < expected; i++) {
    assertions.push(
      await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: ready.keyClient.kid })
        .setIssuer(ready.keyClient.id)
        .setSubject(ready.keyClient.id)
        .setAudience(ready.url)
        .setJti(`${i}-${Math.random().toString(36).slice(2)}`)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(key),
    );
  }
  let next = 0;
  const body = () =>
    new URLSearchParams({
      grant_type: 'client_credentials',
      resource: ready.resource,
      scope: 'bench:read',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertions[next++ % assertions.length]!,
    }).toString();
  const jwt = await measured('private_key_jwt (ES256) → ES256 JWT', {
    url,
    duration: DURATION,
    connections: CONNECTIONS,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, setupRequest: (req) => ({ ...req, body: body() }) }],
  });
  return { secret, jwt, assertionsPrepared: assertions.length, assertionsUsed: next };
}

async function argon2Cost(): Promise<{ hashMs: number; verifyMs: number; verifyCpuMs: number }> {
  const phc = await hashPassword('correct horse battery staple');
  for (let i = 0; i < 3; i++) await verifyPassword(phc, 'correct horse battery staple');
  const n = 20;
  let t = performance.now();
  for (let i = 0; i < n; i++) await hashPassword(`password number ${i} for timing`);
  const hashMs = (performance.now() - t) / n;
  t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) await verifyPassword(phc, 'correct horse battery staple');
  const used = process.cpuUsage(cpu);
  return { hashMs, verifyMs: (performance.now() - t) / n, verifyCpuMs: (used.user + used.system) / 1000 / n };
}

async function signIns(ready: Ready) {
  const rp = await client.discovery(new URL(ready.url), ready.app.clientId, undefined, client.ClientSecretBasic(ready.app.clientSecret), { execute: [client.allowInsecureRequests] });
  const one = async (username: string) => {
    const browser = new Browser();
    const start = await startAuthorization(rp, 'openid');
    const login = await openLoginPage(browser, start);
    const action = formAction(login.html, login.url);
    const res = await browser.post(action, { username, password: ready.password });
    const { callback } = await browser.follow(res, action, REDIRECT_URI);
    if (!callback) throw new Error(`sign-in of ${username} did not complete (status ${res.status})`);
    await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
  };
  for (let i = 0; i < 4; i++) await one(ready.users[i % ready.users.length]!); // warm-up
  let done = 0;
  let failed = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + DURATION * 1000;
  const started = performance.now();
  const cpuBefore = serverCpuMs(serverPid);
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t = performance.now();
        try {
          await one(ready.users[(w + i * WORKERS) % ready.users.length]!);
          done++;
          latencies.push(performance.now() - t);
        } catch {
          failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuMsPerSignIn = done ? (serverCpuMs(serverPid) - cpuBefore) / done : 0;
  latencies.sort((a, b) => a - b);
  return { perSecond: done / seconds, completed: done, failed, serverCpuMsPerSignIn: Number(cpuMsPerSignIn.toFixed(1)), p50Ms: latencies[Math.floor(latencies.length * 0.5)] ?? 0, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

const cost = await argon2Cost();
const { ready, stop } = await startServer();
try {
  const token = await tokenEndpoint(ready);
  const signin = await signIns(ready);
  const limit = (CORES * 1000) / cost.verifyMs;
  const cpuLimit = (CORES * 1000) / cost.verifyCpuMs;
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: CORES, loadAverage1mAtEnd: Number(loadavg()[0]!.toFixed(1)), memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, backend: ready.backend },
    settings: { durationSeconds: DURATION, connections: CONNECTIONS, signinWorkers: WORKERS },
    tokenEndpoint: token,
    argon2id: {
      params: PASSWORD_HASH_PARAMS,
      hashMs: Number(cost.hashMs.toFixed(1)),
      verifyMs: Number(cost.verifyMs.toFixed(1)),
      verifyCpuMs: Number(cost.verifyCpuMs.toFixed(1)),
      /** cores ÷ wall-clock verify time. */
      limitPerSecond: Number(limit.toFixed(1)),
      /** cores ÷ CPU time of one verify (what an idle machine allows). */
      cpuLimitPerSecond: Number(cpuLimit.toFixed(1)),
    },
    signIns: {
      ...signin,
      perSecond: Number(signin.perSecond.toFixed(1)),
      ratioToLimit: Number((signin.perSecond / limit).toFixed(2)),
      /** cores ÷ server CPU per sign-in, against cores ÷ CPU per verify: the share of a sign-in's cost that is argon2id. */
      cpuBoundPerSecond: signin.serverCpuMsPerSignIn ? Number(((CORES * 1000) / signin.serverCpuMsPerSignIn).toFixed(1)) : null,
      cpuRatioToLimit: signin.serverCpuMsPerSignIn ? Number((cost.verifyCpuMs / signin.serverCpuMsPerSignIn).toFixed(2)) : null,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  stop();
}
