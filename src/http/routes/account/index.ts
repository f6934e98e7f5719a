/**
 * Self-service pages under /account (server-rendered; see views.ts) and the WebAuthn script.
 *
 * - The Gatehouse session (`gh_session`, src/authn/sessions.ts) identifies the user; pages that
 *   need it redirect to /account/signin.
 * - Every POST is refused when its `Origin` is another site; signed-in forms also carry a CSRF
 *   token derived from the session token (SHA-256 of `csrf:` + token), checked in constant time.
 * - Sign-in here is the same as in the OIDC interaction (src/authn/signin.ts), with the pending
 *   second factor kept in `authn_flows` under a random `gh_flow` cookie (path /account).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import type { Services } from '../../../gatehouse.js';
import { SESSION_COOKIE, type SessionInfo } from '../../../authn/sessions.js';
import type { SignInMeta } from '../../../authn/signin.js';
import { RESET_PATH } from '../../../authn/password-reset.js';
import type { OperationContext } from '../../../kernel/context.js';
import { DEFAULT_TENANT } from '../../../kernel/context.js';
import { isGatehouseError } from '../../../kernel/errors.js';
import { randomToken } from '../../../kernel/ids.js';
import { constantTimeEqual, sha256Hex } from '../../../kernel/secrets.js';
import { classifyError } from '../../errors.js';
import { isCrossSiteRequest } from '../../same-origin.js';
import { sessionCookie, OTP_FAILED_MESSAGE, PASSKEY_FAILED_MESSAGE, SIGNIN_FAILED_MESSAGE, MAX_OTP_FAILURES, PENDING_LOGIN_TTL_SECONDS } from '../../../oidc/interactions.js';
import { WEBAUTHN_SCRIPT_PATH, errorPage, secondFactorPage, signInPage } from '../../../oidc/views.js';
import { forgotPage, mfaPage, overviewPage, passkeysPage, passwordPage, recoveryCodesPage, resetPage, sessionsPage } from './views.js';
import { WEBAUTHN_SCRIPT } from './webauthn-script.js';

const FLOW_COOKIE = 'gh_flow';
const T = DEFAULT_TENANT;

type Form = Record<string, unknown>;
const str = (f: Form, k: string): string => (typeof f[k] === 'string' ? (f[k] as string) : '');

/** CSRF token of a session token. */
export function csrfFor(sessionToken: string): string {
  return sha256Hex(`csrf:${sessionToken}`);
}

