import { afterAll, beforeAll, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/kernel/secrets.js';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, startAdmin, type AdminHarness } from './support.js';

describeEachBackend('admin API: service accounts, applications, audit', (backend) => {
  let h: AdminHarness;
  let owner: string;
  beforeAll(async () => {
    h = await startAdmin(backend);
    owner = (await h.call('POST', '/users', { body: { user_name: 'owner' } })).body.id;
  });
  afterAll(async () => h?.close());

  it('manages a service account: create, read, list, deactivate, activate, delete', async () => {
    const created = await h.call('POST', '/service-accounts', { body: { name: 'ci-bot', description: 'Deploys', owner_user_id: owner } });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(created.body).toMatchObject({ name: 'ci-bot', description: 'Deploys', owner_user_id: owner, active: true, status: 'active' });
    expect((await h.call('GET', `/service-accounts/${id}`)).body.name).toBe('ci-bot');
    expect((await h.call('GET', '/service-accounts')).body.items.map((s: { id: string }) => s.id)).toEqual([id]);
    const off = await h.call('POST', `/service-accounts/${id}/deactivate`);
    expect({ status: off.status, active: off.body.active, s: off.body.status }).toEqual({ status: 200, active: false, s: 'suspended' });
    const on = await h.call('POST', `/service-accounts/${id}/activate`);
    expect({ active: on.body.active, s: on.body.status }).toEqual({ active: true, s: 'active' });
    expectProblem(await h.call('POST', '/service-accounts', { body: { name: 'CI-BOT', owner_user_id: owner } }), 409, 'conflict');
    expectProblem(await h.call('POST', '/service-accounts', { body: { name: 'orphan', owner_user_id: '0190a8a0-0000-7000-8000-000000000000' } }), 404, 'not_found');
    expect((await h.call('DELETE', `/service-accounts/${id}`)).status).toBe(204);
    expectProblem(await h.call('GET', `/service-accounts/${id}`), 404, 'not_found');
  });

  it('registers a confidential client: the secret is shown once and stored hashed', async () => {
    const res = await h.call('POST', '/applications', { body: { name: 'Wiki', redirect_uris: ['https://wiki.example.com/cb'] } });
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ name: 'Wiki', redirect_uris: ['https://wiki.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic', public: false });
    expect(res.body.client_id).toBe(res.body.id);
    expect(typeof res.body.client_secret).toBe('string');
    expect(res.body.client_secret.length).toBeGreaterThanOrEqual(32);
    const row = await h.gh.storage.db.selectFrom('applications').select('client_secret_hash').where('id', '=', res.body.id).executeTakeFirstOrThrow();
    expect(row.client_secret_hash).toBe(sha256Hex(res.body.client_secret));
    const got = await h.call('GET', `/applications/${res.body.id}`);
    expect(got.body).toEqual({ id: res.body.id, client_id: res.body.id, name: 'Wiki', redirect_uris: ['https://wiki.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic', public: false, created_at: res.body.created_at });
    expect(JSON.stringify((await h.call('GET', '/applications')).body)).not.toContain(res.body.client_secret);
  });

  it('registers a public client without a secret, and deletes it', async () => {
    const res = await h.call('POST', '/applications', { body: { name: 'SPA', redirect_uris: ['http://localhost:3000/cb', 'https://spa.example.com/cb'], public: true } });
    expect(res.status).toBe(201);
    expect({ secret: res.body.client_secret, method: res.body.token_endpoint_auth_method, pub: res.body.public }).toEqual({ secret: null, method: 'none', pub: true });
    expect((await h.call('GET', '/applications')).body.total_results).toBe(2);
    expect((await h.call('DELETE', `/applications/${res.body.id}`)).status).toBe(204);
    expectProblem(await h.call('GET', `/applications/${res.body.id}`), 404, 'not_found');
    expectProblem(await h.call('POST', '/applications', { body: { name: 'Bad', redirect_uris: ['ftp://x.example.com/'] } }), 400, 'invalid_input');
  });

  it('lists the audit log with filters and cursor paging', async () => {
    const first = await h.call('GET', '/audit?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2]);
    expect(first.body.next_cursor).toBe('2');
    const second = await h.call('GET', `/audit?limit=2&after=${first.body.next_cursor}`);
    expect(second.body.items.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
    const creates = await h.call('GET', '/audit?action=user.create&limit=100');
    expect(creates.body.items).toHaveLength(1);
    expect(creates.body.next_cursor).toBeNull();
    const e = creates.body.items[0];
    expect(e).toMatchObject({ action: 'user.create', outcome: 'success', target: { type: 'user', id: owner } });
    expect(e.actor.type).toBe('api_token');
    expect(typeof e.request_id).toBe('string');
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    const byActor = await h.call('GET', `/audit?actor_id=${e.actor.id}&target_id=${owner}&outcome=success`);
    expect(byActor.body.items.map((x: { action: string }) => x.action)).toContain('user.create');
    const none = await h.call('GET', '/audit?since=2999-01-01T00:00:00Z');
    expect(none.body).toEqual({ items: [], next_cursor: null });
    const until = await h.call('GET', '/audit?until=2000-01-01T00:00:00Z');
    expect(until.body.items).toEqual([]);
    expectProblem(await h.call('GET', '/audit?limit=0'), 400, 'invalid_input');
    expectProblem(await h.call('GET', '/audit?after=abc'), 400, 'invalid_input');
    expectProblem(await h.call('GET', '/audit?outcome=maybe'), 400, 'invalid_input');
    expectProblem(await h.call('GET', '/audit?since=yesterday'), 400, 'invalid_input');
  });
});
