/**
 * Admin API for service-account credentials (/api/v1/service-accounts/{id}/credentials) on both
 * backends: create each kind, list, read, rotate, revoke, the lifetime policy error, bad input.
 */
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, startAdmin, type AdminHarness } from './support.js';

describeEachBackend('admin API: service-account credentials', (backend) => {
  let h: AdminHarness;
  let saId: string;

  beforeAll(async () => {
    h = await startAdmin(backend);
    const owner = await h.call('POST', '/users', { body: { user_name: 'sa-owner' } });
    expect(owner.status).toBe(201);
    const sa = await h.call('POST', '/service-accounts', { body: { name: 'ci', owner_user_id: owner.body.id } });
    expect(sa.status).toBe(201);
    saId = sa.body.id;
  });

  afterAll(async () => {
    await h?.close();
  });

  it('creates a client secret (shown once, no-store), a PEM key, a JWK key and an API key; lists and reads them', async () => {
    const secret = await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'client_secret', name: 'deploy' } });
    expect(secret.status).toBe(201);
    expect(secret.headers['cache-control']).toBe('no-store');
    expect(secret.body.secret).toMatch(/^gh_cs_/);
    expect(secret.body.credential).toMatchObject({ kind: 'client_secret', name: 'deploy', status: 'active', service_account_id: saId, public_jwk: null, last_used_at: null });

    const rsa = await generateKeyPair('RS256', { extractable: true });
    const pem = await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'public_key', public_key: { pem: await exportSPKI(rsa.publicKey) } } });
    expect(pem.status).toBe(201);
    expect(pem.body.secret).toBeNull();
    expect(pem.body.credential.public_jwk).toMatchObject({ kty: 'RSA', kid: pem.body.credential.id, use: 'sig' });

    const ec = await generateKeyPair('ES256', { extractable: true });
    const jwks = await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'public_key', public_key: { jwks: { keys: [await exportJWK(ec.publicKey)] } } } });
    expect(jwks.status).toBe(201);
    expect(jwks.body.credential.public_jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });

    const apiKey = await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'api_key', scopes: ['documents:read'], expires_at: new Date(Date.now() + 7 * 86_400_000).toISOString() } });
    expect(apiKey.status).toBe(201);
    expect(apiKey.body.secret).toMatch(/^gh_sak_/);
    expect(apiKey.body.credential.scopes).toEqual(['documents:read']);

    const list = await h.call('GET', `/service-accounts/${saId}/credentials`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((c: { kind: string }) => c.kind)).toEqual(['client_secret', 'public_key', 'public_key', 'api_key']);
    expect(list.text).not.toContain(secret.body.secret);
    expect(list.text).not.toContain(apiKey.body.secret);
    const one = await h.call('GET', `/service-accounts/${saId}/credentials/${secret.body.credential.id}`);
    expect(one.body).toEqual(secret.body.credential);
  });

  it('rotates with an overlap and revokes; refuses to rotate twice', async () => {
    const created = await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'client_secret' } });
    const id = created.body.credential.id;
    const rotated = await h.call('POST', `/service-accounts/${saId}/credentials/${id}/rotate`, { body: { overlap_seconds: 600 } });
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret).toMatch(/^gh_cs_/);
    const old = await h.call('GET', `/service-accounts/${saId}/credentials/${id}`);
    expect(old.body.replaced_by).toBe(rotated.body.credential.id);
    expect(Date.parse(old.body.expires_at) - Date.now()).toBeLessThanOrEqual(600_000);
    expectProblem(await h.call('POST', `/service-accounts/${saId}/credentials/${id}/rotate`, { body: {} }), 409, 'conflict');
    const revoked = await h.call('POST', `/service-accounts/${saId}/credentials/${rotated.body.credential.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('revoked');
    const audit = await h.gh.storage.db.selectFrom('audit_events').select('action').where('target_id', '=', saId).where('action', 'like', 'credential.%').execute();
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['credential.create', 'credential.rotate', 'credential.revoke']));
  });

  it('refuses an expiry beyond the policy with a clear problem, and bad input with 400', async () => {
    const far = new Date(Date.now() + 2 * 365 * 86_400_000).toISOString();
    const res = await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'client_secret', expires_at: far } });
    expectProblem(res, 400, 'invalid_input');
    expect(res.body.details).toMatchObject({ field: 'expires_at', policy: 'credential_max_lifetime', maxLifetimeDays: 365 });
    expect(res.body.detail).toContain('365 days');

    const ec = await generateKeyPair('ES256', { extractable: true });
    const priv = await exportJWK(ec.privateKey);
    const bad: Array<[unknown, string]> = [
      [{ kind: 'password' }, 'unknown kind'],
      [{ kind: 'api_key' }, 'API key without scopes'],
      [{ kind: 'api_key', scopes: ['has space'] }, 'bad scope syntax'],
      [{ kind: 'public_key' }, 'no key'],
      [{ kind: 'public_key', public_key: { jwk: priv } }, 'a private key'],
      [{ kind: 'public_key', public_key: { pem: 'not pem' } }, 'bad PEM'],
      [{ kind: 'public_key', public_key: { jwk: { kty: 'oct', k: 'AAAA' } } }, 'symmetric key'],
      [{ kind: 'client_secret', expires_at: 'tomorrow' }, 'bad instant'],
      [{ kind: 'client_secret', expires_at: '2001-01-01T00:00:00Z' }, 'past expiry'],
      [{ kind: 'client_secret', scopes: ['x'] }, 'scopes on a secret'],
      [{ kind: 'client_secret', secret: 'mine' }, 'unknown member'],
    ];
    for (const [body, name] of bad) {
      const r = await h.call('POST', `/service-accounts/${saId}/credentials`, { body });
      expect.soft(r.status, name).toBe(400);
      expect.soft(r.body?.code, name).toBe('invalid_input');
    }
    expectProblem(await h.call('GET', `/service-accounts/${saId}/credentials/nope`), 404, 'not_found');
    expectProblem(await h.call('GET', '/service-accounts/nope/credentials'), 404, 'not_found');
    expectProblem(await h.call('POST', `/service-accounts/${saId}/credentials`, { body: { kind: 'client_secret' }, token: h.scimToken }), 403, 'forbidden');
  });
});
