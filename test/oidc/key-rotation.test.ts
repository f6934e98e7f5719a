/**
 * Signing-key rotation (`gatehouse keys rotate`): new keys sign after a restart, retired keys
 * stay in the JWKS while tokens they signed can live, then leave it. SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemClock } from '../../src/kernel/clock.js';
import { listSigningKeys, rotateSigningKeys } from '../../src/oidc/keys.js';
import { retiredKeyGraceSeconds } from '../../src/oidc/provider.js';
import { describeEachBackend } from '../support/backends.js';
import { relyingParty, seedUser, signIn } from './support.js';
import { API_RESOURCE, addSecret, secretClient, seedApp, seedServiceAccount, startMachineGatehouse } from './machine-support.js';

const PASSWORD = 'correct horse battery staple';

describeEachBackend('Signing key rotation', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let port: number;
  let url: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ url, drop } = await backend.create());
    ({ gh, base, port } = await startMachineGatehouse(url));
  });

  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  const jwks = async () => (await (await fetch(`${base}/oauth2/jwks`)).json()) as JSONWebKeySet;

  it('keeps old keys published until their tokens expire, and signs with the new ones after a restart', async () => {
    const app = await seedApp(gh, {});
    let rp = await relyingParty(base, app.clientId, app.clientSecret);
    await seedUser(gh, { userName: 'alice', password: PASSWORD });
    const sa = await seedServiceAccount(gh, 'rotation-probe');
    const { secret } = await addSecret(gh, sa.id);
    const before = await signIn(rp, { username: 'alice', password: PASSWORD });
    const oldIdToken = before.tokens.id_token!;
    const oldJwtAt = (await client.clientCredentialsGrant(await secretClient(base, sa.id, secret), { resource: API_RESOURCE })).access_token;
    const oldKids = (await jwks()).keys.map((k) => k.kid);
    expect(oldKids).toHaveLength(2);

    const grace = retiredKeyGraceSeconds(gh.config);
    expect(grace).toBe(3600 + 300); // access/ID token lifetime (3600 s) + skew; the resource server's is 300 s
    const rotated = await rotateSigningKeys(gh.storage, gh.clock, 'default', grace);
    expect(rotated.retired.sort()).toEqual([...oldKids].sort());
    expect(rotated.created).toHaveLength(2);

    await gh.close();
    await new Promise((r) => setTimeout(r, 200));
    ({ gh, base } = await startMachineGatehouse(url, {}, port));
    const published = await jwks();
    // New keys first (RS256, ES256), then the retired ones.
    expect(published.keys.map((k) => k.kid)).toEqual([...rotated.created, ...published.keys.slice(2).map((k) => k.kid)]);
    expect(new Set(published.keys.slice(2).map((k) => k.kid))).toEqual(new Set(oldKids));
    for (const k of published.keys) expect(k.d).toBeUndefined();

    // Tokens signed before the rotation still verify; new ones use the new keys.
    const set = createLocalJWKSet(published);
    await jwtVerify(oldIdToken, set, { issuer: base });
    await jwtVerify(oldJwtAt, set, { audience: API_RESOURCE });
    rp = await relyingParty(base, app.clientId, app.clientSecret);
    const after = await signIn(rp, { username: 'alice', password: PASSWORD });
    expect(rotated.created).toContain(decodeProtectedHeader(after.tokens.id_token!).kid);
    const newJwtAt = (await client.clientCredentialsGrant(await secretClient(base, sa.id, secret), { resource: API_RESOURCE })).access_token;
    expect(rotated.created).toContain(decodeProtectedHeader(newJwtAt).kid);

    // After the grace period the retired keys are no longer published, and the next rotation deletes them.
    const later = { now: () => new Date(Date.now() + (grace + 10) * 1000) };
    const states = await listSigningKeys(gh.storage, later, 'default', grace);
    expect(states.filter((k) => k.state === 'expired').map((k) => k.kid).sort()).toEqual([...oldKids].sort());
    expect(states.filter((k) => k.state === 'active').map((k) => k.kid).sort()).toEqual([...rotated.created].sort());
    const second = await rotateSigningKeys(gh.storage, later, 'default', grace);
    expect(second.deleted.sort()).toEqual([...oldKids].sort());
    expect((await listSigningKeys(gh.storage, systemClock, 'default', grace)).map((k) => k.state).sort()).toEqual(['active', 'active', 'retired', 'retired']);
  });
});
