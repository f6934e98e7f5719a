/**
 * The sign-in checks shared by the OIDC login interaction and the self-service pages, free of
 * HTTP: password (throttled, constant work, transparent rehash), second factor (TOTP or recovery
 * code, also throttled), passkey (discoverable, passwordless).
 *
 * Every failure of the first step looks the same to the caller ({ ok: false }) whether the
 * account is unknown, has no password, is not active, is locked or delayed, or the password is
 * wrong; each costs one argon2id verify; the reason goes only to the audit log (`signin.failure`).
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { Storage } from '../storage/database.js';
import type { AccountStatus } from '../storage/schema.js';
import { AMR, acrFor } from './levels.js';
import { hashPassword, needsRehash, verifyAgainstDummy, verifyPassword } from './password.js';
import type { RecoveryCodeService } from './recovery-codes.js';
import type { SignInThrottle } from './throttle.js';
import type { TotpService } from './totp.js';
import type { PasskeyService } from './webauthn.js';

/** Longest identifier or password read, in characters (longer ones just fail). */
export const MAX_FIELD_LENGTH = 1024;

/** Where an attempt came from (audit and per-address throttling). */
export interface SignInMeta {
  sourceIp: string | null;
  requestId: string | null;
  clientId?: string | null;
}

/** A user as needed for sign-in. */
export interface SignInCandidate {
  id: string;
  userName: string;
  status: AccountStatus;
  passwordHash: string | null;
}

/** The second factors a user can answer with after the password. */
export interface SecondFactors {
  totp: boolean;
  recoveryCode: boolean;
}

export type PasswordOutcome = { ok: false } | { ok: true; userId: string; secondFactors: SecondFactors | null };

/** A completed authentication: who, at which level, by which methods. */
export interface Authenticated {
  userId: string;
  acr: string;
  amr: string[];
}

export interface SignInDeps {
  storage: Storage;
  audit: AuditLog;
  clock: Clock;
  throttle: SignInThrottle;
  totp: TotpService;
  recoveryCodes: RecoveryCodeService;
  passkeys: PasskeyService;
}

/**
 * The user a sign-in identifier names: a userName or an email address, compared after NFC + case
 * folding. If several match (a deprovisioned identity may share a name), an active one wins, and a
 * userName match wins over an email match.
 */
export async function findByIdentifier(storage: Storage, tenantId: string, identifier: string): Promise<SignInCandidate | undefined> {
  const norm = normalizeIdentifier(identifier.trim());
  if (!norm) return undefined;
  const rows = await storage.db
    .selectFrom('users')
    .select(['id', 'user_name', 'user_name_norm', 'status', 'password_hash'])
    .where('tenant_id', '=', tenantId)
    .where((eb) =>
      eb.or([
        eb('user_name_norm', '=', norm),
        eb('id', 'in', eb.selectFrom('user_emails').select('user_id').where('tenant_id', '=', tenantId).where('value_norm', '=', norm)),
      ]),
    )
    .execute();
  const rank = (s: AccountStatus) => (s === 'active' ? 0 : s === 'suspended' ? 1 : s === 'staged' ? 2 : 3);
  rows.sort((a, b) => rank(a.status) - rank(b.status) || Number(a.user_name_norm !== norm) - Number(b.user_name_norm !== norm));
  const r = rows[0];
  return r && { id: r.id, userName: r.user_name, status: r.status, passwordHash: r.password_hash };
}

export class SignInService {
  constructor(private readonly deps: SignInDeps) {}

  /** The throttling key of an account: the user id when the identifier names one, else the normalised identifier. */
  static accountKey(candidate: SignInCandidate | undefined, identifier: string): string {
    return candidate ? `account:${candidate.id}` : `identifier:${normalizeIdentifier(identifier.trim()).slice(0, 256)}`;
  }

  private ctx(tenantId: string, meta: SignInMeta, actor: OperationContext['actor'] = { type: 'anonymous', id: null }): OperationContext {
    return { tenantId, actor, requestId: meta.requestId, sourceIp: meta.sourceIp };
  }

