import type { Kysely } from 'kysely';

/**
 * `audit_head.occurred_at`: the `occurred_at` of the chain's last event. A writer that chains an
 * event stamps it no earlier than this (read with the head's lock), so seq order and occurred_at
 * order agree even when the time was read before the lock was held (the single-statement user
 * creation on PostgreSQL, AuditLog.insertWithEvent). NULL until the first event after this migration.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_head').addColumn('occurred_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_head').dropColumn('occurred_at').execute();
}
