/**
 * The sign-in interaction (oidc-provider's `interactions.url` points here): password, then TOTP
 * when the user has one, then consent, which is granted automatically because every registered
 * application is first-party for now.
 *
 * Rules (NIST SP 800-63B-4 §3.2.2, OWASP Authentication Cheat Sheet):
 * - every failed password sign-in renders the same page with the same message, whether the
 *   account is unknown, has no password, is not active, or the password is wrong; when there is
 *   no hash to check, a dummy argon2 verify runs so the time taken is the same;
 * - the reason goes only to the audit log (`signin.failure`, `details.reason`); no secrets are logged;
 * - a TOTP time step is accepted once ({@link TotpService.check});
 * - a password that passed is remembered server-side for {@link PENDING_LOGIN_TTL_SECONDS}
 *   (an `oidc_payloads` row of model `GatehouseLogin`, keyed by the interaction uid, carrying
 *   the account id so deprovisioning deletes it) while the TOTP form is answered; after
 *   {@link MAX_OTP_FAILURES} wrong codes the password must be entered again.
 *
 * CSRF: the forms post to `/login/<uid>`; oidc-provider binds the interaction to the browser with
 * a signed, HttpOnly, SameSite=Lax cookie scoped to that path, and every request here checks the
 * cookie's interaction uid equals the uid in the URL. A cross-site POST carries no cookie and is
 * refused. The HTTP adapter also refuses a POST whose `Origin` is not the issuer's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type InteractionResults } from 'oidc-provider';
import type { AuditLog } from '../audit/audit-log.js';
import { verifyAgainstDummy, verifyPassword } from '../authn/password.js';
import type { TotpService } from '../authn/totp.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import type { Storage } from '../storage/database.js';
import { PayloadAdapter } from './adapter.js';
import { ACR, type OidcService } from './provider.js';
import { loginPage, otpPage } from './views.js';

/** The one message for every failed username/password sign-in. */
export const SIGNIN_FAILED_MESSAGE = 'Incorrect username or password.';
/** Message for a wrong or reused TOTP code. */
export const OTP_FAILED_MESSAGE = 'That code is not valid. Wait for a new code and try again.';
/** How long a passed password waits for its TOTP code, in seconds. */
export const PENDING_LOGIN_TTL_SECONDS = 300;
/** Wrong TOTP codes allowed before the password must be entered again. */
export const MAX_OTP_FAILURES = 5;
/** Longest username or password read from the form, in characters (longer ones just fail). */
const MAX_FIELD_LENGTH = 1024;

/** What the HTTP adapter sends back. */
export type InteractionOutcome = { kind: 'html'; status: number; body: string } | { kind: 'redirect'; location: string };

/** Request facts for audit events. */
export interface InteractionRequestMeta {
  requestId: string | null;
  sourceIp: string | null;
}

export interface LoginInteractionDeps {
  oidc: OidcService;
  totp: TotpService;
  storage: Storage;
  audit: AuditLog;
  clock: Clock;
}

interface PendingLogin {
  accountId: string;
  otpFailures: number;
}

type Interaction = Awaited<ReturnType<OidcService['provider']['interactionDetails']>>;

/** Drives one sign-in interaction from the raw Node request/response (for oidc-provider's cookies). */
export class LoginInteractions {
  private readonly pending: PayloadAdapter;

  constructor(private readonly deps: LoginInteractionDeps) {
    this.pending = new PayloadAdapter('GatehouseLogin', { storage: deps.storage, clock: deps.clock, tenantId: deps.oidc.tenantId });
  }

  private get provider() {
    return this.deps.oidc.provider;
  }

  /**
   * Loads the interaction bound to this browser and checks it is the one named in the URL.
   * @throws errors.SessionNotFound when the cookie is missing, expired or names another interaction.
   */
  private async load(req: IncomingMessage, res: ServerResponse, uid: string): Promise<Interaction> {
    const details = await this.provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new errors.SessionNotFound('interaction uid does not match the interaction cookie');
    return details;
  }

