/**
 * Identity domain types and the service contracts that the SCIM adapter, the admin API, the CLI
 * and the OIDC provider program against. Names follow SCIM 2.0 (RFC 7643) where one exists.
 */
import type { AccountStatus } from '../storage/schema.js';
import type { OperationContext } from '../kernel/context.js';

export type { AccountStatus };

/** A SCIM `emails` entry (RFC 7643 §4.1.2). */
export interface Email {
  value: string;
  type?: string | null;
  primary?: boolean;
  display?: string | null;
}

/** The SCIM `name` complex attribute (RFC 7643 §4.1.1). */
export interface PersonName {
  formatted?: string | null;
  familyName?: string | null;
  givenName?: string | null;
  middleName?: string | null;
  honorificPrefix?: string | null;
  honorificSuffix?: string | null;
}

/** Enterprise User extension attributes (RFC 7643 §4.3). `manager` holds the manager's user id. */
export interface EnterpriseAttributes {
  employeeNumber?: string | null;
  costCenter?: string | null;
  organization?: string | null;
  division?: string | null;
  department?: string | null;
  manager?: { value: string | null; displayName?: string | null } | null;
}

/** A person. `id` is the SCIM id and the OIDC `sub`. */
export interface User {
  id: string;
  userName: string;
  externalId: string | null;
  name: PersonName;
  displayName: string | null;
  nickName: string | null;
  title: string | null;
  userType: string | null;
  preferredLanguage: string | null;
  locale: string | null;
  timezone: string | null;
  emails: Email[];
  /** SCIM `active`: true exactly when `status` is `active`. */
  active: boolean;
  status: AccountStatus;
  enterprise: EnterpriseAttributes;
  /** Other SCIM attributes kept as given (phoneNumbers, addresses, ...). */
  extra: Record<string, unknown>;
  isAdmin: boolean;
  hasPassword: boolean;
  /** ISO 8601 instants. */
  created: string;
  lastModified: string;
  /** Grows by one on each change; SCIM `meta.version` is `W/"<version>"`. */
  version: number;
}

/** What a caller gives to create or fully replace a user. Omitted optional fields are cleared on replace. */
export interface UserInput {
  userName: string;
  externalId?: string | null;
  name?: PersonName | null;
  displayName?: string | null;
  nickName?: string | null;
  title?: string | null;
  userType?: string | null;
  preferredLanguage?: string | null;
  locale?: string | null;
  timezone?: string | null;
  emails?: Email[];
  /** Default true. false creates (or turns) the user suspended and deprovisions its sessions and tokens. */
  active?: boolean;
  enterprise?: EnterpriseAttributes | null;
  extra?: Record<string, unknown>;
  /** Only at creation: sets the initial password (checked and hashed with argon2id). */
  password?: string;
}

/** Paging and the simple equality filters of the first SCIM slice. */
export interface ListQuery {
  /** 1-based, as SCIM's startIndex. */
  startIndex: number;
  /** Page size, 0..1000. */
  count: number;
}

export interface UserFilter {
  userName?: string;
  externalId?: string;
  email?: string;
}

export interface Page<T> {
  totalResults: number;
  startIndex: number;
  items: T[];
}

/** A member of a group: a user, a service account or another group (nesting). */
export interface GroupMemberRef {
  type: 'user' | 'service_account' | 'group';
  id: string;
}

export interface GroupMember extends GroupMemberRef {
  /** userName, service account name or group displayName, for SCIM `members[].display`. */
  display: string | null;
}

export interface Group {
  id: string;
  displayName: string;
  externalId: string | null;
  description: string | null;
  /** Direct members. */
  members: GroupMember[];
  /** Configured SCIM schema extensions, keyed by schema URN (JSON object). */
  extra: Record<string, unknown>;
  created: string;
  lastModified: string;
  version: number;
}

