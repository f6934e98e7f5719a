/**
 * Sign-in at /account/signin over real HTTP, on SQLite and PostgreSQL: the session cookie and
 * what the session records (acr/amr), one answer for every failed password, the TOTP and
 * recovery-code second step (failures, reuse, giving up after five wrong codes), sign-out,
 * switching users, CSRF and cross-site refusals, and the redirect of signed-out pages.
 */
import { generate } from 'otplib';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import { cliContext } from '../../src/kernel/context.js';
import { OTP_FAILED_MESSAGE, SIGNIN_FAILED_MESSAGE } from '../../src/oidc/interactions.js';
import { describeEachBackend } from '../support/backends.js';
import { Browser, startGatehouse } from '../oidc/support.js';
import { accountSignIn, auditOf, csrfOf, postWithCsrf, resetThrottle, sessionCookieOf } from './account-support.js';

const PASSWORD = 'quiet lanterns drift over marble';
const ctx = cliContext();
const now = () => Math.floor(Date.now() / 1000);

describeEachBackend('/account sign-in', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base } = await startGatehouse(db.url));
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });
  beforeEach(async () => resetThrottle(gh));

  async function user(userName: string, opts: { totp?: boolean; status?: boolean } = {}) {
    const u = await gh.users.create(ctx, { userName, emails: [{ value: `${userName}@example.com` }], password: PASSWORD });
    const secret = opts.totp ? (await gh.totp.enroll(ctx, u.id)).secret : undefined;
    return { id: u.id, secret };
  }

  it('signed-out pages redirect to the sign-in page, which is a plain form', async () => {
    for (const path of ['/account', '/account/password', '/account/mfa', '/account/passkeys', '/account/recovery-codes', '/account/sessions']) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe('/account/signin');
    }
    const page = await fetch(`${base}/account/signin`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    const html = await page.text();
    expect(html).toContain('<form method="post" action="/account/signin"');
    expect(html).toContain('name="username"');
    expect(html).toContain('name="password"');
    expect(html).toContain('href="/account/forgot"');
    // The flow cookie for the second step is scoped to /account and HttpOnly.
    expect(page.headers.getSetCookie().find((c) => c.startsWith('gh_flow='))).toMatch(/^gh_flow=[A-Za-z0-9_-]{43}; Path=\/account; HttpOnly; SameSite=Lax$/);
  });

  it('a password sign-in sets an HttpOnly session cookie and records an AAL1 session with amr pwd', async () => {
    const { id } = await user('pat');
    const browser = new Browser();
    const res = await browser.post(`${base}/account/signin`, { username: 'PAT@example.com', password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('gh_session='))!;
    expect(cookie).toMatch(/^gh_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    const sessions = await gh.authn.sessions.list('default', { userId: id });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ acr: 'urn:gatehouse:aal1', amr: ['pwd'], sourceIp: '127.0.0.1' });
    const overview = await (await browser.request(`${base}/account`)).text();
    expect(overview).toContain('Signed in as <strong>pat</strong> (one factor: pwd)');
    // Only the hash of the token is stored.
    const row = await gh.storage.db.selectFrom('authn_sessions').select('token_hash').where('user_id', '=', id).executeTakeFirstOrThrow();
    expect(row.token_hash).not.toContain(sessionCookieOf(res)!);
    expect((await auditOf(gh, id)).map((e) => e.action)).toEqual(expect.arrayContaining(['signin.success', 'session.create']));
  });

  it('a wrong password, an unknown user and a suspended user get the same page, and no session', async () => {
    const { id } = await user('wanda');
    const { id: suspended } = await user('sully');
    await gh.users.setActive(ctx, suspended, false);
    const bodies: string[] = [];
    for (const [username, password] of [
      ['wanda', 'not the password at all'],
      ['nobody-here', PASSWORD],
      ['sully', PASSWORD],
      ['', ''],
    ] as const) {
      const res = await new Browser().post(`${base}/account/signin`, { username, password });
      expect(res.status, username).toBe(200);
      expect(sessionCookieOf(res)).toBeUndefined();
      bodies.push(await res.text());
    }
    expect(bodies[0]).toContain(SIGNIN_FAILED_MESSAGE);
    expect(new Set(bodies).size).toBe(1);
    expect(await gh.authn.sessions.list('default', { userId: id })).toEqual([]);
    expect(await gh.authn.sessions.list('default', { userId: suspended })).toEqual([]);
  });

  it('with TOTP: the password leads to the code form; a wrong code is refused; the right one gives an AAL2 session; the same code is refused next time', async () => {
    const { id, secret } = await user('tess', { totp: true });
    const browser = new Browser();
    const step1 = await browser.post(`${base}/account/signin`, { username: 'tess', password: PASSWORD });
    expect(step1.status).toBe(200);
    expect(sessionCookieOf(step1)).toBeUndefined();
    const form = await step1.text();
    expect(form).toContain('action="/account/signin/factor"');
    expect(form).toContain('name="otp"');
    const code = await generate({ secret: secret!, epoch: now() });
    const wrong = await browser.post(`${base}/account/signin/factor`, { otp: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(200);
    expect(await wrong.text()).toContain(OTP_FAILED_MESSAGE);
    const ok = await browser.post(`${base}/account/signin/factor`, { otp: code });
    expect(ok.status).toBe(303);
    expect(sessionCookieOf(ok)).toBeDefined();
    const [session] = await gh.authn.sessions.list('default', { userId: id });
    expect(session).toMatchObject({ acr: 'urn:gatehouse:aal2', amr: ['pwd', 'otp', 'mfa'] });
    expect(await (await browser.request(`${base}/account`)).text()).toContain('(two factors: pwd, otp, mfa)');
    // A second sign-in with the same (still current) code is refused.
    const other = new Browser();
    await other.post(`${base}/account/signin`, { username: 'tess', password: PASSWORD });
    const replay = await other.post(`${base}/account/signin/factor`, { otp: code });
    expect(replay.status).toBe(200);
    expect(await replay.text()).toContain(OTP_FAILED_MESSAGE);
    expect(sessionCookieOf(replay)).toBeUndefined();
  });

  it('a recovery code works as the second step, once', async () => {
    const { id } = await user('rory', { totp: true });
    const codes = await gh.authn.recoveryCodes.generate(ctx, id);
    const browser = new Browser();
    const step1 = await (await browser.post(`${base}/account/signin`, { username: 'rory', password: PASSWORD })).text();
    expect(step1).toContain('name="recovery_code"');
    const ok = await browser.post(`${base}/account/signin/factor`, { recovery_code: codes[3]! });
    expect(ok.status).toBe(303);
    const [session] = await gh.authn.sessions.list('default', { userId: id });
    expect(session!.acr).toBe('urn:gatehouse:aal2');
    expect(await gh.authn.recoveryCodes.remaining('default', id)).toBe(9);
    const again = new Browser();
    await again.post(`${base}/account/signin`, { username: 'rory', password: PASSWORD });
    const reused = await again.post(`${base}/account/signin/factor`, { recovery_code: codes[3]! });
    expect(reused.status).toBe(200);
    expect(await reused.text()).toContain(OTP_FAILED_MESSAGE);
  });

  it('five wrong codes end the attempt: the password must be entered again', async () => {
    const { secret } = await user('fiona', { totp: true });
    const browser = new Browser();
    await browser.post(`${base}/account/signin`, { username: 'fiona', password: PASSWORD });
    const good = await generate({ secret: secret!, epoch: now() });
    const bad = good === '123456' ? '654321' : '123456';
    for (let i = 1; i <= 4; i++) expect(await (await browser.post(`${base}/account/signin/factor`, { otp: bad })).text()).toContain(OTP_FAILED_MESSAGE);
    const fifth = await (await browser.post(`${base}/account/signin/factor`, { otp: bad })).text();
    expect(fifth).toContain(SIGNIN_FAILED_MESSAGE);
    expect(fifth).toContain('name="password"');
    // The right code no longer helps: there is no pending sign-in.
    const late = await browser.post(`${base}/account/signin/factor`, { otp: good });
    expect(late.status).toBe(200);
    expect(await late.text()).toContain('name="password"');
    expect(sessionCookieOf(late)).toBeUndefined();
  });

  it('a code posted without a password step first signs no one in', async () => {
    await user('nora', { totp: true });
    const res = await new Browser().post(`${base}/account/signin/factor`, { otp: '123456' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('name="password"');
    expect(sessionCookieOf(res)).toBeUndefined();
  });

  it('signing in as someone else in the same browser ends the first session and issues a new cookie', async () => {
    const a = await user('alma');
    const b = await user('bert');
    const browser = await accountSignIn(base, 'alma', PASSWORD);
    const first = await gh.authn.sessions.list('default', { userId: a.id });
    const res = await browser.post(`${base}/account/signin`, { username: 'bert', password: PASSWORD });
    expect(res.status).toBe(303);
    expect(await gh.authn.sessions.list('default', { userId: a.id })).toEqual([]);
    expect((await gh.authn.sessions.get('default', first[0]!.id))!.endedAt).not.toBeNull();
    expect(await gh.authn.sessions.list('default', { userId: b.id })).toHaveLength(1);
    expect(await (await browser.request(`${base}/account`)).text()).toContain('Signed in as <strong>bert</strong>');
  });

  it('sign-out ends the session, clears the cookie, and the old cookie no longer works', async () => {
    const { id } = await user('otto');
    const browser = new Browser();
    const signedIn = await browser.post(`${base}/account/signin`, { username: 'otto', password: PASSWORD });
    const cookieBefore = sessionCookieOf(signedIn)!;
    expect(cookieBefore).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const token = (await gh.storage.db.selectFrom('authn_sessions').select('id').where('user_id', '=', id).executeTakeFirstOrThrow()).id;
    // Without the CSRF token: refused, still signed in.
    const noCsrf = await browser.post(`${base}/account/signout`, {});
    expect(noCsrf.status).toBe(403);
    expect(await noCsrf.text()).toContain('This form is out of date');
    expect((await browser.request(`${base}/account`)).status).toBe(200);
    const out = await postWithCsrf(browser, base, '/account', '/account/signout', {});
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/account/signin');
    expect(out.headers.getSetCookie().find((c) => c.startsWith('gh_session='))).toMatch(/^gh_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax$/);
    expect((await gh.authn.sessions.get('default', token))!.endedAt).not.toBeNull();
    const replay = await new Browser().request(`${base}/account`, { headers: { cookie: `gh_session=${cookieBefore}` } });
    expect(replay.status).toBe(303);
  });

  it('refuses cross-site posts before anything runs', async () => {
    const { id } = await user('cora');
    const res = await fetch(`${base}/account/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ username: 'cora', password: PASSWORD }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('This form was posted from another site.');
    expect(await gh.authn.sessions.list('default', { userId: id })).toEqual([]);
    // The same post from the issuer's own origin works.
    const same = await fetch(`${base}/account/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ username: 'cora', password: PASSWORD }).toString(),
      redirect: 'manual',
    });
    expect(same.status).toBe(303);
  });

  it('a signed-in form posted with another session’s CSRF token is refused', async () => {
    await user('dina');
    await user('egon');
    const dina = await accountSignIn(base, 'dina', PASSWORD);
    const egon = await accountSignIn(base, 'egon', PASSWORD);
    const egonCsrf = csrfOf(await (await egon.request(`${base}/account/recovery-codes`)).text());
    const res = await dina.post(`${base}/account/recovery-codes`, { csrf: egonCsrf });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('class="codes"');
  });
});
