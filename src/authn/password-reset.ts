/**
 * Password change and self-service reset (NIST SP 800-63B-4 §3.1.1.2 and §4.2 account recovery;
 * OWASP Forgot Password Cheat Sheet).
 *
 * - Change: the current password is verified; the new one passes the policy (minimum 15
 *   characters, or 8 when the user has a second factor); the user's other sessions end.
 * - Reset request: always the same answer. If the identifier names an active user with an email
 *   address, a link with a 256-bit token is mailed; only its SHA-256 is stored; it expires after
 *   `passwordResetTtlSeconds` (default 900).
 * - Reset completion: the link is consumed by one conditional UPDATE (`consumed_at IS NULL AND
 *   expires_at > now`), so it works once even when used twice at the same moment. If the user has
 *   a second factor (TOTP or recovery codes) it must be answered first: a mailbox alone never
 *   resets the password of an account protected by two factors, and the next sign-in still asks
 *   for the second factor. A completed reset ends every session of the user and every other
 *   outstanding link.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId, randomToken } from '../kernel/ids.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Storage } from '../storage/database.js';
import type { Mailer } from './mail.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from './password.js';
import type { SessionService } from './sessions.js';
import type { SignInThrottle } from './throttle.js';
import { findByIdentifier, type SecondFactors, type SignInMeta, type SignInService } from './signin.js';

export interface PasswordSettings {
  issuer: string;
  passwordMinLength: number;
  passwordMinLengthWithMfa: number;
  passwordResetTtlSeconds: number;
}

export interface PasswordServiceDeps {
  storage: Storage;
  audit: AuditLog;
  clock: Clock;
  mailer: Mailer;
  sessions: SessionService;
  signIn: SignInService;
  throttle: SignInThrottle;
  settings: PasswordSettings;
}

/** Path of the reset page; the token follows. */
export const RESET_PATH = '/account/reset/';

export class PasswordService {
  constructor(private readonly deps: PasswordServiceDeps) {}

