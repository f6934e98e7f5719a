/**
 * Deprovisioning a user revokes the API tokens bound to it (`gatehouse token create --user`), in
 * the same transaction, on every path (SCIM PATCH / PUT / DELETE, admin API deactivate / delete),
 * on SQLite and PostgreSQL, over real HTTP routing: the next request with the token is 401, the
 * token is listed revoked, and reactivating the user does not revive it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiTokenService, DEPROVISION_TOKEN_REVOKE_REASON } from '../../src/identity/api-tokens.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { PATCH_OP, USER_SCHEMA, startScim, type ScimHarness } from '../scim/support.js';

const ctx = cliContext();

describeEachBackend('deprovisioning revokes the API tokens bound to the user', (backend) => {
  let h: ScimHarness;
  beforeAll(async () => {
    h = await startScim(backend);
  });
  afterAll(async () => h?.close());

  async function inject(method: string, url: string, token: string, body?: unknown) {
    const res = await h.gh.http.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': url.startsWith('/scim') ? 'application/scim+json' : 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return res.statusCode;
  }

  /** A user with two bound tokens (one with the admin scope), both working, plus an unbound bystander token. */
  async function userWithTokens(userName: string) {
    const res = await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName } });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const me = await h.gh.apiTokens.create(ctx, { name: `${userName}-me`, scopes: ['scim'], userId: id });
    const adm = await h.gh.apiTokens.create(ctx, { name: `${userName}-admin`, scopes: ['scim', 'admin'], userId: id });
    expect(await inject('GET', '/scim/v2/Me', me.token)).toBe(200);
    expect(await inject('GET', '/api/v1/users', adm.token)).toBe(200);
    return { id, me, adm };
  }

  async function expectRevoked(u: Awaited<ReturnType<typeof userWithTokens>>) {
    expect(await inject('GET', '/scim/v2/Me', u.me.token)).toBe(401);
    expect(await inject('GET', '/api/v1/users', u.adm.token)).toBe(401);
    const listed = (await h.gh.apiTokens.list(ctx)).filter((t) => t.userId === u.id);
    expect(listed.map((t) => t.id).sort()).toEqual([u.me.apiToken.id, u.adm.apiToken.id].sort());
    for (const t of listed) expect(t.revokedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const audit = await h.gh.storage.db.selectFrom('audit_events').select(['target_id', 'details']).where('action', '=', 'api_token.revoke').execute();
    const mine = audit.filter((a) => JSON.parse(a.details ?? '{}').userId === u.id);
    expect(mine.map((a) => a.target_id).sort()).toEqual([u.me.apiToken.id, u.adm.apiToken.id].sort());
    for (const a of mine) expect(JSON.parse(a.details ?? '{}').reason).toBe(DEPROVISION_TOKEN_REVOKE_REASON);
    const dep = await h.gh.storage.db.selectFrom('audit_events').select('details').where('action', '=', 'identity.deprovision').where('target_id', '=', u.id).execute();
    expect(dep.map((d) => JSON.parse(d.details ?? '{}').apiTokensRevoked)).toEqual([2]);
    // The scim/admin bystander tokens are untouched.
    expect(await inject('GET', '/scim/v2/Users?count=1', h.token)).toBe(200);
  }

  async function reactivateAndExpectStillRevoked(u: Awaited<ReturnType<typeof userWithTokens>>) {
    const res = await h.call('PATCH', `/Users/${u.id}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] } });
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(true);
    expect(await inject('GET', '/scim/v2/Me', u.me.token)).toBe(401);
    expect(await inject('GET', '/api/v1/users', u.adm.token)).toBe(401);
    expect((await h.gh.apiTokens.list(ctx)).filter((t) => t.userId === u.id && t.revokedAt === null)).toEqual([]);
  }

  it('SCIM PATCH active false', async () => {
    const u = await userWithTokens('patch-pat');
    const res = await h.call('PATCH', `/Users/${u.id}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] } });
    expect(res.status).toBe(200);
    await expectRevoked(u);
    await reactivateAndExpectStillRevoked(u);
  });

  it('SCIM PUT active false', async () => {
    const u = await userWithTokens('put-pete');
    const res = await h.call('PUT', `/Users/${u.id}`, { body: { schemas: [USER_SCHEMA], userName: 'put-pete', active: false } });
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    await expectRevoked(u);
    await reactivateAndExpectStillRevoked(u);
  });

  it('SCIM DELETE', async () => {
    const u = await userWithTokens('delete-dora');
    expect((await h.call('DELETE', `/Users/${u.id}`)).status).toBe(204);
    await expectRevoked(u);
  });

  it('admin API deactivate, then activate', async () => {
    const u = await userWithTokens('admin-ada');
    expect(await inject('POST', `/api/v1/users/${u.id}/deactivate`, h.adminToken)).toBe(200);
    await expectRevoked(u);
    expect(await inject('POST', `/api/v1/users/${u.id}/activate`, h.adminToken)).toBe(200);
    expect(await inject('GET', '/scim/v2/Me', u.me.token)).toBe(401);
  });

  it('admin API delete', async () => {
    const u = await userWithTokens('admin-del');
    expect(await inject('DELETE', `/api/v1/users/${u.id}`, h.adminToken)).toBe(204);
    await expectRevoked(u);
  });

  it('a deactivated token cannot reactivate its own user through /Me', async () => {
    const u = await userWithTokens('self-sal');
    await h.gh.users.setActive(ctx, u.id, false);
    expect(await inject('PATCH', '/scim/v2/Me', u.me.token, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] })).toBe(401);
    expect((await h.gh.users.get(ctx, u.id)).active).toBe(false);
  });

  it('defence in depth: a bound token is refused while its user is not active, even if not revoked', async () => {
    const u = await userWithTokens('raw-ray');
    // As if another writer changed the status without deprovisioning (no revocation).
    await h.gh.storage.db.updateTable('users').set({ status: 'suspended' }).where('id', '=', u.id).execute();
    const fresh = new ApiTokenService(h.gh.storage, h.gh.audit, h.gh.clock, { cacheTtlSeconds: 0 });
    expect(await fresh.authenticate('default', u.me.token)).toBeNull();
    await h.gh.storage.db.updateTable('users').set({ status: 'active' }).where('id', '=', u.id).execute();
    expect((await fresh.authenticate('default', u.me.token))?.id).toBe(u.me.apiToken.id);
  });

  it('deprovisioning is one transaction: rolled back, the tokens stay live', async () => {
    const u = await userWithTokens('rollback-rob');
    const { deprovisioner } = h.gh as unknown as { deprovisioner: { deprovisionIdentity: (...a: unknown[]) => Promise<{ apiTokensRevoked: number }> } };
    const boom = new Error('abort');
    await expect(
      h.gh.storage.db.transaction().execute(async (trx) => {
        expect((await deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id: u.id }, 'suspend')).apiTokensRevoked).toBe(2);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await h.gh.apiTokens.list(ctx)).filter((t) => t.userId === u.id).map((t) => t.revokedAt)).toEqual([null, null]);
    expect(await inject('GET', '/scim/v2/Me', u.me.token)).toBe(200);
  });
});
