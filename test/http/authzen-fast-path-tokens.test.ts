import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { FixedClock } from '../../src/kernel/clock.js';
import { describeEachBackend } from '../support/backends.js';

// Fresh-eyes test (issue #3): the token lifecycle seen through the node:http fast path with a frozen
// clock: last use recorded once per minute, expiry, revocation and deprovisioning of the token's user.

const BODY = JSON.stringify({ subject: { type: 'user', id: 'a' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'x' } });

describeEachBackend('AuthZEN fast path: token lifecycle with a frozen clock', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let port: number;
  const clock = new FixedClock('2026-01-01T00:00:58.000Z');

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', host: '127.0.0.1', port: 0 }), logger: pino({ level: 'silent' }), clock });
    port = Number(new URL(await gh.listen()).port);
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  /** Status of one evaluation with `token`, and whether the fast path answered it. */
  const evaluate = (token: string): Promise<[number, boolean]> =>
    new Promise((resolve, reject) => {
      const before = evaluationFastPathStats.taken;
      const q = request({ host: '127.0.0.1', port, method: 'POST', path: '/access/v1/evaluation', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) } }, (res) => {
        res.resume();
        res.on('end', () => resolve([res.statusCode ?? 0, evaluationFastPathStats.taken - before === 1]));
      });
      q.on('error', reject);
      q.end(BODY);
    });
  const lastUsed = async (id: string) => (await gh.apiTokens.list(cliContext())).find((t) => t.id === id)?.lastUsedAt ?? null;

  it('records last use on the first request of each minute (that one goes through Fastify), then answers on the fast path', async () => {
    clock.set('2026-01-01T00:00:58.000Z');
    const t = await gh.apiTokens.create(cliContext(), { name: 'lu', scopes: ['authz'] });
    expect(await lastUsed(t.apiToken.id)).toBeNull();
    expect(await evaluate(t.token)).toEqual([200, false]);
    expect(await lastUsed(t.apiToken.id)).toBe('2026-01-01T00:00:58.000Z');
    expect(await evaluate(t.token)).toEqual([200, true]);
    clock.advanceSeconds(1);
    expect(await evaluate(t.token)).toEqual([200, true]);
    expect(await lastUsed(t.apiToken.id)).toBe('2026-01-01T00:00:58.000Z');
    // Next minute, within the cache TTL (5 s): the fast path declines once, the use is recorded.
    clock.advanceSeconds(2);
    expect(await evaluate(t.token)).toEqual([200, false]);
    expect(await lastUsed(t.apiToken.id)).toBe('2026-01-01T00:01:01.000Z');
    expect(await evaluate(t.token)).toEqual([200, true]);
  });

  it('an expired token is refused (401) at its expiry instant, never on the fast path', async () => {
    clock.set('2026-01-02T10:00:00.000Z');
    const t = await gh.apiTokens.create(cliContext(), { name: 'exp', scopes: ['authz'], expiresInDays: 1 });
    expect(await evaluate(t.token)).toEqual([200, false]);
    expect(await evaluate(t.token)).toEqual([200, true]);
    clock.set('2026-01-03T09:59:59.000Z');
    expect((await evaluate(t.token))[0]).toBe(200);
    clock.set('2026-01-03T10:00:00.000Z');
    expect(await evaluate(t.token)).toEqual([401, false]);
    expect(await evaluate(t.token)).toEqual([401, false]);
  });

  it('revocation and a scope-less token: refused at once, never on the fast path', async () => {
    clock.set('2026-01-05T00:00:00.000Z');
    const t = await gh.apiTokens.create(cliContext(), { name: 'rv', scopes: ['authz'] });
    const s = await gh.apiTokens.create(cliContext(), { name: 'sc', scopes: ['scim'] });
    expect(await evaluate(t.token)).toEqual([200, false]);
    expect(await evaluate(t.token)).toEqual([200, true]);
    expect(await evaluate(s.token)).toEqual([403, false]);
    expect(await evaluate(s.token)).toEqual([403, false]);
    await gh.apiTokens.revoke(cliContext(), t.apiToken.id);
    expect(await evaluate(t.token)).toEqual([401, false]);
    clock.advanceSeconds(10);
    expect(await evaluate(t.token)).toEqual([401, false]);
  });
});
