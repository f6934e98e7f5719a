import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { AuthzService } from '../../src/authz/service.js';
import { isGatehouseError } from '../../src/kernel/errors.js';
import type { FixedClock } from '../../src/kernel/clock.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';
import { ctx, holds, newClock, setEnabled, tuples, writeTuples } from './support.js';

describeEachBackend('authorization service: built-in model over the index', (backend) => {
  let storage: Storage;
  let url: string;
  let close: () => Promise<void>;
  let clock: FixedClock;
  let store: TupleStore;
  let authz: AuthzService;

  beforeAll(async () => {
    ({ storage, url, close } = await freshStorage(backend));
    clock = newClock();
    store = new TupleStore(clock, { notify: backend.kind === 'postgres' });
    authz = await AuthzService.start({ storage, clock, tuples: store, listenUrl: url, pollIntervalMs: 50 });
  });
  afterAll(async () => {
    await authz.close();
    await close();
  });

  it('grants a permission through a role assigned directly to a user', async () => {
    const rev = await writeTuples(storage, store, {
      writes: tuples('permission:documents:read#granted@role:reader#assignee', 'role:reader#assignee@user:alice'),
    });
    expect(rev).toBeGreaterThan(0);
    expect(await holds(authz, 'user:alice', 'documents:read', rev)).toBe(true);
    expect(await holds(authz, 'user:alice', 'documents:write')).toBe(false);
    expect(await holds(authz, 'user:bob', 'documents:read')).toBe(false);
    expect(authz.currentRevision()).toBe(rev);
  });

  it('grants through a role assigned to a group', async () => {
    const rev = await writeTuples(storage, store, {
      writes: tuples('permission:reports:view#granted@role:analyst#assignee', 'role:analyst#assignee@group:finance#member', 'group:finance#member@user:bob'),
    });
    expect(await holds(authz, 'user:bob', 'reports:view', rev)).toBe(true);
    expect(await holds(authz, 'user:alice', 'reports:view')).toBe(false);
  });

  it('grants through groups nested three deep, to users and service accounts', async () => {
    const rev = await writeTuples(storage, store, {
      writes: tuples(
        'permission:builds:run#granted@role:builder#assignee',
        'role:builder#assignee@group:engineering#member',
        'group:engineering#member@group:platform#member',
        'group:platform#member@group:sre#member',
        'group:sre#member@user:carol',
        'group:sre#member@service_account:ci-bot',
      ),
    });
    expect(await holds(authz, 'user:carol', 'builds:run', rev)).toBe(true);
    expect(await holds(authz, 'service_account:ci-bot', 'builds:run')).toBe(true);
    // A user is not a service account: type restrictions and ids both matter.
    expect(await holds(authz, 'service_account:carol', 'builds:run')).toBe(false);
    // The group itself (not its members) holds nothing.
    expect(await holds(authz, 'group:sre', 'builds:run')).toBe(false);
  });

  it('answers a userset subject (is group:sre#member in role:builder#assignee?)', async () => {
    const res = await authz.check(ctx, { subject: { type: 'group', id: 'sre', relation: 'member' }, relation: 'assignee', object: { type: 'role', id: 'builder' } });
    expect(res.decision).toBe(true);
    const no = await authz.check(ctx, { subject: { type: 'group', id: 'finance', relation: 'member' }, relation: 'assignee', object: { type: 'role', id: 'builder' } });
    expect(no.decision).toBe(false);
  });

  it('denies once the role assignment is removed', async () => {
    expect(await holds(authz, 'user:alice', 'documents:read')).toBe(true);
    const rev = await writeTuples(storage, store, { deletes: tuples('role:reader#assignee@user:alice') });
    expect(await holds(authz, 'user:alice', 'documents:read', rev)).toBe(false);
  });

  it('denies through an expired assignment (expiry read from the injected clock)', async () => {
    const soon = new Date(clock.now().getTime() + 60_000).toISOString();
    const past = new Date(clock.now().getTime() - 1).toISOString();
    const rev = await writeTuples(storage, store, {
      writes: [
        ...tuples('permission:payroll:approve#granted@role:approver#assignee'),
        ...tuples({ t: 'role:approver#assignee@user:erin', expiresAt: soon }, { t: 'role:approver#assignee@user:frank', expiresAt: past }),
      ],
    });
    expect(await holds(authz, 'user:erin', 'payroll:approve', rev)).toBe(true);
    expect(await holds(authz, 'user:frank', 'payroll:approve')).toBe(false);
    clock.advanceSeconds(60);
    expect(await holds(authz, 'user:erin', 'payroll:approve')).toBe(false);
    // Re-granting without an expiry (delete + write in one revision) grants again.
    const rev2 = await writeTuples(storage, store, {
      deletes: tuples('role:approver#assignee@user:erin'),
      writes: tuples('role:approver#assignee@user:erin'),
    });
    expect(await holds(authz, 'user:erin', 'payroll:approve', rev2)).toBe(true);
  });

  it('denies a disabled subject and allows it again once re-enabled', async () => {
    expect(await holds(authz, 'user:bob', 'reports:view')).toBe(true);
    const off = await setEnabled(storage, store, 'user', 'bob', false);
    expect(await holds(authz, 'user:bob', 'reports:view', off)).toBe(false);
    const on = await setEnabled(storage, store, 'user', 'bob', true);
    expect(await holds(authz, 'user:bob', 'reports:view', on)).toBe(true);
    const saOff = await setEnabled(storage, store, 'service_account', 'ci-bot', false);
    expect(await holds(authz, 'service_account:ci-bot', 'builds:run', saOff)).toBe(false);
    expect(await holds(authz, 'user:carol', 'builds:run')).toBe(true);
  });

  it('terminates on cycles in group nesting', async () => {
    const rev = await writeTuples(storage, store, {
      writes: tuples(
        'permission:cycle:test#granted@role:cyclic#assignee',
        'role:cyclic#assignee@group:c1#member',
        'group:c1#member@group:c2#member',
        'group:c2#member@group:c3#member',
        'group:c3#member@group:c1#member',
        'group:c2#member@group:c2#member',
      ),
    });
    expect(await holds(authz, 'user:dave', 'cycle:test', rev)).toBe(false);
    const rev2 = await writeTuples(storage, store, { writes: tuples('group:c3#member@user:dave') });
    expect(await holds(authz, 'user:dave', 'cycle:test', rev2)).toBe(true);
  });

  it('fails with resolution_too_complex past the depth limit, and not below it', async () => {
    const chain = ['permission:deep:go#granted@role:deep#assignee', 'role:deep#assignee@group:d0#member'];
    for (let i = 0; i < 30; i++) chain.push(`group:d${i}#member@group:d${i + 1}#member`);
    chain.push('group:d30#member@user:gina', 'group:d5#member@user:hank');
    const rev = await writeTuples(storage, store, { writes: tuples(...chain) });
    // hank is found 8 hops down, before the search goes deeper.
    expect(await holds(authz, 'user:hank', 'deep:go', rev)).toBe(true);
    const err = await holds(authz, 'user:gina', 'deep:go').catch((e: unknown) => e);
    expect(isGatehouseError(err, 'resolution_too_complex')).toBe(true);
    expect((err as { details?: unknown }).details).toEqual({ maxDepth: 25 });
  });

  it('rejects malformed check requests with invalid_input', async () => {
    const bad = await authz
      .check(ctx, { subject: { type: '', id: 'x' }, relation: 'granted', object: { type: 'permission', id: 'a:b' } })
      .catch((e: unknown) => e);
    expect(isGatehouseError(bad, 'invalid_input')).toBe(true);
    const badRev = await authz
      .check(ctx, { subject: { type: 'user', id: 'x' }, relation: 'granted', object: { type: 'permission', id: 'a:b' }, atLeastRevision: -1 })
      .catch((e: unknown) => e);
    expect(isGatehouseError(badRev, 'invalid_input')).toBe(true);
  });

  it('answers false for unknown stores, objects, relations and subjects', async () => {
    expect((await authz.check(ctx, { storeId: 'nope', subject: { type: 'user', id: 'carol' }, relation: 'granted', object: { type: 'permission', id: 'builds:run' } })).decision).toBe(false);
    expect((await authz.check(ctx, { subject: { type: 'user', id: 'carol' }, relation: 'nothing', object: { type: 'permission', id: 'builds:run' } })).decision).toBe(false);
    expect((await authz.check(ctx, { subject: { type: 'alien', id: 'x' }, relation: 'granted', object: { type: 'permission', id: 'builds:run' } })).decision).toBe(false);
    expect(await holds(authz, 'user:nobody', 'nothing:here')).toBe(false);
  });
});

