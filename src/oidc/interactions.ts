/**
 * The sign-in interaction (oidc-provider's `interactions.url` points here): a Gatehouse session
 * already in the browser (`gh_session`) is reused when it satisfies the request; otherwise
 * password (then TOTP or a recovery code when the user has a second factor) or a passkey; then
 * consent, granted automatically because every registered application is first-party for now.
 *
 * Rules (NIST SP 800-63B-4 §3.2.2, OWASP Authentication Cheat Sheet):
 * - every failed password sign-in renders the same page with the same message, whether the
 *   account is unknown, has no password, is not active, is locked or throttled, or the password is
 *   wrong, after the same argon2 work (src/authn/signin.ts); reasons go only to the audit log;
 * - a TOTP time step and a recovery code are accepted once;
 * - step-up: when the client's `acr_values` asks for AAL2 and the session is AAL1, only the
 *   missing second factor is asked; `max_age` and `prompt=login` ask for a full sign-in;
 * - on success the session records acr/amr/auth_time, which go into the ID token, and every
 *   grant issued is attached to the session, so ending the session revokes its tokens.
 *
 * CSRF: the forms post to `/login/<uid>`; oidc-provider binds the interaction to the browser with
 * a signed, HttpOnly, SameSite=Lax cookie scoped to that path, and every request here checks the
 * cookie's interaction uid equals the uid in the URL. The HTTP adapter also refuses a POST whose
 * `Origin` is not the issuer's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type InteractionResults } from 'oidc-provider';
import type { AuthnServices } from '../authn/index.js';
import { acrSatisfies } from '../authn/levels.js';
import { SESSION_COOKIE, type SessionInfo } from '../authn/sessions.js';
import type { Authenticated, SignInMeta } from '../authn/signin.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { canStepUp } from './policy.js';
import type { OidcService } from './provider.js';
import { loginPage, otpPage } from './views.js';

/** The one message for every failed username/password sign-in. */
export const SIGNIN_FAILED_MESSAGE = 'Incorrect username or password.';
/** Message for a wrong or reused TOTP or recovery code. */
export const OTP_FAILED_MESSAGE = 'That code is not valid. Wait for a new code and try again.';
/** Message for a passkey that did not verify. */
export const PASSKEY_FAILED_MESSAGE = 'That passkey could not be used to sign in.';
/** How long a passed password waits for its second factor, in seconds. */
export const PENDING_LOGIN_TTL_SECONDS = 300;
/** Wrong second-factor codes allowed before the password must be entered again. */
export const MAX_OTP_FAILURES = 5;

/** What the HTTP adapter sends back; `cookies` are extra Set-Cookie values. */
export type InteractionOutcome = ({ kind: 'html'; status: number; body: string } | { kind: 'redirect'; location: string }) & { cookies?: string[] };

/** Request facts for audit events, throttling and the session record. */
export interface InteractionRequestMeta {
  requestId: string | null;
  sourceIp: string | null;
  /** The `gh_session` cookie, if any. */
  sessionToken?: string | undefined;
  userAgent?: string | undefined;
}

export interface LoginInteractionDeps {
  oidc: OidcService;
  authn: AuthnServices;
  clock: Clock;
  /** True when cookies must be `Secure` (https issuer). */
  secureCookies: boolean;
  /** Absolute session lifetime, for the cookie's Max-Age. */
  sessionTtlSeconds: number;
}

interface PendingLogin extends Record<string, unknown> {
  userId: string;
  /** Methods already proven (the password, or the session's methods for a step-up). */
  baseAmr: string[];
  failures: number;
  /** The session being stepped up, if any. */
  sessionId?: string;
}

type Interaction = Awaited<ReturnType<OidcService['provider']['interactionDetails']>>;

