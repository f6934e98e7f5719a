/**
 * People authentication over real HTTP on SQLite and PostgreSQL: the evidence cases of issue 5
 * (reused TOTP code, two concurrent sign-ins with one code, reset link used twice, reset with TOTP
 * still asks for TOTP, lockout counted across username and email, ending a session kills refresh
 * tokens issued under it), plus recovery codes, the outbox and the admin session API.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import { generate } from 'otplib';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemContext } from '../../src/kernel/context.js';
import { FixedClock } from '../../src/kernel/clock.js';
import { SignInThrottle } from '../../src/authn/throttle.js';
import { SignInService } from '../../src/authn/signin.js';
import { describeEachBackend } from '../support/backends.js';
import { Browser, formAction, openLoginPage, relyingParty, seedClient, seedUser, signIn, startAuthorization, startGatehouse, REDIRECT_URI } from '../oidc/support.js';

const PASSWORD = 'correct horse battery staple';
const ctx = systemContext();

describeEachBackend('people authentication', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;
  let rp: client.Configuration;
  let adminToken: string;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base } = await startGatehouse(db.url));
    const c = await seedClient(gh);
    rp = await relyingParty(base, c.clientId, c.clientSecret);
    adminToken = (await gh.apiTokens.create(ctx, { name: 'test', scopes: ['admin'] })).token;
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  const api = (path: string, init: RequestInit = {}) => fetch(`${base}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, ...(init.headers ?? {}) } });

  async function withTotp(userName: string): Promise<{ id: string; secret: string }> {
    const id = await seedUser(gh, { userName, password: PASSWORD, email: `${userName}@example.com` });
    const { secret } = await gh.totp.enroll(ctx, id);
    return { id, secret };
  }

  async function passwordStep(username: string) {
    const browser = new Browser();
    const start = await startAuthorization(rp);
    const login = await openLoginPage(browser, start);
    const action = formAction(login.html, login.url);
    const res = await browser.post(action, { username, password: PASSWORD });
    const html = await res.text();
    return { browser, start, action, html };
  }

  it('refuses a reused TOTP code (same step) on a second sign-in', async () => {
    const { secret } = await withTotp('reuse');
    const code = await generate({ secret });
    const first = await signIn(rp, { username: 'reuse', password: PASSWORD, otp: async () => code });
    expect(first.claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(first.claims.acr).toBe('urn:gatehouse:aal2');
    const second = await passwordStep('reuse');
    expect(second.html).toContain('name="otp"');
    const res = await second.browser.post(formAction(second.html, second.action), { otp: code });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('That code is not valid');
    const audit = await gh.storage.db.selectFrom('audit_events').select('details').where('action', '=', 'signin.failure').execute();
    expect(audit.some((r) => r.details?.includes('otp_replayed'))).toBe(true);
  });

  it('accepts one code for only one of two concurrent sign-ins', async () => {
    const { secret } = await withTotp('race');
    const [a, b] = await Promise.all([passwordStep('race'), passwordStep('race')]);
    const code = await generate({ secret });
    const results = await Promise.all([a, b].map((s) => s.browser.post(formAction(s.html, s.action), { otp: code })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 303]);
  });

  it('lockout is counted across username and email, and a locked account answers like a wrong password', async () => {
    const clock = new FixedClock(Date.UTC(2026, 0, 1));
    const throttle = new SignInThrottle(gh.storage, clock, { lockoutThreshold: 100, lockoutSeconds: 3600 });
    const signInSvc = new SignInService({ storage: gh.storage, audit: gh.audit, clock, throttle, totp: gh.totp, recoveryCodes: gh.authn.recoveryCodes, passkeys: gh.authn.passkeys });
    const id = await seedUser(gh, { userName: 'locky', password: PASSWORD, email: 'locky@example.com' });
    const meta = { sourceIp: null, requestId: null };
    for (let i = 0; i < 100; i++) {
      clock.advanceSeconds(61); // past the growing delay
      const r = await signInSvc.password('default', i % 2 ? 'LOCKY@example.com' : 'locky', 'wrong password', meta);
      expect(r.ok).toBe(false);
    }
    const state = await throttle.state('default', `account:${id}`);
    expect(state.failures).toBe(100);
    expect(state.lockedUntil).not.toBeNull();
    clock.advanceSeconds(61);
    expect((await signInSvc.password('default', 'locky@example.com', PASSWORD, meta)).ok).toBe(false); // locked: right password refused
    clock.advanceSeconds(3600);
    expect(await signInSvc.password('default', 'locky', PASSWORD, meta)).toMatchObject({ ok: true, userId: id });
    // Growing delay: after 5 quick failures the 6th attempt is refused without checking.
    for (let i = 0; i < 5; i++) await signInSvc.password('default', 'locky', 'nope', meta);
    expect((await signInSvc.password('default', 'locky', PASSWORD, meta)).ok).toBe(false);
    expect((await throttle.state('default', `account:${id}`)).failures).toBe(5);
  });

  it('a success resets only the account counter: the source address keeps its failures', async () => {
    const clock = new FixedClock(Date.UTC(2026, 2, 1));
    const throttle = new SignInThrottle(gh.storage, clock, { lockoutThreshold: 100, lockoutSeconds: 3600 });
    const signInSvc = new SignInService({ storage: gh.storage, audit: gh.audit, clock, throttle, totp: gh.totp, recoveryCodes: gh.authn.recoveryCodes, passkeys: gh.authn.passkeys });
    const mine = await seedUser(gh, { userName: 'attacker-own', password: PASSWORD });
    await seedUser(gh, { userName: 'victim-x', password: PASSWORD });
    const meta = { sourceIp: '203.0.113.7', requestId: null };
    for (let i = 0; i < 3; i++) expect((await signInSvc.password('default', 'victim-x', `guess ${i}`, meta)).ok).toBe(false);
    expect(await signInSvc.password('default', 'attacker-own', PASSWORD, meta)).toMatchObject({ ok: true, userId: mine });
    expect((await throttle.state('default', 'ip:203.0.113.7')).failures).toBe(3);
    expect((await throttle.state('default', `account:${mine}`)).failures).toBe(0);
  });

  it('reset link: mailed to the outbox, works once, ends sessions; with TOTP the reset and the next sign-in still ask for TOTP', async () => {
    const { id, secret } = await withTotp('resetter');
    const before = await signIn(rp, { username: 'resetter', password: PASSWORD, otp: async () => generate({ secret }) });
    const forgot = await fetch(`${base}/account/forgot`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'identifier=resetter%40example.com' });
    expect(forgot.status).toBe(200);
    const forgotBody = await forgot.text();
    const unknown = await fetch(`${base}/account/forgot`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'identifier=nobody' });
    expect(await unknown.text()).toBe(forgotBody); // same answer whether the account exists
    const outbox = (await (await api('/outbox?to=resetter@example.com')).json()) as { mails: Array<{ text: string; kind: string }> };
    const mail = outbox.mails.find((m) => m.kind === 'password_reset')!;
    const link = /(http:\/\/\S+\/account\/reset\/\S+)/.exec(mail.text)![1]!;
    const page = await fetch(link);
    expect(await page.text()).toContain('name="otp"');
    const post = (fields: Record<string, string>) => fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    const newPassword = 'a brand new passphrase for reset';
    const noCode = await post({ password: newPassword });
    expect(noCode.status).toBe(400);
    expect(await noCode.text()).toContain('authenticator');
    const done = await post({ password: newPassword, otp: await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }) });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Your password was changed');
    const again = await post({ password: 'yet another passphrase here ok', otp: await generate({ secret, epoch: Math.floor(Date.now() / 1000) - 30 }) });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('not valid');
    // Sessions ended: the refresh token from before the reset is dead.
    await expect(client.refreshTokenGrant(rp, before.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Next sign-in with the new password still asks for TOTP.
    const browser = new Browser();
    const start = await startAuthorization(rp);
    const login = await openLoginPage(browser, start);
    const res = await browser.post(formAction(login.html, login.url), { username: 'resetter', password: newPassword });
    expect(await res.text()).toContain('name="otp"');
    const rows = await gh.storage.db.selectFrom('audit_events').select('action').where('target_id', '=', id).execute();
    expect(rows.map((r) => r.action)).toContain('password_reset.complete');
  });

  it('the same reset link posted twice at once succeeds once', async () => {
    await seedUser(gh, { userName: 'twice', password: PASSWORD, email: 'twice@example.com' });
    await gh.authn.passwords.requestReset('default', 'twice', { sourceIp: null, requestId: null });
    const mail = (await gh.authn.mailer.outbox('default', { to: 'twice@example.com' }))[0]!;
    const token = /reset\/(\S+)/.exec(mail.text)![1]!;
    const results = await Promise.allSettled([
      gh.authn.passwords.completeReset('default', token, 'first new passphrase here', {}, { sourceIp: null, requestId: null }),
      gh.authn.passwords.completeReset('default', token, 'second new passphrase here', {}, { sourceIp: null, requestId: null }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'invalid_input', details: { reason: 'reset_link_invalid' } });
  });

  it('ending a session (user or admin) kills the refresh tokens issued under it', async () => {
    const id = await seedUser(gh, { userName: 'ender', password: PASSWORD });
    const one = await signIn(rp, { username: 'ender', password: PASSWORD });
    const two = await signIn(rp, { username: 'ender', password: PASSWORD });
    const listed = (await (await api(`/sessions?user_id=${id}`)).json()) as { sessions: Array<{ id: string; amr: string[]; acr: string }> };
    expect(listed.sessions).toHaveLength(2);
    expect(listed.sessions[0]).toMatchObject({ amr: ['pwd'], acr: 'urn:gatehouse:aal1' });
    const sessionOfOne = (await gh.storage.db.selectFrom('authn_session_grants').select('session_id').where('grant_id', '=', (await client.tokenIntrospection(rp, one.tokens.access_token)).grant_id as string ?? '').executeTakeFirst())?.session_id
      ?? listed.sessions[1]!.id;
    const del = await api(`/sessions/${sessionOfOne}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    await expect(client.refreshTokenGrant(rp, one.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, one.tokens.access_token)).active).toBe(false);
    const still = await client.refreshTokenGrant(rp, two.tokens.refresh_token!);
    expect(still.access_token).toBeTruthy();
    expect((await api(`/sessions/${sessionOfOne}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('recovery codes: ten, shown once, each works once as a second factor', async () => {
    const { id } = await withTotp('recover');
    const codes = await gh.authn.recoveryCodes.generate(ctx, id);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){5}$/);
    const stored = await gh.storage.db.selectFrom('recovery_codes').select('code_hash').where('user_id', '=', id).execute();
    expect(stored.map((r) => r.code_hash)).not.toContain(codes[0]);
    const s = await passwordStep('recover');
    const ok = await s.browser.post(formAction(s.html, s.action), { recovery_code: codes[0]!.toUpperCase() });
    expect(ok.status).toBe(303);
    const s2 = await passwordStep('recover');
    const reused = await s2.browser.post(formAction(s2.html, s2.action), { recovery_code: codes[0]! });
    expect(reused.status).toBe(200);
    expect(await gh.authn.recoveryCodes.remaining('default', id)).toBe(9);
  });

  it('step-up: acr_values=aal2 on an AAL1 session asks only for the second factor; max_age forces a new sign-in', async () => {
    const { secret } = await withTotp('stepper');
    // The current step's code: the server accepts it from one step before to one step after, so a
    // 30 s boundary between generating and checking it does not matter (the previous step's code
    // did: refused when the server's clock had entered the next step).
    const { browser } = await signIn(rp, { username: 'stepper', password: PASSWORD, otp: async () => generate({ secret }) });
    // Same browser, no acr asked: single sign-on, straight to the callback.
    const sso = await startAuthorization(rp);
    const r1 = await browser.follow(await browser.request(sso.url), sso.url, REDIRECT_URI);
    expect(r1.callback).toBeDefined();
    // max_age=0: full sign-in again.
    const fresh = new URL(sso.url);
    fresh.searchParams.set('max_age', '0');
    const r2 = await browser.follow(await browser.request(fresh), fresh, REDIRECT_URI);
    expect(await r2.page!.res.text()).toContain('name="password"');
  });
});
