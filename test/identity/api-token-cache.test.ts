import { afterAll, beforeAll, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { FixedClock } from '../../src/kernel/clock.js';
import { ApiTokenService } from '../../src/identity/api-tokens.js';
import type { Storage } from '../../src/storage/database.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';
import { ctx } from './fixture.js';

/**
 * The authentication cache of API tokens: on the instance that revokes, rotates or sees a token
 * expire, the change takes effect at once; another instance (a replica on the same database)
 * sees a revocation or rotation at most `cacheTtlSeconds` later.
 */
describeEachBackend('API token authentication cache', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let clock: FixedClock;
  let a: ApiTokenService;
  let b: ApiTokenService;
  const TTL = 5;
  beforeAll(async () => {
    ({ storage, close } = await freshStorage(backend));
    clock = new FixedClock('2026-01-01T00:00:00.000Z');
    const audit = new AuditLog(storage.kind, clock);
    a = new ApiTokenService(storage, audit, clock, { cacheTtlSeconds: TTL });
    b = new ApiTokenService(storage, audit, clock, { cacheTtlSeconds: TTL });
  });
  afterAll(async () => close());

  const idOf = async (svc: ApiTokenService, token: string) => (await svc.authenticate('default', token))?.id ?? null;

  it('revocation takes effect at once on the revoking instance, and within the TTL on another', async () => {
    const { token, apiToken } = await a.create(ctx, { name: 'revoked', scopes: ['authz'] });
    expect(await idOf(a, token)).toBe(apiToken.id);
    expect(await idOf(b, token)).toBe(apiToken.id);
    await a.revoke(ctx, apiToken.id);
    expect(await idOf(a, token)).toBeNull();
    // The other replica still has it cached, for less than the TTL.
    clock.advanceSeconds(TTL - 1);
    expect(await idOf(b, token)).toBe(apiToken.id);
    clock.advanceSeconds(1);
    expect(await idOf(b, token)).toBeNull();
    expect(await idOf(b, token)).toBeNull();
  });

  it('rotation stops the old secret at once on the rotating instance, and within the TTL on another', async () => {
    const { token: old, apiToken } = await a.create(ctx, { name: 'rotated', scopes: ['authz'] });
    expect(await idOf(a, old)).toBe(apiToken.id);
    expect(await idOf(b, old)).toBe(apiToken.id);
    const { token: fresh } = await a.rotate(ctx, apiToken.id);
    expect(await idOf(a, old)).toBeNull();
    expect(await idOf(a, fresh)).toBe(apiToken.id);
    expect(await idOf(b, fresh)).toBe(apiToken.id);
    clock.advanceSeconds(TTL - 1);
    expect(await idOf(b, old)).toBe(apiToken.id);
    clock.advanceSeconds(1);
    expect(await idOf(b, old)).toBeNull();
    expect(await idOf(b, fresh)).toBe(apiToken.id);
  });

  it('an expired token is refused at once even while cached', async () => {
    const { token, apiToken } = await a.create(ctx, { name: 'short', scopes: ['authz'], expiresInDays: 1 });
    expect(await idOf(a, token)).toBe(apiToken.id);
    clock.set(new Date(apiToken.expiresAt!).getTime() - 1);
    expect(await idOf(a, token)).toBe(apiToken.id);
    clock.advanceSeconds(0.001);
    expect(await idOf(a, token)).toBeNull();
  });

  it('records the last use once a minute while served from the cache', async () => {
    const { token, apiToken } = await a.create(ctx, { name: 'used', scopes: ['authz'] });
    const lastUsed = async () => (await storage.db.selectFrom('api_tokens').select('last_used_at').where('id', '=', apiToken.id).executeTakeFirstOrThrow()).last_used_at;
    const t0 = clock.now().toISOString();
    expect((await a.authenticate('default', token))?.lastUsedAt).toBe(t0);
    expect(await lastUsed()).toBe(t0);
    clock.advanceSeconds(2);
    expect((await a.authenticate('default', token))?.lastUsedAt).toBe(t0);
    expect(await lastUsed()).toBe(t0);
    clock.advanceSeconds(60);
    const t1 = clock.now().toISOString();
    expect((await a.authenticate('default', token))?.lastUsedAt).toBe(t1);
    expect(await lastUsed()).toBe(t1);
  });

  it('answers synchronously from the cache only when no database access is needed', async () => {
    clock.set('2026-06-01T00:00:10.000Z');
    const { token, apiToken } = await a.create(ctx, { name: 'sync', scopes: ['authz'], expiresInDays: 1 });
    expect(a.authenticateCached('default', token)).toBeUndefined();
    expect(a.authenticateCached('default', 'not-a-token')).toBeNull();
    await a.authenticate('default', token);
    expect(a.authenticateCached('default', token)?.id).toBe(apiToken.id);
    expect(a.authenticateCached('other-tenant', token)).toBeUndefined();
    // A new minute: the last use must be written, so the database is needed.
    clock.advanceSeconds(60);
    expect(a.authenticateCached('default', token)).toBeUndefined();
    await a.authenticate('default', token);
    expect(a.authenticateCached('default', token)?.id).toBe(apiToken.id);
    // Past the TTL: read again.
    clock.advanceSeconds(TTL);
    expect(a.authenticateCached('default', token)).toBeUndefined();
    await a.authenticate('default', token);
    await a.revoke(ctx, apiToken.id);
    expect(a.authenticateCached('default', token)).toBeUndefined();
    expect(await a.authenticate('default', token)).toBeNull();
    const { token: t2, apiToken: k2 } = await a.create(ctx, { name: 'sync-expiring', scopes: ['authz'], expiresInDays: 1 });
    clock.set(new Date(k2.expiresAt!).getTime() - 2000);
    expect((await a.authenticate('default', t2))?.id).toBe(k2.id);
    clock.advanceSeconds(2);
    expect(a.authenticateCached('default', t2)).toBeNull();
    expect(await a.authenticate('default', t2)).toBeNull();
  });

  it('answers the same with a connection as without one, whatever tokens the connection presents in turn', async () => {
    clock.set('2026-07-01T00:00:10.000Z');
    const { token: t1, apiToken: k1 } = await a.create(ctx, { name: 'conn-1', scopes: ['authz'] });
    const { token: t2, apiToken: k2 } = await a.create(ctx, { name: 'conn-2', scopes: ['scim'] });
    await a.authenticate('default', t1);
    await a.authenticate('default', t2);
    const connection = {};
    const other = {};
    // Each step: the tenant and token a request presents; the connection's answer must equal the plain one.
    const steps: [string, string][] = [
      ['default', t1],
      ['default', t1],
      ['default', t2],
      ['default', t1],
      ['other-tenant', t1],
      ['default', t1],
      ['default', `${t1}x`],
      ['default', 'not-a-token'],
      ['default', t1],
    ];
    const seen: (string | null | undefined)[] = [];
    for (const [tenant, token] of steps) {
      const plain = a.authenticateCached(tenant, token);
      expect(a.authenticateCached(tenant, token, connection)).toBe(plain);
      seen.push(plain === undefined || plain === null ? plain : plain.id);
    }
    expect(seen).toEqual([k1.id, k1.id, k2.id, k1.id, undefined, k1.id, undefined, null, k1.id]);
    // A revocation is seen at once on a connection that presented the token before, and on no other.
    expect(a.authenticateCached('default', t1, other)?.id).toBe(k1.id);
    await a.revoke(ctx, k1.id);
    expect(a.authenticateCached('default', t1, connection)).toBeUndefined();
    expect(a.authenticateCached('default', t1, other)).toBeUndefined();
    expect(await a.authenticate('default', t1)).toBeNull();
    expect(a.authenticateCached('default', t2, connection)?.id).toBe(k2.id);
    // A rotated secret: the old one stops on the connection that used it, the new one works there.
    const { token: t3 } = await a.rotate(ctx, k2.id);
    expect(a.authenticateCached('default', t2, connection)).toBeUndefined();
    expect((await a.authenticate('default', t3))?.id).toBe(k2.id);
    expect(a.authenticateCached('default', t3, connection)?.id).toBe(k2.id);
    expect(a.authenticateCached('default', t2, connection)).toBeUndefined();
  });

  it('does not cache unknown tokens, and with a TTL of 0 reads the database every time', async () => {
    const off = new ApiTokenService(storage, new AuditLog(storage.kind, clock), clock, { cacheTtlSeconds: 0 });
    const { token, apiToken } = await off.create(ctx, { name: 'uncached', scopes: ['authz'] });
    expect(await idOf(off, token)).toBe(apiToken.id);
    expect(await idOf(a, token)).toBe(apiToken.id);
    await a.revoke(ctx, apiToken.id);
    expect(await idOf(off, token)).toBeNull();
    expect(await idOf(a, `${token}x`)).toBeNull();
    expect(await idOf(a, 'gh_at_unknown')).toBeNull();
  });
});
