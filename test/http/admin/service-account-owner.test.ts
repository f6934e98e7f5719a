/**
 * A service account whose owner is not an active user cannot be activated (409 owner_not_active)
 * until an active owner is assigned (`POST /service-accounts/{id}/owner`), so the decision point
 * and the OpenID Provider (which refuses such an account) agree. Both backends, real routing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliContext } from '../../../src/kernel/context.js';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, startAdmin, type AdminHarness } from './support.js';

describeEachBackend('admin API: service account owner must be active', (backend) => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin(backend);
  });
  afterAll(async () => h?.close());

  const user = async (name: string) => (await h.call('POST', '/users', { body: { user_name: name } })).body.id as string;
  const ownerTuples = async (sa: string) =>
    (await h.gh.storage.db.selectFrom('authz_tuples').select(['subject_id']).where('object_type', '=', 'service_account').where('object_id', '=', sa).where('relation', '=', 'owner').execute()).map((r) => r.subject_id);

  it('refuses activation while the owner is inactive, and allows it after an active owner is assigned', async () => {
    const leaver = await user('leaver');
    const heir = await user('heir');
    const sa = (await h.call('POST', '/service-accounts', { body: { name: 'nightly', owner_user_id: leaver } })).body.id as string;
    const role = (await h.call('POST', '/roles', { body: { name: 'Report reader', permissions: ['reports:read'] } })).body.id as string;
    expect((await h.call('POST', `/roles/${role}/assignments`, { body: { principal: { type: 'service_account', id: sa } } })).status).toBe(201);
    const authz = (await h.gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    const decision = async () => {
      const res = await h.gh.http.inject({
        method: 'POST',
        url: '/access/v1/evaluation',
        headers: { authorization: `Bearer ${authz}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ subject: { type: 'service_account', id: sa }, action: { name: 'read' }, resource: { type: 'reports', id: '1' } }),
      });
      expect(res.statusCode).toBe(200);
      return JSON.parse(res.body).decision as boolean;
    };
    expect(await decision()).toBe(true);
    expect((await h.call('POST', `/users/${leaver}/deactivate`)).status).toBe(200);
    expect((await h.call('GET', `/service-accounts/${sa}`)).body.status).toBe('suspended');

    const refused = await h.call('POST', `/service-accounts/${sa}/activate`);
    expectProblem(refused, 409, 'owner_not_active');
    expect(refused.body.details).toEqual({ ownerUserId: leaver, ownerStatus: 'suspended' });
    expect((await h.call('GET', `/service-accounts/${sa}`)).body).toMatchObject({ status: 'suspended', active: false, owner_user_id: leaver });
    expect((await h.call('GET', `/audit?target_id=${sa}`)).body.items.map((e: { action: string }) => e.action)).not.toContain('service_account.activate');
    expect(await decision()).toBe(false);

    // An inactive or unknown user cannot become the owner either.
    expectProblem(await h.call('POST', `/service-accounts/${sa}/owner`, { body: { owner_user_id: leaver } }), 409, 'owner_not_active');
    expectProblem(await h.call('POST', `/service-accounts/${sa}/owner`, { body: { owner_user_id: '0190a8a0-0000-7000-8000-000000000000' } }), 404, 'not_found');
    expectProblem(await h.call('POST', `/service-accounts/${sa}/owner`, { body: {} }), 400, 'invalid_input');

    const moved = await h.call('POST', `/service-accounts/${sa}/owner`, { body: { owner_user_id: heir } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ owner_user_id: heir, status: 'suspended' });
    expect(await ownerTuples(sa)).toEqual([heir]);
    const on = await h.call('POST', `/service-accounts/${sa}/activate`);
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ status: 'active', active: true, owner_user_id: heir });
    expect(await decision()).toBe(true);
    const actions = (await h.call('GET', `/audit?target_id=${sa}`)).body.items.map((e: { action: string }) => e.action);
    expect(actions).toContain('service_account.owner_change');
    expect(actions).toContain('service_account.activate');
  });

  it('refuses activation when the owner was deleted', async () => {
    const gone = await user('gone');
    const sa = (await h.call('POST', '/service-accounts', { body: { name: 'orphaned', owner_user_id: gone } })).body.id as string;
    expect((await h.call('DELETE', `/users/${gone}`)).status).toBe(204);
    const refused = await h.call('POST', `/service-accounts/${sa}/activate`);
    expectProblem(refused, 409, 'owner_not_active');
    expect(refused.body.details).toEqual({ ownerUserId: gone, ownerStatus: 'deprovisioned' });
  });

  it('an account suspended by hand, with an active owner, still activates', async () => {
    const boss = await user('boss');
    const sa = (await h.call('POST', '/service-accounts', { body: { name: 'manual', owner_user_id: boss } })).body.id as string;
    expect((await h.call('POST', `/service-accounts/${sa}/deactivate`)).body.status).toBe('suspended');
    expect((await h.call('POST', `/service-accounts/${sa}/activate`)).body.status).toBe('active');
  });
});
