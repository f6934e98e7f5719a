import { sql } from 'kysely';
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely/migration';
import { GatehouseError } from '../kernel/errors.js';
import type { Storage } from './database.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_authz_models.js';
import * as m0003 from './migrations/0003_authz_decision_log.js';
import * as m0004 from './migrations/0004_scim.js';
import * as m0005 from './migrations/0005_authn.js';
import * as m0006 from './migrations/0006_oidc_machines.js';
import * as m0007 from './migrations/0007_scim_groups_query.js';
import * as m0011 from './migrations/0011_authz_assertions.js';
import * as m0012 from './migrations/0012_audit_head_time.js';

/** Every migration, in order. Add new ones here; never edit one that has shipped. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_authz_models': m0002,
  '0003_authz_decision_log': m0003,
  '0004_scim': m0004,
  '0005_authn': m0005,
  '0006_oidc_machines': m0006,
  '0007_scim_groups_query': m0007,
  '0011_authz_assertions': m0011,
  '0012_audit_head_time': m0012,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Applies every pending migration. Safe to run concurrently from several processes: Kysely's
 * migrator takes a lock table on both backends.
 *
 * @returns the names of the migrations applied by this call (empty when up to date).
 * @throws GatehouseError `storage_unavailable` when a migration fails (the failed migration is rolled back).
 */
export async function migrateToLatest(storage: Storage): Promise<string[]> {
  try {
    await sql`SELECT 1`.execute(storage.db);
  } catch (err) {
    throw new GatehouseError('storage_unavailable', `cannot connect to the database ${storage.displayUrl}: ${(err as Error).message}`, { database: storage.displayUrl }, { cause: err });
  }
  // Numbers are reserved per piece of work, so a lower-numbered migration may land after a higher
  // one has run somewhere: pending migrations run in name order whatever has run before.
  const migrator = new Migrator({ db: storage.db, provider, allowUnorderedMigrations: true });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new GatehouseError('storage_unavailable', `migration ${failed} failed: ${(result.error as Error).message ?? String(result.error)}`, {
      migration: failed,
    }, { cause: result.error });
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
