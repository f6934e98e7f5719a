/**
 * The official @openfga/sdk (unmodified) against Gatehouse's /stores API over real HTTP, on both
 * backends: stores, models, tuples, queries and OpenFGA's error codes.
 */
import { FgaApiAuthenticationError, FgaApiNotFoundError, FgaApiValidationError, type OpenFgaClient } from '@openfga/sdk';
import syntaxTransformer from '@openfga/syntax-transformer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { DOCS_MODEL, startGatehouse, type Running } from './support.js';

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

async function fgaError(p: Promise<unknown> | (() => Promise<unknown>)): Promise<{ name: string; status?: number; code?: string; message?: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    const e = err as { name: string; statusCode?: number; apiErrorCode?: string; apiErrorMessage?: string };
    return { name: e.name, status: e.statusCode, code: e.apiErrorCode, message: e.apiErrorMessage };
  }
  throw new Error('expected the call to fail');
}

describeEachBackend('OpenFGA API through @openfga/sdk', (backend) => {
  let r: Running;
  let fga: OpenFgaClient;
  let storeId: string;
  let modelId: string;

  beforeAll(async () => {
    r = await startGatehouse(backend);
    const store = await r.client().createStore({ name: 'docs' });
    storeId = store.id;
    fga = r.client({ storeId });
    const json = syntaxTransformer.transformer.transformDSLToJSONObject(DOCS_MODEL);
    modelId = (await fga.writeAuthorizationModel(json as never)).authorization_model_id;
    await fga.write({
      writes: [
        { user: 'user:anne', relation: 'member', object: 'team:eng' },
        { user: 'folder:root', relation: 'parent', object: 'folder:sub' },
        { user: 'user:carl', relation: 'owner', object: 'folder:root' },
        { user: 'folder:sub', relation: 'parent', object: 'document:spec' },
        { user: 'user:dave', relation: 'blocked', object: 'document:spec' },
        { user: 'user:dave', relation: 'viewer', object: 'folder:root' },
        { user: 'team:eng#member', relation: 'editor', object: 'document:spec', condition: { name: 'in_office', context: { office: '10.0.0.0/8' } } },
        { user: 'user:*', relation: 'viewer', object: 'document:public' },
      ],
    });
  }, 60_000);
  afterAll(async () => r?.close());

  it('creates, gets and lists stores with ULID ids and paging', async () => {
    expect(storeId).toMatch(ULID);
    const got = await fga.getStore();
    expect(got.id).toBe(storeId);
    expect(got.name).toBe('docs');
    expect(got.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const root = r.client();
    for (const n of ['s1', 's2', 's3']) await root.createStore({ name: n });
    const page1 = await root.listStores({ pageSize: 2 });
    expect(page1.stores).toHaveLength(2);
    expect(page1.continuation_token).not.toBe('');
    const page2 = await root.listStores({ pageSize: 2, continuationToken: page1.continuation_token });
    const page3 = page2.continuation_token ? await root.listStores({ pageSize: 2, continuationToken: page2.continuation_token }) : { stores: [], continuation_token: '' };
    const names = [...page1.stores, ...page2.stores, ...page3.stores].map((s) => s.name);
    expect(names.sort()).toEqual(['Gatehouse identities', 'docs', 's1', 's2', 's3']);
    expect(page3.continuation_token).toBe('');
    const byName = await root.listStores({ name: 's2' });
    expect(byName.stores.map((s) => s.name)).toEqual(['s2']);
  });

  it('writes and reads versioned models; the latest is the newest', async () => {
    const latest = await fga.readLatestAuthorizationModel();
    expect(latest.authorization_model?.id).toBe(modelId);
    expect(modelId).toMatch(ULID);
    const types = latest.authorization_model!.type_definitions.map((t) => t.type);
    expect(types).toEqual(['user', 'team', 'folder', 'document']);
    expect(Object.keys(latest.authorization_model!.conditions ?? {})).toEqual(['in_office']);
    const one = await fga.readAuthorizationModel({ authorizationModelId: modelId });
    expect(one.authorization_model?.id).toBe(modelId);
    const other = await r.client().createStore({ name: 'versions' });
    const v = r.client({ storeId: other.id });
    const m1 = (await v.writeAuthorizationModel({ schema_version: '1.1', type_definitions: [{ type: 'user' }] })).authorization_model_id;
    const m2 = (await v.writeAuthorizationModel({ schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc' }] })).authorization_model_id;
    const list = await v.readAuthorizationModels();
    expect(list.authorization_models.map((m) => m.id)).toEqual([m2, m1]);
    const paged = await v.readAuthorizationModels({ pageSize: 1 });
    expect(paged.authorization_models.map((m) => m.id)).toEqual([m2]);
    const rest = await v.readAuthorizationModels({ pageSize: 1, continuationToken: paged.continuation_token });
    expect(rest.authorization_models.map((m) => m.id)).toEqual([m1]);
  });

  it('checks with inheritance, usersets, wildcards, exclusion, conditions and contextual tuples', async () => {
    const check = async (user: string, relation: string, object: string, extra: Record<string, unknown> = {}) =>
      (await fga.check({ user, relation, object, ...extra })).allowed;
    expect(await check('user:carl', 'viewer', 'document:spec')).toBe(true);
    expect(await check('user:dave', 'viewer', 'document:spec')).toBe(false);
    expect(await check('user:dave', 'viewer', 'folder:sub')).toBe(true);
    expect(await check('user:zoe', 'viewer', 'document:public')).toBe(true);
    expect(await check('user:zoe', 'viewer', 'document:spec')).toBe(false);
    expect(await check('user:anne', 'editor', 'document:spec', { context: { ip: '10.1.2.3' } })).toBe(true);
    expect(await check('user:anne', 'editor', 'document:spec', { context: { ip: '192.168.1.1' } })).toBe(false);
    const outside = { ip: '192.168.1.1' };
    expect(await check('user:erin', 'editor', 'document:spec', { context: outside, contextualTuples: [{ user: 'user:erin', relation: 'owner', object: 'document:spec' }] })).toBe(true);
    expect(await check('user:erin', 'editor', 'document:spec', { context: outside })).toBe(false);
    // Pinned to the model id, as OpenFGA clients usually are.
    const pinned = r.client({ storeId, authorizationModelId: modelId });
    expect((await pinned.check({ user: 'user:carl', relation: 'viewer', object: 'document:spec' })).allowed).toBe(true);
  });

  it('batch-checks with correlation ids and per-item errors', async () => {
    const res = await fga.batchCheck({
      checks: [
        { user: 'user:carl', relation: 'viewer', object: 'document:spec', correlationId: 'a' },
        { user: 'user:dave', relation: 'viewer', object: 'document:spec', correlationId: 'b' },
        { user: 'user:carl', relation: 'nope', object: 'document:spec', correlationId: 'c' },
      ],
    });
    const by = Object.fromEntries(res.result.map((x) => [x.correlationId, x]));
    expect(by.a?.allowed).toBe(true);
    expect(by.b?.allowed).toBe(false);
    expect(by.b?.error).toBeUndefined();
    expect(by.c?.allowed).toBe(false);
    expect(by.c?.error?.input_error).toBe('relation_not_found');
  });

  it('lists objects and users exactly as Check answers', async () => {
    const objects = await fga.listObjects({ user: 'user:carl', relation: 'viewer', type: 'document' });
    expect(objects.objects.sort()).toEqual(['document:public', 'document:spec']);
    const folders = await fga.listObjects({ user: 'user:dave', relation: 'viewer', type: 'folder' });
    expect(folders.objects.sort()).toEqual(['folder:root', 'folder:sub']);
    const users = await fga.listUsers({ object: { type: 'folder', id: 'sub' }, relation: 'viewer', user_filters: [{ type: 'user' }] });
    const names = users.users.map((u) => (u.object ? `${u.object.type}:${u.object.id}` : u.wildcard ? `${u.wildcard.type}:*` : `${u.userset!.type}:${u.userset!.id}#${u.userset!.relation}`));
    expect(names.sort()).toEqual(['user:carl', 'user:dave']);
    const pub = await fga.listUsers({ object: { type: 'document', id: 'public' }, relation: 'viewer', user_filters: [{ type: 'user' }] });
    expect(pub.users).toEqual([{ wildcard: { type: 'user' } }]);
  });

  it('expands a relation into OpenFGA\'s userset tree', async () => {
    const res = await fga.expand({ relation: 'owner', object: 'folder:root' });
    expect(res.tree?.root?.name).toBe('folder:root#owner');
    expect(res.tree?.root?.leaf?.users?.users).toEqual(['user:carl']);
  });

  it('reads tuples with filters and continuation tokens', async () => {
    const all: string[] = [];
    let token: string | undefined;
    do {
      const page = await fga.read({}, { pageSize: 3, continuationToken: token });
      expect(page.tuples.length).toBeLessThanOrEqual(3);
      all.push(...page.tuples.map((t) => `${t.key.object}#${t.key.relation}@${t.key.user}`));
      token = page.continuation_token || undefined;
    } while (token);
    expect(all).toHaveLength(8);
    expect(new Set(all).size).toBe(8);
    const spec = await fga.read({ object: 'document:spec' });
    expect(spec.tuples.map((t) => t.key.relation).sort()).toEqual(['blocked', 'editor', 'parent']);
    const editor = spec.tuples.find((t) => t.key.relation === 'editor')!;
    expect(editor.key.condition).toEqual({ name: 'in_office', context: { office: '10.0.0.0/8' } });
    expect(editor.timestamp).toMatch(/^\d{4}-/);
    const byType = await fga.read({ user: 'user:carl', relation: 'owner', object: 'folder:' });
    expect(byType.tuples.map((t) => t.key.object)).toEqual(['folder:root']);
  });

  it('reads changes in order, by type, and polls with the token', async () => {
    const s = await r.client().createStore({ name: 'changes' });
    const c = r.client({ storeId: s.id });
    await c.writeAuthorizationModel({ schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'doc', relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user' }] } } } }] });
    await c.write({ writes: [{ user: 'user:a', relation: 'viewer', object: 'doc:1' }, { user: 'user:b', relation: 'viewer', object: 'doc:1' }] });
    await c.write({ deletes: [{ user: 'user:a', relation: 'viewer', object: 'doc:1' }] });
    const first = await c.readChanges({ type: '' }, { pageSize: 2 });
    expect(first.changes.map((x) => `${x.operation} ${x.tuple_key.user}`)).toEqual(['TUPLE_OPERATION_WRITE user:a', 'TUPLE_OPERATION_WRITE user:b']);
    const second = await c.readChanges({ type: '' }, { pageSize: 2, continuationToken: first.continuation_token });
    expect(second.changes.map((x) => `${x.operation} ${x.tuple_key.user}`)).toEqual(['TUPLE_OPERATION_DELETE user:a']);
    const idle = await c.readChanges({ type: '' }, { continuationToken: second.continuation_token });
    expect(idle.changes).toEqual([]);
    expect(idle.continuation_token).toBe(second.continuation_token);
    await c.write({ writes: [{ user: 'user:c', relation: 'viewer', object: 'doc:2' }] });
    const later = await c.readChanges({ type: '' }, { continuationToken: idle.continuation_token });
    expect(later.changes.map((x) => x.tuple_key.object)).toEqual(['doc:2']);
    expect((await c.readChanges({ type: 'user' })).changes).toEqual([]);
    const mismatch = await fgaError(c.readChanges({ type: 'user' }, { continuationToken: first.continuation_token }));
    expect(mismatch.code).toBe('query_string_type_continuation_token_mismatch');
  });

  it('rejects bad writes with OpenFGA codes and writes nothing', async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => fga.write({ writes: [{ user: 'user:x', relation: 'viewer', object: 'invoice:1' }] }), 'type_not_found'],
      [() => fga.write({ writes: [{ user: 'user:x', relation: 'approver', object: 'document:1' }] }), 'relation_not_found'],
      [() => fga.write({ writes: [{ user: 'folder:x', relation: 'owner', object: 'document:1' }] }), 'invalid_tuple'],
      [() => fga.write({ writes: [{ user: 'user:*', relation: 'owner', object: 'document:1' }] }), 'invalid_tuple'],
      [() => fga.write({ writes: [{ user: 'team:eng#member', relation: 'editor', object: 'document:9' }] }), 'validation_error'],
      [() => fga.write({ writes: [{ user: 'anne', relation: 'owner', object: 'document:1' }] }), 'validation_error'],
      [() => fga.write({ writes: [{ user: 'user:carl', relation: 'owner', object: 'folder:root' }] }), 'write_failed_due_to_invalid_input'],
      [() => fga.write({ deletes: [{ user: 'user:nobody', relation: 'owner', object: 'folder:root' }] }), 'write_failed_due_to_invalid_input'],
      [
        () => fga.write({ writes: [{ user: 'user:y', relation: 'owner', object: 'document:1' }, { user: 'user:y', relation: 'owner', object: 'document:1' }] }),
        'cannot_allow_duplicate_tuples_in_one_request',
      ],
      [() => fga.write({ writes: Array.from({ length: 101 }, (_, i) => ({ user: `user:u${i}`, relation: 'owner', object: 'document:big' })) }), 'exceeded_entity_limit'],
      [() => fga.write({ writes: [{ user: 'user:y', relation: 'owner', object: 'document:1' }] }, { authorizationModelId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }), 'authorization_model_not_found'],
    ];
    for (const [p, code] of cases) {
      const e = await fgaError(p);
      expect({ code: e.code, status: e.status, name: e.name }).toEqual({ code, status: 400, name: FgaApiValidationError.name });
    }
    // A valid write in the same request as an invalid delete leaves nothing behind.
    const mixed = await fgaError(
      fga.write({ writes: [{ user: 'user:new', relation: 'owner', object: 'document:atomic' }], deletes: [{ user: 'user:ghost', relation: 'owner', object: 'document:atomic' }] }),
    );
    expect(mixed.code).toBe('write_failed_due_to_invalid_input');
    expect((await fga.read({ object: 'document:atomic' })).tuples).toEqual([]);
    expect((await fga.read({ object: 'document:big' })).tuples).toEqual([]);
    // on_duplicate / on_missing: ignore.
    await fga.write(
      { writes: [{ user: 'user:carl', relation: 'owner', object: 'folder:root' }], deletes: [{ user: 'user:ghost', relation: 'owner', object: 'folder:root' }] },
      { conflict: { onDuplicateWrites: 'ignore' as never, onMissingDeletes: 'ignore' as never } },
    );
  });

  it('rejects bad queries with OpenFGA codes', async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => fga.check({ user: 'user:a', relation: 'viewer', object: 'invoice:1' }), 'type_not_found'],
      [() => fga.check({ user: 'user:a', relation: 'approver', object: 'document:1' }), 'relation_not_found'],
      [() => fga.check({ user: 'robot:a', relation: 'viewer', object: 'document:1' }), 'type_not_found'],
      [() => fga.check({ user: 'user:a', relation: 'viewer', object: 'document' }), 'validation_error'],
      [() => fga.check({ user: 'user:a', relation: 'viewer', object: 'document:1' }, { authorizationModelId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }), 'authorization_model_not_found'],
      [() => fga.listObjects({ user: 'user:a', relation: 'viewer', type: 'invoice' }), 'type_not_found'],
      [() => fga.listUsers({ object: { type: 'document', id: '1' }, relation: 'viewer', user_filters: [{ type: 'robot' }] }), 'type_not_found'],
      [() => fga.expand({ relation: 'nope', object: 'document:1' }), 'relation_not_found'],
      [
        () => fga.check({ user: 'user:a', relation: 'viewer', object: 'document:1', contextualTuples: [{ user: 'user:a', relation: 'viewer', object: 'invoice:1' }] }),
        'type_not_found',
      ],
    ];
    for (const [p, code] of cases) {
      const e = await fgaError(p);
      expect({ code: e.code, status: e.status }).toEqual({ code, status: 400 });
    }
    const empty = await r.client().createStore({ name: 'empty' });
    const noModel = await fgaError(r.client({ storeId: empty.id }).check({ user: 'user:a', relation: 'viewer', object: 'doc:1' }));
    expect(noModel.code).toBe('latest_authorization_model_not_found');
  });

  it('rejects invalid models with OpenFGA codes', async () => {
    const cases: Array<[unknown, string]> = [
      [{ schema_version: '1.1', type_definitions: [] }, 'type_definitions_too_few_items'],
      [{ schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'user' }] }, 'cannot_allow_duplicate_types_in_one_request'],
      [{ schema_version: '1.1', type_definitions: [{ type: 'doc', relations: { viewer: { computedUserset: { relation: 'editor' } } } }] }, 'invalid_authorization_model'],
      [{ schema_version: '1.0', type_definitions: [{ type: 'user' }] }, 'unsupported_schema_version'],
    ];
    for (const [body, code] of cases) {
      const e = await fgaError(fga.writeAuthorizationModel(body as never));
      expect({ code: e.code, status: e.status }).toEqual({ code, status: 400 });
    }
    expect((await fga.readLatestAuthorizationModel()).authorization_model?.id).toBe(modelId);
  });

  it('deletes stores; a deleted or unknown store is store_id_not_found (404)', async () => {
    const s = await r.client().createStore({ name: 'doomed' });
    const c = r.client({ storeId: s.id });
    await c.deleteStore();
    for (const p of [() => c.getStore(), () => c.read({}), () => c.check({ user: 'user:a', relation: 'r', object: 'x:1' })]) {
      const e = await fgaError(p);
      expect({ code: e.code, status: e.status, name: e.name }).toEqual({ code: 'store_id_not_found', status: 404, name: FgaApiNotFoundError.name });
    }
    expect((await r.client().listStores()).stores.map((x) => x.id)).not.toContain(s.id);
  });

  it('requires a bearer token with the authz scope', async () => {
    const e = await fgaError(r.client({ token: 'nope' }).listStores());
    expect(e.name).toBe(FgaApiAuthenticationError.name);
    expect(e.status).toBe(401);
    const admin = (await r.gh.apiTokens.create(cliContext(), { name: 'adm', scopes: ['admin'] })).token;
    const forbidden = await r.call('GET', '/stores', undefined, { authorization: `Bearer ${admin}` });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('forbidden');
  });
});