  /** Appends `signin.failure` with the reason (never a secret). */
  async recordFailure(tenantId: string, meta: SignInMeta, userId: string | null, reason: string): Promise<void> {
    await this.deps.storage.db.transaction().execute((trx) =>
      this.deps.audit.append(trx, this.ctx(tenantId, meta), {
        action: 'signin.failure',
        outcome: 'failure',
        target: { type: 'user', id: userId },
        details: { reason, client_id: meta.clientId ?? null },
      }),
    );
  }

  /** Appends `signin.success`. */
  async recordSuccess(tenantId: string, meta: SignInMeta, a: Authenticated): Promise<void> {
    await this.deps.storage.db.transaction().execute((trx) =>
      this.deps.audit.append(trx, this.ctx(tenantId, meta, { type: 'user', id: a.userId }), {
        action: 'signin.success',
        target: { type: 'user', id: a.userId },
        details: { client_id: meta.clientId ?? null, amr: a.amr, acr: a.acr },
      }),
    );
  }

  /** The second factors the user has, or null when the password alone completes the sign-in. */
  async secondFactorsOf(tenantId: string, userId: string): Promise<SecondFactors | null> {
    const totp = await this.deps.totp.hasTotp(tenantId, userId);
    const recoveryCode = (await this.deps.recoveryCodes.remaining(tenantId, userId)) > 0;
    return totp || recoveryCode ? { totp, recoveryCode } : null;
  }

  /**
   * Checks a username-or-email and password (NIST SP 800-63B-4 §3.1.1.2, §3.2.2).
   * @returns `{ ok: true, userId, secondFactors }` (secondFactors null: done at AAL1), or `{ ok: false }`.
   */
  async password(tenantId: string, identifier: string, password: string, meta: SignInMeta): Promise<PasswordOutcome> {
    const tooLong = identifier.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH;
    const id = tooLong ? '' : identifier;
    const candidate = id.trim() ? await findByIdentifier(this.deps.storage, tenantId, id) : undefined;
    const key = SignInService.accountKey(candidate, id);
    const verdict = await this.deps.throttle.check(tenantId, key, meta.sourceIp);
    const pw = tooLong ? '' : password;
    // The same argon2 work on every path.
    const matches = candidate?.passwordHash ? await verifyPassword(candidate.passwordHash, pw) : await verifyAgainstDummy(pw);
    let reason: string | undefined;
    if (!verdict.allowed) reason = verdict.reason === 'locked' ? 'account_locked' : 'throttled';
    else if (!candidate) reason = 'unknown_user';
    else if (!candidate.passwordHash) reason = 'no_password';
    else if (!matches) reason = 'invalid_password';
    else if (candidate.status !== 'active') reason = 'account_not_active';
    if (reason || !candidate) {
      if (verdict.allowed) {
        const { locked } = await this.deps.throttle.fail(tenantId, key, meta.sourceIp);
        if (locked) await this.recordLocked(tenantId, meta, candidate?.id ?? null);
      }
      await this.recordFailure(tenantId, meta, candidate?.id ?? null, reason ?? 'unknown_user');
      return { ok: false };
    }
    await this.deps.throttle.succeed(tenantId, key, meta.sourceIp);
    if (needsRehash(candidate.passwordHash!)) await this.rehash(tenantId, candidate.id, candidate.passwordHash!, pw);
    return { ok: true, userId: candidate.id, secondFactors: await this.secondFactorsOf(tenantId, candidate.id) };
  }

  private async recordLocked(tenantId: string, meta: SignInMeta, userId: string | null): Promise<void> {
    await this.deps.storage.db.transaction().execute((trx) =>
      this.deps.audit.append(trx, this.ctx(tenantId, meta, { type: 'system', id: null }), {
        action: 'account.lock',
        outcome: 'success',
        target: { type: 'user', id: userId },
        details: { reason: 'too_many_failures' },
      }),
    );
  }

