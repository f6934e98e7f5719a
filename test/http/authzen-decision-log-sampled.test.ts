import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { createGatehouse, type Gatehouse, type Services } from '../../src/gatehouse.js';
import { buildHttpApp } from '../../src/http/app.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { parseDsl } from '../../src/authz/dsl.js';
import { parseTuple } from '../../src/authz/tuples.js';
import type { DecisionLogMode } from '../../src/authz/decision-log.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend, type Backend } from '../support/backends.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

// Fresh-eyes test: the decision log (GATEHOUSE_AUTHZ_DECISION_LOG, _SAMPLE_RATE; docs/configuration.md,
// docs/authz-engine.md) seen through AuthZEN single evaluations, on the node:http fast path and on
// Fastify (same services): `sampled` logs the configured fraction of decisions, and "last used" of
// the granting tuple is recorded by logged allowed decisions only, alike on both paths; `full`
// logs every decision, denials decided before evaluation included.

const MODEL = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user]
`;
const GRANT = { user: 'user:ann', relation: 'viewer', object: 'doc:plan' };
const ev = (subject: string, relation = 'viewer') => JSON.stringify({ subject: { type: 'user', id: subject }, action: { name: relation }, resource: { type: 'doc', id: 'plan' } });

interface Instance {
  gh: Gatehouse;
  plain: FastifyInstance;
  fastPort: number;
  plainPort: number;
  token: string;
  store: string;
  drop: () => Promise<void>;
}

async function start(backend: Backend, mode: DecisionLogMode, rate?: number): Promise<Instance> {
  const { url, drop } = await backend.create();
  const gh = await createGatehouse({
    config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'silent', host: '127.0.0.1', port: 0, authzDecisionLog: mode, ...(rate === undefined ? {} : { authzDecisionLogSampleRate: rate }) }),
    logger: pino({ level: 'silent' }),
  });
  const fastPort = Number(new URL(await gh.listen()).port);
  const plain = await buildHttpApp(gh as unknown as Services, { evaluationFastPath: false });
  await plain.listen({ host: '127.0.0.1', port: 0 });
  const plainPort = (plain.server.address() as { port: number }).port;
  const token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
  const api = async (path: string, payload: unknown) => {
    const res = await gh.http.inject({ method: 'POST', url: path, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return JSON.parse(res.body) as Record<string, unknown>;
  };
  const store = (await api('/stores', { name: 'log' })).id as string;
  await api(`/stores/${store}/authorization-models`, parseDsl(MODEL));
  await api(`/stores/${store}/write`, { writes: { tuple_keys: [GRANT] } });
  await gh.authzStores.setDefault(cliContext(), store);
  return { gh, plain, fastPort, plainPort, token, store, drop };
}

async function stop(i: Instance | undefined): Promise<void> {
  if (!i) return;
  await i.plain.close();
  await i.gh.close();
  await i.drop();
}

/** Sends `bodies` on one keep-alive connection, each with x-request-id `${prefix}-${n}`; resolves with the statuses. */
function sendAll(port: number, token: string, prefix: string, bodies: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (c: string) => {
      text += c;
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      // Every answer is complete once the last body has arrived (small JSON bodies).
      if (statuses.length === bodies.length && /\r\n\r\n\{[^]*\}$/.test(text)) {
        socket.end();
        resolve(statuses);
      }
    });
    socket.write(
      bodies
        .map((b, n) => `POST /access/v1/evaluation HTTP/1.1\r\nhost: pdp.test\r\nx-request-id: ${prefix}-${n}\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n\r\n${b}`)
        .join(''),
    );
  });
}

/** Flushes the decision log (tupleLastUsed flushes first) and returns the logged rows whose request id starts with `prefix-`. */
async function logged(i: Instance, prefix: string) {
  const lastUsed = await i.gh.authz.tupleLastUsed(cliContext(), { storeId: i.store, tuple: parseTuple('doc:plan#viewer@user:ann') });
  const rows = await i.gh.storage.db.selectFrom('authz_decision_log').select(['request_id', 'subject', 'relation', 'object', 'decision', 'store_id']).where('request_id', 'like', `${prefix}-%`).execute();
  return { rows, lastUsed };
}

/** Warms the token cache, then sends `bodies` to the fast path (asserting it took them all) and to Fastify. */
async function both(i: Instance, prefix: string, bodies: string[]): Promise<void> {
  await admitOnFastPath(i.gh.apiTokens, i.token);
  const before = evaluationFastPathStats.taken;
  expect(await sendAll(i.fastPort, i.token, `${prefix}-fast`, bodies)).toEqual(bodies.map(() => 200));
  expect(evaluationFastPathStats.taken - before).toBe(bodies.length);
  expect(await sendAll(i.plainPort, i.token, `${prefix}-plain`, bodies)).toEqual(bodies.map(() => 200));
  expect(evaluationFastPathStats.taken - before).toBe(bodies.length);
}

describeEachBackend('AuthZEN decision log: sampled and full, fast path and Fastify alike', (backend) => {
  let never: Instance | undefined;
  let always: Instance | undefined;
  let half: Instance | undefined;
  let full: Instance | undefined;

  beforeAll(async () => {
    never = await start(backend, 'sampled', 0);
    always = await start(backend, 'sampled', 1);
    half = await start(backend, 'sampled', 0.5);
    full = await start(backend, 'full');
  }, 60_000);
  afterAll(async () => {
    for (const i of [never, always, half, full]) await stop(i);
  });

  it('sampled at rate 0: no decision logged and the grant never marked used, on either path', async () => {
    const i = never!;
    await both(i, 'r0', [ev('ann'), ev('ann'), ev('eve')]);
    const fast = await logged(i, 'r0-fast');
    const plain = await logged(i, 'r0-plain');
    expect(fast.rows).toEqual([]);
    expect(plain.rows).toEqual([]);
    expect(fast.lastUsed).toBeNull();
  });

  it('sampled at rate 1: every decision logged with its request id, the grant marked used, both paths alike', async () => {
    const i = always!;
    const t0 = Date.now();
    await both(i, 'r1', [ev('ann'), ev('eve'), ev('ann')]);
    const fast = await logged(i, 'r1-fast');
    const plain = await logged(i, 'r1-plain');
    const shape = (rows: typeof fast.rows, path: string) => rows.map((r) => ({ ...r, request_id: r.request_id?.replace(path, '*') })).sort((a, b) => String(a.request_id).localeCompare(String(b.request_id)));
    expect(shape(fast.rows, 'fast')).toEqual([
      { request_id: 'r1-*-0', subject: 'user:ann', relation: 'viewer', object: 'doc:plan', decision: 1, store_id: i.store },
      { request_id: 'r1-*-1', subject: 'user:eve', relation: 'viewer', object: 'doc:plan', decision: 0, store_id: i.store },
      { request_id: 'r1-*-2', subject: 'user:ann', relation: 'viewer', object: 'doc:plan', decision: 1, store_id: i.store },
    ]);
    expect(shape(plain.rows, 'plain')).toEqual(shape(fast.rows, 'fast'));
    expect(Date.parse(fast.lastUsed ?? '')).toBeGreaterThanOrEqual(t0 - 1000);
  });

  it('sampled at rate 1: an allowed decision on the fast path alone marks the grant used', async () => {
    // A fresh grant used only through the fast path.
    const i = always!;
    const grant = { user: 'user:bob', relation: 'viewer', object: 'doc:plan' };
    const w = await i.gh.http.inject({ method: 'POST', url: `/stores/${i.store}/write`, headers: { authorization: `Bearer ${i.token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ writes: { tuple_keys: [grant] } }) });
    expect(w.statusCode).toBe(200);
    expect(await i.gh.authz.tupleLastUsed(cliContext(), { storeId: i.store, tuple: parseTuple('doc:plan#viewer@user:bob') })).toBeNull();
    await admitOnFastPath(i.gh.apiTokens, i.token);
    const before = evaluationFastPathStats.taken;
    expect(await sendAll(i.fastPort, i.token, 'bob-fast', [ev('bob')])).toEqual([200]);
    expect(evaluationFastPathStats.taken - before).toBe(1);
    expect(await i.gh.authz.tupleLastUsed(cliContext(), { storeId: i.store, tuple: parseTuple('doc:plan#viewer@user:bob') })).not.toBeNull();
  });

  it('sampled at rate 0.5: about half of 400 decisions logged on each path (binomial, within 6 standard deviations)', async () => {
    const i = half!;
    const n = 400;
    await both(i, 'r5', Array.from({ length: n }, (_, k) => ev(k % 2 ? 'ann' : 'eve')));
    const fast = await logged(i, 'r5-fast');
    const plain = await logged(i, 'r5-plain');
    // Mean 200, standard deviation 10.
    for (const rows of [fast.rows, plain.rows]) {
      expect(rows.length).toBeGreaterThan(140);
      expect(rows.length).toBeLessThan(260);
    }
    expect(fast.lastUsed).not.toBeNull();
  });

  it('full: every decision is logged, the denial of a suspended subject (decided before evaluation) included, on both paths', async () => {
    const i = full!;
    const zed = await i.gh.users.create(cliContext(), { userName: 'zed' });
    const w = await i.gh.http.inject({ method: 'POST', url: `/stores/${i.store}/write`, headers: { authorization: `Bearer ${i.token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ writes: { tuple_keys: [{ user: `user:${zed.id}`, relation: 'viewer', object: 'doc:plan' }] } }) });
    expect(w.statusCode).toBe(200);
    await i.gh.users.setActive(cliContext(), zed.id, false);
    await both(i, 'full', [ev('ann'), ev('eve'), ev(zed.id)]);
    for (const path of ['fast', 'plain']) {
      const { rows } = await logged(i, `full-${path}`);
      expect(rows.map((r) => [r.request_id, r.subject, r.relation, r.decision]).sort()).toEqual([
        [`full-${path}-0`, 'user:ann', 'viewer', 1],
        [`full-${path}-1`, 'user:eve', 'viewer', 0],
        [`full-${path}-2`, `user:${zed.id}`, 'viewer', 0],
      ]);
    }
  });
});