/** The `Set-Cookie` value of a session cookie. */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** Drives one sign-in interaction from the raw Node request/response (for oidc-provider's cookies). */
export class LoginInteractions {
  constructor(private readonly deps: LoginInteractionDeps) {}

  private get provider() {
    return this.deps.oidc.provider;
  }
  private get tenantId() {
    return this.deps.oidc.tenantId;
  }
  private get authn() {
    return this.deps.authn;
  }

  private pendingKey(uid: string): string {
    return `login:${uid}`;
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

  private meta(details: Interaction, m: InteractionRequestMeta): SignInMeta {
    return { sourceIp: m.sourceIp, requestId: m.requestId, clientId: typeof details.params.client_id === 'string' ? details.params.client_id : null };
  }

  private async loginForm(details: Interaction, error?: string): Promise<InteractionOutcome> {
    return { kind: 'html', status: 200, body: loginPage({ uid: details.uid, clientName: await this.clientName(details), error }) };
  }

  private async factorForm(details: Interaction, pending: PendingLogin, error?: string): Promise<InteractionOutcome> {
    const factors = (await this.authn.signIn.secondFactorsOf(this.tenantId, pending.userId)) ?? { totp: false, recoveryCode: false };
    return { kind: 'html', status: 200, body: otpPage({ uid: details.uid, error, totp: factors.totp, recoveryCode: factors.recoveryCode, stepUp: pending.sessionId !== undefined }) };
  }

  /** The browser's live Gatehouse session for an active user, if any. */
  private async currentSession(meta: InteractionRequestMeta): Promise<SessionInfo | undefined> {
    return this.authn.sessions.authenticate(this.tenantId, meta.sessionToken);
  }

  /** Whether the request forces a full sign-in regardless of the session (prompt=login, max_age exceeded). */
  private needsFreshLogin(details: Interaction, session: SessionInfo): boolean {
    const reasons = details.prompt.reasons ?? [];
    if (reasons.includes('login_prompt')) return true;
    const maxAge = details.params.max_age;
    if (maxAge !== undefined && maxAge !== null) {
      const age = (this.deps.clock.now().getTime() - Date.parse(session.authTime)) / 1000;
      if (age > Number(maxAge)) return true;
    }
    return false;
  }

  /** GET `/login/<uid>`: the form the interaction needs next, or a redirect when nothing is asked. */
  async show(req: IncomingMessage, res: ServerResponse, uid: string, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const details = await this.load(req, res, uid);
    if (details.prompt.name !== 'login') return this.consent(req, res, details, meta);
    const pending = await this.authn.flows.get<PendingLogin>(this.tenantId, this.pendingKey(uid));
    if (pending) return this.factorForm(details, pending);
    const session = await this.currentSession(meta);
    if (session && !this.needsFreshLogin(details, session)) {
      const acrValues = typeof details.params.acr_values === 'string' ? details.params.acr_values : undefined;
      if (acrSatisfies(session.acr, acrValues) || !(await canStepUp(this.authn, this.tenantId, session.userId))) {
        // Single sign-on from the Gatehouse session.
        return this.finish(req, res, details, { userId: session.userId, acr: session.acr, amr: session.amr }, meta, { session, authTime: session.authTime });
      }
      if (await this.authn.signIn.secondFactorsOf(this.tenantId, session.userId)) {
        const p: PendingLogin = { userId: session.userId, baseAmr: session.amr, failures: 0, sessionId: session.id };
        await this.authn.flows.put(this.tenantId, this.pendingKey(uid), p, PENDING_LOGIN_TTL_SECONDS, session.userId);
        return this.factorForm(details, p);
      }
    }
    return this.loginForm(details);
  }

  /** POST `/login/<uid>`: a `username`+`password` form, an `otp` form or a `recovery_code` form. */
  async submit(req: IncomingMessage, res: ServerResponse, uid: string, form: Record<string, unknown>, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const details = await this.load(req, res, uid);
    if (details.prompt.name !== 'login') return this.consent(req, res, details, meta);
    if (form.otp !== undefined || form.recovery_code !== undefined) {
      const answer = form.otp !== undefined ? { otp: String(form.otp) } : { recoveryCode: String(form.recovery_code) };
      return this.submitSecondFactor(req, res, details, answer, meta);
    }
    const username = typeof form.username === 'string' ? form.username : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const outcome = await this.authn.signIn.password(this.tenantId, username, password, this.meta(details, meta));
    if (!outcome.ok) return this.loginForm(details, SIGNIN_FAILED_MESSAGE);
    if (outcome.secondFactors) {
      const session = await this.currentSession(meta);
      const p: PendingLogin = { userId: outcome.userId, baseAmr: ['pwd'], failures: 0, ...(session?.userId === outcome.userId ? { sessionId: session.id } : {}) };
      await this.authn.flows.put(this.tenantId, this.pendingKey(uid), p, PENDING_LOGIN_TTL_SECONDS, outcome.userId);
      return this.factorForm(details, p);
    }
    return this.finish(req, res, details, { userId: outcome.userId, acr: 'urn:gatehouse:aal1', amr: ['pwd'] }, meta);
  }

  /** POST `/login/<uid>/passkey/options`: WebAuthn request options with a fresh challenge for this interaction (JSON). */
  async passkeyOptions(req: IncomingMessage, res: ServerResponse, uid: string): Promise<unknown> {
    await this.load(req, res, uid);
    return this.authn.passkeys.authenticationOptions(this.tenantId, `oidc:${uid}`);
  }

  /** POST `/login/<uid>/passkey`: a WebAuthn assertion (field `credential`, JSON) answering the page's challenge. */
  async submitPasskey(req: IncomingMessage, res: ServerResponse, uid: string, form: Record<string, unknown>, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const details = await this.load(req, res, uid);
    if (details.prompt.name !== 'login') return this.consent(req, res, details, meta);
    let response: unknown;
    try {
      response = JSON.parse(typeof form.credential === 'string' ? form.credential : '');
    } catch {
      response = undefined;
    }
    const a = await this.authn.signIn.passkey(this.tenantId, `oidc:${uid}`, response, this.meta(details, meta));
    if (!a) return this.loginForm(details, PASSKEY_FAILED_MESSAGE);
    return this.finish(req, res, details, a, meta);
  }

  private async submitSecondFactor(req: IncomingMessage, res: ServerResponse, details: Interaction, answer: { otp?: string; recoveryCode?: string }, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const key = this.pendingKey(details.uid);
    const pending = await this.authn.flows.get<PendingLogin>(this.tenantId, key);
    if (!pending) return this.loginForm(details);
    const a = await this.authn.signIn.secondFactor(this.tenantId, pending.userId, answer, this.meta(details, meta), pending.baseAmr);
    if (a) {
      await this.authn.flows.delete(this.tenantId, key);
      return this.finish(req, res, details, a, meta, pending.sessionId ? { stepUpSessionId: pending.sessionId } : {});
    }
    const failures = pending.failures + 1;
    if (failures >= MAX_OTP_FAILURES) {
      await this.authn.flows.delete(this.tenantId, key);
      return this.loginForm(details, SIGNIN_FAILED_MESSAGE);
    }
    await this.authn.flows.put(this.tenantId, key, { ...pending, failures }, PENDING_LOGIN_TTL_SECONDS, pending.userId);
    return this.factorForm(details, { ...pending, failures }, OTP_FAILED_MESSAGE);
  }

  /**
   * Sign-in succeeded (or the session was reused): record it in the Gatehouse session (new,
   * stepped-up, or as it is), grant the requested scopes, attach the grant to the session, and
   * hand the result to oidc-provider.
   */
  private async finish(
    req: IncomingMessage,
    res: ServerResponse,
    details: Interaction,
    a: Authenticated,
    meta: InteractionRequestMeta,
    from: { session?: SessionInfo; authTime?: string; stepUpSessionId?: string } = {},
  ): Promise<InteractionOutcome> {
    const ctx = this.context(meta, { type: 'user', id: a.userId });
    const cookies: string[] = [];
    let session = from.session;
    if (!session) {
      await this.authn.signIn.recordSuccess(this.tenantId, this.meta(details, meta), a);
      const existing = await this.currentSession(meta);
      const sameUser = existing && existing.userId === a.userId ? existing : undefined;
      if (sameUser) session = await this.authn.sessions.reauthenticate(ctx, sameUser.id, a.acr, a.amr);
      if (!session) {
        if (existing) await this.authn.sessions.end(ctx, existing.id).catch(() => undefined);
        const created = await this.authn.sessions.create(ctx, { userId: a.userId, acr: a.acr, amr: a.amr, sourceIp: meta.sourceIp, userAgent: meta.userAgent ?? null });
        session = created.session;
        cookies.push(sessionCookie(created.token, this.deps.sessionTtlSeconds, this.deps.secureCookies));
      }
    }
    const grantId = await this.saveGrant(details, a.userId);
    await this.authn.sessions.attachGrant(this.tenantId, session.id, grantId, String(details.params.client_id));
    const result: InteractionResults = {
      login: { accountId: a.userId, amr: session.amr, acr: session.acr, ts: Math.floor(Date.parse(from.authTime ?? session.authTime) / 1000) },
      consent: { grantId },
    };
    const location = await this.provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
    return { kind: 'redirect', location, cookies };
  }

  /** The consent prompt (already signed in): auto-grant what is missing, for first-party clients. */
  private async consent(req: IncomingMessage, res: ServerResponse, details: Interaction, meta: InteractionRequestMeta): Promise<InteractionOutcome> {
    const accountId = details.session?.accountId;
    const session = await this.currentSession(meta);
    if (details.prompt.name !== 'consent' || !accountId || !(await this.deps.oidc.accounts.isActive(accountId))) {
      const location = await this.provider.interactionResult(req, res, { error: 'access_denied', error_description: 'the sign-in cannot continue' }, { mergeWithLastSubmission: false });
      return { kind: 'redirect', location };
    }
    const grantId = await this.saveGrant(details, accountId);
    if (session && session.userId === accountId) await this.authn.sessions.attachGrant(this.tenantId, session.id, grantId, String(details.params.client_id));
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

  private context(meta: InteractionRequestMeta, actor: OperationContext['actor']): OperationContext {
    return { tenantId: this.tenantId, actor, requestId: meta.requestId, sourceIp: meta.sourceIp };
  }
}