  private async user(tenantId: string, userId: string) {
    const u = await this.deps.storage.db
      .selectFrom('users')
      .select(['id', 'user_name', 'given_name', 'family_name', 'display_name', 'password_hash', 'status'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!u) throw new GatehouseError('not_found', `user ${userId} not found`, { resource: 'User', id: userId });
    const emails = await this.deps.storage.db
      .selectFrom('user_emails')
      .select('value')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .orderBy('is_primary', 'desc')
      .orderBy('position')
      .execute();
    return { ...u, emails: emails.map((e) => e.value) };
  }

  /** Shortest password for this user: `passwordMinLengthWithMfa` with a second factor or passkey, else `passwordMinLength`. */
  async minLengthFor(tenantId: string, userId: string): Promise<number> {
    const factors = await this.deps.signIn.secondFactorsOf(tenantId, userId);
    const passkey = await this.deps.storage.db.selectFrom('webauthn_credentials').select('id').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
    return factors || passkey ? this.deps.settings.passwordMinLengthWithMfa : this.deps.settings.passwordMinLength;
  }

  /** Checks the policy for this user (length by factors, context words). @throws GatehouseError `weak_password`. */
  async checkPolicy(tenantId: string, userId: string, password: string): Promise<void> {
    const u = await this.user(tenantId, userId);
    checkPasswordPolicy(password, { userName: u.user_name, emails: u.emails, names: [u.given_name, u.family_name, u.display_name] }, { minLength: await this.minLengthFor(tenantId, userId) });
  }

  /**
   * Changes the password of a signed-in user. Ends the user's other sessions. Audit:
   * `user.password_change`; a notice mail goes to the primary address.
   * @throws GatehouseError `unauthenticated` (current password wrong; counts toward throttling), `weak_password`.
   */
  async change(ctx: OperationContext, userId: string, current: string, next: string, meta: SignInMeta & { sessionId?: string }): Promise<void> {
    const u = await this.user(ctx.tenantId, userId);
    const key = `account:${userId}`;
    const throttle = this.deps.throttle;
    const verdict = await throttle.check(ctx.tenantId, key, meta.sourceIp);
    const ok = u.password_hash ? await verifyPassword(u.password_hash, current.slice(0, 1024)) : false;
    if (!verdict.allowed || !ok) {
      if (verdict.allowed) await throttle.fail(ctx.tenantId, key, meta.sourceIp);
      await this.deps.signIn.recordFailure(ctx.tenantId, meta, userId, verdict.allowed ? 'password_change_wrong_current' : 'throttled');
      throw new GatehouseError('unauthenticated', 'The current password is not correct.', { reason: 'current_password' });
    }
    await this.checkPolicy(ctx.tenantId, userId, next);
    const hash = await hashPassword(next);
    await this.deps.storage.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash, updated_at: this.deps.clock.now().toISOString() }).where('tenant_id', '=', ctx.tenantId).where('id', '=', userId).execute();
      await this.deps.audit.append(trx, ctx, { action: 'user.password_change', target: { type: 'user', id: userId } });
      await this.deps.sessions.endAllForUser(ctx, userId, { trx, exceptId: meta.sessionId, reason: 'password_change' });
    });
    await this.notify(ctx.tenantId, u, 'password_changed', 'Your Gatehouse password was changed', 'The password of your Gatehouse account was just changed. If this was not you, contact your administrator at once.');
  }

  private async notify(tenantId: string, u: { id: string; emails: string[] }, kind: string, subject: string, text: string): Promise<void> {
    const to = u.emails[0];
    if (to) await this.deps.mailer.send(tenantId, { to, subject, text, kind, userId: u.id });
  }

  /**
   * Starts a reset for a username or email. Same outcome whatever the identifier names; a link is
   * mailed only to an active user with an address. Audit: `password_reset.request` (with the user
   * when known).
   */
  async requestReset(tenantId: string, identifier: string, meta: SignInMeta): Promise<void> {
    const candidate = identifier.length <= 1024 && identifier.trim() ? await findByIdentifier(this.deps.storage, tenantId, identifier) : undefined;
    const u = candidate && candidate.status === 'active' ? await this.user(tenantId, candidate.id) : undefined;
    const ctx: OperationContext = { tenantId, actor: { type: 'anonymous', id: null }, requestId: meta.requestId, sourceIp: meta.sourceIp };
    if (!u || u.emails.length === 0) {
      await this.deps.storage.db.transaction().execute((trx) =>
        this.deps.audit.append(trx, ctx, { action: 'password_reset.request', outcome: 'failure', target: { type: 'user', id: candidate?.id ?? null }, details: { reason: candidate ? 'no_email_or_inactive' : 'unknown_user' } }),
      );
      return;
    }
    const token = randomToken(32);
    const now = this.deps.clock.now();
    const ttl = this.deps.settings.passwordResetTtlSeconds;
    await this.deps.storage.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('password_resets')
        .values({ tenant_id: tenantId, id: newId(), user_id: u.id, token_hash: sha256Hex(token), created_at: now.toISOString(), expires_at: new Date(now.getTime() + ttl * 1000).toISOString(), consumed_at: null })
        .execute();
      await this.deps.audit.append(trx, ctx, { action: 'password_reset.request', target: { type: 'user', id: u.id }, details: { ttl_seconds: ttl } });
    });
    const link = `${this.deps.settings.issuer}${RESET_PATH}${token}`;
    await this.notify(
      tenantId,
      u,
      'password_reset',
      'Reset your Gatehouse password',
      `Someone asked to reset the password of the Gatehouse account ${u.user_name}.\n\nTo choose a new password, open this link within ${Math.round(ttl / 60)} minutes:\n${link}\n\nThe link works once. If you did not ask for this, ignore this mail: your password stays as it is.`,
    );
  }

  /** The user a valid (unconsumed, unexpired) link belongs to and the second factors it must answer, or undefined. */
  async inspectReset(tenantId: string, token: string): Promise<{ userId: string; secondFactors: SecondFactors | null } | undefined> {
    if (!token || token.length > 128) return undefined;
    const row = await this.deps.storage.db
      .selectFrom('password_resets')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('token_hash', '=', sha256Hex(token))
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', this.deps.clock.now().toISOString())
      .executeTakeFirst();
    if (!row) return undefined;
    return { userId: row.user_id, secondFactors: await this.deps.signIn.secondFactorsOf(tenantId, row.user_id) };
  }

  /**
   * Completes a reset: checks the link, the second factor when the user has one, and the policy;
   * then, in one transaction, consumes the link atomically, sets the password, ends every session
   * and voids the user's other links. Audit: `password_reset.complete`; a notice mail is sent.
   * @throws GatehouseError `invalid_input` (`details.reason` `reset_link_invalid`: unknown, used or
   *   expired), `unauthenticated` (`second_factor_required`: missing or wrong code), `weak_password`.
   */
  async completeReset(tenantId: string, token: string, password: string, answer: { otp?: string; recoveryCode?: string }, meta: SignInMeta): Promise<{ userId: string }> {
    const found = await this.inspectReset(tenantId, token);
    if (!found) throw new GatehouseError('invalid_input', 'This reset link is not valid: it was used already, has expired, or is mistyped.', { reason: 'reset_link_invalid' });
    if (found.secondFactors) {
      // One field takes either: an authenticator code is 6 to 8 digits; anything else typed there is a recovery code.
      const otp = answer.otp?.trim();
      const answered =
        otp && /^[\d ]{6,10}$/.test(otp) ? { otp } : otp ? { recoveryCode: otp } : answer.recoveryCode?.trim() ? { recoveryCode: answer.recoveryCode } : undefined;
      const ok = answered ? await this.deps.signIn.secondFactor(tenantId, found.userId, answered, meta) : undefined;
      if (!ok) throw new GatehouseError('unauthenticated', 'Enter a valid code from your authenticator app, or a recovery code.', { reason: 'second_factor_required' });
    }
    await this.checkPolicy(tenantId, found.userId, password);
    const hash = await hashPassword(password);
    const ctx: OperationContext = { tenantId, actor: { type: 'user', id: found.userId }, requestId: meta.requestId, sourceIp: meta.sourceIp };
    const now = this.deps.clock.now().toISOString();
    await this.deps.storage.db.transaction().execute(async (trx) => {
      const consumed = await trx
        .updateTable('password_resets')
        .set({ consumed_at: now })
        .where('tenant_id', '=', tenantId)
        .where('token_hash', '=', sha256Hex(token))
        .where('consumed_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (Number(consumed.numUpdatedRows) !== 1) {
        throw new GatehouseError('invalid_input', 'This reset link is not valid: it was used already, has expired, or is mistyped.', { reason: 'reset_link_invalid' });
      }
      await trx.updateTable('password_resets').set({ consumed_at: now }).where('tenant_id', '=', tenantId).where('user_id', '=', found.userId).where('consumed_at', 'is', null).execute();
      await trx.updateTable('users').set({ password_hash: hash, updated_at: now }).where('tenant_id', '=', tenantId).where('id', '=', found.userId).execute();
      const ended = await this.deps.sessions.endAllForUser(ctx, found.userId, { trx, reason: 'password_reset' });
      await this.deps.audit.append(trx, ctx, { action: 'password_reset.complete', target: { type: 'user', id: found.userId }, details: { sessions_ended: ended, second_factor: found.secondFactors !== null } });
    });
    const u = await this.user(tenantId, found.userId);
    await this.notify(tenantId, u, 'password_changed', 'Your Gatehouse password was reset', 'The password of your Gatehouse account was just reset and every session was signed out. If this was not you, contact your administrator at once.');
    return { userId: found.userId };
  }
}
