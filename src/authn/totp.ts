/**
 * TOTP authenticators (RFC 6238 over RFC 4226 HOTP; NIST SP 800-63B-4 §3.1.4 "single-factor OTP").
 *
 * Parameters are the ones every authenticator app understands: HMAC-SHA-1, 6 digits, 30-second
 * steps, T0 = 0. A code is accepted for the current step and one step either side (RFC 6238 §5.2
 * network delay), and each step is accepted at most once per user (§5.2: "the verifier MUST NOT
 * accept the second attempt of the OTP after the successful validation has been issued"): the
 * highest accepted step is stored and moved forward by one atomic conditional UPDATE.
 */
import { generateSecret, generateURI, verify as verifyOtp } from 'otplib';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Storage } from '../storage/database.js';
import { FlowStore } from './flows.js';

/** How long a started self-service enrollment waits for its first code, in seconds. */
export const TOTP_ENROLLMENT_TTL_SECONDS = 600;

/** The issuer shown by authenticator apps. */
export const TOTP_ISSUER = 'Gatehouse';
/** Step length in seconds (RFC 6238 X). */
export const TOTP_PERIOD_SECONDS = 30;
/** Code length. */
export const TOTP_DIGITS = 6;
/** Steps accepted either side of the current one. */
export const TOTP_WINDOW_STEPS = 1;

/** What {@link TotpService.enroll} returns, once: the secret is not shown again. */
export interface TotpEnrollment {
  /** Base32 shared secret (160 bits, RFC 4226 §4 R6). */
  secret: string;
  /** `otpauth://totp/Gatehouse:<userName>?secret=…&issuer=Gatehouse` for QR codes (Key Uri Format). */
  otpauthUri: string;
}

/** Outcome of one code check. `replayed`: the code is right but its step was already used. */
export type TotpCheck = 'accepted' | 'invalid' | 'replayed' | 'not_enrolled';

/** TOTP enrollment and verification, stored in `user_totp`. */
export class TotpService {
  private readonly flows: FlowStore;

  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {
    this.flows = new FlowStore(storage, clock);
  }

