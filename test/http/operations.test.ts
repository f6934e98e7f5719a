/**
 * Operations: liveness and readiness, request ids, security headers, the body limit, JSON logs
 * with request ids and without secrets, and graceful shutdown.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { loggerOptions } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('operations', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let token: string;
  const lines: string[] = [];

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const logger = pino(loggerOptions('info'), sink);
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: db.url, port: 0, logLevel: 'info' }), logger });
    token = (await gh.apiTokens.create(cliContext(), { name: 'ops', scopes: ['admin', 'scim'] })).token;
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('answers /healthz and /readyz (which checks the database)', async () => {
    const health = await gh.http.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await gh.http.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', database: backend.kind });
  });

  it('echoes a safe X-Request-ID and makes one otherwise', async () => {
    const given = await gh.http.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const unsafe = await gh.http.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id\r\nx: y' } });
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
  });

  it('sends security headers', async () => {
    const res = await gh.http.inject({ method: 'GET', url: '/healthz' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(String(res.headers['content-security-policy'])).toContain("default-src 'self'");
    expect(String(res.headers['content-security-policy'])).toContain("frame-ancestors 'self'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('refuses bodies over 1 MiB with 413 problem details', async () => {
    const big = JSON.stringify({ user_name: 'x', pad: 'a'.repeat(1024 * 1024) });
    const res = await gh.http.inject({ method: 'POST', url: '/api/v1/users', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: big });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 413, code: 'payload_too_large' });
  });

  it('answers unknown paths with 404 problem details', async () => {
    const res = await gh.http.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('logs JSON lines with request ids and never a password or token', async () => {
    const secretPassword = 'Sup3r-secret passphrase for logs';
    const created = await gh.http.inject({
      method: 'POST',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', 'x-request-id': 'log-test-1' },
      payload: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'logger@example.com', password: secretPassword },
    });
    expect(created.statusCode, created.body).toBe(201);
    await gh.http.inject({ method: 'POST', url: `/api/v1/users/${created.json().id}/password`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: { password: secretPassword } });
    await gh.http.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Bearer ${token}`, cookie: 'session=abc' } });
    // A token sent in the query string (RFC 6750 §2.3) is refused, and never logged.
    const inQuery = await gh.http.inject({ method: 'GET', url: `/scim/v2/Users?access_token=${token}&count=1` });
    expect(inQuery.statusCode).toBe(401);
    const all = lines.join('\n');
    expect(all).not.toContain(secretPassword);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.slice(6));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const forRequest = parsed.filter((l) => l.request_id === 'log-test-1');
    // One line per request, when it completes, with the request and the response status.
    const completed = forRequest.filter((l) => l.msg === 'request completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ req: { method: 'POST', url: '/scim/v2/Users' }, res: { statusCode: 201 } });
    expect(typeof completed[0]!.responseTime).toBe('number');
    expect(forRequest.filter((l) => l.msg === 'incoming request')).toEqual([]);
    expect(forRequest.every((l) => typeof l.level === 'number' && typeof l.time === 'number')).toBe(true);
    const requestLines = parsed.filter((l) => l.req !== undefined);
    expect(requestLines.length).toBeGreaterThan(0);
    expect(requestLines.every((l) => typeof l.request_id === 'string')).toBe(true);
    expect(all).toContain('/scim/v2/Users?access_token=%5Bredacted%5D&count=1');
  });
});
