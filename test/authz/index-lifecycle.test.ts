/** Index lifecycle: freed nodes when their last tuple goes, and deleted stores leaving the index (both backends). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { AuthzService } from '../../src/authz/service.js';
import { AuthzStoreService } from '../../src/authz/stores.js';
import { TupleIndex } from '../../src/authz/index.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { parseTuple } from '../../src/authz/tuples.js';
import type { Storage } from '../../src/storage/database.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';
import { writeModel, writeTo } from '../authz-engine/support.js';
import { ctx, newClock } from './support.js';

describe('TupleIndex node lifecycle', () => {
  it('frees a node when its last tuple goes, reuses its id, and keeps nodes another store still names', () => {
    const index = new TupleIndex();
    const space = index.space('t');
    const a = index.storeForWrite('t', 'a');
    const b = index.storeForWrite('t', 'b');
    a.write(parseTuple('doc:1#viewer@user:ann'));
    a.write(parseTuple('doc:1#viewer@user:bob'));
    b.write(parseTuple('doc:2#viewer@user:ann'));
    expect(space.liveCount).toBe(4);
    const bob = a.lookupNode('user', 'bob');
    expect(a.delete(parseTuple('doc:1#viewer@user:bob'))).toBe(true);
    expect(a.lookupNode('user', 'bob')).toBe(-1);
    expect(space.liveCount).toBe(3);
    expect([...a.nodesOfType(index.symbols.types.lookup('user'))].map((n) => a.describe(n).id)).toEqual(['ann']);
    // The freed id is reused by the next new node (the object is named first).
    a.write(parseTuple('doc:3#viewer@user:cy'));
    expect(a.lookupNode('doc', '3')).toBe(bob);
    expect(a.describe(bob)).toEqual({ type: 'doc', id: '3' });
    expect(space.liveCount).toBe(5);
    // Dropping store a frees what only it names (doc:1, doc:3, user:cy) and keeps user:ann (store b).
    index.dropStore('t', 'a');
    expect(index.store('t', 'a')).toBeUndefined();
    expect(space.liveCount).toBe(2);
    expect(b.lookupNode('user', 'ann')).toBeGreaterThanOrEqual(0);
    expect(b.lookupNode('doc', '1')).toBe(-1);
    expect(b.lookupNode('user', 'cy')).toBe(-1);
    expect(index.tupleCount).toBe(1);
    // Later writes to the dropped store are ignored.
    index.applyRevision(10, [{ tenantId: 't', storeId: 'a', operation: 'write', tuple: parseTuple('doc:9#viewer@user:zed') }]);
    expect(index.store('t', 'a')).toBeUndefined();
    expect(space.liveCount).toBe(2);
    expect(index.revision).toBe(10);
  });

  it('a wildcard node freed and named again is found again', () => {
    const index = new TupleIndex();
    const g = index.storeForWrite('t', 's');
    g.write(parseTuple('doc:1#viewer@user:*'));
    const userType = index.symbols.types.lookup('user');
    expect(g.wildcardNode(userType)).toBeGreaterThanOrEqual(0);
    g.delete(parseTuple('doc:1#viewer@user:*'));
    expect(g.wildcardNode(userType)).toBe(-1);
    g.write(parseTuple('doc:2#viewer@user:*'));
    expect(g.wildcardNode(userType)).toBe(g.lookupNode('user', '*'));
    expect(g.has(g.lookupNode('doc', '2'), index.symbols.relations.lookup('viewer'), 0, g.wildcardNode(userType))).toBe(true);
  });
});

describeEachBackend('a deleted store leaves the authorization index', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let authz: AuthzService;
  let tuples: TupleStore;
  let stores: AuthzStoreService;

  beforeAll(async () => {
    ({ storage, close } = await freshStorage(backend));
    const clock = newClock();
    tuples = new TupleStore(clock);
    stores = new AuthzStoreService(storage, new AuditLog(storage.kind, clock), clock, tuples);
    authz = await AuthzService.start({ storage, clock, tuples, pollIntervalMs: 60_000 });
  });
  afterAll(async () => {
    await authz.close();
    await close();
  });

  it('drops its tuples and model at once and at the next build; other stores keep theirs', async () => {
    const model = {
      schema_version: '1.1',
      type_definitions: [{ type: 'user' }, { type: 'doc', relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user' }] } } } }],
    };
    const gone = await stores.create(ctx, 'gone');
    const kept = await stores.create(ctx, 'kept');
    await writeModel(storage, gone.id, '01JCCCCCCCCCCCCCCCCCCCCCC1', model);
    await writeModel(storage, kept.id, '01JCCCCCCCCCCCCCCCCCCCCCC2', model);
    await writeTo(storage, tuples, gone.id, ['doc:1#viewer@user:ann', 'doc:2#viewer@user:only-here']);
    await writeTo(storage, tuples, kept.id, ['doc:1#viewer@user:ann']);
    await authz.refresh();
    const viewer = (storeId: string, user: string) => ({ storeId, subject: { type: 'user', id: user }, relation: 'viewer', object: { type: 'doc', id: '1' } });
    expect(authz.checkNow(ctx, viewer(gone.id, 'ann')).decision).toBe(true);
    const before = authz.tupleCount;

    await stores.delete(ctx, gone.id);
    await authz.refresh();
    expect(authz.tupleCount).toBe(before - 2);
    expect(authz.latestModelId(ctx.tenantId, gone.id)).toBeNull();
    expect(authz.checkNow(ctx, viewer(gone.id, 'ann')).decision).toBe(false);
    expect(authz.checkNow(ctx, viewer(kept.id, 'ann')).decision).toBe(true);
    expect((await authz.listObjects(ctx, { storeId: gone.id, subject: { type: 'user', id: 'ann' }, relation: 'viewer', objectType: 'doc' })).objects).toEqual([]);
    // The rows stay in the database (OpenFGA keeps a deleted store's data); a fresh build skips them.
    const rows = await storage.db.selectFrom('authz_tuples').select('object_id').where('store_id', '=', gone.id).execute();
    expect(rows.length).toBe(2);
    const rebuilt = await AuthzService.start({ storage, clock: newClock(), pollIntervalMs: 60_000 });
    try {
      expect(rebuilt.tupleCount).toBe(authz.tupleCount);
      expect(rebuilt.latestModelId(ctx.tenantId, gone.id)).toBeNull();
      expect(rebuilt.checkNow(ctx, viewer(kept.id, 'ann')).decision).toBe(true);
    } finally {
      await rebuilt.close();
    }
  });
});