export async function accountRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const { authn } = services;
  const secure = new URL(services.config.issuer).protocol === 'https:';
  const issuerOrigin = new URL(services.config.issuer).origin;

  const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);
  const meta = (request: FastifyRequest): SignInMeta => ({ sourceIp: request.ip, requestId: String(request.id), clientId: null });
  const ctxOf = (request: FastifyRequest, userId: string): OperationContext => ({ tenantId: T, actor: { type: 'user', id: userId }, requestId: String(request.id), sourceIp: request.ip });
  const form = (request: FastifyRequest): Form => (request.body && typeof request.body === 'object' ? (request.body as Form) : {});

  app.setErrorHandler((err, request, reply) => {
    const c = classifyError(err);
    if (c.unexpected) request.log.error({ err }, 'account page failed');
    return html(reply, errorPage({ title: c.status >= 500 ? 'Something went wrong' : 'Request refused', message: c.message, code: c.code }), c.status);
  });

  // Cross-site POSTs are refused before anything runs.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    if (isCrossSiteRequest(request.headers, [issuerOrigin, `${request.protocol}://${request.host}`])) {
      return html(reply, errorPage({ title: 'Request refused', message: 'This form was posted from another site.' }), 403);
    }
  });

  app.get(WEBAUTHN_SCRIPT_PATH, async (_request, reply) => reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8').send(WEBAUTHN_SCRIPT));

  /** The signed-in user's session, or a redirect to sign-in (GET) / 403 (POST with a bad CSRF token). */
  async function signedIn(request: FastifyRequest, reply: FastifyReply): Promise<{ session: SessionInfo; token: string; csrf: string } | undefined> {
    const token = request.cookies[SESSION_COOKIE];
    const session = await authn.sessions.authenticate(T, token);
    if (!session || !token) {
      if (request.method === 'GET') reply.redirect('/account/signin', 303);
      else html(reply, errorPage({ title: 'Signed out', message: 'Your session ended. Sign in again.' }), 401);
      return undefined;
    }
    const csrf = csrfFor(token);
    if (request.method === 'POST' && !constantTimeEqual(str(form(request), 'csrf'), csrf)) {
      html(reply, errorPage({ title: 'Request refused', message: 'This form is out of date. Reload the page and try again.' }), 403);
      return undefined;
    }
    return { session, token, csrf };
  }

  async function userName(userId: string): Promise<string> {
    const u = await services.storage.db.selectFrom('users').select(['user_name', 'display_name']).where('tenant_id', '=', T).where('id', '=', userId).executeTakeFirst();
    return u?.user_name ?? '';
  }

  // --- sign-in ---------------------------------------------------------------------------

  function flowId(request: FastifyRequest, reply: FastifyReply): string {
    let id = request.cookies[FLOW_COOKIE];
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) {
      id = randomToken(32);
      reply.header('set-cookie', `${FLOW_COOKIE}=${id}; Path=/account; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`);
    }
    return id;
  }

  const signInForm = (error?: string) =>
    signInPage({
      action: '/account/signin',
      heading: 'Sign in to your account',
      error,
      passkey: { action: '/account/signin/passkey', optionsUrl: '/account/signin/passkey/options' },
      footer: '<p class="muted"><a href="/account/forgot">Forgot your password?</a></p>',
    });

  async function startSession(request: FastifyRequest, reply: FastifyReply, a: { userId: string; acr: string; amr: string[] }) {
    await authn.signIn.recordSuccess(T, meta(request), a);
    const old = await authn.sessions.authenticate(T, request.cookies[SESSION_COOKIE]);
    const ctx = ctxOf(request, a.userId);
    if (old) await authn.sessions.end(ctx, old.id).catch(() => undefined);
    const { token } = await authn.sessions.create(ctx, { userId: a.userId, acr: a.acr, amr: a.amr, sourceIp: request.ip, userAgent: request.headers['user-agent'] ?? null });
    reply.header('set-cookie', sessionCookie(token, services.config.sessionTtlSeconds, secure));
    return reply.redirect('/account', 303);
  }

  app.get('/account/signin', async (request, reply) => {
    flowId(request, reply);
    return html(reply, signInForm());
  });

  app.post('/account/signin', async (request, reply) => {
    const flow = flowId(request, reply);
    const f = form(request);
    const outcome = await authn.signIn.password(T, str(f, 'username'), str(f, 'password'), meta(request));
    if (!outcome.ok) return html(reply, signInForm(SIGNIN_FAILED_MESSAGE));
    if (outcome.secondFactors) {
      await authn.flows.put(T, `acct-login:${flow}`, { userId: outcome.userId, failures: 0 }, PENDING_LOGIN_TTL_SECONDS, outcome.userId);
      return html(reply, secondFactorPage({ action: '/account/signin/factor', totp: outcome.secondFactors.totp, recoveryCode: outcome.secondFactors.recoveryCode }));
    }
    return startSession(request, reply, { userId: outcome.userId, acr: 'urn:gatehouse:aal1', amr: ['pwd'] });
  });

  app.post('/account/signin/factor', async (request, reply) => {
    const flow = flowId(request, reply);
    const key = `acct-login:${flow}`;
    const pending = await authn.flows.get<{ userId: string; failures: number }>(T, key);
    if (!pending) return html(reply, signInForm());
    const f = form(request);
    const answer = f.otp !== undefined ? { otp: str(f, 'otp') } : { recoveryCode: str(f, 'recovery_code') };
    const a = await authn.signIn.secondFactor(T, pending.userId, answer, meta(request));
    if (a) {
      await authn.flows.delete(T, key);
      return startSession(request, reply, a);
    }
    if (pending.failures + 1 >= MAX_OTP_FAILURES) {
      await authn.flows.delete(T, key);
      return html(reply, signInForm(SIGNIN_FAILED_MESSAGE));
    }
    await authn.flows.put(T, key, { ...pending, failures: pending.failures + 1 }, PENDING_LOGIN_TTL_SECONDS, pending.userId);
    const factors = (await authn.signIn.secondFactorsOf(T, pending.userId)) ?? { totp: false, recoveryCode: false };
    return html(reply, secondFactorPage({ action: '/account/signin/factor', ...factors, error: OTP_FAILED_MESSAGE }));
  });

  app.post('/account/signin/passkey/options', async (request, reply) => {
    const flow = flowId(request, reply);
    const options = await authn.passkeys.authenticationOptions(T, `acct:${flow}`);
    return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(options));
  });

  app.post('/account/signin/passkey', async (request, reply) => {
    const flow = flowId(request, reply);
    let response: unknown;
    try {
      response = JSON.parse(str(form(request), 'credential'));
    } catch {
      response = undefined;
    }
    const a = await authn.signIn.passkey(T, `acct:${flow}`, response, meta(request));
    if (!a) return html(reply, signInForm(PASSKEY_FAILED_MESSAGE));
    return startSession(request, reply, a);
  });

  app.post('/account/signout', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    await authn.sessions.end(ctxOf(request, s.session.userId), s.session.id);
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`);
    return reply.redirect('/account/signin', 303);
  });

  // --- overview ----------------------------------------------------------------------------

  app.get<{ Querystring: { notice?: string } }>('/account', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const uid = s.session.userId;
    return html(
      reply,
      overviewPage({
        userName: await userName(uid),
        csrf: s.csrf,
        acr: s.session.acr,
        amr: s.session.amr,
        totp: await authn.totp.hasTotp(T, uid),
        passkeys: (await authn.passkeys.list(T, uid)).length,
        recoveryCodes: await authn.recoveryCodes.remaining(T, uid),
        sessions: (await authn.sessions.list(T, { userId: uid })).length,
      }),
    );
  });

  // --- password ----------------------------------------------------------------------------

  app.get('/account/password', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    return html(reply, passwordPage({ csrf: s.csrf, minLength: await authn.passwords.minLengthFor(T, s.session.userId) }));
  });

  app.post('/account/password', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const f = form(request);
    const uid = s.session.userId;
    const minLength = await authn.passwords.minLengthFor(T, uid);
    try {
      await authn.passwords.change(ctxOf(request, uid), uid, str(f, 'current'), str(f, 'new'), { ...meta(request), sessionId: s.session.id });
    } catch (err) {
      if (isGatehouseError(err, 'weak_password') || isGatehouseError(err, 'unauthenticated')) return html(reply, passwordPage({ csrf: s.csrf, minLength, error: err.message }), 400);
      throw err;
    }
    return html(reply, passwordPage({ csrf: s.csrf, minLength, notice: 'Your password was changed. Your other sessions were signed out.' }));
  });

  // --- TOTP --------------------------------------------------------------------------------

  app.get('/account/mfa', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    return html(reply, mfaPage({ csrf: s.csrf, totp: await authn.totp.hasTotp(T, s.session.userId) }));
  });

  const enrollmentView = async (secret: string, uri: string) => ({ secret, qrSvg: await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 }) });

  app.post('/account/mfa/totp/begin', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const uid = s.session.userId;
    const e = await authn.totp.beginEnrollment(T, uid, await userName(uid));
    return html(reply, mfaPage({ csrf: s.csrf, totp: await authn.totp.hasTotp(T, uid), enrollment: await enrollmentView(e.secret, e.otpauthUri) }));
  });

  app.post('/account/mfa/totp/confirm', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const uid = s.session.userId;
    const ok = await authn.totp.confirmEnrollment(ctxOf(request, uid), uid, str(form(request), 'code'));
    if (!ok) {
      const e = await authn.totp.pendingEnrollment(T, uid, await userName(uid));
      return html(reply, mfaPage({ csrf: s.csrf, totp: await authn.totp.hasTotp(T, uid), enrollment: e ? await enrollmentView(e.secret, e.otpauthUri) : undefined, error: 'That code is not right. Check the time on your phone and try the next code.' }), 400);
    }
    return html(reply, mfaPage({ csrf: s.csrf, totp: true, notice: 'Your authenticator app is on. Make recovery codes too, in case you lose it.' }));
  });

  app.post('/account/mfa/totp/remove', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    await authn.totp.remove(ctxOf(request, s.session.userId), s.session.userId);
    return html(reply, mfaPage({ csrf: s.csrf, totp: false, notice: 'The authenticator app was turned off.' }));
  });

  // --- passkeys ----------------------------------------------------------------------------

  app.get('/account/passkeys', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    return html(reply, passkeysPage({ csrf: s.csrf, passkeys: await authn.passkeys.list(T, s.session.userId) }));
  });

  app.post('/account/passkeys/options', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const uid = s.session.userId;
    const options = await authn.passkeys.registrationOptions(T, { id: uid, userName: await userName(uid) });
    return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(options));
  });

  app.post('/account/passkeys', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const uid = s.session.userId;
    const f = form(request);
    let response: unknown;
    try {
      response = JSON.parse(str(f, 'credential'));
    } catch {
      response = undefined;
    }
    try {
      const p = await authn.passkeys.register(ctxOf(request, uid), uid, response, str(f, 'name'));
      return html(reply, passkeysPage({ csrf: s.csrf, passkeys: await authn.passkeys.list(T, uid), notice: `Passkey “${p.name}” added.` }));
    } catch (err) {
      if (!isGatehouseError(err, 'invalid_input')) throw err;
      return html(reply, passkeysPage({ csrf: s.csrf, passkeys: await authn.passkeys.list(T, uid), error: 'The passkey could not be added. Try again.' }), 400);
    }
  });

  app.post('/account/passkeys/rename', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const f = form(request);
    await authn.passkeys.rename(ctxOf(request, s.session.userId), s.session.userId, str(f, 'id'), str(f, 'name'));
    return html(reply, passkeysPage({ csrf: s.csrf, passkeys: await authn.passkeys.list(T, s.session.userId), notice: 'Passkey renamed.' }));
  });

  app.post('/account/passkeys/remove', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    await authn.passkeys.remove(ctxOf(request, s.session.userId), s.session.userId, str(form(request), 'id'));
    return html(reply, passkeysPage({ csrf: s.csrf, passkeys: await authn.passkeys.list(T, s.session.userId), notice: 'Passkey removed.' }));
  });

  // --- recovery codes ----------------------------------------------------------------------

  app.get('/account/recovery-codes', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    return html(reply, recoveryCodesPage({ csrf: s.csrf, remaining: await authn.recoveryCodes.remaining(T, s.session.userId) }));
  });

  app.post('/account/recovery-codes', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const codes = await authn.recoveryCodes.generate(ctxOf(request, s.session.userId), s.session.userId);
    return html(reply, recoveryCodesPage({ csrf: s.csrf, remaining: codes.length, codes }));
  });

  // --- sessions ----------------------------------------------------------------------------

  app.get('/account/sessions', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    return html(reply, sessionsPage({ csrf: s.csrf, sessions: await authn.sessions.list(T, { userId: s.session.userId }), currentId: s.session.id }));
  });

  app.post('/account/sessions/end', async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s) return reply;
    const id = str(form(request), 'id');
    await authn.sessions.end(ctxOf(request, s.session.userId), id, s.session.userId);
    if (id === s.session.id) return reply.redirect('/account/signin', 303);
    return html(reply, sessionsPage({ csrf: s.csrf, sessions: await authn.sessions.list(T, { userId: s.session.userId }), currentId: s.session.id, notice: 'The session was ended.' }));
  });

  // --- forgotten password ------------------------------------------------------------------

  app.get('/account/forgot', async (_request, reply) => html(reply, forgotPage({})));

  app.post('/account/forgot', async (request, reply) => {
    await authn.passwords.requestReset(T, str(form(request), 'identifier'), meta(request));
    return html(reply, forgotPage({ sent: true }));
  });

  app.get<{ Params: { token: string } }>(`${RESET_PATH}:token`, async (request, reply) => {
    reply.header('referrer-policy', 'no-referrer');
    const found = await authn.passwords.inspectReset(T, request.params.token);
    if (!found) return html(reply, resetPage({ action: '', minLength: 0, totp: false, recoveryCode: false, invalid: true }), 400);
    const f = found.secondFactors ?? { totp: false, recoveryCode: false };
    return html(reply, resetPage({ action: `${RESET_PATH}${request.params.token}`, minLength: await authn.passwords.minLengthFor(T, found.userId), ...f }));
  });

  app.post<{ Params: { token: string } }>(`${RESET_PATH}:token`, async (request, reply) => {
    reply.header('referrer-policy', 'no-referrer');
    const token = request.params.token;
    const f = form(request);
    try {
      await authn.passwords.completeReset(T, token, str(f, 'password'), { otp: str(f, 'otp') || undefined, recoveryCode: str(f, 'recovery_code') || undefined }, meta(request));
    } catch (err) {
      if (isGatehouseError(err, 'invalid_input')) return html(reply, resetPage({ action: '', minLength: 0, totp: false, recoveryCode: false, invalid: true, error: err.message }), 400);
      if (isGatehouseError(err, 'weak_password') || isGatehouseError(err, 'unauthenticated')) {
        const found = await authn.passwords.inspectReset(T, token);
        if (!found) return html(reply, resetPage({ action: '', minLength: 0, totp: false, recoveryCode: false, invalid: true }), 400);
        const factors = found.secondFactors ?? { totp: false, recoveryCode: false };
        return html(reply, resetPage({ action: `${RESET_PATH}${token}`, minLength: await authn.passwords.minLengthFor(T, found.userId), ...factors, error: err.message }), 400);
      }
      throw err;
    }
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`);
    return html(reply, resetPage({ action: '', minLength: 0, totp: false, recoveryCode: false, done: true }));
  });
}