describeEachBackend('authorization index: building and following the changelog', (backend) => {
  let storage: Storage;
  let url: string;
  let close: () => Promise<void>;
  let clock: FixedClock;
  /** A writer the services under test do not hear about in-process (as another replica's writes). */
  let writer: TupleStore;
  const started: AuthzService[] = [];
  const opened: Storage[] = [];

  beforeAll(async () => {
    ({ storage, url, close } = await freshStorage(backend));
    clock = newClock();
    writer = new TupleStore(clock, { notify: backend.kind === 'postgres' });
    await writeTuples(storage, writer, {
      writes: tuples('permission:wiki:edit#granted@role:editor#assignee', 'role:editor#assignee@group:writers#member', 'group:writers#member@user:ivy'),
    });
  });
  afterAll(async () => {
    for (const s of started) await s.close();
    for (const s of opened) await s.close();
    await close();
  });

  async function start(options: { pollIntervalMs?: number; revisionWaitMs?: number; on?: Storage; listen?: boolean } = {}): Promise<AuthzService> {
    const listenUrl = options.listen === false ? undefined : url;
    const s = await AuthzService.start({ storage: options.on ?? storage, clock, listenUrl, pollIntervalMs: options.pollIntervalMs ?? 50, revisionWaitMs: options.revisionWaitMs });
    started.push(s);
    return s;
  }

  it('builds from the tuples and revision already in the database', async () => {
    const authz = await start();
    expect(authz.currentRevision()).toBe(1);
    expect(await holds(authz, 'user:ivy', 'wiki:edit')).toBe(true);
  });

  it('loads disabled users and service accounts (status not active) at build time', async () => {
    const now = clock.now().toISOString();
    const base = { tenant_id: 'default', created_at: now, updated_at: now, extra: '{}' };
    await storage.db.insertInto('users').values({ ...base, id: 'ivy', user_name: 'ivy', user_name_norm: 'ivy', status: 'suspended' } as never).execute();
    await storage.db.insertInto('users').values({ ...base, id: 'jack', user_name: 'jack', user_name_norm: 'jack', status: 'active' } as never).execute();
    const rev = await writeTuples(storage, writer, { writes: tuples('group:writers#member@user:jack') });
    const authz = await start();
    expect(authz.currentRevision()).toBe(rev);
    expect(await holds(authz, 'user:ivy', 'wiki:edit')).toBe(false);
    expect(await holds(authz, 'user:jack', 'wiki:edit')).toBe(true);
    // Re-enabling through the changelog lifts the build-time mark.
    const on = await setEnabled(storage, writer, 'user', 'ivy', true);
    expect(await holds(authz, 'user:ivy', 'wiki:edit', on)).toBe(true);
  });

  it('picks up a write made after the build by polling, without being asked', async () => {
    const authz = await start({ pollIntervalMs: 20 });
    const rev = await writeTuples(storage, writer, { writes: tuples('group:writers#member@user:kate') });
    await vi.waitFor(() => expect(authz.currentRevision()).toBeGreaterThanOrEqual(rev), { timeout: 3000, interval: 10 });
    expect(await holds(authz, 'user:kate', 'wiki:edit')).toBe(true);
  });

  it('waits for atLeastRevision instead of answering from a stale index', async () => {
    // No LISTEN here: on PostgreSQL a NOTIFY could otherwise bring the index up to date
    // before the first assertion, and the test is about the wait, not the notification.
    const authz = await start({ pollIntervalMs: 60_000, listen: false });
    const rev = await writeTuples(storage, writer, { writes: tuples('group:writers#member@user:liam') });
    expect(authz.currentRevision()).toBeLessThan(rev);
    expect(await holds(authz, 'user:liam', 'wiki:edit', rev)).toBe(true);
    expect(authz.currentRevision()).toBe(rev);
  });

  it('fails with revision_timeout when the revision never arrives', async () => {
    const authz = await start({ revisionWaitMs: 150 });
    const t0 = Date.now();
    const err = await holds(authz, 'user:ivy', 'wiki:edit', 1_000_000).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'revision_timeout')).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('sees its own process’s writes at once (read-your-writes without a token)', async () => {
    const local = new TupleStore(clock, { notify: backend.kind === 'postgres' });
    const authz = await AuthzService.start({ storage, clock, tuples: local, pollIntervalMs: 60_000 });
    started.push(authz);
    const rev = await writeTuples(storage, local, { writes: tuples('group:writers#member@user:mia') });
    expect(await holds(authz, 'user:mia', 'wiki:edit')).toBe(true);
    expect(authz.currentRevision()).toBe(rev);
    const off = await setEnabled(storage, local, 'user', 'mia', false);
    expect(await holds(authz, 'user:mia', 'wiki:edit')).toBe(false);
    expect(authz.currentRevision()).toBe(off);
  });

  it('a replica on its own connection sees the writes of another process through the changelog', async () => {
    const replicaStorage = openStorage(url);
    opened.push(replicaStorage);
    // Long polling period: on PostgreSQL the NOTIFY wakes the replica; on SQLite the token does.
    const replica = await start({ on: replicaStorage, pollIntervalMs: backend.kind === 'postgres' ? 60_000 : 30 });
    const primaryStore = new TupleStore(clock, { notify: backend.kind === 'postgres' });
    const primary = await AuthzService.start({ storage, clock, tuples: primaryStore, pollIntervalMs: 60_000 });
    started.push(primary);
    const rev = await writeTuples(storage, primaryStore, {
      writes: tuples('permission:ledger:close#granted@role:closer#assignee', 'role:closer#assignee@user:noah'),
    });
    expect(await holds(primary, 'user:noah', 'ledger:close')).toBe(true);
    await vi.waitFor(() => expect(replica.currentRevision()).toBeGreaterThanOrEqual(rev), { timeout: 3000, interval: 10 });
    expect(await holds(replica, 'user:noah', 'ledger:close')).toBe(true);
    const del = await writeTuples(storage, primaryStore, { deletes: tuples('role:closer#assignee@user:noah') });
    expect(await holds(replica, 'user:noah', 'ledger:close', del)).toBe(false);
  });

  it('reads a revision larger than one batch whole', async () => {
    const many: string[] = [];
    for (let i = 0; i < 120; i++) many.push(`group:bulk#member@user:u${i}`);
    many.push('role:editor#assignee@group:bulk#member');
    const rev = await writeTuples(storage, writer, { writes: tuples(...many) });
    const { ChangelogFollower } = await import('../../src/authz/follower.js');
    const { TupleIndex } = await import('../../src/authz/index.js');
    const index = new TupleIndex();
    index.revision = rev - 1;
    const f = new ChangelogFollower({ storage, index, batchRows: 50 });
    await f.catchUp();
    await f.close();
    expect(index.revision).toBe(rev);
    expect(index.store('default', 'gatehouse')?.tupleCount).toBe(121);
  });
});

describe('authorization service: close', () => {
  it('stops following and is idempotent', async () => {
    const s = openStorage('sqlite::memory:');
    const { migrateToLatest } = await import('../../src/storage/migrate.js');
    await migrateToLatest(s);
    const authz = await AuthzService.start({ storage: s, clock: newClock(), pollIntervalMs: 10 });
    await authz.close();
    await authz.close();
    await s.close();
    expect(authz.currentRevision()).toBe(0);
  });
});