  /** Replaces a hash made with old parameters; conditional on the hash not having changed meanwhile. Audit: `user.password_rehash`. */
  private async rehash(tenantId: string, userId: string, oldHash: string, password: string): Promise<void> {
    const fresh = await hashPassword(password);
    await this.deps.storage.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('users')
        .set({ password_hash: fresh })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', userId)
        .where('password_hash', '=', oldHash)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) {
        await this.deps.audit.append(trx, { tenantId, actor: { type: 'system', id: null } }, { action: 'user.password_rehash', target: { type: 'user', id: userId } });
      }
    });
  }

  /**
   * Checks a second factor after the password: a TOTP code (each time step once, RFC 6238 §5.2)
   * or a recovery code (each once). Failures count toward the account's throttle and lockout.
   * @returns the completed authentication (AAL2, amr `pwd` + `otp` + `mfa`, or `pwd` + `mfa` with a
   *   recovery code), or undefined.
   */
  async secondFactor(tenantId: string, userId: string, answer: { otp?: string; recoveryCode?: string }, meta: SignInMeta, baseAmr: string[] = [AMR.pwd]): Promise<Authenticated | undefined> {
    const key = `account:${userId}`;
    const verdict = await this.deps.throttle.check(tenantId, key, meta.sourceIp);
    let reason: string | undefined;
    let method: string | undefined;
    if (!verdict.allowed) reason = verdict.reason === 'locked' ? 'account_locked' : 'throttled';
    else if (answer.otp !== undefined) {
      const outcome = answer.otp.length > 16 ? 'invalid' : await this.deps.totp.check(tenantId, userId, answer.otp);
      if (outcome === 'accepted') method = AMR.otp;
      else reason = outcome === 'replayed' ? 'otp_replayed' : outcome === 'not_enrolled' ? 'otp_not_enrolled' : 'invalid_otp';
    } else if (answer.recoveryCode !== undefined) {
      if (await this.deps.recoveryCodes.consume(tenantId, userId, answer.recoveryCode)) method = 'recovery_code';
      else reason = 'invalid_recovery_code';
    } else reason = 'no_second_factor';
    if (!method) {
      if (verdict.allowed) {
        const { locked } = await this.deps.throttle.fail(tenantId, key, meta.sourceIp);
        if (locked) await this.recordLocked(tenantId, meta, userId);
      }
      await this.recordFailure(tenantId, meta, userId, reason ?? 'invalid_otp');
      return undefined;
    }
    await this.deps.throttle.succeed(tenantId, key, meta.sourceIp);
    const amr = [...new Set([...baseAmr, ...(method === AMR.otp ? [AMR.otp] : []), AMR.mfa])];
    return { userId, amr, acr: acrFor(amr) };
  }

  /**
   * Passwordless sign-in with a discoverable passkey answering the challenge kept under `flowKey`.
   * @returns AAL2 with amr `hwk` + `user` + `mfa` (user verification is required), or undefined.
   */
  async passkey(tenantId: string, flowKey: string, response: unknown, meta: SignInMeta): Promise<Authenticated | undefined> {
    let failure: { reason: string; userId: string | null } | undefined;
    const assertion = await this.deps.passkeys.authenticate(tenantId, flowKey, response, (reason, userId) => (failure = { reason, userId }));
    if (!assertion) {
      await this.recordFailure(tenantId, meta, failure?.userId ?? null, `passkey_${failure?.reason ?? 'failed'}`);
      return undefined;
    }
    const user = await this.deps.storage.db
      .selectFrom('users')
      .select('status')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', assertion.userId)
      .executeTakeFirst();
    const locked = await this.deps.throttle.check(tenantId, `account:${assertion.userId}`, null);
    if (user?.status !== 'active' || (!locked.allowed && locked.reason === 'locked')) {
      await this.recordFailure(tenantId, meta, assertion.userId, user?.status !== 'active' ? 'account_not_active' : 'account_locked');
      return undefined;
    }
    const amr = assertion.userVerified ? [AMR.hwk, AMR.user, AMR.mfa] : [AMR.hwk];
    return { userId: assertion.userId, amr, acr: acrFor(amr) };
  }
}