export interface GroupInput {
  displayName: string;
  externalId?: string | null;
  description?: string | null;
  /** Direct members; on replace this becomes the full list. */
  members?: GroupMemberRef[];
  /** Configured SCIM schema extensions keyed by URN (at most 64 KiB of JSON); replace sets them, omitted clears. */
  extra?: Record<string, unknown>;
}

export interface GroupFilter {
  displayName?: string;
  externalId?: string;
}

/** A permission string `resource_type:action`, e.g. `documents:read`. */
export type Permission = string;

export interface Role {
  id: string;
  name: string;
  description: string | null;
  permissions: Permission[];
  created: string;
  lastModified: string;
}

export interface RoleInput {
  name: string;
  description?: string | null;
  permissions: Permission[];
}

/** Who holds a role: a user, a service account, or every member of a group (nested groups count). */
export interface RolePrincipal {
  type: 'user' | 'service_account' | 'group';
  id: string;
}

export interface RoleAssignment {
  roleId: string;
  principal: RolePrincipal;
  /** ISO 8601 instant after which the assignment stops counting, or null. */
  expiresAt: string | null;
}

export interface ServiceAccount {
  id: string;
  name: string;
  description: string | null;
  ownerUserId: string | null;
  active: boolean;
  status: AccountStatus;
  created: string;
  lastModified: string;
}

export interface ServiceAccountInput {
  name: string;
  description?: string | null;
  ownerUserId: string;
}

/** An OIDC client application. */
export interface Application {
  /** The OAuth client_id. */
  id: string;
  name: string;
  redirectUris: string[];
  /** `client_secret_basic` for confidential clients, `none` for public ones. */
  tokenEndpointAuthMethod: 'client_secret_basic' | 'none';
  public: boolean;
  created: string;
}

export interface ApplicationInput {
  name: string;
  redirectUris: string[];
  public?: boolean;
}

/**
 * oidc-provider client metadata as stored in `applications.metadata` (OpenID Connect Dynamic
 * Client Registration 1.0 §2 names). Never holds the secret.
 */
export interface OidcClientMetadata {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  grant_types: ['authorization_code', 'refresh_token'];
  response_types: ['code'];
  token_endpoint_auth_method: 'client_secret_basic' | 'none';
}

/** Returned once at creation: the secret is never shown again. */
export interface CreatedApplication {
  client_id: string;
  client_secret: string | null;
  application: Application;
}

