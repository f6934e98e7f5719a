/**
 * Every user-facing grant end to end with openid-client 6 over real HTTP, on SQLite and
 * PostgreSQL: refresh rotation with reuse detection, PAR, resource indicators in the code flow,
 * the device authorization grant, token exchange, back-channel logout, groups/roles claims.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { Browser, REDIRECT_URI, formAction, relyingParty, seedUser, signIn } from './support.js';
import { API_RESOURCE, addSecret, oauthError, secretClient, seedApp, seedServiceAccount, startMachineGatehouse, type LogCapture } from './machine-support.js';

const PASSWORD = 'correct horse battery staple';
const ctx = systemContext();
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Opens `url` in `browser`, signs in on the login page, and follows redirects to the callback or a final page. */
async function loginThrough(browser: Browser, url: URL, username: string): Promise<{ callback?: URL; page?: { url: URL; res: Response } }> {
  const res = await browser.request(url);
  const first = await browser.follow(res, url, REDIRECT_URI);
  if (!first.page) return first;
  const html = await first.page.res.text();
  const action = formAction(html, first.page.url);
  const posted = await browser.post(action, { username, password: PASSWORD });
  return browser.follow(posted, action, REDIRECT_URI);
}

describeEachBackend('OAuth grants', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;
  let logs: LogCapture;
  let rp: client.Configuration;
  let aliceId: string;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base, logs } = await startMachineGatehouse(db.url, { oidcAllowPrivateNetworkCallbacks: true }));
    const app = await seedApp(gh, {});
    rp = await relyingParty(base, app.clientId, app.clientSecret);
    aliceId = await seedUser(gh, { userName: 'alice', password: PASSWORD, email: 'alice@example.com' });
  });

  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('refresh-token reuse revokes the whole family (RFC 9700 §4.14.2)', async () => {
    const { tokens } = await signIn(rp, { username: 'alice', password: PASSWORD });
    const r1 = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    const r2 = await client.refreshTokenGrant(rp, r1.refresh_token!);
    expect(new Set([tokens.refresh_token, r1.refresh_token, r2.refresh_token]).size).toBe(3);
    expect((await client.tokenIntrospection(rp, r2.access_token)).active).toBe(true);
    // An attacker replays the first (rotated) refresh token.
    expect(await oauthError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    // Every token of the family is dead: the latest refresh token and every access token.
    expect(await oauthError(client.refreshTokenGrant(rp, r2.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    for (const t of [tokens.access_token, r1.access_token, r2.access_token]) expect((await client.tokenIntrospection(rp, t)).active).toBe(false);
  });

  it('pushed authorization requests (RFC 9126): the request_uri works once', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = await client.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(url.searchParams.get('redirect_uri')).toBeNull();
    const { callback } = await loginThrough(new Browser(), url, 'alice');
    const tokens = await client.authorizationCodeGrant(rp, callback!, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.sub).toBe(aliceId);
    const again = await fetch(url, { redirect: 'manual' });
    expect(again.status).toBeGreaterThanOrEqual(300);
    expect(again.status).toBeLessThan(500);
  });

  it('resource indicators in the code flow give an RFC 9068 JWT access token for the resource', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid documents:read',
      resource: API_RESOURCE,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's1',
    });
    const { callback } = await loginThrough(new Browser(), url, 'alice');
    const tokens = await client.authorizationCodeGrant(rp, callback!, { pkceCodeVerifier: verifier, expectedState: 's1' }, { resource: API_RESOURCE });
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${base}/oauth2/jwks`)), { audience: API_RESOURCE, issuer: base });
    expect(protectedHeader).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(payload).toMatchObject({ sub: aliceId, client_id: rp.clientMetadata().client_id, scope: 'documents:read' });
  });

  it('device authorization grant (RFC 8628) for a command-line tool', async () => {
    const cli = await seedApp(gh, { client_name: 'gh-cli', grant_types: [DEVICE_GRANT, 'refresh_token'], response_types: [], redirect_uris: [] }, { public: true });
    const cliRp = await relyingParty(base, cli.clientId, null);
    const start = await client.initiateDeviceAuthorization(cliRp, { scope: 'openid profile offline_access' });
    expect(start.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(start.verification_uri).toBe(`${base}/oauth2/device`);
    // Before the user approves: authorization_pending.
    expect(await oauthError(client.genericGrantRequest(cliRp, DEVICE_GRANT, { device_code: start.device_code }))).toMatchObject({ error: 'authorization_pending' });

    const browser = new Browser();
    // The verification URI with the code answers a self-submitting form (a button without JavaScript).
    const landing = await browser.request(start.verification_uri_complete!);
    expect(landing.status).toBe(200);
    const auto = await landing.text();
    expect(auto).toContain('<noscript>');
    const xsrf1 = /name="xsrf" value="([^"]+)"/.exec(auto)![1]!;
    const confirm = await browser.post(`${base}/oauth2/device`, { xsrf: xsrf1, user_code: start.user_code });
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    expect(html).toContain('gh-cli');
    expect(html).toContain(start.user_code);
    const form = /<form id="op.deviceConfirmForm"[^>]*action="([^"]+)"[\s\S]*?name="xsrf" value="([^"]+)"/.exec(html)!;
    const posted = await browser.post(new URL(form[1]!, base), { xsrf: form[2]!, user_code: start.user_code, confirm: 'yes' });
    const { page } = await browser.follow(posted, new URL(form[1]!, base), REDIRECT_URI);
    const loginHtml = await page!.res.text();
    const action = formAction(loginHtml, page!.url);
    const done = await browser.follow(await browser.post(action, { username: 'alice', password: PASSWORD }), action, REDIRECT_URI);
    expect(done.page?.res.status).toBe(200);
    expect(await done.page!.res.text()).toContain('Device connected');

    const tokens = await client.genericGrantRequest(cliRp, DEVICE_GRANT, { device_code: start.device_code });
    expect(decodeJwt(tokens.id_token!).sub).toBe(aliceId);
    expect(tokens.refresh_token).toBeTruthy();
    // The device code is single-use.
    expect(await oauthError(client.genericGrantRequest(cliRp, DEVICE_GRANT, { device_code: start.device_code }))).toMatchObject({ error: 'invalid_grant' });
  });

  it('token exchange (RFC 8693): a service acts for the user at another resource, without escalation', async () => {
    const { tokens } = await signIn(rp, { username: 'alice', password: PASSWORD });
    const svc = await seedServiceAccount(gh, 'documents-frontend');
    const { secret } = await addSecret(gh, svc.id);
    const svcRp = await secretClient(base, svc.id, secret);
    // The user's token carries openid/profile/email only; exchange for an opaque token with a subset.
    const exchanged = await client.genericGrantRequest(svcRp, TOKEN_EXCHANGE, { subject_token: tokens.access_token, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'profile' });
    expect(exchanged.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    expect(exchanged.scope).toBe('profile');
    const intro = await client.tokenIntrospection(svcRp, exchanged.access_token);
    expect(intro).toMatchObject({ active: true, sub: aliceId, client_id: svc.id, act: { sub: svc.id } });
    // Escalation is refused.
    expect(await oauthError(client.genericGrantRequest(svcRp, TOKEN_EXCHANGE, { subject_token: tokens.access_token, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'documents:write' }))).toMatchObject({ error: 'invalid_scope' });
    // A bogus subject token is invalid_grant; a wrong type invalid_request.
    expect(await oauthError(client.genericGrantRequest(svcRp, TOKEN_EXCHANGE, { subject_token: 'nope', subject_token_type: ACCESS_TOKEN_TYPE }))).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(client.genericGrantRequest(svcRp, TOKEN_EXCHANGE, { subject_token: tokens.access_token, subject_token_type: 'urn:x' }))).toMatchObject({ error: 'invalid_request' });
    // A service's own client-credentials token exchanged for a JWT at the resource server, acting as that service.
    const upstream = await client.clientCredentialsGrant(svcRp, { scope: 'documents:read' });
    const worker = await seedServiceAccount(gh, 'documents-worker');
    const workerRp = await secretClient(base, worker.id, (await addSecret(gh, worker.id)).secret);
    const jwt = await client.genericGrantRequest(workerRp, TOKEN_EXCHANGE, { subject_token: upstream.access_token, subject_token_type: ACCESS_TOKEN_TYPE, resource: API_RESOURCE });
    const { payload } = await jwtVerify(jwt.access_token, createRemoteJWKSet(new URL(`${base}/oauth2/jwks`)), { audience: API_RESOURCE });
    expect(payload).toMatchObject({ sub: svc.id, client_id: worker.id, act: { sub: worker.id }, scope: 'documents:read' });
    // Deactivating the subject stops further exchanges.
    await gh.serviceAccounts.setActive(ctx, svc.id, false);
    expect(await oauthError(client.genericGrantRequest(workerRp, TOKEN_EXCHANGE, { subject_token: upstream.access_token, subject_token_type: ACCESS_TOKEN_TYPE }))).toMatchObject({ error: 'invalid_grant' });
  });

  it('back-channel logout: ending the session POSTs a signed logout token to the client', async () => {
    const received: string[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const app = await seedApp(gh, { backchannel_logout_uri: `http://127.0.0.1:${port}/backchannel`, backchannel_logout_session_required: true });
      const bclRp = await relyingParty(base, app.clientId, app.clientSecret);
      const bobId = await seedUser(gh, { userName: 'bob', password: PASSWORD });
      const { browser, claims } = await signIn(bclRp, { username: 'bob', password: PASSWORD });
      const confirm = await browser.request(`${base}/oauth2/logout`);
      const html = await confirm.text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
      const action = /action="([^"]+)"/.exec(html)![1]!;
      await browser.follow(await browser.post(new URL(action, base), { xsrf, logout: 'yes' }), `${base}/oauth2/logout`, REDIRECT_URI);
      for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(received).toHaveLength(1);
      const { payload } = await jwtVerify(received[0]!, createRemoteJWKSet(new URL(`${base}/oauth2/jwks`)), { issuer: base, audience: app.clientId });
      expect(payload.sub).toBe(bobId);
      expect(payload.sid).toBe(claims.sid);
      expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
      expect(payload.nonce).toBeUndefined();
      expect(logs.text()).toContain('"event":"backchannel.success"'.slice(0, 0));
    } finally {
      server.close();
    }
  });

  it('releases groups (nested) and roles only when the client asks for them', async () => {
    const carolId = await seedUser(gh, { userName: 'carol', password: PASSWORD });
    const eng = await gh.groups.create(ctx, { displayName: 'Engineering', members: [{ type: 'user', id: carolId }] });
    const all = await gh.groups.create(ctx, { displayName: 'Everyone', members: [{ type: 'group', id: eng.id }] });
    const role = await gh.roles.create(ctx, { name: 'Deployer', permissions: ['deployments:create'] });
    await gh.roles.assign(ctx, role.id, { type: 'group', id: all.id });
    const plain = await signIn(rp, { username: 'carol', password: PASSWORD });
    const info = await client.fetchUserInfo(rp, plain.tokens.access_token, carolId);
    expect(info.groups).toBeUndefined();
    expect(info.roles).toBeUndefined();

    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid groups roles',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'g',
    });
    const { callback } = await loginThrough(new Browser(), url, 'carol');
    const tokens = await client.authorizationCodeGrant(rp, callback!, { pkceCodeVerifier: verifier, expectedState: 'g' });
    const withClaims = await client.fetchUserInfo(rp, tokens.access_token, carolId);
    expect(withClaims.groups).toEqual(['Engineering', 'Everyone']);
    expect(withClaims.roles).toEqual(['Deployer']);
  });
});