  private async clientName(details: Interaction): Promise<string | undefined> {
    const clientId = details.params.client_id;
    if (typeof clientId !== 'string') return undefined;
    const client = await this.provider.Client.find(clientId);
    return client?.clientName ?? undefined;
  }

  private async loginForm(details: Interaction, error?: string): Promise<InteractionOutcome> {
    return { kind: 'html', status: 200, body: loginPage({ uid: details.uid, clientName: await this.clientName(details), error }) };
  }

  private async readPending(uid: string): Promise<PendingLogin | undefined> {
    const p = (await this.pending.find(uid)) as unknown as PendingLogin | undefined;
    return p && typeof p.accountId === 'string' ? p : undefined;
  }

  /** GET `/login/<uid>`: the form the interaction needs next, or a redirect when nothing is asked. */
  async show(req: IncomingMessage, res: ServerResponse, uid: string): Promise<InteractionOutcome> {
    const details = await this.load(req, res, uid);
    if (details.prompt.name === 'login') {
      return (await this.readPending(uid)) ? { kind: 'html', status: 200, body: otpPage({ uid }) } : this.loginForm(details);
    }
    return this.consent(req, res, details);
  }

  /** POST `/login/<uid>`: a `username`+`password` form, or an `otp` form. */
  async submit(req: IncomingMessage, res: ServerResponse, uid: string, form: Record<string, unknown>, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const details = await this.load(req, res, uid);
    if (details.prompt.name !== 'login') return this.consent(req, res, details);
    if (form.otp !== undefined) return this.submitOtp(req, res, details, String(form.otp), meta);
    const username = typeof form.username === 'string' ? form.username : '';
    const password = typeof form.password === 'string' ? form.password : '';
    return this.submitPassword(req, res, details, username, password, meta);
  }

  private async submitPassword(
    req: IncomingMessage,
    res: ServerResponse,
    details: Interaction,
    username: string,
    password: string,
    meta: InteractionRequestMeta,
  ): Promise<InteractionOutcome> {
    const tooLong = username.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH;
    const candidate = tooLong || !username ? undefined : await this.deps.oidc.accounts.findByIdentifier(username);
    const pw = tooLong ? '' : password;
    const matches = candidate?.passwordHash ? await verifyPassword(candidate.passwordHash, pw) : await verifyAgainstDummy(pw);
    let reason: string | undefined;
    if (!candidate) reason = 'unknown_user';
    else if (!candidate.passwordHash) reason = 'no_password';
    else if (!matches) reason = 'invalid_password';
    else if (candidate.status !== 'active') reason = 'account_not_active';
    if (reason || !candidate) {
      await this.recordFailure(meta, candidate?.id ?? null, reason ?? 'unknown_user', details);
      return this.loginForm(details, SIGNIN_FAILED_MESSAGE);
    }
    if (await this.deps.totp.hasTotp(this.deps.oidc.tenantId, candidate.id)) {
      await this.pending.upsert(details.uid, { accountId: candidate.id, otpFailures: 0 } as never, PENDING_LOGIN_TTL_SECONDS);
      return { kind: 'html', status: 200, body: otpPage({ uid: details.uid }) };
    }
    return this.complete(req, res, details, candidate.id, ['pwd'], ACR.aal1, meta);
  }

