/**
 * Deprovisioning ends the user's Gatehouse sign-in sessions (`authn_sessions`), inside the same
 * transaction as the status change, on SQLite and PostgreSQL, through the real wiring
 * (createGatehouse) and real HTTP: the `gh_session` cookie of an /account sign-in and the session
 * behind an OIDC sign-in both die, and stay dead after the user is reactivated.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import type { IdentityServices } from '../../src/identity/index.js';
import { cliContext } from '../../src/kernel/context.js';
import { DEPROVISION_SESSION_END_REASON } from '../../src/lifecycle/deprovision.js';
import { describeEachBackend } from '../support/backends.js';
import { Browser, relyingParty, seedClient, signIn, startGatehouse } from '../oidc/support.js';

const PASSWORD = 'a long enough passphrase for tests';
const ctx = { ...cliContext(), source: 'admin' as const };

describeEachBackend('deprovisioning ends Gatehouse sessions', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;
  let rp: client.Configuration;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base } = await startGatehouse(db.url));
    const c = await seedClient(gh);
    rp = await relyingParty(base, c.clientId, c.clientSecret);
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  /** A user signed in twice: once at /account (a browser with the cookie) and once through OIDC (a refresh token). */
  async function signedInTwice(userName: string) {
    const user = await gh.users.create(ctx, { userName, emails: [{ value: `${userName}@example.com` }], password: PASSWORD });
    const account = new Browser();
    const res = await account.post(`${base}/account/signin`, { username: userName, password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account');
    expect((await account.request(`${base}/account`)).status).toBe(200);
    const oidc = await signIn(rp, { username: userName, password: PASSWORD });
    expect(oidc.tokens.refresh_token).toBeTruthy();
    expect(await gh.authn.sessions.list('default', { userId: user.id })).toHaveLength(2);
    return { id: user.id, account, oidc };
  }

  async function liveRows(userId: string) {
    return gh.storage.db.selectFrom('authn_sessions').select(['id', 'ended_at']).where('user_id', '=', userId).where('ended_at', 'is', null).execute();
  }

  async function auditOf(userId: string, action: string) {
    const rows = await gh.storage.db.selectFrom('audit_events').select(['details']).where('target_id', '=', userId).where('action', '=', action).execute();
    return rows.map((r) => JSON.parse(r.details ?? '{}') as Record<string, unknown>);
  }

  it('suspending ends every session; the cookie and the refresh token stay dead after reactivation', async () => {
    const { id, account, oidc } = await signedInTwice('suspended-sue');
    await gh.users.setActive(ctx, id, false);
    expect(await liveRows(id)).toEqual([]);
    const ended = await gh.storage.db.selectFrom('authn_sessions').select('ended_at').where('user_id', '=', id).execute();
    expect(ended).toHaveLength(2);
    for (const r of ended) expect(r.ended_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const ends = await auditOf(id, 'session.end');
    expect(ends).toHaveLength(2);
    for (const e of ends) expect(e.reason).toBe(DEPROVISION_SESSION_END_REASON);
    expect(await auditOf(id, 'identity.deprovision')).toEqual([expect.objectContaining({ mode: 'suspend', sessionsEnded: 2 })]);

    await gh.users.setActive(ctx, id, true);
    const page = await account.request(`${base}/account`);
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/account/signin');
    await expect(client.refreshTokenGrant(rp, oidc.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await gh.authn.sessions.list('default', { userId: id })).toEqual([]);
    // A fresh sign-in works again after reactivation.
    const again = new Browser();
    expect((await again.post(`${base}/account/signin`, { username: 'suspended-sue', password: PASSWORD })).status).toBe(303);
    expect(await liveRows(id)).toHaveLength(1);
  });

  it('deleting ends every session of that user and no one else’s', async () => {
    const bystander = await signedInTwice('bystander-bo');
    const { id, account } = await signedInTwice('deleted-dee');
    await gh.users.delete(ctx, id);
    expect(await liveRows(id)).toEqual([]);
    expect(await auditOf(id, 'identity.deprovision')).toEqual([expect.objectContaining({ mode: 'delete', sessionsEnded: 2 })]);
    expect((await account.request(`${base}/account`)).status).toBe(303);
    expect(await liveRows(bystander.id)).toHaveLength(2);
    expect((await bystander.account.request(`${base}/account`)).status).toBe(200);
    expect((await client.refreshTokenGrant(rp, bystander.oidc.tokens.refresh_token!)).access_token).toBeTruthy();
  });

  it('runs in the caller’s transaction: a rolled-back deprovisioning leaves the sessions live', async () => {
    const { id, account } = await signedInTwice('rollback-rae');
    const { deprovisioner } = gh as Gatehouse & Pick<IdentityServices, 'deprovisioner'>;
    const boom = new Error('abort after deprovisioning');
    await expect(
      gh.storage.db.transaction().execute(async (trx) => {
        const r = await deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id }, 'suspend');
        expect(r.sessionsEnded).toBe(2);
        expect(await trx.selectFrom('authn_sessions').select('id').where('user_id', '=', id).where('ended_at', 'is', null).execute()).toEqual([]);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await liveRows(id)).toHaveLength(2);
    expect(await auditOf(id, 'session.end')).toEqual([]);
    expect((await account.request(`${base}/account`)).status).toBe(200);
  });

  it('a service account has no sign-in sessions: deprovisioning reports none ended', async () => {
    const owner = await gh.users.create(ctx, { userName: 'owner-ola', password: PASSWORD });
    const sa = await gh.serviceAccounts.create(ctx, { name: 'batch-job', ownerUserId: owner.id });
    await gh.serviceAccounts.setActive(ctx, sa.id, false);
    expect(await auditOf(sa.id, 'identity.deprovision')).toEqual([expect.objectContaining({ mode: 'suspend', sessionsEnded: 0 })]);
  });
});
