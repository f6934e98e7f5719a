import { sql, type Kysely } from 'kysely';

/**
 * SCIM (issue 4): `groups.extra`, a JSON object holding a group's configured schema extensions
 * (under their URN), as `users.extra` does for users.
 *
 * Filtered lists, PostgreSQL only: the pg_trgm GIN indexes of 0004_scim keep new
 * entries in a pending list (fastupdate) that every search reads in full; the default 4 MB limit
 * made each `emails[value co "…"]` read ~400 pages after a bulk provisioning (autovacuum, which
 * would merge them, may be off or late). A 256 kB limit bounds a search's pending-list read to 32
 * pages while keeping batched inserts (turning fastupdate off made inserts ~6x slower). SQLite:
 * nothing to do (FTS5 merges its own segments).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('groups').addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}')).execute();
  if (!(await isPostgres(db))) return;
  for (const ix of ['user_emails_value_trgm_ix', 'users_user_name_trgm_ix']) {
    // The indexes exist only where pg_trgm could be created (0004_scim).
    await sql`do $$ begin
      if exists (select 1 from pg_class where relname = ${sql.lit(ix)} and relkind = 'i') then
        execute 'alter index ' || quote_ident(${sql.lit(ix)}) || ' set (gin_pending_list_limit = 256)';
        perform gin_clean_pending_list(${sql.lit(ix)}::regclass);
      end if; end $$`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('groups').dropColumn('extra').execute();
  if (!(await isPostgres(db))) return;
  for (const ix of ['user_emails_value_trgm_ix', 'users_user_name_trgm_ix']) {
    await sql`do $$ begin
      if exists (select 1 from pg_class where relname = ${sql.lit(ix)} and relkind = 'i') then
        execute 'alter index ' || quote_ident(${sql.lit(ix)}) || ' reset (gin_pending_list_limit)';
      end if; end $$`.execute(db);
  }
}

async function isPostgres(db: Kysely<unknown>): Promise<boolean> {
  try {
    await sql`select current_setting('server_version_num')`.execute(db);
    return true;
  } catch {
    return false;
  }
}
