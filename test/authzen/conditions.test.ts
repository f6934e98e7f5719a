/**
 * AuthZEN properties and context reaching CEL conditions in a named store, on both backends:
 * flattened properties (`resource_<name>`), request context, a missing parameter as HTTP 400
 * `condition_error` (never a silent deny), the same failure as a per-item error in a batch, and
 * Action Search leaving out an action whose condition cannot be decided.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';

const MODEL = `model
  schema 1.1

type user

type invoice
  relations
    define view: [user]
    define approve: [user with under_limit]
    define pay: [user with office_hours]

condition under_limit(resource_amount: int, limit: int) {
  resource_amount <= limit
}

condition office_hours(hour: int) {
  hour >= 9 && hour < 17
}
`;

describeEachBackend('AuthZEN properties and context in CEL conditions', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let token: string;
  let base: string;

  const post = async (path: string, body: unknown) => {
    const res = await gh.http.inject({ method: 'POST', url: `${base}${path}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };
  const ann = { type: 'user', id: 'ann' };
  const inv = (amount?: number) => ({ type: 'invoice', id: 'inv-1', ...(amount !== undefined ? { properties: { amount } } : {}) });

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0 }), logger: createLogger('silent') });
    token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    const ctx = cliContext();
    const store = await gh.authzStores.create(ctx, 'invoices');
    await gh.authzModels.write(ctx, store.id, { dsl: MODEL });
    const { revision } = await gh.authzTuples.write(ctx, store.id, {
      writes: [
        { user: 'user:ann', relation: 'view', object: 'invoice:inv-1' },
        { user: 'user:ann', relation: 'approve', object: 'invoice:inv-1', condition: { name: 'under_limit', context: { limit: 1000 } } },
        { user: 'user:ann', relation: 'pay', object: 'invoice:inv-1', condition: { name: 'office_hours' } },
      ],
    });
    await gh.authz.waitForRevision(revision);
    base = `/stores/${store.id}`;
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('passes resource properties as resource_<name> parameters', async () => {
    expect((await post('/access/v1/evaluation', { subject: ann, action: { name: 'approve' }, resource: inv(900) })).body).toEqual({ decision: true });
    expect((await post('/access/v1/evaluation', { subject: ann, action: { name: 'approve' }, resource: inv(1500) })).body).toEqual({ decision: false });
  });

  it('passes request context members as parameters', async () => {
    expect((await post('/access/v1/evaluation', { subject: ann, action: { name: 'pay' }, resource: inv(), context: { hour: 10 } })).body).toEqual({ decision: true });
    expect((await post('/access/v1/evaluation', { subject: ann, action: { name: 'pay' }, resource: inv(), context: { hour: 20 } })).body).toEqual({ decision: false });
  });

  it('answers 400 condition_error for a missing or wrongly typed parameter, never a silent deny', async () => {
    const missing = await post('/access/v1/evaluation', { subject: ann, action: { name: 'approve' }, resource: inv() });
    expect({ status: missing.status, code: missing.body.error.code }).toEqual({ status: 400, code: 'condition_error' });
    const wrong = await post('/access/v1/evaluation', { subject: ann, action: { name: 'pay' }, resource: inv(), context: { hour: 'ten' } });
    expect({ status: wrong.status, code: wrong.body.error.code }).toEqual({ status: 400, code: 'condition_error' });
  });

  it('reports a condition error in the failing batch item only', async () => {
    const r = await post('/access/v1/evaluations', {
      subject: ann,
      resource: inv(),
      evaluations: [{ action: { name: 'view' } }, { action: { name: 'approve' } }, { action: { name: 'approve' }, resource: inv(10) }],
    });
    expect(r.status).toBe(200);
    expect(r.body.evaluations[0]).toEqual({ decision: true });
    expect(r.body.evaluations[1]).toMatchObject({ decision: false, context: { error: { status: 400, code: 'condition_error' } } });
    expect(r.body.evaluations[2]).toEqual({ decision: true });
  });

  it('lists in Action Search only the actions whose conditions hold with the given properties and context', async () => {
    const none = await post('/access/v1/search/action', { subject: ann, resource: inv() });
    expect(none.body.results).toEqual([{ name: 'view' }]);
    const all = await post('/access/v1/search/action', { subject: ann, resource: inv(5), context: { hour: 12 } });
    expect(all.body.results).toEqual([{ name: 'approve' }, { name: 'pay' }, { name: 'view' }]);
  });

  it('treats an unknown action or resource type as a denial', async () => {
    expect((await post('/access/v1/evaluation', { subject: ann, action: { name: 'shred' }, resource: inv() })).body).toEqual({ decision: false });
    expect((await post('/access/v1/evaluation', { subject: ann, action: { name: 'view' }, resource: { type: 'spaceship', id: 'x' } })).body).toEqual({ decision: false });
    expect((await post('/access/v1/search/resource', { subject: ann, action: { name: 'view' }, resource: { type: 'spaceship' } })).body.results).toEqual([]);
  });
});