/** API token scopes. */
export const API_SCOPES = ['scim', 'admin', 'authz'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiToken {
  id: string;
  name: string;
  scopes: ApiScope[];
  created: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** The user this token acts for (SCIM `/Me`), or null. */
  userId: string | null;
}

/** Returned once at creation: `token` is never shown again (only its SHA-256 is stored). */
export interface CreatedApiToken {
  token: string;
  apiToken: ApiToken;
}

/** Runs a transaction's work `insert` (as is, or as a step of a shared transaction) and returns its result. */
export type WriteRunner = <T>(insert: () => Promise<T>) => Promise<T>;

/**
 * Users. Every method runs in one transaction and writes its audit event in it.
 * Errors: `not_found`, `conflict` (userName or email taken, details.attribute names which),
 * `invalid_input`, `weak_password`, `precondition_failed` (version mismatch).
 */
export interface UserService {
  /**
   * `write`, when given, runs the transaction (e.g. a group commit): validation, the password
   * policy check and hashing are done before it is called, so it holds the database only for the writes.
   */
  create(ctx: OperationContext, input: UserInput, write?: WriteRunner): Promise<User>;
  /**
   * Creates several users in one transaction (inside a shared transaction: the caller's step), as
   * {@link UserService.create} would one after another: each input is checked (and its password
   * hashed) first and one that fails gets its error in the result; the others are inserted with
   * one multi-row statement per table and get one `user.create` event each, in input order.
   * The inserts are all or nothing: when one fails (a userName or email taken, also by another
   * input) nothing is stored and the driver's error is thrown, so the caller can create them one
   * by one to tell which.
   * @returns one outcome per input, in order.
   */
  createMany(ctx: OperationContext, inputs: UserInput[]): Promise<Array<{ ok: true; user: User } | { ok: false; error: unknown }>>;
  get(ctx: OperationContext, id: string): Promise<User>;
  /** Case-insensitive (NFC + case fold) lookup; null if absent or deprovisioned. */
  findByUserName(ctx: OperationContext, userName: string): Promise<User | null>;
  /** Case-insensitive lookup by any email address; null if absent. */
  findByEmail(ctx: OperationContext, email: string): Promise<User | null>;
  list(ctx: OperationContext, filter: UserFilter, page: ListQuery): Promise<Page<User>>;
  /** Full replace (SCIM PUT). `expectedVersion` enforces If-Match. Turning active→false deprovisions. */
  replace(ctx: OperationContext, id: string, input: UserInput, expectedVersion?: number): Promise<User>;
  /** Activates or deactivates (suspends). Deactivation ends sessions, revokes tokens, and makes decisions deny. */
  setActive(ctx: OperationContext, id: string, active: boolean): Promise<User>;
  /** Deletes: deprovisions, removes its grants from the live graph and keeps a deprovisioned row for audit. `expectedVersion` enforces If-Match in the same transaction. */
  delete(ctx: OperationContext, id: string, expectedVersion?: number): Promise<void>;
  /** Sets (or replaces) the password; checks the policy and hashes with argon2id. */
  setPassword(ctx: OperationContext, id: string, password: string): Promise<void>;
  /**
   * Creates an active Gatehouse administrator (`isAdmin` true) with a password (console and admin sign-in).
   * Errors: `conflict` (userName taken), `weak_password`, `invalid_input`.
   */
  createAdministrator(ctx: OperationContext, input: AdministratorInput): Promise<User>;
}

/** What `UserService.createAdministrator` takes. */
export interface AdministratorInput {
  userName: string;
  password: string;
}

/**
 * Groups, with nesting. Memberships are relation tuples in the built-in store
 * (`group:<id>#member@user:<uid>`, `group:<id>#member@group:<child>#member`), so the
 * authorization index sees them at once. Errors: `not_found` (group or member),
 * `conflict` (displayName taken), `invariant_violation` (a nesting cycle), `invalid_input`.
 */
export interface GroupService {
  create(ctx: OperationContext, input: GroupInput): Promise<Group>;
  get(ctx: OperationContext, id: string): Promise<Group>;
  list(ctx: OperationContext, filter: GroupFilter, page: ListQuery): Promise<Page<Group>>;
  /** Full replace (SCIM PUT): members become exactly `input.members`. */
  replace(ctx: OperationContext, id: string, input: GroupInput, expectedVersion?: number): Promise<Group>;
  /** Renames / changes attributes other than members (SCIM PATCH of displayName, externalId). */
  update(ctx: OperationContext, id: string, changes: Partial<Omit<GroupInput, 'members'>>, expectedVersion?: number): Promise<Group>;
  /** `expectedVersion` enforces If-Match in the same transaction. */
  delete(ctx: OperationContext, id: string, expectedVersion?: number): Promise<void>;
  /** Adds members; adding an existing member is a no-op. One audit event per added member. */
  addMembers(ctx: OperationContext, groupId: string, members: GroupMemberRef[]): Promise<Group>;
  /** Removes members; removing a non-member is a no-op. One audit event per removed member. */
  removeMembers(ctx: OperationContext, groupId: string, members: GroupMemberRef[]): Promise<Group>;
  /** Groups the identity belongs to, directly or through nesting (transitive). */
  groupsOf(ctx: OperationContext, member: GroupMemberRef): Promise<Array<{ id: string; displayName: string }>>;
  /**
   * Which of `ids` name an existing principal of `type` (users and service accounts that are not
   * deprovisioned, groups), in one query — what `get` would find, without loading them.
   */
  existingPrincipals(ctx: OperationContext, type: GroupMemberRef['type'], ids: string[]): Promise<Set<string>>;
}

/**
 * Roles: named sets of permissions, assigned to users, service accounts or groups. Permissions and
 * assignments are relation tuples in the built-in store (`permission:<perm>#granted@role:<rid>#assignee`,
 * `role:<rid>#assignee@user:<uid>` | `@service_account:<id>` | `@group:<gid>#member`).
 * Errors: `not_found` (role or principal), `conflict` (name taken), `invalid_input` (bad permission string).
 */
export interface RoleService {
  create(ctx: OperationContext, input: RoleInput): Promise<Role>;
  get(ctx: OperationContext, id: string): Promise<Role>;
  list(ctx: OperationContext, page: ListQuery): Promise<Page<Role>>;
  /** Deletes the role, its permission tuples and every assignment. */
  delete(ctx: OperationContext, id: string): Promise<void>;
  /** Replaces the role's permissions with exactly `permissions`. */
  setPermissions(ctx: OperationContext, id: string, permissions: Permission[]): Promise<Role>;
  /** Assigns the role (idempotent: re-assigning updates `expiresAt`). `expiresAt` is an ISO 8601 instant. */
  assign(ctx: OperationContext, roleId: string, principal: RolePrincipal, opts?: { expiresAt?: string | null }): Promise<RoleAssignment>;
  /** Removes an assignment; removing one that does not exist is a no-op. */
  unassign(ctx: OperationContext, roleId: string, principal: RolePrincipal): Promise<void>;
  /** Direct assignments of the role. */
  listAssignments(ctx: OperationContext, roleId: string): Promise<RoleAssignment[]>;
}

/**
 * Service accounts (machine identities). Deactivation and deletion deprovision (grants disabled or
 * removed, tokens revoked). Errors: `not_found` (account or owner), `conflict` (name taken), `invalid_input`.
 */
export interface ServiceAccountService {
  create(ctx: OperationContext, input: ServiceAccountInput): Promise<ServiceAccount>;
  /** not_found for deleted (deprovisioned) accounts. */
  get(ctx: OperationContext, id: string): Promise<ServiceAccount>;
  list(ctx: OperationContext, page: ListQuery): Promise<Page<ServiceAccount>>;
  /** owner_not_active when activating while the owner is not an active user. */
  setActive(ctx: OperationContext, id: string, active: boolean): Promise<ServiceAccount>;
  /** Assigns a new, active owner (owner_not_active otherwise). */
  setOwner(ctx: OperationContext, id: string, ownerUserId: string): Promise<ServiceAccount>;
  delete(ctx: OperationContext, id: string): Promise<void>;
}

/**
 * OIDC client applications. The client secret is returned once by `create` and stored only as
 * SHA-256 hex (`applications.client_secret_hash`). `applications.metadata` holds the oidc-provider
 * client metadata without the secret: `{client_id, client_name, redirect_uris,
 * grant_types: ['authorization_code','refresh_token'], response_types: ['code'], token_endpoint_auth_method}`
 * (`client_secret_basic` for confidential clients, `none` for public ones; PKCE is required for both).
 * Errors: `not_found`, `invalid_input` (redirect URI not an absolute http(s) URL or has a fragment).
 */
export interface ApplicationService {
  create(ctx: OperationContext, input: ApplicationInput): Promise<CreatedApplication>;
  get(ctx: OperationContext, id: string): Promise<Application>;
  list(ctx: OperationContext, page: ListQuery): Promise<Page<Application>>;
  delete(ctx: OperationContext, id: string): Promise<void>;
  /** The stored oidc-provider client metadata (never the secret) of an existing application, or null. */
  clientMetadata(tenantId: string, clientId: string): Promise<OidcClientMetadata | null>;
  /** True when `secret` is the confidential client's secret (SHA-256, constant-time compare); false otherwise. */
  verifyClientSecret(tenantId: string, clientId: string, secret: string): Promise<boolean>;
}
