/** Helpers for engine tests: a customer store's model written as the "api" side does (authz_models + a `model` changelog row). */
import type { Storage } from '../../src/storage/database.js';
import type { AuthorizationModel } from '../../src/authz/model.js';
import { ctx } from '../authz/support.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { parseTuple, type RelationTuple } from '../../src/authz/tuples.js';

/** Stores a model version and appends its `model` changelog row in one transaction; returns the revision. */
export async function writeModel(storage: Storage, storeId: string, id: string, model: AuthorizationModel): Promise<number> {
  return storage.db.transaction().execute(async (trx) => {
    const now = new Date().toISOString();
    await trx.insertInto('authz_models').values({ tenant_id: ctx.tenantId, store_id: storeId, id, schema_version: '1.1', model: JSON.stringify(model), dsl: null, created_at: now }).execute();
    const row = await trx.updateTable('authz_revision').set((eb) => ({ revision: eb('revision', '+', 1) })).where('id', '=', 1).returning('revision').executeTakeFirstOrThrow();
    const revision = Number(row.revision);
    await trx
      .insertInto('authz_changelog')
      .values({
        tenant_id: ctx.tenantId,
        revision,
        store_id: storeId,
        operation: 'model',
        object_type: 'authorization_model',
        object_id: id,
        relation: '',
        subject_type: '',
        subject_id: '',
        subject_relation: '',
        condition_name: null,
        condition_context: null,
        expires_at: null,
        created_at: now,
      })
      .execute();
    return revision;
  });
}

/** Writes tuples to a store; returns the revision. */
export async function writeTo(storage: Storage, store: TupleStore, storeId: string, writes: Array<string | RelationTuple>, deletes: string[] = []): Promise<number> {
  return storage.db.transaction().execute(async (trx) => {
    const res = await store.write(trx, ctx, storeId, { writes: writes.map((w) => (typeof w === 'string' ? parseTuple(w) : w)), deletes: deletes.map(parseTuple) });
    return res.revision;
  });
}
