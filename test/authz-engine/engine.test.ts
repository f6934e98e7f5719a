/** The engine through AuthzService on both backends: per-store models, overlay, conditions, contextual tuples, lists, expand, explain, decision log. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Storage } from '../../src/storage/database.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { AuthzService } from '../../src/authz/service.js';
import { DecisionLog } from '../../src/authz/decision-log.js';
import { parseTuple } from '../../src/authz/tuples.js';
import type { AuthorizationModel } from '../../src/authz/model.js';
import type { FixedClock } from '../../src/kernel/clock.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';
import { ctx, newClock } from '../authz/support.js';
import { writeModel, writeTo } from './support.js';

const S = 'docs-store';
const u = (id: string) => ({ type: 'user', id });
const doc = (id: string) => ({ type: 'document', id });

// model
//   schema 1.1
// type user
// type group  relations  define member: [user, group#member]   (a Gatehouse identity type: overlaid)
// type folder relations  define viewer: [user, group#member] or viewer from parent ; define parent: [folder]
// type document relations
//   define parent: [folder, folder with in_office]   (several parents)
//   define owner: [user]
//   define blocked: [user, user:*]
//   define viewer: [user, user:*, group#member, user with in_office] or owner or viewer from parent
//   define can_view: viewer but not blocked
//   define can_edit: owner and viewer
// condition in_office(ip: ipaddress, cidr: string) { ip.in_cidr(cidr) }
const MODEL: AuthorizationModel = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    { type: 'group', relations: { member: { this: {} } }, metadata: { relations: { member: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] } } } },
    {
      type: 'folder',
      relations: { parent: { this: {} }, viewer: { union: { child: [{ this: {} }, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } } },
      metadata: { relations: { parent: { directly_related_user_types: [{ type: 'folder' }] }, viewer: { directly_related_user_types: [{ type: 'user' }, { type: 'group', relation: 'member' }] } } },
    },
    {
      type: 'document',
      relations: {
        parent: { this: {} },
        owner: { this: {} },
        blocked: { this: {} },
        viewer: { union: { child: [{ this: {} }, { computedUserset: { relation: 'owner' } }, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } },
        can_view: { difference: { base: { computedUserset: { relation: 'viewer' } }, subtract: { computedUserset: { relation: 'blocked' } } } },
        can_edit: { intersection: { child: [{ computedUserset: { relation: 'owner' } }, { computedUserset: { relation: 'viewer' } }] } },
      },
      metadata: {
        relations: {
          parent: { directly_related_user_types: [{ type: 'folder' }, { type: 'folder', condition: 'in_office' }] },
          owner: { directly_related_user_types: [{ type: 'user' }] },
          blocked: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }] },
          viewer: { directly_related_user_types: [{ type: 'user' }, { type: 'user', wildcard: {} }, { type: 'group', relation: 'member' }, { type: 'user', condition: 'in_office' }] },
        },
      },
    },
  ],
  conditions: {
    in_office: { name: 'in_office', expression: 'ip.in_cidr(cidr)', parameters: { ip: { type_name: 'TYPE_NAME_IPADDRESS' }, cidr: { type_name: 'TYPE_NAME_STRING' } } },
  },
};

describeEachBackend('authorization engine through AuthzService', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let clock: FixedClock;
  let store: TupleStore;
  let authz: AuthzService;
  let rev = 0;

  beforeAll(async () => {
    let url: string;
    ({ storage, url, close } = await freshStorage(backend));
    clock = newClock();
    store = new TupleStore(clock, { notify: backend.kind === 'postgres' });
    // A model written before start is loaded at build; one written after arrives through the changelog.
    await writeModel(storage, S, '01JAAAAAAAAAAAAAAAAAAAAAA1', { schema_version: '1.1', type_definitions: [{ type: 'user' }] });
    const decisionLog = new DecisionLog({ storage, clock, mode: 'full', flushIntervalMs: 60_000 });
    authz = await AuthzService.start({ storage, clock, tuples: store, listenUrl: url, pollIntervalMs: 50, decisionLog });
    expect(authz.latestModelId(ctx.tenantId, S)).toBe('01JAAAAAAAAAAAAAAAAAAAAAA1');
    rev = await writeModel(storage, S, '01JBBBBBBBBBBBBBBBBBBBBBB2', MODEL);
    await writeTo(storage, store, 'gatehouse', ['group:eng#member@user:gina', 'group:eng#member@group:sre#member', 'group:sre#member@user:sam']);
    rev = await writeTo(storage, store, S, [
      'folder:root#viewer@group:eng#member',
      'folder:sub#parent@folder:root',
      'folder:other#viewer@user:olga',
      'document:plan#parent@folder:sub',
      'document:plan#parent@folder:other',
      'document:plan#owner@user:ann',
      'document:plan#blocked@user:sam',
      'document:pub#viewer@user:*',
      'document:pub#blocked@user:bob',
      { ...parseTuple('document:lab#viewer@user:vic'), condition: { name: 'in_office', context: { cidr: '10.0.0.0/8' } } },
    ]);
    await authz.waitForRevision(rev);
  });
  afterAll(async () => {
    await authz.close();
    await close();
  });

  const check = async (subject: { type: string; id: string; relation?: string }, relation: string, object: { type: string; id: string }, extra: Record<string, unknown> = {}) =>
    (await authz.check(ctx, { storeId: S, subject, relation, object, ...extra })).decision;

  it('uses the store latest model, loaded from the changelog; an older version by id', async () => {
    expect(authz.latestModelId(ctx.tenantId, S)).toBe('01JBBBBBBBBBBBBBBBBBBBBBB2');
    expect(await check(u('ann'), 'viewer', doc('plan'))).toBe(true);
    await expect(authz.check(ctx, { storeId: S, authorizationModelId: '01JAAAAAAAAAAAAAAAAAAAAAA1', subject: u('ann'), relation: 'viewer', object: doc('plan') })).rejects.toMatchObject({
      code: 'invalid_input',
      details: { reason: 'unknown_type' },
    });
    await expect(authz.check(ctx, { storeId: S, authorizationModelId: 'nope', subject: u('ann'), relation: 'viewer', object: doc('plan') })).rejects.toMatchObject({
      code: 'not_found',
      details: { resource: 'authorization_model' },
    });
    await expect(check(u('ann'), 'nothing', doc('plan'))).rejects.toMatchObject({ code: 'invalid_input', details: { reason: 'unknown_relation' } });
  });

  it('overlays Gatehouse groups (built-in store) into the customer store, nested', async () => {
    expect(await check(u('gina'), 'viewer', doc('plan'))).toBe(true); // plan → sub → root ← group:eng (built-in store)
    expect(await check(u('sam'), 'viewer', doc('plan'))).toBe(true); // eng ∋ sre ∋ sam
    expect(await check(u('nobody'), 'viewer', doc('plan'))).toBe(false);
  });

  it('tuple-to-userset with several parents: either parent grants', async () => {
    expect(await check(u('olga'), 'viewer', doc('plan'))).toBe(true); // through folder:other
    expect(await check(u('gina'), 'viewer', doc('plan'))).toBe(true); // through folder:sub
  });

  it('exclusion and intersection, with wildcards', async () => {
    expect(await check(u('sam'), 'can_view', doc('plan'))).toBe(false); // viewer but blocked
    expect(await check(u('gina'), 'can_view', doc('plan'))).toBe(true);
    expect(await check(u('anyone'), 'can_view', doc('pub'))).toBe(true); // user:* minus bob
    expect(await check(u('bob'), 'can_view', doc('pub'))).toBe(false);
    expect(await check(u('ann'), 'can_edit', doc('plan'))).toBe(true); // owner and viewer (owner implies viewer)
    expect(await check(u('gina'), 'can_edit', doc('plan'))).toBe(false);
    expect(await check(u('anyone'), 'can_edit', doc('pub'))).toBe(false); // wildcard under intersection: not an owner
  });

  it('conditions: true, false, and missing or wrongly typed context is an error', async () => {
    expect(await check(u('vic'), 'viewer', doc('lab'), { context: { ip: '10.1.2.3' } })).toBe(true);
    expect(await check(u('vic'), 'viewer', doc('lab'), { context: { ip: '192.168.0.1' } })).toBe(false);
    await expect(check(u('vic'), 'viewer', doc('lab'))).rejects.toMatchObject({ code: 'condition_error', details: { condition: 'in_office', missing: ['ip'] } });
    await expect(check(u('vic'), 'viewer', doc('lab'), { context: { ip: 42 } })).rejects.toMatchObject({ code: 'condition_error', details: { parameter: 'ip', expected: 'ipaddress' } });
    // The tuple's stored context wins over the request's.
    expect(await check(u('vic'), 'viewer', doc('lab'), { context: { ip: '10.1.2.3', cidr: '192.168.0.0/16' } })).toBe(true);
  });

  it('contextual tuples count for the request only, and are validated against the model', async () => {
    const contextualTuples = [parseTuple('document:new#owner@user:zed')];
    expect(await check(u('zed'), 'viewer', doc('new'), { contextualTuples })).toBe(true);
    expect(await check(u('zed'), 'viewer', doc('new'))).toBe(false);
    const lo = await authz.listObjects(ctx, { storeId: S, subject: u('zed'), relation: 'viewer', objectType: 'document', contextualTuples });
    expect(lo.objects).toEqual(['document:new', 'document:pub']); // pub: user:* is a viewer
    await expect(check(u('zed'), 'viewer', doc('new'), { contextualTuples: [parseTuple('document:new#owner@group:eng#member')] })).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('ListObjects and ListUsers give exactly the Check answers', async () => {
    const lo = await authz.listObjects(ctx, { storeId: S, subject: u('sam'), relation: 'viewer', objectType: 'document' });
    expect(lo.objects).toEqual(['document:plan', 'document:pub']);
    const lo2 = await authz.listObjects(ctx, { storeId: S, subject: u('sam'), relation: 'can_view', objectType: 'document' });
    expect(lo2.objects).toEqual(['document:pub']);
    const lu = await authz.listUsers(ctx, { storeId: S, object: doc('plan'), relation: 'viewer', userFilters: [{ type: 'user' }] });
    expect(lu.users).toEqual([{ object: { type: 'user', id: 'ann' } }, { object: { type: 'user', id: 'gina' } }, { object: { type: 'user', id: 'olga' } }, { object: { type: 'user', id: 'sam' } }]);
    const lu2 = await authz.listUsers(ctx, { storeId: S, object: doc('pub'), relation: 'can_view', userFilters: [{ type: 'user' }] });
    expect(lu2.users).toEqual([{ wildcard: { type: 'user' } }]);
    const lu3 = await authz.listUsers(ctx, { storeId: S, object: { type: 'folder', id: 'sub' }, relation: 'viewer', userFilters: [{ type: 'group', relation: 'member' }] });
    expect(lu3.users).toEqual([{ userset: { type: 'group', id: 'eng', relation: 'member' } }, { userset: { type: 'group', id: 'sre', relation: 'member' } }]);
  });

  it('expands one level in OpenFGA UsersetTree shape', async () => {
    const ex = await authz.expand(ctx, { storeId: S, object: doc('plan'), relation: 'viewer' });
    expect(ex.tree.root).toEqual({
      name: 'document:plan#viewer',
      union: {
        nodes: [
          { name: 'document:plan#viewer', leaf: { users: { users: [] } } },
          { name: 'document:plan#viewer', leaf: { computed: { userset: 'document:plan#owner' } } },
          { name: 'document:plan#viewer', leaf: { tupleToUserset: { tupleset: 'document:plan#parent', computed: [{ userset: 'folder:other#viewer' }, { userset: 'folder:sub#viewer' }] } } },
        ],
      },
    });
  });

  it('explains an allowed and a denied decision', async () => {
    const yes = await authz.check(ctx, { storeId: S, subject: u('sam'), relation: 'viewer', object: doc('plan'), explain: true });
    expect(yes.decision).toBe(true);
    expect(yes.explanation?.path.map((s) => s.tuple ?? s.kind)).toEqual([
      'document:plan#parent@folder:sub',
      'folder:sub#parent@folder:root',
      'folder:root#viewer@group:eng#member',
      'group:eng#member@group:sre#member',
      'group:sre#member@user:sam',
    ]);
    const no = await authz.check(ctx, { storeId: S, subject: u('sam'), relation: 'can_view', object: doc('plan'), explain: true });
    expect(no.decision).toBe(false);
    expect(no.explanation?.denied).toEqual([{ at: 'document:plan#can_view', reason: 'excluded: document:plan#blocked@user:sam' }]);
    const never = await authz.check(ctx, { storeId: S, subject: u('nobody'), relation: 'owner', object: doc('plan'), explain: true });
    expect(never.explanation?.denied).toEqual([{ at: 'document:plan#owner', reason: 'no tuple names the subject, a wildcard for it, or a userset containing it' }]);
  });

  it('batchCheck answers each item, with per-item errors', async () => {
    const res = await authz.batchCheck(ctx, [
      { correlationId: 'a', storeId: S, subject: u('ann'), relation: 'viewer', object: doc('plan') },
      { correlationId: 'b', storeId: S, subject: u('ann'), relation: 'bogus', object: doc('plan') },
      { correlationId: 'c', storeId: S, subject: u('bob'), relation: 'can_view', object: doc('pub') },
    ]);
    expect(res.map((r) => [r.correlationId, r.decision, r.error?.code])).toEqual([
      ['a', true, undefined],
      ['b', undefined, 'invalid_input'],
      ['c', false, undefined],
    ]);
  });

  it('cycles terminate and a chain past the depth limit is resolution_too_complex', async () => {
    await writeTo(storage, store, 'gatehouse', ['group:c1#member@group:c2#member', 'group:c2#member@group:c1#member']);
    const chain = Array.from({ length: 30 }, (_, i) => `group:n${i}#member@group:n${i + 1}#member`);
    const r = await writeTo(storage, store, 'gatehouse', [...chain, 'group:n30#member@user:deep']);
    expect(await check(u('x'), 'member', { type: 'group', id: 'c1' }, { atLeastRevision: r })).toBe(false);
    await expect(check(u('deep'), 'member', { type: 'group', id: 'n0' })).rejects.toMatchObject({ code: 'resolution_too_complex' });
  });

  it('records when each granting tuple was last used (decision log)', async () => {
    clock.set('2026-03-02T08:00:00.000Z');
    expect(await check(u('olga'), 'viewer', doc('plan'))).toBe(true);
    const at = await authz.tupleLastUsed(ctx, { storeId: S, tuple: parseTuple('folder:other#viewer@user:olga') });
    expect(at).toBe(clock.now().toISOString());
    expect(await authz.tupleLastUsed(ctx, { storeId: S, tuple: parseTuple('document:plan#owner@user:ann') })).not.toBeNull();
    const grants = await authz.grantsLastUsed(ctx, { storeId: S, subject: u('olga') });
    expect(grants).toEqual([{ storeId: S, tuple: expect.objectContaining({ objectType: 'folder', objectId: 'other', relation: 'viewer' }), lastUsedAt: clock.now().toISOString() }]);
    const logged = await storage.db.selectFrom('authz_decision_log').selectAll().where('subject', '=', 'user:olga').execute();
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.every((l) => l.store_id === S && l.object === 'document:plan')).toBe(true);
  });

  it('the check fast path (no decision log) gives the decisions and errors of the general path (decision log on)', async () => {
    const fast = await AuthzService.start({ storage, clock, pollIntervalMs: 60_000 });
    try {
      const outcome = async (engine: AuthzService, req: Parameters<AuthzService['check']>[1]) => {
        try {
          return String((await engine.check(ctx, req)).decision);
        } catch (err) {
          return (err as { code?: string }).code ?? 'throw';
        }
      };
      const subjects = ['ann', 'gina', 'sam', 'olga', 'bob', 'vic', 'nobody', '*', 'deep'].map(u);
      const objects = [...['plan', 'pub', 'lab', 'none'].map(doc), { type: 'group', id: 'n0' }, { type: 'group', id: 'eng' }];
      const relations = ['viewer', 'can_view', 'can_edit', 'owner', 'blocked', 'member'];
      let compared = 0;
      for (const subject of subjects) {
        for (const object of objects) {
          for (const relation of relations) {
            for (const context of [undefined, { ip: '10.1.2.3' }, { ip: '192.168.0.1' }]) {
              for (const storeId of [S, 'gatehouse']) {
                const req = { storeId, subject, relation, object, ...(context ? { context } : {}) };
                expect(await outcome(fast, req), JSON.stringify(req)).toBe(await outcome(authz, req));
                compared++;
              }
            }
          }
        }
      }
      expect(compared).toBe(9 * 6 * 6 * 3 * 2);
      expect(await outcome(fast, { subject: u('deep'), relation: 'member', object: { type: 'group', id: 'n0' } })).toBe('resolution_too_complex');
      expect(await outcome(fast, { storeId: S, subject: u('vic'), relation: 'viewer', object: doc('lab') })).toBe('condition_error');
    } finally {
      await fast.close();
    }
  });

  it('checkEach answers as batchCheck, with the decision log on and off, subjects shared by runs of checks', async () => {
    const fast = await AuthzService.start({ storage, clock, pollIntervalMs: 60_000 });
    try {
      const asBatch = (r: { decision?: boolean; error?: { code: string; message: string; details?: unknown } }) => (r.error ? { code: r.error.code, message: r.error.message, details: r.error.details } : r.decision);
      const objects = [...['plan', 'pub', 'lab', 'none'].map(doc), { type: 'group', id: 'n0' }, { type: 'group', id: 'eng' }, { type: 'nosuchtype', id: 'x' }];
      const relations = ['viewer', 'can_view', 'can_edit', 'owner', 'member', 'bogus', ''];
      const contexts = [undefined, { ip: '10.1.2.3' }, { ip: '192.168.0.1' }, 'not an object'];
      // One object per subject, shared by all its checks (as the AuthZEN batch shares its default subject).
      const subjects = [...['ann', 'gina', 'sam', 'olga', 'bob', 'vic', 'nobody', '*', 'deep'].map(u), { type: 'user', id: '' }, { type: 'nosuchtype', id: 'z' }];
      for (const storeId of [S, 'gatehouse']) {
        const checks = subjects.flatMap((subject) =>
          objects.flatMap((object) => relations.flatMap((relation) => contexts.map((context) => ({ subject, relation, object, ...(context !== undefined ? { context: context as Record<string, unknown> } : {}) })))),
        );
        const expected: unknown[] = [];
        for (let at = 0; at < checks.length; at += 1000) {
          expected.push(...(await authz.batchCheck(ctx, checks.slice(at, at + 1000).map((c, i) => ({ ...c, storeId, correlationId: String(at + i) })))).map(asBatch));
        }
        expect(expected.filter((e) => e === true).length).toBeGreaterThan(0);
        expect(expected.filter((e) => typeof e === 'object').length).toBeGreaterThan(0);
        for (const engine of [fast, authz]) {
          for (let at = 0; at < checks.length; at += 1000) {
            expect(await engine.checkEach(ctx, storeId, checks.slice(at, at + 1000)), `${storeId} from ${at}`).toEqual(expected.slice(at, at + 1000));
          }
        }
      }
      await expect(fast.checkEach(ctx, S, Array.from({ length: 1001 }, () => ({ subject: u('ann'), relation: 'viewer', object: doc('plan') })))).rejects.toMatchObject({ code: 'invalid_input' });
    } finally {
      await fast.close();
    }
  });
});
