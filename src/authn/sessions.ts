/**
 * Server-side sign-in sessions (NIST SP 800-63B-4 §2.2.3 / §5 "session management", OWASP ASVS
 * 5.0 V7): a 256-bit random token in the `gh_session` cookie (HttpOnly, SameSite=Lax), only its
 * SHA-256 in `authn_sessions`; an absolute lifetime (`sessionTtlSeconds`) and an idle timeout
 * (`sessionIdleTimeoutSeconds`, measured from the last use). Each session records the
 * authentication level reached (`acr`), the methods used (`amr`, RFC 8176) and `auth_time`, which
 * go into ID tokens.
 *
 * OIDC grants created while a session is current are recorded in `authn_session_grants`; ending
 * the session deletes them and every code, access token and refresh token issued under them, and
 * oidc-provider's own browser session that references them (DOMAIN.md: "Ending it ends everything
 * issued under it").
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId, randomToken } from '../kernel/ids.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Executor, Storage } from '../storage/database.js';
import type { AuthnSessionsTable } from '../storage/schema-authn.js';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'gh_session';
/** `last_seen_at` is written at most this often, in seconds (fewer writes; idle precision ±this). */
export const TOUCH_INTERVAL_SECONDS = 30;

/** A session as shown to its user and to admins. Never carries the token. */
export interface SessionInfo {
  id: string;
  userId: string;
  acr: string;
  amr: string[];
  /** ISO instant of the last authentication. */
  authTime: string;
  createdAt: string;
  lastSeenAt: string;
  /** Absolute end. */
  expiresAt: string;
  /** End if unused: `lastSeenAt` + idle timeout (never after `expiresAt`). */
  idleExpiresAt: string;
  sourceIp: string | null;
  userAgent: string | null;
}

export interface SessionSettings {
  sessionTtlSeconds: number;
  sessionIdleTimeoutSeconds: number;
}

/** What {@link SessionService.create} needs. */
export interface NewSession {
  userId: string;
  acr: string;
  amr: string[];
  /** Defaults to now. */
  authTime?: Date;
  sourceIp?: string | null;
  userAgent?: string | null;
}

