import type { Kysely } from 'kysely';

/**
 * The authorization decision log (issue 3): logged decisions (`GATEHOUSE_AUTHZ_DECISION_LOG`
 * off | sampled | full) and, per tuple that granted an allowed decision, when it was last used
 * (governance reads "last used" from `authz_tuple_usage`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('authz_decision_log')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('store_id', 'text', (c) => c.notNull())
    .addColumn('decided_at', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('relation', 'text', (c) => c.notNull())
    .addColumn('object', 'text', (c) => c.notNull())
    .addColumn('decision', 'integer', (c) => c.notNull())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .addColumn('explanation', 'text')
    .addPrimaryKeyConstraint('authz_decision_log_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('authz_decision_log_time_ix').on('authz_decision_log').columns(['tenant_id', 'decided_at']).execute();
  await db.schema
    .createTable('authz_tuple_usage')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('store_id', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('relation', 'text', (c) => c.notNull())
    .addColumn('subject_type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('subject_relation', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authz_tuple_usage_pk', ['tenant_id', 'store_id', 'object_type', 'object_id', 'relation', 'subject_type', 'subject_id', 'subject_relation'])
    .execute();
  await db.schema.createIndex('authz_tuple_usage_subject_ix').on('authz_tuple_usage').columns(['tenant_id', 'store_id', 'subject_type', 'subject_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('authz_tuple_usage').ifExists().execute();
  await db.schema.dropTable('authz_decision_log').ifExists().execute();
}
