/**
 * The identity loop end to end, over real HTTP with real clients, on every backend:
 * SCIM creates the user (as Entra ID does), the admin API sets a password and enrolls TOTP,
 * the user signs in through the real login forms with openid-client as the relying party,
 * AuthZEN decides, then SCIM deactivates the user and everything issued to it stops working.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { describeEachBackend } from '../support/backends.js';
import { REDIRECT_URI, Browser, openLoginPage, formAction, relyingParty, signIn, startAuthorization, startGatehouse } from '../oidc/support.js';
import type { Gatehouse } from '../../src/gatehouse.js';
import { cliContext } from '../../src/kernel/context.js';

describeEachBackend('identity loop: provision, sign in, decide, deprovision', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;
  let token: string;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base } = await startGatehouse(db.url));
    token = (await gh.apiTokens.create(cliContext(), { name: 'e2e', scopes: ['scim', 'admin', 'authz'] })).token;
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null };
  };
  const decide = async (userId: string, action: string) => {
    const r = await call('POST', '/access/v1/evaluation', {
      subject: { type: 'user', id: userId },
      action: { name: action },
      resource: { type: 'documents', id: 'doc-1' },
    });
    expect(r.status).toBe(200);
    return r.body!.decision as boolean;
  };

  it('runs the whole loop', async () => {
    // 1. SCIM creates the user, the way Entra ID provisioning does.
    const created = await call(
      'POST',
      '/scim/v2/Users',
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
        userName: 'alice@example.com',
        externalId: 'entra-0001',
        active: true,
        displayName: 'Alice Example',
        name: { givenName: 'Alice', familyName: 'Example' },
        emails: [{ primary: true, type: 'work', value: 'alice@example.com' }],
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { employeeNumber: '1001', department: 'Finance' },
      },
      'application/scim+json',
    );
    expect(created.status).toBe(201);
    const userId = created.body!.id as string;
    expect(userId).toMatch(/^[0-9a-f-]{36}$/);

    // 2. The admin API sets a password and enrolls TOTP.
    expect((await call('POST', `/api/v1/users/${userId}/password`, { password: 'correct horse battery staple' })).status).toBe(204);
    const totp = await call('POST', `/api/v1/users/${userId}/totp`);
    expect(totp.status).toBe(200);
    expect(totp.body!.otpauth_uri).toMatch(/^otpauth:\/\/totp\/.*secret=/);
    const secret = totp.body!.secret as string;

    // 3. A role with documents:read, assigned to a group the user is in (SCIM PATCH, Entra shape).
    const group = await call('POST', '/scim/v2/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Finance' }, 'application/scim+json');
    expect(group.status).toBe(201);
    const patchMembers = await call(
      'PATCH',
      `/scim/v2/Groups/${group.body!.id}`,
      { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Add', path: 'members', value: [{ value: userId }] }] },
      'application/scim+json',
    );
    expect([200, 204]).toContain(patchMembers.status);
    const role = await call('POST', '/api/v1/roles', { name: 'document-reader', permissions: ['documents:read'] });
    expect(role.status).toBe(201);
    const assignment = await call('POST', `/api/v1/roles/${role.body!.id}/assignments`, { principal: { type: 'group', id: group.body!.id } });
    expect(assignment.status).toBe(201);

    // 4. An OIDC client, and the user signs in with password + TOTP through the real forms.
    const app = await call('POST', '/api/v1/applications', { name: 'e2e app', redirect_uris: [REDIRECT_URI] });
    expect(app.status).toBe(201);
    const rp = await relyingParty(base, app.body!.client_id, app.body!.client_secret);
    const { tokens, claims } = await signIn(rp, { username: 'alice@example.com', password: 'correct horse battery staple', otp: () => generate({ secret }) });
    expect(claims.sub).toBe(userId);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    const introspected = await client.tokenIntrospection(rp, tokens.access_token);
    expect(introspected.active).toBe(true);
    expect(introspected.sub).toBe(userId);

    // 5. AuthZEN allows the permitted action and denies another.
    expect(await decide(userId, 'read')).toBe(true);
    expect(await decide(userId, 'delete')).toBe(false);

    // 6. SCIM deactivates the user, as Entra ID does: capitalised op, "False" as a string.
    const deactivate = await call(
      'PATCH',
      `/scim/v2/Users/${userId}`,
      { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
      'application/scim+json',
    );
    expect([200, 204]).toContain(deactivate.status);
    const after = await call('GET', `/scim/v2/Users/${userId}`);
    expect(after.body!.active).toBe(false);

    // The refresh grant fails with invalid_grant.
    let refreshError: unknown;
    try {
      await client.refreshTokenGrant(rp, tokens.refresh_token!);
    } catch (err) {
      refreshError = err;
    }
    expect(refreshError).toBeInstanceOf(client.ResponseBodyError);
    expect((refreshError as client.ResponseBodyError).error).toBe('invalid_grant');

    // Introspection of the access token says inactive.
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);

    // AuthZEN denies.
    expect(await decide(userId, 'read')).toBe(false);

    // A fresh sign-in fails, with the same answer as for an unknown account.
    const browser = new Browser();
    const start = await startAuthorization(rp);
    const login = await openLoginPage(browser, start);
    const failed = await browser.post(formAction(login.html, login.url), { username: 'alice@example.com', password: 'correct horse battery staple' });
    const failedHtml = await failed.text();
    const start2 = await startAuthorization(rp);
    const browser2 = new Browser();
    const login2 = await openLoginPage(browser2, start2);
    const unknown = await browser2.post(formAction(login2.html, login2.url), { username: 'nobody@example.com', password: 'correct horse battery staple' });
    const unknownHtml = await unknown.text();
    expect(failed.status).toBe(unknown.status);
    expect(failed.headers.get('location')).toBeNull();
    const strip = (h: string) => h.replace(/\/login\/[A-Za-z0-9_-]+/g, '/login/UID').replace(/value="[^"]*"/g, 'value=""');
    expect(strip(failedHtml)).toBe(strip(unknownHtml));

    // Every step is in the audit log, and the chain verifies.
    const audit = await call('GET', `/api/v1/audit?target_id=${userId}&limit=100`);
    expect(audit.status).toBe(200);
    const actions = audit.body!.items as Array<{ action: string }>;
    expect(actions.map((e) => e.action)).toEqual(expect.arrayContaining(['user.create', 'user.password_set', 'totp.enroll']));
    expect((await gh.audit.verify(gh.storage.db, 'default')).ok).toBe(true);
  });
});
