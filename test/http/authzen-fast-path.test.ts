import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { createGatehouse, type Gatehouse, type Services } from '../../src/gatehouse.js';
import { buildHttpApp } from '../../src/http/app.js';
import { parseDsl } from '../../src/authz/dsl.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { loggerOptions } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';
import { rawRequest as raw, type RawAnswer } from '../support/raw-http.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

// routes/authzen-fast.ts answers plain single evaluations on node:http in front of Fastify. Every
// request below is sent, as raw bytes over a real socket, to the app with the fast path and to one
// without it (same services, so same state): status, headers and body must be the same.

const MODEL = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user, user with in_office]
condition in_office(ip: ipaddress, office: string) {
  ip.in_cidr("10.0.0.0/8") && office != "closed"
}
`;

function message(opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; extra?: string }): Buffer {
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : (opts.body ?? Buffer.alloc(0));
  const headers: Record<string, string> = { host: 'pdp.test', connection: 'close', ...opts.headers };
  if (opts.body !== undefined && headers['transfer-encoding'] === undefined && headers['content-length'] === undefined) headers['content-length'] = String(body.length);
  const head = `${opts.method ?? 'POST'} ${opts.path ?? '/access/v1/evaluation'} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}${opts.extra ?? ''}\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describeEachBackend('AuthZEN single evaluation: the node:http fast path answers as Fastify does', (backend) => {
  let gh: Gatehouse;
  let plain: FastifyInstance;
  let drop: () => Promise<void>;
  let fastPort: number;
  let plainPort: number;
  let token: string;
  let scimToken: string;
  let revokedToken: string;
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    const logger = pino(loggerOptions('info'), { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'info', host: '127.0.0.1', port: 0 }), logger });
    fastPort = Number(new URL(await gh.listen()).port);
    plain = await buildHttpApp(gh as unknown as Services, { evaluationFastPath: false });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    plainPort = (plain.server.address() as { port: number }).port;
    token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    scimToken = (await gh.apiTokens.create(cliContext(), { name: 'scim', scopes: ['scim'] })).token;
    const revoked = await gh.apiTokens.create(cliContext(), { name: 'gone', scopes: ['authz'] });
    revokedToken = revoked.token;
    const api = async (url: string, payload: unknown) => {
      const res = await gh.http.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expect(res.statusCode, res.body).toBeLessThan(300);
      return JSON.parse(res.body) as Record<string, unknown>;
    };
    const store = (await api('/stores', { name: 'fast' })).id as string;
    await api(`/stores/${store}/authorization-models`, parseDsl(MODEL));
    await api(`/stores/${store}/write`, {
      writes: {
        tuple_keys: [
          { user: 'user:ann', relation: 'viewer', object: 'doc:plan' },
          { user: 'user:bob', relation: 'viewer', object: 'doc:plan', condition: { name: 'in_office', context: { office: 'hq' } } },
        ],
      },
    });
    await gh.authzStores.setDefault(cliContext(), store);
    // Warm the token cache (the fast path takes only cached tokens), then revoke one.
    for (const t of [token, scimToken, revokedToken]) await raw(fastPort, message({ headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: '{}' }));
    await gh.apiTokens.revoke(cliContext(), revoked.apiToken.id);
  });
  afterAll(async () => {
    await plain?.close();
    await gh?.close();
    await drop?.();
  });

  const ev = (subject: string, context?: unknown) =>
    JSON.stringify({ subject: { type: 'user', id: subject }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'plan' }, ...(context === undefined ? {} : { context }) });
  const json = (body: string | Buffer, headers: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body });

  /** Sends `m` to both apps; returns both answers, after checking they are equal (but for date and generated ids). */
  async function both(m: Buffer): Promise<RawAnswer> {
    const [a, b] = await Promise.all([raw(fastPort, m), raw(plainPort, m)]);
    for (const r of [a, b]) {
      delete r.headers.date;
      const id = r.headers['x-request-id'] ?? '';
      if (UUID_V7.test(id)) {
        r.headers['x-request-id'] = '<uuidv7>';
        r.body = r.body.replaceAll(id, '<uuidv7>');
      }
    }
    expect(a).toEqual(b);
    return a;
  }

  it('answers allow, deny, conditions and their errors alike, and takes the plain ones on the fast path', async () => {
    await admitOnFastPath(gh.apiTokens, token, 10_000);
    const before = evaluationFastPathStats.taken;
    const cases: Array<[Buffer, number, unknown]> = [
      [message(json(ev('ann'))), 200, { decision: true }],
      [message(json(ev('eve'))), 200, { decision: false }],
      [message(json(ev('bob', { ip: '10.1.2.3' }))), 200, { decision: true }],
      [message(json(ev('bob', { ip: '192.168.0.1' }))), 200, { decision: false }],
      [message(json(ev('bob'))), 400, { error: { code: 'condition_error' } }],
      [message(json(ev('bob', { ip: 'not an ip' }))), 400, { error: { code: 'condition_error' } }],
      [message(json(JSON.stringify({ subject: { type: 'group', id: 'x' }, action: { name: 'nope' }, resource: { type: 'nope', id: 'y' } }))), 200, { decision: false }],
      [message(json(JSON.stringify({ subject: { type: 'user', id: 'ann', extra: 1 }, action: { name: 'viewer', properties: { a: 1 } }, resource: { type: 'doc', id: 'plan' }, more: [1] }))), 200, { decision: true }],
    ];
    for (const [m, status, body] of cases) {
      const r = await both(m);
      expect(r.status).toBe(status);
      expect(JSON.parse(r.body)).toMatchObject(body as object);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['content-security-policy']).toContain("default-src 'self'");
      expect(r.headers['x-request-id']).toBe('<uuidv7>');
    }
    expect(evaluationFastPathStats.taken - before).toBe(cases.length);
  });

  it('answers malformed bodies alike: bad JSON, prototype keys, NUL, wrong shapes, invalid UTF-8', async () => {
    await admitOnFastPath(gh.apiTokens, token, 10_000);
    const bodies: Array<[string | Buffer, number]> = [
      ['{', 400],
      ['{"subject": ', 400],
      ['null', 400],
      ['[]', 400],
      ['"text"', 400],
      ['{"__proto__": {"x": 1}, "subject": {"type": "user", "id": "ann"}}', 400],
      ['{"constructor": {"prototype": {}}, "subject": {"type": "user", "id": "ann"}}', 400],
      [ev('ann\u0000x'), 400],
      [ev('ann').replace('"ann"', '"ann\\u0000"'), 400],
      [ev('ann').replace('"ann"', '"\\u0061nn"'), 200],
      [ev('ann').replace('"ann"', '"ann\\ud800"'), 400],
      [ev('ann').replace('"ann"', '"ann\\ud83d\\ude00"'), 200],
      [ev('a'.repeat(257)), 400],
      [JSON.stringify({ subject: { type: 'user', id: 7 }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'plan' } }), 400],
      [JSON.stringify({ subject: { type: 'user', id: 'ann' }, resource: { type: 'doc', id: 'plan' } }), 400],
      [JSON.stringify({ subject: { type: 'user', id: 'ann' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'plan' }, context: 'x' }), 400],
      [Buffer.concat([Buffer.from('{"subject":{"type":"user","id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"},"action":{"name":"viewer"},"resource":{"type":"doc","id":"plan"}}')]), 200],
      ['   ', 400],
    ];
    const before = evaluationFastPathStats.taken;
    for (const [body, status] of bodies) {
      const r = await both(message(json(body)));
      expect([r.status, body]).toEqual([status, body]);
      if (status === 400) expect(JSON.parse(r.body).error.code).toBe(r.body.includes('condition_error') ? 'condition_error' : 'invalid_input');
    }
    expect(evaluationFastPathStats.taken - before).toBe(bodies.length);
  });

  it('answers every request it declines exactly as Fastify does (tokens, headers, methods, paths, bodies)', async () => {
    const cases: Array<[Buffer, number]> = [
      [message({ headers: { 'content-type': 'application/json' }, body: ev('ann') }), 401],
      [message({ headers: { authorization: 'Bearer ghp_nope', 'content-type': 'application/json' }, body: ev('ann') }), 401],
      [message({ headers: { authorization: `Basic ${token}`, 'content-type': 'application/json' }, body: ev('ann') }), 401],
      [message({ headers: { authorization: `Bearer ${revokedToken}`, 'content-type': 'application/json' }, body: ev('ann') }), 401],
      [message({ headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/json' }, body: ev('ann') }), 403],
      [message(json(ev('ann'), { 'content-type': 'application/json; charset=utf-8' })), 200],
      [message(json(ev('ann'), { 'content-type': 'Application/JSON' })), 200],
      [message(json(ev('ann'), { 'content-type': 'text/plain' })), 400],
      [message({ ...json(ev('ann')), path: '/access/v1/evaluation?x=1' }), 200],
      [message({ ...json(ev('ann')), path: '/access/v1/evaluation/' }), 404],
      [message({ ...json(ev('ann')), path: '/ACCESS/v1/evaluation' }), 404],
      [message({ ...json(ev('ann')), method: 'PUT' }), 405],
      [message({ headers: { authorization: `Bearer ${token}` }, method: 'GET' }), 405],
      [message({ headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '0' } }), 400],
      [message({ headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: `${Buffer.byteLength(ev('ann')).toString(16)}\r\n${ev('ann')}\r\n0\r\n\r\n` }), 200],
      [message(json(ev('ann'), { 'x-gatehouse-at-least-revision': '1' })), 200],
      [message(json(ev('ann'), { 'x-gatehouse-at-least-revision': 'soon' })), 400],
      [message(json(`{"subject":{"type":"user","id":"ann"},"pad":"${'x'.repeat(1024 * 1024)}"}`)), 413],
    ];
    const before = evaluationFastPathStats.taken;
    for (const [m, status] of cases) expect((await both(m)).status).toBe(status);
    expect(evaluationFastPathStats.taken - before).toBe(0);
  });

  it('keeps the X-Request-ID rules: a safe id is the request id, another printable one is echoed, the rest get a UUIDv7', async () => {
    const ids: Array<[string, string]> = [
      ['req-1.2:3_A', 'req-1.2:3_A'],
      ['has spaces & symbols!', 'has spaces & symbols!'],
      ['x'.repeat(200), 'x'.repeat(200)],
      ['y'.repeat(300), '<uuidv7>'],
    ];
    for (const [given, shown] of ids) expect((await both(message(json(ev('ann'), { 'x-request-id': given })))).headers['x-request-id']).toBe(shown);
    const twice = await both(message({ ...json(ev('ann')), extra: 'x-request-id: one\r\nx-request-id: two\r\n' }));
    expect(twice.headers['x-request-id']).toBe('one, two');
  });

  it('writes the same completion log line as Fastify', async () => {
    lines.length = 0;
    await admitOnFastPath(gh.apiTokens, token);
    const before = evaluationFastPathStats.taken;
    await raw(fastPort, message(json(ev('ann'), { 'x-request-id': 'log-fast' })));
    expect(evaluationFastPathStats.taken - before).toBe(1);
    await raw(plainPort, message(json(ev('ann'), { 'x-request-id': 'log-plain' })));
    await new Promise((r) => setTimeout(r, 50));
    const pick = (id: string) => {
      const line = lines.find((l) => l.request_id === id && l.msg === 'request completed');
      expect(line).toBeDefined();
      const { time, pid, hostname, responseTime, request_id, req, ...rest } = line as Record<string, unknown> & { req: Record<string, unknown> };
      expect([typeof time, typeof pid, typeof hostname, typeof responseTime, request_id]).toEqual(['number', 'number', 'string', 'number', id]);
      const { remotePort, ...reqRest } = req;
      expect(typeof remotePort).toBe('number');
      return { ...rest, req: reqRest };
    };
    const fast = pick('log-fast');
    expect(fast).toEqual(pick('log-plain'));
    expect(fast).toEqual({ level: 30, msg: 'request completed', res: { statusCode: 200 }, req: { method: 'POST', url: '/access/v1/evaluation', host: 'pdp.test', remoteAddress: '127.0.0.1' } });
  });

  it('survives clients that go away mid-body or send less than they announced', async () => {
    const m = message(json(ev('ann')));
    for (const cut of [m.length - 5, m.length - 40]) {
      await new Promise<void>((resolve) => {
        const socket = connect(fastPort, '127.0.0.1', () => {
          socket.write(m.subarray(0, cut));
          setTimeout(() => socket.destroy(), 20);
        });
        socket.on('close', () => resolve());
        socket.on('error', () => {});
      });
    }
    const r = await both(message(json(ev('ann'))));
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { decision: true }]);
  });
});
