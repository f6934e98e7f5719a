/** The oidc-provider storage adapter on Kysely, on every backend, with a frozen clock. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { errors } from 'oidc-provider';
import { createAdapterFactory, revokeAllForAccount } from '../../src/oidc/adapter.js';
import { loadCookieKeys, loadSigningKeys } from '../../src/oidc/keys.js';
import { FixedClock } from '../../src/kernel/clock.js';
import { sha256Hex } from '../../src/kernel/secrets.js';
import type { Storage } from '../../src/storage/database.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';

describeEachBackend('oidc-provider adapter', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  const clock = new FixedClock('2026-01-01T00:00:00.000Z');
  let adapter: ReturnType<typeof createAdapterFactory>;

  beforeAll(async () => {
    ({ storage, close } = await freshStorage(backend));
    adapter = createAdapterFactory({ storage, clock, tenantId: 'default', clientSecretPlaceholder: 'placeholder-xyz' });
  });
  afterAll(async () => close?.());

  it('upserts and finds payloads, lifting accountId, grantId, uid and userCode into columns', async () => {
    const at = adapter('AccessToken');
    await at.upsert('at1', { jti: 'at1', accountId: 'acc1', grantId: 'g1', kind: 'AccessToken' }, 60);
    expect(await at.find('at1')).toEqual({ jti: 'at1', accountId: 'acc1', grantId: 'g1', kind: 'AccessToken' });
    expect(await adapter('RefreshToken').find('at1')).toBeUndefined();
    const row = await storage.db.selectFrom('oidc_payloads').selectAll().where('id', '=', 'at1').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ model: 'AccessToken', account_id: 'acc1', grant_id: 'g1', expires_at: '2026-01-01T00:01:00.000Z', consumed_at: null });

    // Upsert replaces.
    await at.upsert('at1', { jti: 'at1', accountId: 'acc1', grantId: 'g1', kind: 'AccessToken', scope: 'openid' }, 120);
    expect(await at.find('at1')).toMatchObject({ scope: 'openid' });

    const session = adapter('Session');
    await session.upsert('s1', { uid: 'uid-1', accountId: 'acc1' } as never, 3600);
    expect(await session.findByUid('uid-1')).toMatchObject({ accountId: 'acc1' });
    expect(await session.findByUid('uid-2')).toBeUndefined();

    const dc = adapter('DeviceCode');
    await dc.upsert('d1', { userCode: 'ABCD-EFGH', grantId: 'g1' } as never, 600);
    expect(await dc.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });

    const grant = adapter('Grant');
    await grant.upsert('g1', { jti: 'g1', accountId: 'acc1', clientId: 'c1' } as never, 3600);
    const g = await storage.db.selectFrom('oidc_payloads').select(['grant_id', 'account_id']).where('model', '=', 'Grant').where('id', '=', 'g1').executeTakeFirstOrThrow();
    expect(g).toEqual({ grant_id: 'g1', account_id: 'acc1' });
  });

  it('ignores expired rows', async () => {
    const code = adapter('AuthorizationCode');
    await code.upsert('short', { jti: 'short' }, 10);
    expect(await code.find('short')).toBeDefined();
    clock.advanceSeconds(11);
    expect(await code.find('short')).toBeUndefined();
    await code.upsert('forever', { jti: 'forever' });
    clock.advanceSeconds(10 ** 7);
    expect(await code.find('forever')).toEqual({ jti: 'forever' });
  });

  it('consumes once, atomically: a second consume fails with invalid_grant and revokes the grant', async () => {
    clock.set('2026-02-01T00:00:00.000Z');
    const code = adapter('AuthorizationCode');
    await code.upsert('c1', { jti: 'c1', grantId: 'g9', accountId: 'acc9' }, 60);
    await adapter('AccessToken').upsert('t9', { jti: 't9', grantId: 'g9', accountId: 'acc9' }, 60);
    await adapter('Grant').upsert('g9', { jti: 'g9', accountId: 'acc9' } as never, 600);
    await code.consume('c1');
    const found = await code.find('c1');
    expect(found?.consumed).toBe(Math.floor(clock.now().getTime() / 1000));
    const err = await code.consume('c1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.InvalidGrant);
    expect(await adapter('AccessToken').find('t9')).toBeUndefined();
    expect(await adapter('Grant').find('g9')).toBeUndefined();

    // Concurrent consumers: exactly one wins.
    await code.upsert('c2', { jti: 'c2' }, 60);
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => code.consume('c2')));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  });

  it('destroys one row and revokes by grant id within one model', async () => {
    const rt = adapter('RefreshToken');
    await rt.upsert('r1', { jti: 'r1', grantId: 'gA' }, 60);
    await rt.upsert('r2', { jti: 'r2', grantId: 'gA' }, 60);
    await rt.upsert('r3', { jti: 'r3', grantId: 'gB' }, 60);
    await adapter('AccessToken').upsert('a1', { jti: 'a1', grantId: 'gA' }, 60);
    await rt.revokeByGrantId('gA');
    expect(await rt.find('r1')).toBeUndefined();
    expect(await rt.find('r2')).toBeUndefined();
    expect(await rt.find('r3')).toBeDefined();
    expect(await adapter('AccessToken').find('a1')).toBeDefined();
    await rt.destroy('r3');
    expect(await rt.find('r3')).toBeUndefined();
  });

  it('revokeAllForAccount deletes every row of the account and of its grants, and nothing else', async () => {
    await adapter('Session').upsert('sX', { uid: 'ux', accountId: 'gone' } as never, 60);
    await adapter('Grant').upsert('gX', { jti: 'gX', accountId: 'gone' } as never, 60);
    await adapter('AccessToken').upsert('aX', { jti: 'aX', accountId: 'gone', grantId: 'gX' }, 60);
    await adapter('ReplayDetection').upsert('rX', { jti: 'rX', grantId: 'gX' } as never, 60);
    await adapter('AccessToken').upsert('aY', { jti: 'aY', accountId: 'stays', grantId: 'gY' }, 60);
    const n = await storage.db.transaction().execute((trx) => revokeAllForAccount(trx, 'default', 'gone'));
    expect(n).toBe(4);
    expect(await adapter('AccessToken').find('aY')).toBeDefined();
    expect(await storage.db.selectFrom('oidc_payloads').select('id').where('account_id', '=', 'gone').execute()).toEqual([]);
  });

  it('reads clients from active applications, without the secret, with a placeholder for secret-based auth', async () => {
    const now = clock.now().toISOString();
    const meta = (id: string, method: string) =>
      JSON.stringify({ client_id: id, client_name: 'X', redirect_uris: ['https://x.example/cb'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: method, client_secret: 'LEAKED' });
    const base = { tenant_id: 'default', owner_user_id: null, created_at: now, updated_at: now, name: 'X' };
    await storage.db
      .insertInto('applications')
      .values([
        { ...base, id: 'conf', client_secret_hash: sha256Hex('s3cret'), metadata: meta('conf', 'client_secret_basic'), status: 'active' },
        { ...base, id: 'pub', client_secret_hash: null, metadata: meta('pub', 'none'), status: 'active' },
        { ...base, id: 'off', client_secret_hash: sha256Hex('x'), metadata: meta('off', 'client_secret_basic'), status: 'suspended' },
        { ...base, id: 'nohash', client_secret_hash: null, metadata: meta('nohash', 'client_secret_basic'), status: 'active' },
      ])
      .execute();
    const clients = adapter('Client');
    expect(await clients.find('conf')).toMatchObject({ client_id: 'conf', client_secret: 'placeholder-xyz', token_endpoint_auth_method: 'client_secret_basic' });
    const pub = await clients.find('pub');
    expect(pub).toMatchObject({ client_id: 'pub', token_endpoint_auth_method: 'none' });
    expect(pub).not.toHaveProperty('client_secret');
    expect(await clients.find('off')).toBeUndefined();
    expect(await clients.find('nohash')).toBeUndefined();
    expect(await clients.find('missing')).toBeUndefined();
  });

  it('generates signing and cookie keys once and returns the same ones afterwards', async () => {
    const [a, b] = await Promise.all([loadSigningKeys(storage, clock, 'default'), loadSigningKeys(storage, clock, 'default')]);
    expect(a.map((k) => k.alg)).toEqual(['RS256', 'ES256']);
    expect(b.map((k) => k.kid)).toEqual(a.map((k) => k.kid));
    expect(a.every((k) => typeof k.d === 'string' && typeof k.kid === 'string')).toBe(true);
    expect((await loadSigningKeys(storage, clock, 'default')).map((k) => k.kid)).toEqual(a.map((k) => k.kid));
    const rows = await storage.db.selectFrom('signing_keys').select('kid').execute();
    expect(rows).toHaveLength(2);
    const c1 = await loadCookieKeys(storage, clock, 'default');
    expect(c1).toHaveLength(1);
    expect(c1[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await loadCookieKeys(storage, clock, 'default')).toEqual(c1);
  });
});