  private async submitOtp(req: IncomingMessage, res: ServerResponse, details: Interaction, code: string, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const pending = await this.readPending(details.uid);
    if (!pending) return this.loginForm(details);
    const tenantId = this.deps.oidc.tenantId;
    // The account may have been deactivated since the password step.
    if (!(await this.deps.oidc.accounts.isActive(pending.accountId))) {
      await this.pending.destroy(details.uid);
      await this.recordFailure(meta, pending.accountId, 'account_not_active', details);
      return this.loginForm(details, SIGNIN_FAILED_MESSAGE);
    }
    const outcome = code.length > 16 ? 'invalid' : await this.deps.totp.check(tenantId, pending.accountId, code);
    if (outcome === 'accepted') {
      return this.complete(req, res, details, pending.accountId, ['pwd', 'otp', 'mfa'], ACR.aal2, meta);
    }
    await this.recordFailure(meta, pending.accountId, outcome === 'replayed' ? 'otp_replayed' : outcome === 'not_enrolled' ? 'otp_not_enrolled' : 'invalid_otp', details);
    const failures = pending.otpFailures + 1;
    if (failures >= MAX_OTP_FAILURES) {
      await this.pending.destroy(details.uid);
      return this.loginForm(details, SIGNIN_FAILED_MESSAGE);
    }
    await this.pending.upsert(details.uid, { accountId: pending.accountId, otpFailures: failures } as never, PENDING_LOGIN_TTL_SECONDS);
    return { kind: 'html', status: 200, body: otpPage({ uid: details.uid, error: OTP_FAILED_MESSAGE }) };
  }

  /** Sign-in succeeded: audit it, grant the requested scopes, and hand the result to oidc-provider. */
  private async complete(
    req: IncomingMessage,
    res: ServerResponse,
    details: Interaction,
    accountId: string,
    amr: string[],
    acr: string,
    meta: InteractionRequestMeta,
  ): Promise<InteractionOutcome> {
    const ctx = this.auditContext(meta, { type: 'user', id: accountId });
    await this.deps.storage.db.transaction().execute((trx) =>
      this.deps.audit.append(trx, ctx, {
        action: 'signin.success',
        target: { type: 'user', id: accountId },
        details: { client_id: details.params.client_id ?? null, amr, acr },
      }),
    );
    const grantId = await this.saveGrant(details, accountId);
    const result: InteractionResults = { login: { accountId, amr, acr }, consent: { grantId } };
    const location = await this.provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
    await this.pending.destroy(details.uid);
    return { kind: 'redirect', location };
  }

  /** The consent prompt (already signed in): auto-grant what is missing, for first-party clients. */
  private async consent(req: IncomingMessage, res: ServerResponse, details: Interaction): Promise<InteractionOutcome> {
    const accountId = details.session?.accountId;
    if (details.prompt.name !== 'consent' || !accountId || !(await this.deps.oidc.accounts.isActive(accountId))) {
      const location = await this.provider.interactionResult(req, res, { error: 'access_denied', error_description: 'the sign-in cannot continue' }, { mergeWithLastSubmission: false });
      return { kind: 'redirect', location };
    }
    const grantId = await this.saveGrant(details, accountId);
    const location = await this.provider.interactionResult(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return { kind: 'redirect', location };
  }

  /**
   * Creates (or extends the interaction's existing) Grant with the requested OIDC scopes and
   * claims, plus whatever the consent prompt reports missing. Returns the grant id.
   */
  private async saveGrant(details: Interaction, accountId: string): Promise<string> {
    const { Grant } = this.provider;
    const clientId = String(details.params.client_id);
    let grant = details.grantId ? await Grant.find(details.grantId) : undefined;
    if (grant && (grant.accountId !== accountId || grant.clientId !== clientId)) grant = undefined;
    grant ??= new Grant({ accountId, clientId });
    const requested = typeof details.params.scope === 'string' ? details.params.scope : 'openid';
    grant.addOIDCScope(requested);
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    return grant.save();
  }

  private auditContext(meta: InteractionRequestMeta, actor: OperationContext['actor']): OperationContext {
    return { tenantId: this.deps.oidc.tenantId, actor, requestId: meta.requestId, sourceIp: meta.sourceIp };
  }

  /** Appends `signin.failure` (outcome failure, `details.reason`) in its own transaction. */
  private async recordFailure(meta: InteractionRequestMeta, userId: string | null, reason: string, details: Interaction): Promise<void> {
    const ctx = this.auditContext(meta, { type: 'anonymous', id: null });
    await this.deps.storage.db.transaction().execute((trx) =>
      this.deps.audit.append(trx, ctx, {
        action: 'signin.failure',
        outcome: 'failure',
        target: { type: 'user', id: userId },
        details: { reason, client_id: details.params.client_id ?? null },
      }),
    );
  }
}
