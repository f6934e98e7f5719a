import type { Kysely } from 'kysely';

/**
 * Authenticators and sessions for people (issue 5 "People"): passkeys, recovery codes,
 * pending TOTP enrollments, throttling counters, password-reset links, server-side sessions and
 * the grants issued under them, short-lived sign-in flows (WebAuthn challenges, pending second
 * factors), and the mail outbox.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webauthn_credentials')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('sign_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('transports', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('aaguid', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addPrimaryKeyConstraint('webauthn_credentials_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('webauthn_credentials_user_ix').on('webauthn_credentials').columns(['tenant_id', 'user_id']).execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .addPrimaryKeyConstraint('recovery_codes_pk', ['tenant_id', 'user_id', 'code_hash'])
    .execute();

  await db.schema
    .createTable('authn_throttle')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_failure_at', 'text')
    .addColumn('locked_until', 'text')
    .addPrimaryKeyConstraint('authn_throttle_pk', ['tenant_id', 'key'])
    .execute();

  await db.schema
    .createTable('password_resets')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('consumed_at', 'text')
    .addPrimaryKeyConstraint('password_resets_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('password_resets_token_uq').on('password_resets').columns(['tenant_id', 'token_hash']).unique().execute();

  await db.schema
    .createTable('authn_sessions')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('acr', 'text', (c) => c.notNull())
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('auth_time', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('source_ip', 'text')
    .addColumn('user_agent', 'text')
    .addPrimaryKeyConstraint('authn_sessions_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('authn_sessions_token_uq').on('authn_sessions').columns(['tenant_id', 'token_hash']).unique().execute();
  await db.schema.createIndex('authn_sessions_user_ix').on('authn_sessions').columns(['tenant_id', 'user_id']).execute();

  await db.schema
    .createTable('authn_session_grants')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('grant_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authn_session_grants_pk', ['tenant_id', 'session_id', 'grant_id'])
    .execute();

  await db.schema
    .createTable('authn_flows')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authn_flows_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('mail_outbox')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body_text', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_outbox_pk', ['tenant_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['mail_outbox', 'authn_flows', 'authn_session_grants', 'authn_sessions', 'password_resets', 'authn_throttle', 'recovery_codes', 'webauthn_credentials']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
