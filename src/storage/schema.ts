/**
 * The one Kysely schema type for every table, on SQLite and PostgreSQL alike.
 *
 * Portable conventions (so both backends store and compare the same values):
 * - instants are ISO 8601 UTC text with milliseconds (`2026-01-01T00:00:00.000Z`), which sort as text;
 * - booleans are integers 0/1;
 * - JSON documents are text;
 * - every row carries `tenant_id` (default tenant `default`).
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { AuthnDatabase } from './schema-authn.js';

/** Lifecycle status of an identity (DOMAIN.md: account status). */
export type AccountStatus = 'staged' | 'active' | 'suspended' | 'deprovisioned';

export interface UsersTable {
  tenant_id: string;
  id: string;
  user_name: string;
  /** NFC + case-folded userName; unique per tenant among identities that are not deprovisioned. */
  user_name_norm: string;
  external_id: string | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  middle_name: string | null;
  formatted_name: string | null;
  honorific_prefix: string | null;
  honorific_suffix: string | null;
  nick_name: string | null;
  title: string | null;
  user_type: string | null;
  preferred_language: string | null;
  locale: string | null;
  timezone: string | null;
  employee_number: string | null;
  cost_center: string | null;
  organization: string | null;
  division: string | null;
  department: string | null;
  /** Id of the manager (a user id) as given by the enterprise extension's `manager.value`. */
  manager_id: string | null;
  status: AccountStatus;
  /** 1 for Gatehouse administrators (console and admin sign-in). */
  is_admin: number;
  /** argon2id PHC string, or null when no password is set. */
  password_hash: string | null;
  /** Other SCIM attributes kept as given (phoneNumbers, addresses, ...), JSON object text. */
  extra: string;
  created_at: string;
  updated_at: string;
  /** Incremented on each change; the SCIM ETag is derived from it. */
  version: number;
}

export interface UserEmailsTable {
  tenant_id: string;
  user_id: string;
  /** Position in the SCIM `emails` array. */
  position: number;
  value: string;
  /** NFC + case-folded value; unique per tenant. */
  value_norm: string;
  type: string | null;
  is_primary: number;
  display: string | null;
}

export interface UserTotpTable {
  tenant_id: string;
  user_id: string;
  /** Base32 shared secret (RFC 4226 §4 R6 asks it be protected; see docs/security.md). */
  secret: string;
  /** The highest RFC 6238 time step accepted so far; a step at or below it is refused. */
  last_used_step: number | null;
  created_at: string;
}

