/**
 * Deprovisioning (DOMAIN.md): removing an identity's ability to act. Every path that deactivates
 * or deletes a user or service account (SCIM PUT/PATCH `active: false`, the admin API, the CLI,
 * deletion, lifecycle rules) goes through {@link Deprovisioner.deprovisionIdentity}, inside the
 * caller's transaction, so the identity's status change and the removal of its access commit
 * together or not at all.
 */
import { revokeAllForAccount } from '../oidc/adapter.js';
import type { AuditLog } from '../audit/audit-log.js';
import { revokeUserApiTokens } from '../identity/api-tokens.js';
import type { Clock } from '../kernel/clock.js';
import type { TupleStore } from '../authz/tuple-store.js';
import type { OperationContext } from '../kernel/context.js';
import type { Executor, StorageKind } from '../storage/database.js';

/** The identity being deprovisioned. */
export interface IdentityRef {
  type: 'user' | 'service_account';
  id: string;
}

/**
 * `suspend`: the identity is kept with its grants (so reactivation restores access), but every
 * decision denies via a `disable` changelog entry and every OIDC artifact is deleted.
 * `delete`: as `suspend`, and its grants are removed from the live graph; for a user its email
 * addresses (freeing them) and TOTP secret are deleted too.
 */
export type DeprovisionMode = 'suspend' | 'delete';

/** What a deprovisioning removed. */
export interface DeprovisionResult {
  /** Changelog revision after the change (consistency token for authorization checks). */
  revision: number;
  /** Relation tuples removed from the live graph (`delete` only; 0 for `suspend`). */
  tuplesDeleted: number;
  /** oidc_payloads rows deleted: sessions, grants, authorization codes, access and refresh tokens. */
  oidcArtifactsDeleted: number;
  /** TOTP secrets deleted (user `delete` only). */
  totpDeleted: number;
  /** Email addresses released (user `delete` only). */
  emailsDeleted: number;
  /** Gatehouse sign-in sessions (`authn_sessions`) ended (users only; 0 when no session service is attached). */
  sessionsEnded: number;
  /** API tokens bound to the user (`gatehouse token create --user`) revoked (users only). */
  apiTokensRevoked: number;
}

/** What deprovisioning needs of the API-token service: drop tokens it revokes from its cache, from inside the transaction (ApiTokenService.forgetRevoking). */
export interface ApiTokenCache {
  forgetRevoking(tenantId: string, ids: readonly string[]): void;
}

/**
 * What deprovisioning needs of the sign-in session service (src/authn/sessions.ts
 * `SessionService`): end every live session of a user inside the given transaction, writing one
 * `session.end` audit event per session, and return how many were ended.
 */
export interface UserSessionEnder {
  endAllForUser(ctx: OperationContext, userId: string, opts: { trx?: Executor; reason?: string }): Promise<number>;
}

/** The `reason` recorded on each `session.end` audit event written by deprovisioning. */
export const DEPROVISION_SESSION_END_REASON = 'deprovisioned';

/**
 * Extra work when a user is deprovisioned, run inside the same transaction after the user's own
 * access is removed (for example: disable or hand over the service accounts it owns).
 */
export type UserDeprovisionHook = (trx: Executor, ctx: OperationContext, userId: string, mode: DeprovisionMode) => Promise<void>;

/**
 * Performs deprovisioning inside a caller's transaction. The caller owns the identity row
 * (status, version, its own audit event); this class owns everything the identity could still
 * act with: authorization grants, OIDC sessions and tokens, second factors.
 */
export class Deprovisioner {
  private readonly userHooks: UserDeprovisionHook[] = [];
  private sessions: UserSessionEnder | undefined;

  /**
   * @param clock - time of token revocations.
   * @param storageKind - the database kind (PostgreSQL: token revocations are notified to other instances).
   * @param apiTokens - the API-token cache of this instance, so revoked user tokens leave it at once.
   */
  constructor(
    private readonly tuples: TupleStore,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly storageKind: StorageKind,
    private readonly apiTokens?: ApiTokenCache,
  ) {}

  /** Registers a {@link UserDeprovisionHook} (at wiring time). */
  addUserHook(hook: UserDeprovisionHook): void {
    this.userHooks.push(hook);
  }

  /**
   * Attaches the sign-in session service (at wiring time, in src/gatehouse.ts, once the authn
   * module exists), so deprovisioning a user also ends their Gatehouse sessions.
   */
  endSessionsWith(sessions: UserSessionEnder): void {
    this.sessions = sessions;
  }

