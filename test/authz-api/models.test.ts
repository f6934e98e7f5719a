/** Model versions per store: DSL and JSON validation with positions, built-in types, changelog and audit, on both backends. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { FixedClock } from '../../src/kernel/clock.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { modelFromDsl, modelFromJson } from '../../src/authz/validation.js';
import { describeEachBackend } from '../support/backends.js';
import { DOCS_MODEL, failure, startGatehouse, type Running } from './support.js';


describe('model validation (DSL and JSON)', () => {
  it('reports DSL problems with 1-based line and column', () => {
    const e = failure(() => modelFromDsl('model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [usr]\n'));
    expect(e.code).toBe('invalid_input');
    expect(e.details?.openfga).toBe('invalid_authorization_model');
    expect(e.details?.problems).toEqual([{ message: '`usr` is not a valid type.', line: 6, column: 21, kind: 'invalid-type' }]);
    expect(e.message).toContain('line 6, column 21');
    const syntax = failure(() => modelFromDsl('model\n  schema 1.1\ntype user\n  relations\n    define x [user]\n'));
    expect((syntax.details?.problems as Array<{ line: number }>)[0]?.line).toBe(5);
    const undefinedRel = failure(() => modelFromDsl('model\n  schema 1.1\ntype doc\n  relations\n    define viewer: editor\n'));
    expect(undefinedRel.details?.problems).toEqual([{ message: 'the relation `editor` does not exist.', line: 5, column: 20, kind: 'missing-definition' }]);
    expect(failure(() => modelFromDsl('   ')).details?.openfga).toBe('invalid_authorization_model');
  });

  it('adds the built-in identity types a customer model references but does not declare', () => {
    const m = modelFromDsl('model\n  schema 1.1\ntype document\n  relations\n    define viewer: [user, group#member]\n    define approver: [role#assignee]\n');
    expect(m.type_definitions.map((t) => t.type).sort()).toEqual(['document', 'group', 'role', 'service_account', 'user']);
    const own = modelFromDsl('model\n  schema 1.1\ntype user\n  relations\n    define manager: [user]\ntype document\n  relations\n    define viewer: [user, group#member]\n');
    expect(own.type_definitions.find((t) => t.type === 'user')?.relations).toHaveProperty('manager');
    expect(own.type_definitions.filter((t) => t.type === 'user')).toHaveLength(1);
    const json = modelFromJson({
      schema_version: '1.1',
      type_definitions: [{ type: 'doc', relations: { v: { this: {} } }, metadata: { relations: { v: { directly_related_user_types: [{ type: 'group', relation: 'member' }] } } } }],
    });
    expect(json.type_definitions.map((t) => t.type).sort()).toEqual(['doc', 'group', 'service_account', 'user']);
    // A type that is not built in stays an error.
    expect(failure(() => modelFromDsl('model\n  schema 1.1\ntype doc\n  relations\n    define parent: [folder]\n')).details?.openfga).toBe('invalid_authorization_model');
  });

  it('keeps conditions with typed parameters', () => {
    const m = modelFromDsl(DOCS_MODEL);
    expect(m.conditions).toEqual({
      in_office: {
        name: 'in_office',
        expression: 'ip.in_cidr(office)',
        parameters: { ip: { type_name: 'TYPE_NAME_IPADDRESS' }, office: { type_name: 'TYPE_NAME_STRING' } },
      },
    });
    const cel = failure(() => modelFromDsl('model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define v: [user with c]\ncondition c(x: int) {\n  y > 3\n}\n'));
    expect(cel.details?.problems).toEqual([{ message: "condition 'c': invalid CEL expression: Unknown variable: y", line: 8, column: 3 }]);
    const unused = failure(() => modelFromDsl('model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define v: [user with c]\n'));
    expect(unused.details?.openfga).toBe('invalid_authorization_model');
  });
});

describeEachBackend('model versions per store', (backend) => {
  let r: Running;
  const ctx = cliContext();
  beforeAll(async () => {
    r = await startGatehouse(backend);
  }, 60_000);
  afterAll(async () => r?.close());

  it('stores each version, appends a model changelog row and an audit event in one transaction', async () => {
    const store = await r.gh.authzStores.create(ctx, 'models');
    const before = await r.gh.tuples.currentRevision(r.gh.storage.db);
    const v1 = await r.gh.authzModels.write(ctx, store.id, { dsl: DOCS_MODEL });
    expect(v1.revision).toBe(before + 1);
    const rows = await r.gh.storage.db.selectFrom('authz_changelog').selectAll().where('revision', '=', v1.revision).execute();
    expect(rows.map((x) => ({ op: x.operation, store: x.store_id, type: x.object_type, id: x.object_id }))).toEqual([
      { op: 'model', store: store.id, type: 'authorization_model', id: v1.id },
    ]);
    const audit = await r.gh.audit.list(r.gh.storage.db, ctx.tenantId, { action: 'authz_model.write', limit: 10 });
    expect(audit.map((e) => e.target?.id)).toEqual([v1.id]);
    const v2 = await r.gh.authzModels.write(ctx, store.id, { json: { schema_version: '1.1', type_definitions: [{ type: 'user' }] } });
    expect(v2.id > v1.id).toBe(true);
    expect((await r.gh.authzModels.latest(ctx, store.id))?.id).toBe(v2.id);
    const first = await r.gh.authzModels.get(ctx, store.id, v1.id);
    expect(first.dsl).toBe(DOCS_MODEL);
    expect(r.gh.authzModels.dslOf(first)).toBe(DOCS_MODEL);
    expect(r.gh.authzModels.dslOf(await r.gh.authzModels.get(ctx, store.id, v2.id))).toContain('type user');
  });

  it('writes nothing for an invalid model and refuses the built-in store', async () => {
    const store = await r.gh.authzStores.create(ctx, 'bad');
    const count = async () => Number((await r.gh.storage.db.selectFrom('authz_models').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const n = await count();
    await expect(r.gh.authzModels.write(ctx, store.id, { dsl: 'model\n  schema 1.1\ntype doc\n  relations\n    define viewer: [usr]\n' })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(r.gh.authzModels.write(ctx, 'gatehouse', { dsl: DOCS_MODEL })).rejects.toMatchObject({ code: 'invalid_input', details: { openfga: 'validation_error' } });
    await expect(r.gh.authzModels.write(ctx, '01ARZ3NDEKTSV4RRFFQ69G5FAV', { dsl: DOCS_MODEL })).rejects.toMatchObject({ code: 'not_found', details: { openfga: 'store_id_not_found' } });
    expect(await count()).toBe(n);
    expect(await r.gh.authzModels.latest(ctx, store.id)).toBeNull();
  });

  it('serves the built-in store read-only through the HTTP API', async () => {
    const latest = await r.call('GET', '/stores/gatehouse/authorization-models');
    expect(latest.status).toBe(200);
    expect(latest.body.authorization_models[0].type_definitions.map((t: { type: string }) => t.type)).toEqual(['user', 'service_account', 'group', 'role', 'permission', 'application']);
    const write = await r.call('POST', '/stores/gatehouse/write', { writes: { tuple_keys: [{ user: 'user:a', relation: 'member', object: 'group:g' }] } });
    expect(write.status).toBe(400);
    expect(write.body.code).toBe('validation_error');
    const del = await r.call('DELETE', '/stores/gatehouse');
    expect(del.status).toBe(403);
    const bad = await r.call('POST', `/stores/${(await r.gh.authzStores.create(ctx, 'x')).id}/authorization-models`, '{"schema_version":');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_error');
    const malformedModel = await r.call('GET', '/stores/gatehouse/assertions/x');
    expect([malformedModel.status, malformedModel.body.code]).toEqual([400, 'validation_error']);
    const unknownModel = await r.call('GET', '/stores/gatehouse/assertions/01JZZZZZZZZZZZZZZZZZZZZZZZ');
    expect([unknownModel.status, unknownModel.body.code]).toEqual([400, 'authorization_model_not_found']);
    const unknown = await r.call('GET', '/stores/gatehouse/nothing/x');
    expect([unknown.status, unknown.body.code]).toEqual([404, 'undefined_endpoint']);
  });

  it('returns the consistency token of writes in x-gatehouse-revision', async () => {
    const store = await r.gh.authzStores.create(ctx, 'rev');
    const m = await r.call('POST', `/stores/${store.id}/authorization-models`, { schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc', relations: { v: { this: {} } }, metadata: { relations: { v: { directly_related_user_types: [{ type: 'user' }] } } } }] });
    expect(m.status).toBe(201);
    const w = await r.call('POST', `/stores/${store.id}/write`, { writes: { tuple_keys: [{ user: 'user:a', relation: 'v', object: 'doc:1' }] } });
    expect(w.status).toBe(200);
    expect(w.body).toEqual({});
    expect(Number(w.headers['x-gatehouse-revision'])).toBe(Number(m.headers['x-gatehouse-revision']) + 1);
  });
});

describeEachBackend('model and store ids written within one millisecond', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  const ctx = cliContext();
  const clock = new FixedClock('2026-03-01T12:00:00.000Z');
  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: db.url, logLevel: 'silent' }), logger: createLogger('silent'), clock });
  }, 60_000);
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('the later model of a store is its latest and comes first in its list, though the clock did not move (ULIDs are monotonic within a millisecond)', async () => {
    const store = await gh.authzStores.create(ctx, 'same-ms');
    const written: string[] = [];
    for (let i = 0; i < 8; i++) {
      written.push((await gh.authzModels.write(ctx, store.id, { json: { schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: `doc${i}` }] } })).id);
      expect((await gh.authzModels.latest(ctx, store.id))?.id).toBe(written[i]);
    }
    expect(new Set(written.map((id) => id.slice(0, 10))).size).toBe(1); // one millisecond
    expect((await gh.authzModels.list(ctx, store.id)).models.map((m) => m.id)).toEqual([...written].reverse());
  });

  it('stores created within one millisecond are listed in creation order', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `same-ms-store-${i}`);
    const made: string[] = [];
    for (const name of names) made.push((await gh.authzStores.create(ctx, name)).id);
    const listed = (await gh.authzStores.list(ctx)).stores.filter((s) => names.includes(s.name));
    expect(listed.map((s) => s.name)).toEqual(names);
    expect(listed.map((s) => s.id)).toEqual(made);
  });
});