export class SessionService {
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
  ) {}

  private info(r: Pick<AuthnSessionsTable, 'id' | 'user_id' | 'acr' | 'amr' | 'auth_time' | 'created_at' | 'last_seen_at' | 'expires_at' | 'source_ip' | 'user_agent'>): SessionInfo {
    const idle = new Date(Date.parse(r.last_seen_at) + this.settings.sessionIdleTimeoutSeconds * 1000).toISOString();
    return {
      id: r.id,
      userId: r.user_id,
      acr: r.acr,
      amr: JSON.parse(r.amr) as string[],
      authTime: r.auth_time,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      expiresAt: r.expires_at,
      idleExpiresAt: idle < r.expires_at ? idle : r.expires_at,
      sourceIp: r.source_ip,
      userAgent: r.user_agent,
    };
  }

  /**
   * Starts a session. Audit: `session.create`.
   * @returns the session and its token (to put in the cookie; not retrievable later).
   */
  async create(ctx: OperationContext, s: NewSession): Promise<{ session: SessionInfo; token: string }> {
    const token = randomToken(32);
    const now = this.clock.now();
    const row = {
      tenant_id: ctx.tenantId,
      id: newId(),
      token_hash: sha256Hex(token),
      user_id: s.userId,
      acr: s.acr,
      amr: JSON.stringify(s.amr),
      auth_time: (s.authTime ?? now).toISOString(),
      created_at: now.toISOString(),
      last_seen_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.settings.sessionTtlSeconds * 1000).toISOString(),
      ended_at: null,
      source_ip: s.sourceIp ?? null,
      user_agent: s.userAgent ? s.userAgent.slice(0, 256) : null,
    };
    await this.storage.db.transaction().execute(async (trx) => {
      await trx.insertInto('authn_sessions').values(row).execute();
      await this.audit.append(trx, ctx, {
        action: 'session.create',
        target: { type: 'user', id: s.userId },
        details: { session_id: row.id, acr: s.acr, amr: s.amr },
      });
    });
    return { session: this.info(row), token };
  }

  /**
   * The live session a cookie token names: not ended, before its absolute end, and used within
   * the idle timeout; its `last_seen_at` moves forward. A session found idle or past its end is
   * ended (and its grants revoked) on the spot.
   */
  async authenticate(tenantId: string, token: string | undefined | null): Promise<SessionInfo | undefined> {
    if (!token || token.length > 128) return undefined;
    const row = await this.storage.db
      .selectFrom('authn_sessions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('token_hash', '=', sha256Hex(token))
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    const now = this.clock.now();
    const info = this.info(row);
    const user = await this.storage.db.selectFrom('users').select('status').where('tenant_id', '=', tenantId).where('id', '=', row.user_id).executeTakeFirst();
    if (now.toISOString() >= info.idleExpiresAt || user?.status !== 'active') {
      await this.storage.db.transaction().execute((trx) =>
        this.endWhere(trx, { tenantId, actor: { type: 'system', id: null } }, [row.id], now.toISOString() >= row.expires_at ? 'expired' : 'idle'),
      );
      return undefined;
    }
    if (now.getTime() - Date.parse(row.last_seen_at) >= TOUCH_INTERVAL_SECONDS * 1000) {
      const seen = now.toISOString();
      await this.storage.db.updateTable('authn_sessions').set({ last_seen_at: seen }).where('tenant_id', '=', tenantId).where('id', '=', row.id).execute();
      return this.info({ ...row, last_seen_at: seen });
    }
    return info;
  }

  /**
   * Records a new authentication in an existing session (step-up or re-authentication for
   * `max_age` / `prompt=login`): its acr, amr and auth_time change; the grants stay.
   * Audit: `session.reauthenticate`.
   */
  async reauthenticate(ctx: OperationContext, sessionId: string, acr: string, amr: string[]): Promise<SessionInfo | undefined> {
    const now = this.clock.now().toISOString();
    return this.storage.db.transaction().execute(async (trx) => {
      await trx.updateTable('authn_sessions').set({ acr, amr: JSON.stringify(amr), auth_time: now, last_seen_at: now }).where('tenant_id', '=', ctx.tenantId).where('id', '=', sessionId).where('ended_at', 'is', null).execute();
      const row = await trx.selectFrom('authn_sessions').selectAll().where('tenant_id', '=', ctx.tenantId).where('id', '=', sessionId).where('ended_at', 'is', null).executeTakeFirst();
      if (!row) return undefined;
      await this.audit.append(trx, ctx, { action: 'session.reauthenticate', target: { type: 'user', id: row.user_id }, details: { session_id: sessionId, acr, amr } });
      return this.info(row);
    });
  }

  /** One session by id (live or not), or undefined. */
  async get(tenantId: string, id: string): Promise<(SessionInfo & { endedAt: string | null }) | undefined> {
    const row = await this.storage.db.selectFrom('authn_sessions').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    return row ? { ...this.info(row), endedAt: row.ended_at } : undefined;
  }

  /** Live sessions (not ended, not past their absolute or idle end), newest first; of one user if `userId` is given. */
  async list(tenantId: string, opts: { userId?: string; limit?: number } = {}): Promise<SessionInfo[]> {
    const now = this.clock.now();
    let q = this.storage.db
      .selectFrom('authn_sessions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('ended_at', 'is', null)
      .where('expires_at', '>', now.toISOString())
      .where('last_seen_at', '>', new Date(now.getTime() - this.settings.sessionIdleTimeoutSeconds * 1000).toISOString());
    if (opts.userId) q = q.where('user_id', '=', opts.userId);
    const rows = await q.orderBy('id', 'desc').limit(opts.limit ?? 500).execute();
    return rows.map((r) => this.info(r));
  }

  /** Records that OIDC grant `grantId` (for `clientId`) was issued under session `sessionId`. */
  async attachGrant(tenantId: string, sessionId: string, grantId: string, clientId: string): Promise<void> {
    await this.storage.db
      .insertInto('authn_session_grants')
      .values({ tenant_id: tenantId, session_id: sessionId, grant_id: grantId, client_id: clientId, created_at: this.clock.now().toISOString() })
      .onConflict((oc) => oc.columns(['tenant_id', 'session_id', 'grant_id']).doNothing())
      .execute();
  }

  /**
   * Ends one session and revokes everything issued under it. With `ownerId`, only a session of
   * that user can be ended (a user ending their own). Audit: `session.end`.
   * @throws GatehouseError `not_found` if there is no such live session (of `ownerId`).
   */
  async end(ctx: OperationContext, sessionId: string, ownerId?: string): Promise<void> {
    await this.storage.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('authn_sessions').select('id').where('tenant_id', '=', ctx.tenantId).where('id', '=', sessionId).where('ended_at', 'is', null);
      if (ownerId) q = q.where('user_id', '=', ownerId);
      if (!(await q.executeTakeFirst())) throw new GatehouseError('not_found', `session ${sessionId} not found`, { resource: 'Session', id: sessionId });
      await this.endWhere(trx, ctx, [sessionId], 'ended');
    });
  }

  /**
   * Ends every live session of a user except `exceptId` (password change, reset, authenticator
   * removal). Runs in `trx` when given. @returns how many were ended.
   */
  async endAllForUser(ctx: OperationContext, userId: string, opts: { exceptId?: string; trx?: Executor; reason?: string } = {}): Promise<number> {
    const run = async (trx: Executor) => {
      let q = trx.selectFrom('authn_sessions').select('id').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', userId).where('ended_at', 'is', null);
      if (opts.exceptId) q = q.where('id', '<>', opts.exceptId);
      const ids = (await q.execute()).map((r) => r.id);
      if (ids.length) await this.endWhere(trx, ctx, ids, opts.reason ?? 'ended');
      return ids.length;
    };
    return opts.trx ? run(opts.trx) : this.storage.db.transaction().execute(run);
  }

  /** Marks sessions ended, deletes their grants' tokens and the oidc-provider sessions holding them; one audit event each. */
  private async endWhere(trx: Executor, ctx: OperationContext, ids: string[], reason: string): Promise<void> {
    const now = this.clock.now().toISOString();
    const rows = await trx.selectFrom('authn_sessions').select(['id', 'user_id']).where('tenant_id', '=', ctx.tenantId).where('id', 'in', ids).execute();
    await trx.updateTable('authn_sessions').set({ ended_at: now }).where('tenant_id', '=', ctx.tenantId).where('id', 'in', ids).where('ended_at', 'is', null).execute();
    const grants = await trx.selectFrom('authn_session_grants').select('grant_id').where('tenant_id', '=', ctx.tenantId).where('session_id', 'in', ids).execute();
    const grantIds = [...new Set(grants.map((g) => g.grant_id))];
    let revoked = 0;
    if (grantIds.length) {
      const res = await trx.deleteFrom('oidc_payloads').where('tenant_id', '=', ctx.tenantId).where('grant_id', 'in', grantIds).executeTakeFirst();
      revoked = Number(res.numDeletedRows);
      // oidc-provider's browser sessions that authorized one of these grants.
      const userIds = [...new Set(rows.map((r) => r.user_id))];
      const opSessions = userIds.length
        ? await trx.selectFrom('oidc_payloads').select(['id', 'payload']).where('tenant_id', '=', ctx.tenantId).where('model', '=', 'Session').where('account_id', 'in', userIds).execute()
        : [];
      const doomed = opSessions
        .filter((s) => {
          const auth = (JSON.parse(s.payload) as { authorizations?: Record<string, { grantId?: string }> }).authorizations ?? {};
          return Object.values(auth).some((a) => a.grantId !== undefined && grantIds.includes(a.grantId));
        })
        .map((s) => s.id);
      if (doomed.length) {
        await trx.deleteFrom('oidc_payloads').where('tenant_id', '=', ctx.tenantId).where('model', '=', 'Session').where('id', 'in', doomed).execute();
        revoked += doomed.length;
      }
    }
    for (const r of rows) {
      await this.audit.append(trx, ctx, {
        action: 'session.end',
        target: { type: 'user', id: r.user_id },
        details: { session_id: r.id, reason, grants_revoked: grantIds.length, artifacts_deleted: revoked },
      });
    }
  }
}