  /**
   * Deprovisions `identity` inside `trx` and writes the audit event `identity.deprovision`
   * with the counts of what was removed.
   *
   * 1. Appends a `disable` changelog entry for the subject, so authorization decisions deny at once.
   * 2. `delete` only: deletes every tuple in which the identity is the object or the subject
   *    (group memberships, role assignments, ownerships), each recorded in the changelog.
   * 3. Deletes every OIDC artifact issued to the account: rows whose `account_id` is the identity,
   *    and every row sharing a `grant_id` with one of them (access and refresh tokens, codes).
   *    Ending sessions this way ends everything issued under them (OIDC Core; RFC 7009 §2.1).
   * 4. For a user, ends every live Gatehouse sign-in session (`authn_sessions.ended_at` set, one
   *    `session.end` audit event each with reason `deprovisioned`), so the `gh_session` cookie is
   *    dead for good: reactivating the user later does not revive it (NIST SP 800-63B-4 §5.1 /
   *    OWASP ASVS 5.0 V7.4: sessions end when the account is disabled). Needs
   *    {@link Deprovisioner.endSessionsWith}.
   * 5. For a user, revokes every API token bound to it (`api_tokens.user_id`; one `api_token.revoke`
   *    audit event each, reason `user_deprovisioned`) and drops them from this instance's token
   *    cache; reactivating the user does not revive them.
   * 6. `delete` of a user: deletes its `user_emails` rows (the addresses become free) and its TOTP secret.
   * 7. For a user, runs the registered {@link UserDeprovisionHook}s (owned service accounts).
   *
   * @param trx - an open transaction (not the bare database): the change must be atomic.
   * @returns counts of what was removed and the changelog revision.
   */
  async deprovisionIdentity(trx: Executor, ctx: OperationContext, identity: IdentityRef, mode: DeprovisionMode): Promise<DeprovisionResult> {
    let revision = await this.tuples.setSubjectEnabled(trx, ctx, identity, false);
    let tuplesDeleted = 0;
    if (mode === 'delete') {
      const res = await this.tuples.deleteTouching(trx, ctx, identity.type, identity.id);
      tuplesDeleted = res.deleted.length;
      if (res.deleted.length > 0) revision = res.revision;
    }
    const oidcArtifactsDeleted = await deleteOidcArtifacts(trx, ctx.tenantId, identity.id);
    // After the OIDC artifacts, so `oidcArtifactsDeleted` counts all of them.
    const sessionsEnded =
      identity.type === 'user' && this.sessions ? await this.sessions.endAllForUser(ctx, identity.id, { trx, reason: DEPROVISION_SESSION_END_REASON }) : 0;
    let apiTokensRevoked = 0;
    if (identity.type === 'user') {
      const ids = await revokeUserApiTokens(trx, this.storageKind, this.audit, ctx, identity.id, this.clock.now().toISOString());
      apiTokensRevoked = ids.length;
      // Dropped before commit, and kept out of the cache until the transaction is surely over: a
      // read on another connection before the commit still sees the token valid and the user
      // active (PostgreSQL), and must not cache it. Other replicas: the revocation follower.
      this.apiTokens?.forgetRevoking(ctx.tenantId, ids);
    }
    let totpDeleted = 0;
    let emailsDeleted = 0;
    if (mode === 'delete' && identity.type === 'user') {
      const t = await trx.deleteFrom('user_totp').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', identity.id).executeTakeFirst();
      totpDeleted = Number(t.numDeletedRows);
      const e = await trx.deleteFrom('user_emails').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', identity.id).executeTakeFirst();
      emailsDeleted = Number(e.numDeletedRows);
    }
    if (identity.type === 'user') for (const hook of this.userHooks) await hook(trx, ctx, identity.id, mode);
    const result: DeprovisionResult = { revision, tuplesDeleted, oidcArtifactsDeleted, totpDeleted, emailsDeleted, sessionsEnded, apiTokensRevoked };
    await this.audit.append(trx, ctx, {
      action: 'identity.deprovision',
      target: { type: identity.type, id: identity.id },
      details: { mode, source: ctx.source ?? null, ...result },
    });
    return result;
  }

  /**
   * Lets a suspended identity act again: appends an `enable` changelog entry so the grants it kept
   * count again. Call inside the transaction that sets the identity active.
   * @returns the changelog revision.
   */
  async reactivateIdentity(trx: Executor, ctx: OperationContext, identity: IdentityRef): Promise<number> {
    return this.tuples.setSubjectEnabled(trx, ctx, identity, true);
  }
}

/**
 * Deletes every oidc_payloads row issued to `accountId`: rows with that `account_id` (Session,
 * Grant, AuthorizationCode, AccessToken, RefreshToken, ...) and rows that share a `grant_id` with them.
 * @returns the number of rows deleted.
 */
export async function deleteOidcArtifacts(trx: Executor, tenantId: string, accountId: string): Promise<number> {
  return revokeAllForAccount(trx, tenantId, accountId);
}
