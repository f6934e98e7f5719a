/**
 * Password change at /account/password over real HTTP, on SQLite and PostgreSQL (NIST SP
 * 800-63B-4 §3.1.1.2): the current password is checked (and a wrong one counts toward
 * throttling), the policy is applied (15 characters alone, 8 with a second factor, blocklist,
 * context words, 256 at most, any Unicode after NFC), the change ends the user's other sessions
 * and the tokens issued under them but keeps this one, and a notice goes to the outbox.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { Browser, relyingParty, seedClient, signIn, startGatehouse } from '../oidc/support.js';
import { accountSignIn, auditOf, csrfOf, postWithCsrf, resetThrottle } from './account-support.js';

const PASSWORD = 'seven copper kettles humming';
const ctx = cliContext();

describeEachBackend('/account password change', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;
  let rp: client.Configuration;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base } = await startGatehouse(db.url));
    const c = await seedClient(gh);
    rp = await relyingParty(base, c.clientId, c.clientSecret);
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });
  beforeEach(async () => resetThrottle(gh));

  async function user(userName: string, extra: { givenName?: string } = {}) {
    const u = await gh.users.create(ctx, { userName, emails: [{ value: `${userName}@example.com` }], password: PASSWORD, ...(extra.givenName ? { name: { givenName: extra.givenName } } : {}) });
    return u.id;
  }

  const change = (browser: Browser, current: string, next: string) => postWithCsrf(browser, base, '/account/password', '/account/password', { current, new: next });

  /** Whether `password` signs `userName` in at /account/signin. */
  async function works(userName: string, password: string): Promise<boolean> {
    const res = await new Browser().post(`${base}/account/signin`, { username: userName, password });
    await resetThrottle(gh);
    return res.status === 303;
  }

  it('the page asks for the current and the new password, with the minimum length and labels', async () => {
    await user('paige');
    const browser = await accountSignIn(base, 'paige', PASSWORD);
    const html = await (await browser.request(`${base}/account/password`)).text();
    expect(html).toContain('<label for="current">Current password</label>');
    expect(html).toContain('<label for="new">New password</label>');
    expect(html).toContain('autocomplete="current-password"');
    expect(html).toContain('autocomplete="new-password" minlength="15" maxlength="256"');
    expect(html).toContain('At least 15 characters');
  });

  it('a change keeps this session, ends the others and their refresh tokens, mails a notice, and swaps the passwords', async () => {
    const id = await user('chad');
    const here = await accountSignIn(base, 'chad', PASSWORD);
    const elsewhere = await accountSignIn(base, 'chad', PASSWORD);
    const oidc = await signIn(rp, { username: 'chad', password: PASSWORD });
    expect(await gh.authn.sessions.list('default', { userId: id })).toHaveLength(3);
    const next = 'four violet umbrellas in autumn';
    const res = await change(here, PASSWORD, next);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Your password was changed. Your other sessions were signed out.');
    const live = await gh.authn.sessions.list('default', { userId: id });
    expect(live).toHaveLength(1);
    expect((await here.request(`${base}/account`)).status).toBe(200);
    expect((await elsewhere.request(`${base}/account`)).status).toBe(303);
    await expect(client.refreshTokenGrant(rp, oidc.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await works('chad', PASSWORD)).toBe(false);
    expect(await works('chad', next)).toBe(true);
    const mails = await gh.authn.mailer.outbox('default', { to: 'chad@example.com' });
    expect(mails.map((m) => m.kind)).toContain('password_changed');
    expect(mails.find((m) => m.kind === 'password_changed')!.text).not.toContain(next);
    const events = await auditOf(gh, id);
    expect(events.filter((e) => e.action === 'user.password_change')).toHaveLength(1);
    expect(events.filter((e) => e.action === 'session.end' && e.details.reason === 'password_change')).toHaveLength(2);
    // The new hash is argon2id, never the password.
    const row = await gh.storage.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('a wrong current password is refused, changes nothing, and counts as a failed attempt', async () => {
    const id = await user('wendy');
    const browser = await accountSignIn(base, 'wendy', PASSWORD);
    const res = await change(browser, 'not my current password', 'nine silver foxes at midnight');
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('The current password is not correct.');
    expect(html).toContain('role="alert"');
    expect((await gh.authn.throttle.state('default', `account:${id}`)).failures).toBe(1);
    const failure = (await auditOf(gh, id)).find((e) => e.action === 'signin.failure');
    expect(JSON.stringify(failure?.details)).toContain('password_change_wrong_current');
    expect(await works('wendy', PASSWORD)).toBe(true);
  });

  it.each([
    ['too short without a second factor', 'short phrase 1', 'at least 15 characters'],
    ['a common password', 'passwordpassword', 'too common or too easy to guess'],
    ['containing the user name', 'kim-kowalski rides the bus', 'must not contain your user name'],
    ['containing the given name', 'Bartholomew walks his dog daily', 'must not contain your user name, email address or name'],
    ['longer than 256 characters', 'x'.repeat(200) + ' correct horse battery staple '.repeat(3), 'at most 256 characters'],
  ])('refuses a new password %s', async (_why, next, message) => {
    const userName = `kim-kowalski-${Math.random().toString(36).slice(2, 8)}`;
    await user(userName, { givenName: 'Bartholomew' });
    const candidate = next.replace('kim-kowalski', userName);
    const browser = await accountSignIn(base, userName, PASSWORD);
    const res = await change(browser, PASSWORD, candidate);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(message);
    expect(await works(userName, PASSWORD)).toBe(true);
  });

  it('with a second factor the minimum is 8 characters', async () => {
    const id = await user('mfa-mo');
    await gh.totp.enroll(ctx, id);
    // The rule depends on what is enrolled; a session made directly stands in for a two-factor sign-in.
    const { token } = await gh.authn.sessions.create(ctx, { userId: id, acr: 'urn:gatehouse:aal2', amr: ['pwd', 'otp', 'mfa'] });
    const cookie = `gh_session=${token}`;
    const html = await (await fetch(`${base}/account/password`, { headers: { cookie } })).text();
    expect(html).toContain('minlength="8"');
    expect(html).toContain('At least 8 characters');
    const posted = await fetch(`${base}/account/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf: csrfOf(html), current: PASSWORD, new: 'Tq7#vLp2' }).toString(),
    });
    expect(posted.status).toBe(200);
    expect(await posted.text()).toContain('Your password was changed.');
    expect(await gh.authn.signIn.password('default', 'mfa-mo', 'Tq7#vLp2', { sourceIp: null, requestId: null })).toMatchObject({ ok: true, userId: id });
  });

  it('accepts any Unicode, compared after NFC: a password typed decomposed works when set composed', async () => {
    await user('uma');
    const browser = await accountSignIn(base, 'uma', PASSWORD);
    const composed = 'Ünïcödé pässwörd — 日本語 😀 ok';
    const decomposed = composed.normalize('NFD');
    expect(decomposed).not.toBe(composed);
    const res = await change(browser, PASSWORD, composed);
    expect(res.status).toBe(200);
    expect(await works('uma', decomposed)).toBe(true);
    // 64 characters and more are allowed.
    const long = 'a calm river '.repeat(8).trim();
    expect(long.length).toBeGreaterThan(64);
    expect((await change(browser, decomposed, long)).status).toBe(200);
    expect(await works('uma', long)).toBe(true);
  });

  it('refuses a change without the CSRF token or when signed out', async () => {
    await user('cass');
    const browser = await accountSignIn(base, 'cass', PASSWORD);
    const noCsrf = await browser.post(`${base}/account/password`, { current: PASSWORD, new: 'twelve amber owls sleeping' });
    expect(noCsrf.status).toBe(403);
    const signedOut = await new Browser().post(`${base}/account/password`, { csrf: '0'.repeat(64), current: PASSWORD, new: 'twelve amber owls sleeping' });
    expect(signedOut.status).toBe(401);
    expect(await works('cass', PASSWORD)).toBe(true);
  });
});
