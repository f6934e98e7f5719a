/**
 * The OpenID Provider end to end over real HTTP, with openid-client as the relying party and
 * the real login forms posted by a cookie-keeping client, on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import { generate } from 'otplib';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemContext } from '../../src/kernel/context.js';
import { deleteOidcArtifacts } from '../../src/lifecycle/deprovision.js';
import { describeEachBackend } from '../support/backends.js';
import {
  Browser,
  REDIRECT_URI,
  formAction,
  openLoginPage,
  relyingParty,
  seedClient,
  seedUser,
  signIn,
  startAuthorization,
  startGatehouse,
} from './support.js';

const PASSWORD = 'correct horse battery staple';

describeEachBackend('OpenID Provider', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let port: number;
  let url: string;
  let drop: () => Promise<void>;
  let rp: client.Configuration;
  let clientSecret: string;
  let aliceId: string;

  beforeAll(async () => {
    ({ url, drop } = await backend.create());
    ({ gh, base, port } = await startGatehouse(url));
    const c = await seedClient(gh);
    clientSecret = c.clientSecret!;
    rp = await relyingParty(base, c.clientId, clientSecret);
    aliceId = await seedUser(gh, { userName: 'Alice', password: PASSWORD, email: 'alice@example.com', givenName: 'Alice', familyName: 'Liddell' });
  });

  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('publishes discovery and a JWKS with RS256 and ES256 public keys', async () => {
    const res = await fetch(`${base}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const d = (await res.json()) as Record<string, unknown>;
    expect(d.issuer).toBe(base);
    expect(d.authorization_endpoint).toBe(`${base}/oauth2/authorize`);
    expect(d.token_endpoint).toBe(`${base}/oauth2/token`);
    expect(d.userinfo_endpoint).toBe(`${base}/oauth2/userinfo`);
    expect(d.jwks_uri).toBe(`${base}/oauth2/jwks`);
    expect(d.introspection_endpoint).toBe(`${base}/oauth2/introspect`);
    expect(d.revocation_endpoint).toBe(`${base}/oauth2/revoke`);
    expect(d.end_session_endpoint).toBe(`${base}/oauth2/logout`);
    expect(d.code_challenge_methods_supported).toEqual(['S256']);
    expect(d.response_types_supported).toEqual(['code']);
    expect(d.scopes_supported).toEqual(['openid', 'profile', 'email', 'offline_access', 'groups', 'roles']);
    expect(d.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
    expect(JSON.stringify(d)).not.toContain('HS256');
    expect(rp.serverMetadata().issuer).toBe(base);

    const jwks = (await (await fetch(`${base}/oauth2/jwks`)).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys.map((k) => k.alg)).toEqual(['RS256', 'ES256']);
    for (const k of jwks.keys) {
      expect(k.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(k.d).toBeUndefined();
      expect(k.p).toBeUndefined();
    }
  });

  it('signs in a password-only user: code + PKCE, ID token sub = user id, userinfo, refresh, introspection, revocation', async () => {
    const { tokens, claims } = await signIn(rp, { username: 'alice', password: PASSWORD });
    expect(claims.sub).toBe(aliceId);
    expect(claims.iss).toBe(base);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe('urn:gatehouse:aal1');
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'openid', 'profile']);

    const info = await client.fetchUserInfo(rp, tokens.access_token, aliceId);
    expect(info).toMatchObject({
      sub: aliceId,
      preferred_username: 'Alice',
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      email: 'alice@example.com',
      email_verified: false,
    });

    const intro = await client.tokenIntrospection(rp, tokens.access_token);
    expect(intro.active).toBe(true);
    expect(intro.sub).toBe(aliceId);
    expect(intro.client_id).toBe(rp.clientMetadata().client_id);

    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token); // rotated
    expect(refreshed.claims()?.sub).toBe(aliceId);

    // A rotated refresh token used again is refused, and that revokes the whole grant (RFC 9700 §4.14.2).
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(rp, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, refreshed.access_token)).active).toBe(false);

    // Revocation (RFC 7009) of a fresh access token.
    const again = await signIn(rp, { username: 'alice@EXAMPLE.com', password: PASSWORD });
    expect(again.claims.sub).toBe(aliceId);
    expect((await client.tokenIntrospection(rp, again.tokens.access_token)).active).toBe(true);
    await client.tokenRevocation(rp, again.tokens.access_token);
    expect((await client.tokenIntrospection(rp, again.tokens.access_token)).active).toBe(false);
    await expect(client.fetchUserInfo(rp, again.tokens.access_token, aliceId)).rejects.toMatchObject({ status: 401 });
  });

  it('audits sign-in success and failure without secrets', async () => {
    const rows = await gh.storage.db.selectFrom('audit_events').select(['action', 'outcome', 'target_id', 'details']).where('action', 'like', 'signin.%').execute();
    const success = rows.filter((r) => r.action === 'signin.success' && r.target_id === aliceId);
    expect(success.length).toBeGreaterThanOrEqual(2);
    expect(JSON.parse(success[0]!.details!)).toMatchObject({ amr: ['pwd'], acr: 'urn:gatehouse:aal1' });
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
  });

  it('gives the identical answer for a wrong password and an unknown user, and audits the reason', async () => {
    const attempt = async (username: string, password: string) => {
      const browser = new Browser();
      const start = await startAuthorization(rp);
      const login = await openLoginPage(browser, start);
      expect(login.status).toBe(200);
      expect(login.html).toContain('name="username"');
      expect(login.html).toContain('name="password"');
      expect(login.html).toContain('Test &lt;App&gt;'); // client name, HTML-escaped
      const action = formAction(login.html, login.url);
      const res = await browser.post(action, { username, password });
      const body = await res.text();
      // The uid differs per interaction; everything else must be identical.
      return { status: res.status, type: res.headers.get('content-type'), body: body.replaceAll(action.pathname, '/login/UID') };
    };
    const wrongPassword = await attempt('alice', 'not the password at all');
    const unknownUser = await attempt('nobody-here', 'not the password at all');
    expect(wrongPassword.status).toBe(200);
    expect(wrongPassword.body).toContain('Incorrect username or password.');
    expect(unknownUser).toEqual(wrongPassword);
    expect(wrongPassword.body).not.toContain('alice');

    const failures = await gh.storage.db
      .selectFrom('audit_events')
      .select(['outcome', 'target_id', 'details', 'actor_type'])
      .where('action', '=', 'signin.failure')
      .orderBy('seq')
      .execute();
    const reasons = failures.map((f) => [f.outcome, f.target_id, JSON.parse(f.details!).reason, f.actor_type]);
    expect(reasons).toContainEqual(['failure', aliceId, 'invalid_password', 'anonymous']);
    expect(reasons).toContainEqual(['failure', null, 'unknown_user', 'anonymous']);
    expect(JSON.stringify(failures)).not.toContain('not the password at all');
  });

  it('signs in a TOTP user with password then code, and refuses the same code again', async () => {
    const bobId = await seedUser(gh, { userName: 'bob', password: PASSWORD });
    const { secret, otpauthUri } = await gh.totp.enroll(systemContext(), bobId);
    expect(otpauthUri).toContain('otpauth://totp/Gatehouse:bob?');
    const code = await generate({ secret });
    const { claims } = await signIn(rp, { username: 'bob', password: PASSWORD, otp: async () => code });
    expect(claims.sub).toBe(bobId);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('urn:gatehouse:aal2');

    // Same code, fresh browser: the password passes, the code is refused.
    const browser = new Browser();
    const start = await startAuthorization(rp);
    const login = await openLoginPage(browser, start);
    const step1 = await browser.post(formAction(login.html, login.url), { username: 'bob', password: PASSWORD });
    const otpHtml = await step1.text();
    expect(step1.status).toBe(200);
    expect(otpHtml).toContain('name="otp"');
    const step2 = await browser.post(formAction(otpHtml, login.url), { otp: code });
    expect(step2.status).toBe(200);
    const refused = await step2.text();
    expect(refused).toContain('That code is not valid');
    expect(step2.headers.get('location')).toBeNull();
    const failure = await gh.storage.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'signin.failure')
      .where('target_id', '=', bobId)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(failure.details!).reason).toBe('otp_replayed');
  });

  it('signs out through end_session (RP-initiated logout) with the confirmation form, ending the session', async () => {
    const eveId = await seedUser(gh, { userName: 'eve', password: PASSWORD });
    const { browser } = await signIn(rp, { username: 'eve', password: PASSWORD });
    const sessionsBefore = await gh.storage.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Session').where('account_id', '=', eveId).execute();
    expect(sessionsBefore).toHaveLength(1);
    const confirm = await browser.request(`${base}/oauth2/logout`);
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    expect(html).toContain('Do you want to sign out');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /id="op.logoutForm"[^>]*action="([^"]+)"|action="([^"]+)"[^>]*id="op.logoutForm"/.exec(html);
    expect(xsrf).toBeTruthy();
    const res = await browser.post(new URL(action![1] ?? action![2]!, base), { xsrf: xsrf!, logout: 'yes' });
    const { page } = await browser.follow(res, `${base}/oauth2/logout`, REDIRECT_URI);
    expect(page?.res.status).toBe(200);
    expect(await page!.res.text()).toContain('You are signed out');
    const sessionsAfter = await gh.storage.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Session').where('account_id', '=', eveId).execute();
    expect(sessionsAfter).toEqual([]);
  });

  it('requires PKCE from every client', async () => {
    const url = client.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT_URI, scope: 'openid', state: 'xyz' });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.href.startsWith(REDIRECT_URI)).toBe(true);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('answers OAuth errors as OAuth JSON, never a Fastify 500', async () => {
    const wrongSecret = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${rp.clientMetadata().client_id}:wrong`).toString('base64')}`,
      },
      body: 'grant_type=refresh_token&refresh_token=abc',
    });
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });

    const badBody = await fetch(`${base}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(badBody.status).toBe(400);
    expect(await badBody.json()).toMatchObject({ error: 'invalid_request' });

    const noCookie = await fetch(`${base}/login/does-not-exist`);
    expect(noCookie.status).toBe(400);
    expect(noCookie.headers.get('content-type')).toContain('text/html');
    expect(await noCookie.text()).toContain('Sign-in expired');

    const unknownClient = await fetch(`${base}/oauth2/authorize?client_id=nope&response_type=code&scope=openid`);
    expect(unknownClient.status).toBe(400);
    expect(await unknownClient.text()).toContain('invalid_client');
  });

  it('refuses a login POST whose interaction cookie is missing (CSRF) or comes from another site', async () => {
    const browser = new Browser();
    const start = await startAuthorization(rp);
    const login = await openLoginPage(browser, start);
    const action = formAction(login.html, login.url);
    const forged = await fetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'alice', password: PASSWORD }).toString(),
      redirect: 'manual',
    });
    expect(forged.status).toBe(400);
    const crossSite = await browser.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ username: 'alice', password: PASSWORD }).toString(),
    });
    expect(crossSite.status).toBe(403);
  });

  it('after suspension and deletion of its oidc_payloads rows, the refresh grant fails and introspection is inactive', async () => {
    const carolId = await seedUser(gh, { userName: 'carol', password: PASSWORD });
    const { tokens } = await signIn(rp, { username: 'carol', password: PASSWORD });
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    const rowsBefore = await gh.storage.db.selectFrom('oidc_payloads').select('model').where('account_id', '=', carolId).execute();
    expect(new Set(rowsBefore.map((r) => r.model))).toEqual(new Set(['Session', 'Grant', 'AuthorizationCode', 'AccessToken', 'RefreshToken']));

    const deleted = await gh.storage.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ status: 'suspended' }).where('id', '=', carolId).execute();
      // Exactly what deprovisioning does inside its transaction.
      return deleteOidcArtifacts(trx, 'default', carolId);
    });
    expect(deleted).toBeGreaterThanOrEqual(5);
    expect(await gh.storage.db.selectFrom('oidc_payloads').select('id').where('account_id', '=', carolId).execute()).toEqual([]);

    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await expect(client.fetchUserInfo(rp, tokens.access_token, carolId)).rejects.toMatchObject({ status: 401 });
    // And a fresh sign-in fails with the same generic answer.
    await expect(signIn(rp, { username: 'carol', password: PASSWORD })).rejects.toThrow(/Incorrect username or password/);
  });

  it('with the status alone set to suspended (rows kept), refresh is invalid_grant and introspection inactive', async () => {
    const daveId = await seedUser(gh, { userName: 'dave', password: PASSWORD });
    const { tokens } = await signIn(rp, { username: 'dave', password: PASSWORD });
    await gh.storage.db.updateTable('users').set({ status: 'suspended' }).where('id', '=', daveId).execute();
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.fetchUserInfo(rp, tokens.access_token, daveId)).rejects.toMatchObject({ status: 401 });
  });

  it('serves a public client (PKCE, no secret) and refuses its code at a second redemption', async () => {
    const pub = await seedClient(gh, { public: true, name: 'SPA' });
    const prp = await relyingParty(base, pub.clientId, null);
    const { tokens, claims } = await signIn(prp, { username: 'alice', password: PASSWORD });
    expect(claims.sub).toBe(aliceId);
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('keeps signing keys, sessions and tokens across a restart', async () => {
    const { tokens } = await signIn(rp, { username: 'alice', password: PASSWORD });
    const kidsBefore = ((await (await fetch(`${base}/oauth2/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    await gh.close();
    // Let the client side notice the closed keep-alive sockets before the port is reused.
    await new Promise((r) => setTimeout(r, 200));
    ({ gh, base } = await startGatehouse(url, port));
    const kidsAfter = ((await (await fetch(`${base}/oauth2/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    expect(kidsAfter).toEqual(kidsBefore);
    rp = await relyingParty(base, rp.clientMetadata().client_id, clientSecret);
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()?.sub).toBe(aliceId);
  });
});
