import type { Kysely } from 'kysely';

/**
 * Versioned authorization models per store (OpenFGA `WriteAuthorizationModel`). A model is
 * immutable once written; the newest id (ULID, time-ordered) of a store is its latest model.
 * Writing one also appends an `authz_changelog` row with operation `model`, so every process's
 * index loads it (issue 3).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('authz_models')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('store_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('schema_version', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('dsl', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authz_models_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('authz_models_store_ix').on('authz_models').columns(['tenant_id', 'store_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('authz_models').ifExists().execute();
}
