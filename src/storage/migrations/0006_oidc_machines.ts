import type { Kysely } from 'kysely';

/**
 * Machine identities' credentials (issue 5 "Machines") and the link from an issued OAuth token
 * to the credential it was obtained with.
 *
 * - `service_account_credentials`: client secrets (SHA-256 only), public keys for
 *   `private_key_jwt` (public JWK text), and API keys (personal access tokens; SHA-256 only,
 *   the token itself lives in `oidc_payloads` as a `ClientCredentials` row).
 * - `oidc_payloads.credential_id`: set on tokens issued to a service account, so revoking a
 *   credential deletes what was obtained with it in the same transaction.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('service_account_credentials')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('service_account_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text')
    .addColumn('public_jwk', 'text')
    .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('replaced_by', 'text')
    .addPrimaryKeyConstraint('service_account_credentials_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('service_account_credentials_sa_ix')
    .on('service_account_credentials')
    .columns(['tenant_id', 'service_account_id'])
    .execute();
  await db.schema
    .createIndex('service_account_credentials_hash_ix')
    .on('service_account_credentials')
    .columns(['tenant_id', 'secret_hash'])
    .execute();
  await db.schema.alterTable('oidc_payloads').addColumn('credential_id', 'text').execute();
  await db.schema.createIndex('oidc_payloads_credential_ix').on('oidc_payloads').columns(['tenant_id', 'credential_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('oidc_payloads_credential_ix').execute();
  await db.schema.alterTable('oidc_payloads').dropColumn('credential_id').execute();
  await db.schema.dropTable('service_account_credentials').execute();
}