export interface GroupsTable {
  tenant_id: string;
  id: string;
  display_name: string;
  /** NFC + case-folded displayName; unique per tenant. */
  display_name_norm: string;
  external_id: string | null;
  description: string | null;
  /** Configured SCIM schema extensions of the group (JSON object text keyed by schema URN; migration 0007). */
  extra: Generated<string>;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface ServiceAccountsTable {
  tenant_id: string;
  id: string;
  name: string;
  name_norm: string;
  description: string | null;
  owner_user_id: string | null;
  status: AccountStatus;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface RolesTable {
  tenant_id: string;
  id: string;
  name: string;
  name_norm: string;
  description: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

/** OIDC client applications (oidc-provider Client metadata). */
export interface ApplicationsTable {
  tenant_id: string;
  /** The OAuth `client_id`; also the application id. */
  id: string;
  name: string;
  /** SHA-256 hex of the client secret; null for public clients. */
  client_secret_hash: string | null;
  /** Client metadata as registered (redirect_uris, grant_types, token_endpoint_auth_method, ...), JSON. */
  metadata: string;
  owner_user_id: string | null;
  status: AccountStatus;
  created_at: string;
  updated_at: string;
}

/** Bearer tokens for the APIs (`scim`, `admin`, `authz` scopes). Only the hash is kept. */
export interface ApiTokensTable {
  tenant_id: string;
  id: string;
  name: string;
  /** SHA-256 hex of the whole token. */
  token_hash: string;
  /** JSON array of scopes. */
  scopes: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  /** The user the token acts for (SCIM `/Me`), or null (0004_scim). */
  user_id: string | null;
}

/** Authorization stores (OpenFGA's term). Each tenant has the built-in store. */
export interface AuthzStoresTable {
  tenant_id: string;
  id: string;
  name: string;
  is_default: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

/** Live relation tuples `object_type:object_id#relation@subject_type:subject_id[#subject_relation]`. */
export interface AuthzTuplesTable {
  tenant_id: string;
  store_id: string;
  object_type: string;
  object_id: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  /** '' when the subject is a plain object (not a userset). */
  subject_relation: string;
  condition_name: string | null;
  /** JSON object text of the condition's context, or null. */
  condition_context: string | null;
  /** When the grant stops counting (time-bound grant), or null. */
  expires_at: string | null;
  /** Where the grant came from: rule, request, admin, import, scim. */
  source: string;
  created_at: string;
}

/** Operations recorded in the changelog. */
export type ChangelogOperation = 'write' | 'delete' | 'disable' | 'enable' | 'model' | 'drop_store';

/**
 * Every change to the authorization graph, in commit order. `disable`/`enable` rows mark a
 * subject (user or service account) whose decisions must deny while it is not active; for those
 * only `subject_type`/`subject_id` are meaningful. A `model` row records a new authorization
 * model of `store_id`: `object_type` is `authorization_model`, `object_id` the model id, the
 * other tuple columns are ''.
 */
export interface AuthzChangelogTable {
  tenant_id: string;
  revision: number;
  store_id: string;
  operation: ChangelogOperation;
  object_type: string;
  object_id: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  subject_relation: string;
  condition_name: string | null;
  condition_context: string | null;
  expires_at: string | null;
  created_at: string;
}

/** Versioned authorization models of a store (OpenFGA JSON, schema 1.1); immutable once written. */
export interface AuthzModelsTable {
  tenant_id: string;
  store_id: string;
  /** ULID (OpenFGA's id form); time-ordered, so the greatest id of a store is its latest model. */
  id: string;
  schema_version: string;
  /** The model as OpenFGA JSON text (`schema_version`, `type_definitions`, `conditions`), without `id`. */
  model: string;
  /** The DSL source as written, when the model was written in DSL. */
  dsl: string | null;
  created_at: string;
}

/** OpenFGA assertions of one authorization model: the whole list as OpenFGA JSON (`Assertion[]`). */
export interface AuthzAssertionsTable {
  tenant_id: string;
  store_id: string;
  model_id: string;
  assertions: string;
  updated_at: string;
}

/** A single-row counter that hands out changelog revisions in commit order (its row lock serialises writers). */
export interface AuthzRevisionTable {
  id: number;
  revision: number;
}

/** oidc-provider models (Session, Grant, AccessToken, RefreshToken, AuthorizationCode, Interaction, ...). */
export interface OidcPayloadsTable {
  tenant_id: string;
  model: string;
  id: string;
  payload: string;
  /** The `accountId` inside the payload, so deprovisioning can find everything issued to an account. */
  account_id: string | null;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: string | null;
  consumed_at: string | null;
  /** The service-account credential a token was obtained with (0006_oidc_machines), or null. */
  credential_id: string | null;
}

/** Kinds of service-account credential (DOMAIN.md authenticator, for machines). */
export type CredentialKind = 'client_secret' | 'public_key' | 'api_key';

/** Service-account credentials (0006_oidc_machines). Secrets are kept only as SHA-256 hex. */
export interface ServiceAccountCredentialsTable {
  tenant_id: string;
  id: string;
  service_account_id: string;
  kind: CredentialKind;
  name: string;
  /** SHA-256 hex of the client secret or API key; null for public keys. */
  secret_hash: string | null;
  /** Public JWK (JSON text, `kid` = credential id) for `public_key`; null otherwise. */
  public_jwk: string | null;
  /** JSON array of OAuth scopes (API keys); `[]` otherwise. */
  scopes: string;
  created_at: string;
  /** Every credential expires (the policy's maximum lifetime bounds it). */
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  /** The credential that replaced this one in a rotation, or null. */
  replaced_by: string | null;
}

/** Signing keys for the OIDC provider (private JWKs), generated on first start. */
export interface SigningKeysTable {
  tenant_id: string;
  kid: string;
  alg: string;
  /** Private JWK, JSON text. */
  private_jwk: string;
  created_at: string;
  retired_at: string | null;
}

/** Generated server secrets (cookie signing keys). */
export interface ServerSecretsTable {
  tenant_id: string;
  name: string;
  value: string;
  created_at: string;
}

/** The append-only, hash-chained audit log. */
export interface AuditEventsTable {
  tenant_id: string;
  /** 1, 2, 3, ... per tenant, without gaps. */
  seq: number;
  id: string;
  occurred_at: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  outcome: string;
  target_type: string | null;
  target_id: string | null;
  request_id: string | null;
  source_ip: string | null;
  /** JSON text or null. */
  before: string | null;
  after: string | null;
  details: string | null;
  prev_hash: string;
  /** SHA-256 hex over prev_hash and the canonical JSON of this entry. */
  hash: string;
}

/** Head of each tenant's audit chain; its row lock serialises appends. */
export interface AuditHeadTable {
  tenant_id: string;
  seq: number;
  hash: string;
  /** occurred_at of the chain's last event (0012_audit_head_time); NULL before the first event since. */
  occurred_at: string | null;
}

/** Logged authorization decisions (0003_authz_decision_log). */
export interface AuthzDecisionLogTable {
  tenant_id: string;
  id: string;
  store_id: string;
  decided_at: string;
  request_id: string | null;
  /** `type:id[#relation]`. */
  subject: string;
  relation: string;
  /** `type:id`. */
  object: string;
  decision: number;
  revision: number;
  /** JSON Explanation for allowed decisions, or null. */
  explanation: string | null;
}

/** When each tuple last granted an allowed, logged decision (0003_authz_decision_log). */
export interface AuthzTupleUsageTable {
  tenant_id: string;
  store_id: string;
  object_type: string;
  object_id: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  subject_relation: string;
  last_used_at: string;
}

export interface Database extends AuthnDatabase {
  users: UsersTable;
  user_emails: UserEmailsTable;
  user_totp: UserTotpTable;
  groups: GroupsTable;
  service_accounts: ServiceAccountsTable;
  roles: RolesTable;
  applications: ApplicationsTable;
  api_tokens: ApiTokensTable;
  authz_stores: AuthzStoresTable;
  authz_tuples: AuthzTuplesTable;
  authz_changelog: AuthzChangelogTable;
  authz_revision: AuthzRevisionTable;
  authz_models: AuthzModelsTable;
  authz_assertions: AuthzAssertionsTable;
  authz_decision_log: AuthzDecisionLogTable;
  authz_tuple_usage: AuthzTupleUsageTable;
  oidc_payloads: OidcPayloadsTable;
  service_account_credentials: ServiceAccountCredentialsTable;
  signing_keys: SigningKeysTable;
  server_secrets: ServerSecretsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type GroupRow = Selectable<GroupsTable>;
export type TupleRow = Selectable<AuthzTuplesTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
// Generated is re-exported for migrations that may need it.
export type { Generated };
