import type { Kysely } from 'kysely';

/**
 * OpenFGA assertions (WriteAssertions / ReadAssertions): per store and authorization model, the
 * list of expected check results, stored whole as OpenFGA JSON (a write replaces the list).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('authz_assertions')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('store_id', 'text', (c) => c.notNull())
    .addColumn('model_id', 'text', (c) => c.notNull())
    .addColumn('assertions', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authz_assertions_pk', ['tenant_id', 'store_id', 'model_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('authz_assertions').ifExists().execute();
}
