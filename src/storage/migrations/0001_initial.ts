import { sql, type Kysely } from 'kysely';

/**
 * The initial schema. Portable across SQLite and PostgreSQL: text instants, integer booleans,
 * JSON as text, uniqueness on normalised identifiers enforced by (partial) unique indexes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('user_name_norm', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text')
    .addColumn('display_name', 'text')
    .addColumn('given_name', 'text')
    .addColumn('family_name', 'text')
    .addColumn('middle_name', 'text')
    .addColumn('formatted_name', 'text')
    .addColumn('honorific_prefix', 'text')
    .addColumn('honorific_suffix', 'text')
    .addColumn('nick_name', 'text')
    .addColumn('title', 'text')
    .addColumn('user_type', 'text')
    .addColumn('preferred_language', 'text')
    .addColumn('locale', 'text')
    .addColumn('timezone', 'text')
    .addColumn('employee_number', 'text')
    .addColumn('cost_center', 'text')
    .addColumn('organization', 'text')
    .addColumn('division', 'text')
    .addColumn('department', 'text')
    .addColumn('manager_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('password_hash', 'text')
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('users_pk', ['tenant_id', 'id'])
    .execute();
  // userName is unique among identities that still exist; a deprovisioned row is kept for audit.
  await db.schema
    .createIndex('users_user_name_norm_uq')
    .on('users')
    .columns(['tenant_id', 'user_name_norm'])
    .unique()
    .where(sql.ref('status'), '<>', 'deprovisioned')
    .execute();
  await db.schema.createIndex('users_external_id_ix').on('users').columns(['tenant_id', 'external_id']).execute();

  await db.schema
    .createTable('user_emails')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('value_norm', 'text', (c) => c.notNull())
    .addColumn('type', 'text')
    .addColumn('is_primary', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('display', 'text')
    .addPrimaryKeyConstraint('user_emails_pk', ['tenant_id', 'user_id', 'position'])
    .execute();
  await db.schema.createIndex('user_emails_value_norm_uq').on('user_emails').columns(['tenant_id', 'value_norm']).unique().execute();

  await db.schema
    .createTable('user_totp')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('last_used_step', 'bigint')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_totp_pk', ['tenant_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('groups')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('display_name_norm', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text')
    .addColumn('description', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('groups_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('groups_display_name_norm_uq').on('groups').columns(['tenant_id', 'display_name_norm']).unique().execute();
  await db.schema.createIndex('groups_external_id_ix').on('groups').columns(['tenant_id', 'external_id']).execute();

  await db.schema
    .createTable('service_accounts')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_norm', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('owner_user_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('service_accounts_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('service_accounts_name_norm_uq')
    .on('service_accounts')
    .columns(['tenant_id', 'name_norm'])
    .unique()
    .where(sql.ref('status'), '<>', 'deprovisioned')
    .execute();

  await db.schema
    .createTable('roles')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_norm', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('roles_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('roles_name_norm_uq').on('roles').columns(['tenant_id', 'name_norm']).unique().execute();

  await db.schema
    .createTable('applications')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('client_secret_hash', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('owner_user_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('applications_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .addPrimaryKeyConstraint('api_tokens_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('api_tokens_hash_uq').on('api_tokens').column('token_hash').unique().execute();

  await db.schema
    .createTable('authz_stores')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .addPrimaryKeyConstraint('authz_stores_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('authz_tuples')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('store_id', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('relation', 'text', (c) => c.notNull())
    .addColumn('subject_type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('subject_relation', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('condition_name', 'text')
    .addColumn('condition_context', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authz_tuples_pk', [
      'tenant_id',
      'store_id',
      'object_type',
      'object_id',
      'relation',
      'subject_type',
      'subject_id',
      'subject_relation',
    ])
    .execute();
  await db.schema
    .createIndex('authz_tuples_subject_ix')
    .on('authz_tuples')
    .columns(['tenant_id', 'store_id', 'subject_type', 'subject_id'])
    .execute();

  await db.schema
    .createTable('authz_changelog')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .addColumn('store_id', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('relation', 'text', (c) => c.notNull())
    .addColumn('subject_type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('subject_relation', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('condition_name', 'text')
    .addColumn('condition_context', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('authz_changelog_revision_ix').on('authz_changelog').columns(['revision']).execute();
  await db.schema.createIndex('authz_changelog_tenant_ix').on('authz_changelog').columns(['tenant_id', 'store_id', 'revision']).execute();

  await db.schema
    .createTable('authz_revision')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .execute();
  await db.insertInto('authz_revision' as never).values({ id: 1, revision: 0 } as never).execute();

  await db.schema
    .createTable('oidc_payloads')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text')
    .addColumn('grant_id', 'text')
    .addColumn('user_code', 'text')
    .addColumn('uid', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('consumed_at', 'text')
    .addPrimaryKeyConstraint('oidc_payloads_pk', ['tenant_id', 'model', 'id'])
    .execute();
  await db.schema.createIndex('oidc_payloads_grant_ix').on('oidc_payloads').columns(['tenant_id', 'grant_id']).execute();
  await db.schema.createIndex('oidc_payloads_account_ix').on('oidc_payloads').columns(['tenant_id', 'account_id']).execute();
  await db.schema.createIndex('oidc_payloads_uid_ix').on('oidc_payloads').columns(['tenant_id', 'uid']).execute();
  await db.schema.createIndex('oidc_payloads_user_code_ix').on('oidc_payloads').columns(['tenant_id', 'user_code']).execute();
  await db.schema.createIndex('oidc_payloads_expires_ix').on('oidc_payloads').columns(['expires_at']).execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .addPrimaryKeyConstraint('signing_keys_pk', ['tenant_id', 'kid'])
    .execute();

  await db.schema
    .createTable('server_secrets')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_secrets_pk', ['tenant_id', 'name'])
    .execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('request_id', 'text')
    .addColumn('source_ip', 'text')
    .addColumn('before', 'text')
    .addColumn('after', 'text')
    .addColumn('details', 'text')
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_events_pk', ['tenant_id', 'seq'])
    .execute();
  await db.schema.createIndex('audit_events_action_ix').on('audit_events').columns(['tenant_id', 'action', 'seq']).execute();
  await db.schema.createIndex('audit_events_target_ix').on('audit_events').columns(['tenant_id', 'target_id', 'seq']).execute();

  await db.schema
    .createTable('audit_head')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'audit_head',
    'audit_events',
    'server_secrets',
    'signing_keys',
    'oidc_payloads',
    'authz_revision',
    'authz_changelog',
    'authz_tuples',
    'authz_stores',
    'api_tokens',
    'applications',
    'roles',
    'service_accounts',
    'groups',
    'user_totp',
    'user_emails',
    'users',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
