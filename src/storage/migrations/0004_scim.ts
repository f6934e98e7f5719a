import { sql, type Kysely } from 'kysely';

/**
 * SCIM (issue 4): API tokens issued for a user (SCIM `/Me`), and the indexes behind SCIM list
 * queries — the default oldest-first order of users and groups, email `type` in value filters
 * (`emails[type eq "work" and …]`) and, on PostgreSQL when the `pg_trgm` extension can be
 * created, trigram indexes so that `co` / `sw` / `ew` on userName and email addresses do not scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('user_id', 'text').execute();
  await db.schema.createIndex('users_created_ix').on('users').columns(['tenant_id', 'created_at', 'id']).execute();
  await db.schema.createIndex('groups_created_ix').on('groups').columns(['tenant_id', 'created_at', 'id']).execute();
  await db.schema.createIndex('user_emails_type_ix').on('user_emails').columns(['tenant_id', 'type', 'user_id']).execute();
  if (!(await isPostgres(db))) {
    // SQLite: an FTS5 trigram index of email addresses, kept by triggers in the writing transaction.
    // It is keyed by user_emails' rowid, which VACUUM may renumber: after a VACUUM run
    // `INSERT INTO user_emails_trgm(user_emails_trgm) VALUES ('rebuild')` (docs/scim-compatibility.md).
    await sql`create virtual table user_emails_trgm using fts5(value_norm, tokenize = 'trigram', content = 'user_emails', content_rowid = 'rowid')`.execute(db);
    await sql`insert into user_emails_trgm(user_emails_trgm) values ('rebuild')`.execute(db);
    await sql`create trigger user_emails_trgm_ai after insert on user_emails begin
      insert into user_emails_trgm(rowid, value_norm) values (new.rowid, new.value_norm); end`.execute(db);
    await sql`create trigger user_emails_trgm_ad after delete on user_emails begin
      insert into user_emails_trgm(user_emails_trgm, rowid, value_norm) values ('delete', old.rowid, old.value_norm); end`.execute(db);
    await sql`create trigger user_emails_trgm_au after update on user_emails begin
      insert into user_emails_trgm(user_emails_trgm, rowid, value_norm) values ('delete', old.rowid, old.value_norm);
      insert into user_emails_trgm(rowid, value_norm) values (new.rowid, new.value_norm); end`.execute(db);
  }
  if (await isPostgres(db)) {
    // pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Without it the queries still work, unindexed.
    await sql`do $$ begin create extension if not exists pg_trgm; exception when others then null; end $$`.execute(db);
    await sql`do $$ begin
      if exists (select 1 from pg_extension where extname = 'pg_trgm') then
        create index user_emails_value_trgm_ix on user_emails using gin (value_norm gin_trgm_ops);
        create index users_user_name_trgm_ix on users using gin (user_name_norm gin_trgm_ops);
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

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!(await isPostgres(db))) {
    // SQLite: an FTS5 trigram index of email addresses, kept by triggers in the writing transaction.
    // It is keyed by user_emails' rowid, which VACUUM may renumber: after a VACUUM run
    // `INSERT INTO user_emails_trgm(user_emails_trgm) VALUES ('rebuild')` (docs/scim-compatibility.md).
    await sql`create virtual table user_emails_trgm using fts5(value_norm, tokenize = 'trigram', content = 'user_emails', content_rowid = 'rowid')`.execute(db);
    await sql`insert into user_emails_trgm(user_emails_trgm) values ('rebuild')`.execute(db);
    await sql`create trigger user_emails_trgm_ai after insert on user_emails begin
      insert into user_emails_trgm(rowid, value_norm) values (new.rowid, new.value_norm); end`.execute(db);
    await sql`create trigger user_emails_trgm_ad after delete on user_emails begin
      insert into user_emails_trgm(user_emails_trgm, rowid, value_norm) values ('delete', old.rowid, old.value_norm); end`.execute(db);
    await sql`create trigger user_emails_trgm_au after update on user_emails begin
      insert into user_emails_trgm(user_emails_trgm, rowid, value_norm) values ('delete', old.rowid, old.value_norm);
      insert into user_emails_trgm(rowid, value_norm) values (new.rowid, new.value_norm); end`.execute(db);
  }
  if (await isPostgres(db)) {
    await sql`drop index if exists user_emails_value_trgm_ix`.execute(db);
    await sql`drop index if exists users_user_name_trgm_ix`.execute(db);
  }
  await db.schema.dropIndex('user_emails_type_ix').ifExists().execute();
  await db.schema.dropIndex('groups_created_ix').ifExists().execute();
  await db.schema.dropIndex('users_created_ix').ifExists().execute();
  await db.schema.alterTable('api_tokens').dropColumn('user_id').execute();
}
