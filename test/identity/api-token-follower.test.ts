/**
 * Two instances on one database (SQLite and PostgreSQL): a revocation or rotation made by one (as
 * the CLI does, in its own process) stops the old secret on the other within the follower's bound
 * (poll interval + one query; on PostgreSQL the NOTIFY usually makes it sooner), even though the
 * other's cache TTL is an hour. Polls with a deadline, never a fixed sleep.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { systemClock } from '../../src/kernel/clock.js';
import { ApiTokenRevocationFollower } from '../../src/identity/api-token-follower.js';
import { ApiTokenService } from '../../src/identity/api-tokens.js';
import { createIdentityServices } from '../../src/identity/index.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import type { Storage } from '../../src/storage/database.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';
import { ctx } from './fixture.js';

const POLL_MS = 1000;
/** Generous for a shared, loaded machine; the documented bound is POLL_MS plus one query. */
const DEADLINE_MS = 5 * POLL_MS;

describeEachBackend('API token revocations reach other instances', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let server: ApiTokenService;
  let cli: ApiTokenService;
  let follower: ApiTokenRevocationFollower;
  beforeAll(async () => {
    let url: string;
    ({ storage, close, url } = await freshStorage(backend));
    const audit = new AuditLog(storage.kind, systemClock);
    server = new ApiTokenService(storage, audit, systemClock, { cacheTtlSeconds: 3600 });
    cli = new ApiTokenService(storage, audit, systemClock, { cacheTtlSeconds: 3600 });
    follower = new ApiTokenRevocationFollower({ storage, tokens: server, pollIntervalMs: POLL_MS, listenUrl: storage.kind === 'postgres' ? url : null });
    await follower.start();
  });
  afterAll(async () => {
    await follower?.close();
    await close?.();
  });

  const idOf = async (token: string) => (await server.authenticate('default', token))?.id ?? null;

  /** Polls the server until `token` is refused; returns how long it took (ms), or fails at the deadline. */
  async function refusedWithin(token: string): Promise<number> {
    const start = Date.now();
    while (Date.now() - start < DEADLINE_MS) {
      if ((await idOf(token)) === null) return Date.now() - start;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`token still accepted after ${DEADLINE_MS} ms`);
  }

  it('a revocation by another instance', async () => {
    const { token, apiToken } = await cli.create(ctx, { name: 'revoked-elsewhere', scopes: ['authz'] });
    expect(await idOf(token)).toBe(apiToken.id);
    expect(await idOf(token)).toBe(apiToken.id); // cached now
    await cli.revoke(ctx, apiToken.id);
    expect(await refusedWithin(token)).toBeLessThan(DEADLINE_MS);
    expect(await idOf(token)).toBeNull();
  });

  it('a rotation by another instance: the old secret stops, the new one works', async () => {
    const { token: old, apiToken } = await cli.create(ctx, { name: 'rotated-elsewhere', scopes: ['authz'] });
    expect(await idOf(old)).toBe(apiToken.id);
    const { token: fresh } = await cli.rotate(ctx, apiToken.id);
    expect(await refusedWithin(old)).toBeLessThan(DEADLINE_MS);
    expect(await idOf(fresh)).toBe(apiToken.id);
  });

  it('a user deprovisioned by another instance: its bound token is refused', async () => {
    const ids = createIdentityServices({ storage, audit: new AuditLog(storage.kind, systemClock), tuples: new TupleStore(systemClock), clock: systemClock, apiTokens: cli });
    const user = await ids.users.create(ctx, { userName: 'leaver-lee' });
    const { token, apiToken } = await cli.create(ctx, { name: 'bound', scopes: ['scim'], userId: user.id });
    expect(await idOf(token)).toBe(apiToken.id);
    await ids.users.setActive(ctx, user.id, false);
    expect(await refusedWithin(token)).toBeLessThan(DEADLINE_MS);
  });

  it('an unrelated token stays cached and accepted', async () => {
    const { token, apiToken } = await cli.create(ctx, { name: 'bystander', scopes: ['authz'] });
    expect(await idOf(token)).toBe(apiToken.id);
    const other = await cli.create(ctx, { name: 'other', scopes: ['authz'] });
    await cli.revoke(ctx, other.apiToken.id);
    await follower.catchUp();
    expect(await idOf(token)).toBe(apiToken.id);
  });
});
