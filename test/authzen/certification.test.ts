/**
 * The OpenID AuthZEN Authorization API 1.0 certification scenario, every level (Basic, Batch,
 * Search — Core and Properties — and Discovery), run over a real socket against Gatehouse after
 * `gatehouse authz import examples/authzen-certification --default` (the CLI, in its own process),
 * on SQLite and PostgreSQL. Each case of `scenario.ts` is one test; the transport requirements
 * (C.5), X-Request-ID (C.2.5), idempotency (C.2.6), paging (C.4.5) and discovery (C.6) follow.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';
import { SCENARIO, type ScenarioCase } from './scenario.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ISSUER = 'https://pdp.example.test';

/** Runs `gatehouse ARGS` from the sources (tsx) in a child process, as an operator would. */
function gatehouseCli(args: string[], databaseUrl: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_LOG_LEVEL: 'warn' },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Reply {
  status: number;
  contentType: string;
  requestId: string | null;
  body: any;
}

describeEachBackend('AuthZEN 1.0 certification scenario', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let base: string;
  let token: string;

  async function call(c: { path: string; body?: unknown; raw?: string; contentType?: string | null; requestId?: string; method?: string }): Promise<Reply> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    const ct = c.contentType === undefined ? 'application/json' : c.contentType;
    if (ct) headers['content-type'] = ct;
    if (c.requestId) headers['x-request-id'] = c.requestId;
    const payload = c.raw !== undefined ? c.raw : c.body !== undefined ? JSON.stringify(c.body) : undefined;
    const res = await fetch(`${base}${c.path}`, { method: c.method ?? 'POST', headers, ...(payload !== undefined && c.method !== 'GET' ? { body: payload } : {}) });
    const contentType = res.headers.get('content-type') ?? '';
    const text = await res.text();
    return { status: res.status, contentType, requestId: res.headers.get('x-request-id'), body: contentType.includes('json') && text ? JSON.parse(text) : text };
  }

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    const imported = gatehouseCli(['authz', 'import', join(ROOT, 'examples', 'authzen-certification'), '--default'], url);
    if (imported.status !== 0) throw new Error(`gatehouse authz import failed (${imported.status}):\n${imported.stdout}\n${imported.stderr}`);
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0, issuer: ISSUER }), logger: createLogger('silent') });
    token = (await gh.apiTokens.create(cliContext(), { name: 'harness', scopes: ['authz'] })).token;
    base = await gh.listen();
  }, 180_000);
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  const check = (c: ScenarioCase, r: Reply) => {
    expect(r.status, `${c.id} ${c.title}: ${JSON.stringify(r.body)}`).toBe(c.expect.status);
    expect(r.contentType.split(';')[0]).toBe('application/json');
    const e = c.expect;
    if (e.status !== 200) {
      expect(typeof r.body.error.message).toBe('string');
      return;
    }
    if (e.decision !== undefined) expect(r.body).toEqual({ decision: e.decision });
    if (e.evaluations) {
      expect(r.body.evaluations.map((x: { decision: unknown }) => x.decision)).toEqual(e.evaluations);
      expect(r.body.decision).toBeUndefined();
    }
    if (e.evaluationsLength !== undefined) {
      expect(r.body.evaluations).toHaveLength(e.evaluationsLength);
      for (const x of r.body.evaluations) expect(typeof x.decision).toBe('boolean');
    }
    if (e.includes || e.empty || e.resultType) {
      expect(Array.isArray(r.body.results)).toBe(true);
      expect(typeof r.body.page.next_token).toBe('string');
      const results = r.body.results as Array<{ type?: string; id?: string; name?: string }>;
      if (e.empty) expect(results).toEqual([]);
      if (e.resultType) for (const x of results) expect(x).toMatchObject({ type: e.resultType, id: expect.any(String) });
      if (e.includes) expect(results.map((x) => x.id ?? x.name)).toEqual(expect.arrayContaining(e.includes));
    }
  };

  for (const level of ['Basic Core', 'Basic Properties', 'Batch Core', 'Batch Properties', 'Search Core', 'Search Properties'] as const) {
    describe(level, () => {
      it.each(SCENARIO.filter((c) => c.level === level).map((c) => [`${c.id} ${c.title}`, c] as const))('%s', async (_name, c) => {
        check(c, await call(c));
      });
    });
  }

  it('answers exact decision sets: searches list only what Check allows', async () => {
    const subjects = await call({ path: '/access/v1/search/subject', body: { subject: { type: 'user' }, action: { name: 'write' }, resource: { type: 'record', id: 'record-2', properties: { status: 'archived' } } } });
    expect(subjects.body.results).toEqual([{ type: 'user', id: 'bob' }]);
    const resources = await call({ path: '/access/v1/search/resource', body: { subject: { type: 'user', id: 'alice' }, action: { name: 'write' }, resource: { type: 'record' } } });
    expect(resources.body.results).toEqual([{ type: 'record', id: 'record-1' }]);
    const actions = await call({ path: '/access/v1/search/action', body: { subject: { type: 'user', id: 'alice' }, resource: { type: 'record', id: 'record-1' } } });
    expect(actions.body).toEqual({ results: [{ name: 'read' }, { name: 'write' }], page: { next_token: '', count: 2, total: 2 } });
  });

  it('decides requests whose properties also carry numbers, booleans, null, arrays and objects no rule reads', async () => {
    const extra = { count: 5, pinned: true, score: 1.5, owner: null, tags: ['x'], meta: { k: 1 } };
    const alice = { type: 'user', id: 'alice' };
    const carolAdmin = { type: 'user', id: 'carol', properties: { role: 'admin', age: 40, verified: true, manager: null } };
    const r1 = (status: string) => ({ type: 'record', id: 'record-1', properties: { status, ...extra } });
    const r2 = { type: 'record', id: 'record-2', properties: { status: 'archived', ...extra } };
    // The tester's request: {"status": "active", "count": 5} on record-1.
    const repro = await call({ path: '/access/v1/evaluation', body: { subject: alice, action: { name: 'write' }, resource: { type: 'record', id: 'record-1', properties: { status: 'active', count: 5 } } } });
    expect(repro).toMatchObject({ status: 200, body: { decision: true } });
    const decide = async (body: unknown) => (await call({ path: '/access/v1/evaluation', body })).body;
    expect(await decide({ subject: alice, action: { name: 'write' }, resource: r1('active') })).toEqual({ decision: true });
    expect(await decide({ subject: alice, action: { name: 'write' }, resource: r2 })).toEqual({ decision: false });
    expect(await decide({ subject: carolAdmin, action: { name: 'write' }, resource: r2 })).toEqual({ decision: true });
    expect(await decide({ subject: alice, action: { name: 'delete', properties: { soft: true, reason: 'cleanup', attempts: 2 } }, resource: r1('active') })).toEqual({ decision: true });
    expect(await decide({ subject: alice, action: { name: 'delete', properties: { soft: 'yes', attempts: 2 } }, resource: r1('active') })).toEqual({ decision: false });
    const batch = await call({
      path: '/access/v1/evaluations',
      body: { subject: alice, action: { name: 'write' }, evaluations: [{ resource: r1('active') }, { resource: r2 }, { subject: carolAdmin, resource: r2 }] },
    });
    expect(batch.body).toEqual({ evaluations: [{ decision: true }, { decision: false }, { decision: true }] });
    const subjects = await call({ path: '/access/v1/search/subject', body: { subject: { type: 'user' }, action: { name: 'write' }, resource: r2 } });
    expect(subjects.body.results).toEqual([{ type: 'user', id: 'bob' }]);
    const resources = await call({ path: '/access/v1/search/resource', body: { subject: alice, action: { name: 'write' }, resource: { type: 'record', properties: extra } } });
    expect(resources.body.results).toEqual([{ type: 'record', id: 'record-1' }]);
    const actions = await call({ path: '/access/v1/search/action', body: { subject: alice, resource: r1('active') } });
    expect(actions.body.results).toEqual([{ name: 'read' }, { name: 'write' }]);
  });

  it('C.2.5 echoes X-Request-ID, and answers without one', async () => {
    const body = { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
    for (const path of ['/access/v1/evaluation', '/access/v1/evaluations']) {
      const r = await call({ path, body, requestId: 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716' });
      expect({ status: r.status, requestId: r.requestId }).toEqual({ status: 200, requestId: 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716' });
    }
    const odd = await call({ path: '/access/v1/search/action', body: { subject: { type: 'user', id: 'alice' }, resource: { type: 'record', id: 'record-1' } }, requestId: 'pep 42 / trace=abc;x' });
    expect({ status: odd.status, requestId: odd.requestId }).toEqual({ status: 200, requestId: 'pep 42 / trace=abc;x' });
    const bad = await call({ path: '/access/v1/evaluation', body: {}, requestId: 'err-req-7' });
    expect({ status: bad.status, requestId: bad.requestId }).toEqual({ status: 400, requestId: 'err-req-7' });
    const none = await call({ path: '/access/v1/evaluation', body });
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ decision: true });
  });

  it('C.2.6 answers the same decision to repeated requests', async () => {
    const body = { subject: { type: 'user', id: 'bob' }, action: { name: 'write' }, resource: { type: 'record', id: 'record-1' } };
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push((await call({ path: '/access/v1/evaluation', body })).body.decision);
    expect(decisions).toEqual([false, false, false, false, false]);
  });

  it('C.4.5 pages search results with page.limit and page.token', async () => {
    const req = { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
    const first = await call({ path: '/access/v1/search/subject', body: { ...req, page: { limit: 1 } } });
    expect(first.status).toBe(200);
    expect(first.body.results).toEqual([{ type: 'user', id: 'alice' }]);
    expect(first.body.page).toMatchObject({ count: 1, total: 2 });
    expect(first.body.page.next_token).toMatch(/^\S+$/);
    const second = await call({ path: '/access/v1/search/subject', body: { ...req, page: { token: first.body.page.next_token } } });
    expect(second.status).toBe(200);
    expect(second.body.results).toEqual([{ type: 'user', id: 'bob' }]);
    expect(second.body.page.next_token).toBe('');
    const bad = await call({ path: '/access/v1/search/subject', body: { ...req, page: { token: 'not-ours' } } });
    expect(bad.status).toBe(400);
  });

  it('C.3 evaluations_semantic short-circuits in request order', async () => {
    const items = [{ resource: { type: 'record', id: 'record-1' } }, { resource: { type: 'record', id: 'nope' } }, { resource: { type: 'record', id: 'record-2' } }];
    const deny = await call({ path: '/access/v1/evaluations', body: { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, options: { evaluations_semantic: 'deny_on_first_deny' }, evaluations: items } });
    expect(deny.body).toEqual({ evaluations: [{ decision: true }, { decision: false, context: { reason: 'deny_on_first_deny' } }] });
    const permit = await call({ path: '/access/v1/evaluations', body: { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, options: { evaluations_semantic: 'permit_on_first_permit' }, evaluations: items } });
    expect(permit.body).toEqual({ evaluations: [{ decision: true, context: { reason: 'permit_on_first_permit' } }] });
    const all = await call({ path: '/access/v1/evaluations', body: { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, options: { evaluations_semantic: 'execute_all' }, evaluations: items } });
    expect(all.body).toEqual({ evaluations: [{ decision: true }, { decision: false }, { decision: true }] });
    const unknown = await call({ path: '/access/v1/evaluations', body: { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, options: { evaluations_semantic: 'maybe' }, evaluations: items } });
    expect(unknown.status).toBe(400);
  });

  it('C.6 publishes PDP metadata at /.well-known/authzen-configuration', async () => {
    const r = await call({ path: '/.well-known/authzen-configuration', method: 'GET', contentType: null });
    expect(r.status).toBe(200);
    expect(r.contentType.split(';')[0]).toBe('application/json');
    expect(r.body).toEqual({
      policy_decision_point: ISSUER,
      access_evaluation_endpoint: `${ISSUER}/access/v1/evaluation`,
      access_evaluations_endpoint: `${ISSUER}/access/v1/evaluations`,
      search_subject_endpoint: `${ISSUER}/access/v1/search/subject`,
      search_resource_endpoint: `${ISSUER}/access/v1/search/resource`,
      search_action_endpoint: `${ISSUER}/access/v1/search/action`,
    });
    // Each advertised endpoint answers at the advertised path.
    for (const key of ['access_evaluation_endpoint', 'access_evaluations_endpoint'] as const) {
      const path = new URL(r.body[key] as string).pathname;
      const a = await call({ path, body: { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } } });
      expect(a.body).toEqual({ decision: true });
    }
  });

  it('serves the same store by name under /stores/{store_id}/access/v1, and 404 for an unknown store', async () => {
    const { stores } = await gh.authzStores.list(cliContext());
    const imported = stores.find((s) => s.isDefault);
    expect(imported?.id).toBeDefined();
    const body = { subject: { type: 'user', id: 'bob' }, action: { name: 'write' }, resource: { type: 'record', id: 'record-2', properties: { status: 'archived' } } };
    const named = await call({ path: `/stores/${imported!.id}/access/v1/evaluation`, body });
    expect(named.body).toEqual({ decision: true });
    const meta = await call({ path: `/.well-known/authzen-configuration/stores/${imported!.id}`, method: 'GET', contentType: null });
    expect(meta.body.access_evaluation_endpoint).toBe(`${ISSUER}/stores/${imported!.id}/access/v1/evaluation`);
    const noMeta = await call({ path: '/.well-known/authzen-configuration/stores/01NOSUCHSTORE0000000000000', method: 'GET', contentType: null });
    expect({ status: noMeta.status, code: noMeta.body.error.code }).toEqual({ status: 404, code: 'not_found' });
    const builtinMeta = await call({ path: '/.well-known/authzen-configuration/stores/gatehouse', method: 'GET', contentType: null });
    expect(builtinMeta.body.access_evaluation_endpoint).toBe(`${ISSUER}/stores/gatehouse/access/v1/evaluation`);
    const missing = await call({ path: '/stores/01NOSUCHSTORE0000000000000/access/v1/evaluation', body });
    expect({ status: missing.status, code: missing.body.error.code }).toEqual({ status: 404, code: 'not_found' });
    // The built-in store keeps the first slice's permission mapping.
    const builtin = await call({ path: '/stores/gatehouse/access/v1/evaluation', body });
    expect(builtin.body).toEqual({ decision: false });
  });

  it('follows `store default`: the root endpoints switch stores within the one-second cache', async () => {
    const body = { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
    expect((await call({ path: '/access/v1/evaluation', body })).body).toEqual({ decision: true });
    const imported = (await gh.authzStores.list(cliContext())).stores.find((s) => s.isDefault)!;
    await gh.authzStores.setDefault(cliContext(), 'gatehouse');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await call({ path: '/access/v1/evaluation', body })).body).toEqual({ decision: false });
    await gh.authzStores.setDefault(cliContext(), imported.id);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await call({ path: '/access/v1/evaluation', body })).body).toEqual({ decision: true });
  });
});
