/**
 * Service accounts at the token endpoint, end to end with openid-client 6 over real HTTP, on
 * SQLite and PostgreSQL: client credentials with client_secret_basic, client_secret_post and
 * private_key_jwt; resource indicators → RFC 9068 JWT access tokens; DPoP; API keys; rotation;
 * revocation; deactivation of the service account or its owner; the lifetime policy.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemContext } from '../../src/kernel/context.js';
import { isGatehouseError } from '../../src/kernel/errors.js';
import { describeEachBackend } from '../support/backends.js';
import { seedUser } from './support.js';
import { API_RESOURCE, oauthError, addKey, addSecret, keyClient, secretClient, seedServiceAccount, startMachineGatehouse, type LogCapture } from './machine-support.js';

const ctx = systemContext();

describeEachBackend('Service accounts at the token endpoint', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let logs: LogCapture;
  let drop: () => Promise<void>;
  /** A resource server that introspects tokens (a confidential service account). */
  let rs: client.Configuration;
  const secrets: string[] = [];

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base, logs } = await startMachineGatehouse(db.url));
    const rsa = await seedServiceAccount(gh, 'documents-api');
    const s = await addSecret(gh, rsa.id);
    secrets.push(s.secret);
    rs = await secretClient(base, rsa.id, s.secret);
  });

  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('issues tokens with client_secret_basic and client_secret_post, and records last use', async () => {
    const sa = await seedServiceAccount(gh, 'billing-sync');
    const { secret, credentialId } = await addSecret(gh, sa.id);
    secrets.push(secret);
    for (const method of ['basic', 'post'] as const) {
      const rp = await secretClient(base, sa.id, secret, method);
      const tokens = await client.clientCredentialsGrant(rp, { scope: 'documents:read' });
      secrets.push(tokens.access_token);
      expect(tokens.token_type).toBe('bearer');
      expect(tokens.expires_in).toBeGreaterThan(0);
      secrets.push(tokens.access_token);
      const intro = await client.tokenIntrospection(rs, tokens.access_token);
      expect(intro).toMatchObject({ active: true, client_id: sa.id, scope: 'documents:read', token_type: 'Bearer' });
    }
    const cred = await gh.credentials.get(ctx, sa.id, credentialId);
    expect(cred.lastUsedAt).not.toBeNull();
    expect(cred.status).toBe('active');
    const row = await gh.storage.db.selectFrom('oidc_payloads').select(['account_id', 'credential_id']).where('model', '=', 'ClientCredentials').where('account_id', '=', sa.id).execute();
    expect(row).toHaveLength(2);
    expect(row.every((r) => r.credential_id === credentialId)).toBe(true);
  });

  it('refuses a wrong secret with invalid_client (401)', async () => {
    const sa = await seedServiceAccount(gh, 'wrong-secret');
    await addSecret(gh, sa.id);
    const rp = await secretClient(base, sa.id, 'gh_cs_not-the-secret');
    expect(await oauthError(client.clientCredentialsGrant(rp, {}))).toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('issues tokens with private_key_jwt (ES256, RS256, EdDSA; with and without kid)', async () => {
    const sa = await seedServiceAccount(gh, 'deployer');
    for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
      const key = await addKey(gh, sa.id, alg);
      for (const kid of [key.kid, undefined]) {
        const rp = await keyClient(base, sa.id, key.privateKey, kid);
        const tokens = await client.clientCredentialsGrant(rp, { scope: 'documents:read' });
        const intro = await client.tokenIntrospection(rs, tokens.access_token);
        expect(intro).toMatchObject({ active: true, client_id: sa.id });
      }
      const cred = await gh.credentials.get(ctx, sa.id, key.credentialId);
      expect(cred.lastUsedAt).not.toBeNull();
    }
    // The same assertion cannot be replayed (RFC 7523 §3 jti).
    const key = await addKey(gh, sa.id);
    const rp = await keyClient(base, sa.id, key.privateKey, key.kid);
    let assertion = '';
    // Capture the assertion openid-client sends.
    rp[client.customFetch] = async (url, init) => {
      assertion = new URLSearchParams(String(init.body)).get('client_assertion') ?? '';
      return fetch(url, init as RequestInit);
    };
    await client.clientCredentialsGrant(rp, {});
    expect(assertion.split('.')).toHaveLength(3);
    const replay = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
    });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('issues an RFC 9068 JWT access token (ES256) for a resource indicator', async () => {
    const sa = await seedServiceAccount(gh, 'reporter');
    const { secret } = await addSecret(gh, sa.id);
    const rp = await secretClient(base, sa.id, secret);
    const tokens = await client.clientCredentialsGrant(rp, { scope: 'documents:read', resource: API_RESOURCE });
    expect(tokens.expires_in).toBe(300);
    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${base}/oauth2/jwks`)), {
      issuer: base,
      audience: API_RESOURCE,
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: sa.id, client_id: sa.id, scope: 'documents:read', aud: API_RESOURCE });
    expect(typeof payload.jti).toBe('string');
    // An unknown resource is refused (RFC 8707 §2).
    expect(await oauthError(client.clientCredentialsGrant(rp, { resource: 'https://elsewhere.example/' }))).toMatchObject({ error: 'invalid_target' });
  });

  it('binds tokens to a DPoP key (RFC 9449) and reports cnf.jkt at introspection', async () => {
    const sa = await seedServiceAccount(gh, 'dpop-worker');
    const { secret } = await addSecret(gh, sa.id);
    const rp = await secretClient(base, sa.id, secret);
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const dpop = client.getDPoPHandle(rp, keyPair);
    const tokens = await client.clientCredentialsGrant(rp, { scope: 'documents:read' }, { DPoP: dpop });
    expect(tokens.token_type).toBe('dpop');
    const intro = await client.tokenIntrospection(rs, tokens.access_token);
    expect(intro.active).toBe(true);
    expect(intro.token_type).toBe('DPoP');
    expect((intro.cnf as { jkt: string }).jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A JWT access token is DPoP-bound too.
    const jwt = await client.clientCredentialsGrant(rp, { resource: API_RESOURCE, scope: 'documents:read' }, { DPoP: dpop });
    const { payload } = await jwtVerify(jwt.access_token, createRemoteJWKSet(new URL(`${base}/oauth2/jwks`)), { audience: API_RESOURCE });
    expect((payload.cnf as { jkt: string }).jkt).toBe((intro.cnf as { jkt: string }).jkt);
  });

  it('API keys: scoped, introspectable, stored only as a hash, revoked at once', async () => {
    const sa = await seedServiceAccount(gh, 'nightly-export');
    const created = await gh.credentials.create(ctx, sa.id, { kind: 'api_key', name: 'export key', scopes: ['documents:read', 'reports:read'] });
    const key = created.secret!;
    secrets.push(key);
    expect(key).toMatch(/^gh_sak_[A-Za-z0-9_-]{43}$/);
    expect(created.credential).toMatchObject({ kind: 'api_key', scopes: ['documents:read', 'reports:read'], status: 'active' });
    const intro = await client.tokenIntrospection(rs, key);
    expect(intro).toMatchObject({ active: true, client_id: sa.id, scope: 'documents:read reports:read' });
    expect(intro.exp).toBe(Math.floor(Date.parse(created.credential.expiresAt) / 1000));
    expect((await gh.credentials.get(ctx, sa.id, created.credential.id)).lastUsedAt).not.toBeNull();
    // Nowhere in the database in clear.
    const dump = JSON.stringify(await gh.storage.db.selectFrom('oidc_payloads').selectAll().execute()) + JSON.stringify(await gh.storage.db.selectFrom('service_account_credentials').selectAll().execute());
    expect(dump).not.toContain(key);
    expect(dump).not.toContain(key.slice(7));
    await gh.credentials.revoke(ctx, sa.id, created.credential.id);
    expect((await client.tokenIntrospection(rs, key)).active).toBe(false);
    expect((await gh.credentials.get(ctx, sa.id, created.credential.id)).status).toBe('revoked');
  });

  it('a revoked client secret stops at once, and the tokens obtained with it go inactive', async () => {
    const sa = await seedServiceAccount(gh, 'revoked-secret');
    const a = await addSecret(gh, sa.id);
    const b = await addSecret(gh, sa.id);
    const rpA = await secretClient(base, sa.id, a.secret);
    const rpB = await secretClient(base, sa.id, b.secret);
    const tokA = await client.clientCredentialsGrant(rpA, {});
    const tokB = await client.clientCredentialsGrant(rpB, {});
    await gh.credentials.revoke(ctx, sa.id, a.credentialId);
    expect(await oauthError(client.clientCredentialsGrant(rpA, {}))).toMatchObject({ error: 'invalid_client' });
    expect((await client.tokenIntrospection(rs, tokA.access_token)).active).toBe(false);
    expect((await client.tokenIntrospection(rs, tokB.access_token)).active).toBe(true);
    expect((await client.clientCredentialsGrant(rpB, {})).access_token).toBeTruthy();
  });

  it('a revoked public key stops private_key_jwt at once', async () => {
    const sa = await seedServiceAccount(gh, 'revoked-key');
    const key = await addKey(gh, sa.id);
    const rp = await keyClient(base, sa.id, key.privateKey, key.kid);
    await client.clientCredentialsGrant(rp, {});
    await gh.credentials.revoke(ctx, sa.id, key.credentialId);
    expect(await oauthError(client.clientCredentialsGrant(rp, {}))).toMatchObject({ error: 'invalid_client' });
  });

  it('rotation keeps the old secret working for the overlap, and without overlap stops it', async () => {
    const sa = await seedServiceAccount(gh, 'rotating');
    const old = await addSecret(gh, sa.id);
    const next = await gh.credentials.rotate(ctx, sa.id, old.credentialId, { overlapSeconds: 3600 });
    expect(next.secret).toMatch(/^gh_cs_/);
    const oldCred = await gh.credentials.get(ctx, sa.id, old.credentialId);
    expect(oldCred.replacedBy).toBe(next.credential.id);
    expect(Date.parse(oldCred.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
    expect(Date.parse(oldCred.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
    await client.clientCredentialsGrant(await secretClient(base, sa.id, old.secret), {});
    await client.clientCredentialsGrant(await secretClient(base, sa.id, next.secret!), {});
    // A credential is rotated once; the successor rotates with no overlap: the previous one stops.
    await expect(gh.credentials.rotate(ctx, sa.id, old.credentialId)).rejects.toMatchObject({ code: 'conflict' });
    const third = await gh.credentials.rotate(ctx, sa.id, next.credential.id, { overlapSeconds: 0 });
    expect(await oauthError(client.clientCredentialsGrant(await secretClient(base, sa.id, next.secret!), {}))).toMatchObject({ error: 'invalid_client' });
    await client.clientCredentialsGrant(await secretClient(base, sa.id, third.secret!), {});
    // Rotating an API key keeps its scopes.
    const apiKey = await gh.credentials.create(ctx, sa.id, { kind: 'api_key', scopes: ['documents:read'] });
    const rotated = await gh.credentials.rotate(ctx, sa.id, apiKey.credential.id, { overlapSeconds: 0 });
    expect(rotated.credential.scopes).toEqual(['documents:read']);
    expect((await client.tokenIntrospection(rs, apiKey.secret!)).active).toBe(false);
    expect((await client.tokenIntrospection(rs, rotated.secret!)).active).toBe(true);
  });

  it('refuses an expiry beyond the policy maximum with a clear error, never shortening it', async () => {
    const sa = await seedServiceAccount(gh, 'long-lived');
    const tooLate = new Date(Date.now() + 400 * 86_400_000).toISOString();
    let err: unknown;
    try {
      await gh.credentials.create(ctx, sa.id, { kind: 'client_secret', expiresAt: tooLate });
    } catch (e) {
      err = e;
    }
    expect(isGatehouseError(err, 'invalid_input')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({ field: 'expires_at', policy: 'credential_max_lifetime', maxLifetimeDays: 365 });
    expect(await gh.credentials.list(ctx, sa.id)).toEqual([]);
    const ok = new Date(Date.now() + 300 * 86_400_000).toISOString();
    const c = await gh.credentials.create(ctx, sa.id, { kind: 'client_secret', expiresAt: ok });
    expect(c.credential.expiresAt).toBe(ok);
    // The default is 90 days.
    const d = await gh.credentials.create(ctx, sa.id, { kind: 'api_key', scopes: ['x'] });
    expect(Math.round((Date.parse(d.credential.expiresAt) - Date.now()) / 86_400_000)).toBe(90);
  });

  it('a deactivated service account: private_key_jwt and secrets refused, tokens and API keys inactive; reactivation restores credentials', async () => {
    const sa = await seedServiceAccount(gh, 'to-deactivate');
    const key = await addKey(gh, sa.id);
    const s = await addSecret(gh, sa.id);
    const apiKey = (await gh.credentials.create(ctx, sa.id, { kind: 'api_key', scopes: ['documents:read'] })).secret!;
    const rpKey = await keyClient(base, sa.id, key.privateKey, key.kid);
    const rpSecret = await secretClient(base, sa.id, s.secret);
    const t1 = await client.clientCredentialsGrant(rpKey, {});
    const t2 = await client.clientCredentialsGrant(rpSecret, {});
    expect((await client.tokenIntrospection(rs, apiKey)).active).toBe(true);

    await gh.serviceAccounts.setActive(ctx, sa.id, false);
    expect(await oauthError(client.clientCredentialsGrant(rpKey, {}))).toMatchObject({ error: 'invalid_client', status: 401 });
    expect(await oauthError(client.clientCredentialsGrant(rpSecret, {}))).toMatchObject({ error: 'invalid_client', status: 401 });
    for (const t of [t1.access_token, t2.access_token, apiKey]) expect((await client.tokenIntrospection(rs, t)).active).toBe(false);

    await gh.serviceAccounts.setActive(ctx, sa.id, true);
    expect((await client.clientCredentialsGrant(rpKey, {})).access_token).toBeTruthy();
  });

  it('a deactivated owner disables the service account (policy disable) at once', async () => {
    const ownerId = await seedUser(gh, { userName: 'leaving-owner' });
    const sa = await seedServiceAccount(gh, 'owned-by-leaver', ownerId);
    const s = await addSecret(gh, sa.id);
    const rp = await secretClient(base, sa.id, s.secret);
    const tok = await client.clientCredentialsGrant(rp, {});
    await gh.users.setActive(ctx, ownerId, false);
    expect((await gh.serviceAccounts.get(ctx, sa.id)).status).toBe('suspended');
    expect(await oauthError(client.clientCredentialsGrant(rp, {}))).toMatchObject({ error: 'invalid_client' });
    expect((await client.tokenIntrospection(rs, tok.access_token)).active).toBe(false);
    const audit = await gh.storage.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', sa.id).where('action', '=', 'service_account.suspend').execute();
    expect(JSON.parse(audit[0]!.details!)).toMatchObject({ reason: 'owner_deprovisioned', ownerUserId: ownerId });
  });

  it('never writes a secret, key or token to the logs', async () => {
    const text = logs.text();
    expect(text.length).toBeGreaterThan(1000);
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});