  private uri(userName: string, secret: string): string {
    return generateURI({ issuer: TOTP_ISSUER, label: userName, secret, algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
  }

  /**
   * Starts a self-service enrollment: a new secret is kept (not yet active) for
   * {@link TOTP_ENROLLMENT_TTL_SECONDS} until {@link confirmEnrollment} proves the user's app
   * has it. A started enrollment replaces an unconfirmed earlier one; the current authenticator,
   * if any, keeps working until the new one is confirmed.
   * @returns the secret and otpauth URI, for the QR code.
   */
  async beginEnrollment(tenantId: string, userId: string, userName: string): Promise<TotpEnrollment> {
    const secret = generateSecret({ length: 20 });
    await this.flows.put(tenantId, `totp-enroll:${userId}`, { secret }, TOTP_ENROLLMENT_TTL_SECONDS, userId);
    return { secret, otpauthUri: this.uri(userName, secret) };
  }

  /** The otpauth URI of the pending enrollment (to show the QR code again), or undefined. */
  async pendingEnrollment(tenantId: string, userId: string, userName: string): Promise<TotpEnrollment | undefined> {
    const p = await this.flows.get<{ secret: string }>(tenantId, `totp-enroll:${userId}`);
    return p ? { secret: p.secret, otpauthUri: this.uri(userName, p.secret) } : undefined;
  }

  /**
   * Confirms a started enrollment with a first code (±1 step). On success the secret becomes the
   * user's authenticator (replacing any earlier one) and the confirming step counts as used, so
   * the same code cannot then sign in. Audit: `totp.enroll` with `details.self_service`.
   * @returns false when there is no pending enrollment or the code is wrong (the enrollment is kept
   *   for another try until it expires).
   */
  async confirmEnrollment(ctx: OperationContext, userId: string, code: string): Promise<boolean> {
    const pending = await this.flows.get<{ secret: string }>(ctx.tenantId, `totp-enroll:${userId}`);
    if (!pending) return false;
    const token = code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(token)) return false;
    const result = await verifyOtp({
      secret: pending.secret,
      token,
      algorithm: 'sha1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
      epoch: Math.floor(this.clock.now().getTime() / 1000),
      epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
    });
    if (!result.valid || !('timeStep' in result)) return false;
    const taken = await this.flows.take<{ secret: string }>(ctx.tenantId, `totp-enroll:${userId}`);
    if (!taken || taken.secret !== pending.secret) return false;
    const now = this.clock.now().toISOString();
    await this.storage.db.transaction().execute(async (trx) => {
      const existed = await trx.deleteFrom('user_totp').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', userId).executeTakeFirst();
      await trx
        .insertInto('user_totp')
        .values({ tenant_id: ctx.tenantId, user_id: userId, secret: pending.secret, last_used_step: result.timeStep, created_at: now })
        .execute();
      await this.audit.append(trx, ctx, {
        action: 'totp.enroll',
        target: { type: 'user', id: userId },
        details: { replaced: Number(existed.numDeletedRows) > 0, self_service: true },
      });
    });
    return true;
  }

  /** Removes the user's TOTP authenticator. Audit: `totp.remove`. @returns false if there was none. */
  async remove(ctx: OperationContext, userId: string): Promise<boolean> {
    return this.storage.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('user_totp').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', userId).executeTakeFirst();
      const removed = Number(res.numDeletedRows) > 0;
      if (removed) await this.audit.append(trx, ctx, { action: 'totp.remove', target: { type: 'user', id: userId } });
      return removed;
    });
  }

  /**
   * Enrolls (or re-enrolls, replacing the earlier secret) a TOTP authenticator for a user.
   * Audit: `totp.enroll` (the secret is never logged).
   *
   * @returns the secret and otpauth URI, to show once.
   * @throws GatehouseError `not_found` if the user does not exist in `ctx.tenantId`.
   * @example
   * const { secret, otpauthUri } = await totp.enroll(ctx, userId);
   */
  async enroll(ctx: OperationContext, userId: string): Promise<TotpEnrollment> {
    const secret = generateSecret({ length: 20 });
    return this.storage.db.transaction().execute(async (trx) => {
      const user = await trx
        .selectFrom('users')
        .select(['id', 'user_name'])
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', userId)
        .executeTakeFirst();
      if (!user) throw new GatehouseError('not_found', `user ${userId} not found`, { resource: 'User', id: userId });
      const now = this.clock.now().toISOString();
      const existed = await trx
        .deleteFrom('user_totp')
        .where('tenant_id', '=', ctx.tenantId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      await trx
        .insertInto('user_totp')
        .values({ tenant_id: ctx.tenantId, user_id: userId, secret, last_used_step: null, created_at: now })
        .execute();
      await this.audit.append(trx, ctx, {
        action: 'totp.enroll',
        target: { type: 'user', id: userId },
        details: { replaced: Number(existed.numDeletedRows) > 0 },
      });
      const otpauthUri = generateURI({
        issuer: TOTP_ISSUER,
        label: user.user_name,
        secret,
        algorithm: 'sha1',
        digits: TOTP_DIGITS,
        period: TOTP_PERIOD_SECONDS,
      });
      return { secret, otpauthUri };
    });
  }

  /** True if the user has a TOTP authenticator enrolled. */
  async hasTotp(tenantId: string, userId: string): Promise<boolean> {
    const row = await this.storage.db
      .selectFrom('user_totp')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Verifies a code and, if right, consumes its time step.
   * @returns `true` only for a right code whose step is above every step accepted before.
   */
  async verify(tenantId: string, userId: string, code: string): Promise<boolean> {
    return (await this.check(tenantId, userId, code)) === 'accepted';
  }

  /**
   * Like {@link verify} but says why a code was refused (for the audit log; never shown to the user).
   * The step is consumed with `UPDATE … WHERE last_used_step IS NULL OR last_used_step < :step`;
   * zero rows updated means another request already used this step (or a later one): refused.
   */
  async check(tenantId: string, userId: string, code: string): Promise<TotpCheck> {
    const row = await this.storage.db
      .selectFrom('user_totp')
      .select(['secret'])
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) return 'not_enrolled';
    const token = code.replace(/\s+/g, '');
    if (!/^\d+$/.test(token) || token.length !== TOTP_DIGITS) return 'invalid';
    const result = await verifyOtp({
      secret: row.secret,
      token,
      algorithm: 'sha1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
      epoch: Math.floor(this.clock.now().getTime() / 1000),
      epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
    });
    if (!result.valid || !('timeStep' in result)) return 'invalid';
    const step = result.timeStep;
    const updated = await this.storage.db
      .updateTable('user_totp')
      .set({ last_used_step: step })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1 ? 'accepted' : 'replayed';
  }
}
