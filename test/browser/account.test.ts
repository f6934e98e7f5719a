/**
 * Every /account page in Debian's Chromium (playwright-core), one user's life in order: sign-in
 * (wrong, then right), overview, password change, authenticator-app enrollment with the QR code
 * and a first code, recovery codes, a passkey added through the virtual authenticator, sessions,
 * sign-out, sign-in with password + code, passwordless sign-in with the passkey, and a forgotten
 * password reset through the outbox (with a recovery code, as the account has two factors).
 * Each page gets a full-page screenshot in test-results/screenshots/ and an accessibility check.
 */
import { generate } from 'otplib';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import { cliContext } from '../../src/kernel/context.js';
import { SIGNIN_FAILED_MESSAGE } from '../../src/oidc/interactions.js';
import { describeEachBackend } from '../support/backends.js';
import { addVirtualAuthenticator, capture, describeWithChromium, launchChromium, startGatehouseForBrowser } from './support.js';

const PASSWORD = 'orange gliders over quiet harbours';
const NEW_PASSWORD = 'ninety paper cranes above the river';
const ctx = cliContext();

/** Clicks a submit button and waits for the page it leads to. */
async function submit(page: Page, name: string | RegExp): Promise<void> {
  const button = page.getByRole('button', { name, exact: typeof name === 'string' });
  await Promise.all([page.waitForEvent('framenavigated'), button.click()]);
  await page.waitForLoadState('load');
}

describeWithChromium('/account pages in Chromium', () => {
  describeEachBackend('account pages', (backend) => {
    let gh: Gatehouse;
    let base: string;
    let drop: () => Promise<void>;
    let chromium: Awaited<ReturnType<typeof launchChromium>>;
    let context: BrowserContext;
    let page: Page;
    let userId: string;
    let totpSecret = '';
    let recoveryCodes: string[] = [];
    let adminToken: string;
    const shot = (name: string) => capture(page, backend.kind === 'sqlite' ? name : `${name}.${backend.kind}`);

    beforeAll(async () => {
      const db = await backend.create();
      drop = db.drop;
      ({ gh, base } = await startGatehouseForBrowser(db.url));
      userId = (await gh.users.create(ctx, { userName: 'ada', name: { givenName: 'Ada', familyName: 'Byron' }, emails: [{ value: 'ada@example.com' }], password: PASSWORD })).id;
      adminToken = (await gh.apiTokens.create(ctx, { name: 'browser tests', scopes: ['admin'] })).token;
      chromium = await launchChromium();
      ({ context, page } = chromium);
    });
    afterAll(async () => {
      await chromium?.close();
      await gh?.close();
      await drop?.();
    });

    it('sends a signed-out visitor to the sign-in page, which refuses a wrong password with the one message', async () => {
      await page.goto(`${base}/account`);
      expect(new URL(page.url()).pathname).toBe('/account/signin');
      await expect(page.locator('h1').textContent()).resolves.toBe('Sign in to your account');
      await shot('account-signin');
      await page.getByLabel('Username or email').fill('ada');
      await page.getByLabel('Password', { exact: true }).fill('not the right password');
      await submit(page, 'Sign in');
      await expect(page.getByRole('alert').first().textContent()).resolves.toBe(SIGNIN_FAILED_MESSAGE);
      await shot('account-signin-error');
    });

    it('signs in with the password and shows the overview', async () => {
      await page.getByLabel('Username or email').fill('ADA@example.com');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await submit(page, 'Sign in');
      expect(new URL(page.url()).pathname).toBe('/account');
      const text = await page.locator('main').innerText();
      expect(text).toContain('Signed in as ada (one factor: pwd)');
      expect(text).toMatch(/Authenticator app\s+Off/);
      expect(text).toMatch(/Active sessions\s+1/);
      const cookies = await context.cookies(base);
      expect(cookies.find((c) => c.name === 'gh_session')).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
      await shot('account-overview');
    });

    it('changes the password (a weak one is refused first)', async () => {
      await page.getByRole('link', { name: 'Password', exact: true }).click();
      await page.waitForURL(`${base}/account/password`);
      await shot('account-password');
      await page.getByLabel('Current password').fill(PASSWORD);
      await page.getByLabel('New password').fill('adabyron adabyron');
      await submit(page, 'Change password');
      await expect(page.getByRole('alert').first().textContent()).resolves.toContain('must not contain your user name');
      await shot('account-password-error');
      await page.getByLabel('Current password').fill(PASSWORD);
      await page.getByLabel('New password').fill(NEW_PASSWORD);
      await submit(page, 'Change password');
      await expect(page.getByRole('status').textContent()).resolves.toBe('Your password was changed. Your other sessions were signed out.');
      await shot('account-password-changed');
      expect(await gh.authn.signIn.password('default', 'ada', NEW_PASSWORD, { sourceIp: null, requestId: null })).toMatchObject({ ok: true, userId });
    });

    it('enrolls an authenticator app from the QR code page with a first code', async () => {
      await page.goto(`${base}/account/mfa`);
      await shot('account-mfa');
      await submit(page, 'Set up an authenticator app');
      const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
      await expect(qr.locator('svg').count()).resolves.toBe(1);
      const box = (await qr.boundingBox())!;
      expect(box.width).toBeGreaterThan(120);
      expect(Math.abs(box.width - box.height)).toBeLessThan(box.width * 0.25);
      totpSecret = (await page.locator('main code').first().innerText()).replace(/\s+/g, '');
      expect(totpSecret).toMatch(/^[A-Z2-7]{16,}$/);
      await shot('account-mfa-enroll');
      await page.getByLabel('Code from the app').fill('000000' === (await generate({ secret: totpSecret })) ? '111111' : '000000');
      await submit(page, 'Turn on');
      await expect(page.getByRole('alert').first().textContent()).resolves.toContain('That code is not right');
      expect(await gh.totp.hasTotp('default', userId)).toBe(false);
      await page.getByLabel('Code from the app').fill(await generate({ secret: totpSecret }));
      await submit(page, 'Turn on');
      await expect(page.getByRole('status').textContent()).resolves.toContain('Your authenticator app is on.');
      await shot('account-mfa-enabled');
      expect(await gh.totp.hasTotp('default', userId)).toBe(true);
    });

    it('makes recovery codes, shown once', async () => {
      await page.getByRole('link', { name: 'Recovery codes' }).click();
      await page.waitForURL(`${base}/account/recovery-codes`);
      await shot('account-recovery-codes');
      await submit(page, 'Make recovery codes');
      recoveryCodes = (await page.getByLabel('Recovery codes').innerText()).split('\n').map((s) => s.trim()).filter(Boolean);
      expect(recoveryCodes).toHaveLength(10);
      await shot('account-recovery-codes-shown');
      await page.goto(`${base}/account/recovery-codes`);
      await expect(page.getByLabel('Recovery codes').count()).resolves.toBe(0);
      await expect(page.locator('main').innerText()).resolves.toContain('You have 10 unused codes.');
    });

    it('adds a passkey through the virtual authenticator and renames it', async () => {
      const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
      await page.goto(`${base}/account/passkeys`);
      await expect(page.locator('main').innerText()).resolves.toContain('You have no passkeys yet.');
      await shot('account-passkeys');
      await page.getByLabel('Name for the new passkey').fill('Laptop');
      await submit(page, 'Add a passkey');
      await expect(page.getByRole('status').textContent()).resolves.toBe('Passkey “Laptop” added.');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).toHaveLength(1);
      expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
      const stored = await gh.authn.passkeys.list('default', userId);
      expect(stored.map((p) => p.name)).toEqual(['Laptop']);
      await page.getByLabel('New name').fill('Work laptop');
      await submit(page, 'Rename');
      await expect(page.getByRole('cell', { name: 'Work laptop' }).count()).resolves.toBe(1);
      await shot('account-passkeys-added');
    });

    it('lists sessions and ends another one', async () => {
      const other = await gh.authn.sessions.create(ctx, { userId, acr: 'urn:gatehouse:aal1', amr: ['pwd'], sourceIp: '192.0.2.7', userAgent: 'OtherBrowser/1.0' });
      await page.goto(`${base}/account/sessions`);
      const rows = page.locator('tbody tr');
      await expect(rows.count()).resolves.toBe(2);
      await expect(page.locator('main').innerText()).resolves.toContain('(this browser)');
      await shot('account-sessions');
      await Promise.all([page.waitForEvent('framenavigated'), rows.filter({ hasText: '192.0.2.7' }).getByRole('button', { name: 'End' }).click()]);
      await page.waitForLoadState('load');
      await expect(page.getByRole('status').textContent()).resolves.toBe('The session was ended.');
      await expect(page.locator('tbody tr').count()).resolves.toBe(1);
      expect((await gh.authn.sessions.get('default', other.session.id))!.endedAt).not.toBeNull();
    });

    it('signs out, then signs in with the password and a code from the app', async () => {
      await page.goto(`${base}/account`);
      await submit(page, 'Sign out');
      expect(new URL(page.url()).pathname).toBe('/account/signin');
      expect((await context.cookies(base)).some((c) => c.name === 'gh_session')).toBe(false);
      await page.getByLabel('Username or email').fill('ada');
      await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
      await submit(page, 'Sign in');
      await expect(page.locator('h1').textContent()).resolves.toBe('Enter your verification code');
      await shot('account-signin-factor');
      await page.getByLabel('Verification code').fill(await generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 }));
      await submit(page, 'Verify');
      expect(new URL(page.url()).pathname).toBe('/account');
      await expect(page.locator('main').innerText()).resolves.toContain('(two factors: pwd, otp, mfa)');
    });

    it('signs in without a password with the passkey', async () => {
      await context.clearCookies();
      await page.goto(`${base}/account/signin`);
      await submit(page, 'Sign in with a passkey');
      expect(new URL(page.url()).pathname).toBe('/account');
      await expect(page.locator('main').innerText()).resolves.toContain('(two factors: hwk, user, mfa)');
      const [passkey] = await gh.authn.passkeys.list('default', userId);
      expect(passkey!.lastUsedAt).not.toBeNull();
      await page.goto(`${base}/account/passkeys`);
      await expect(page.locator('tbody tr').first().innerText()).resolves.not.toContain('never');
    });

    it('resets a forgotten password from the mailed link, with a recovery code as the second factor; the link works once', async () => {
      await context.clearCookies();
      await page.goto(`${base}/account/forgot`);
      await shot('account-forgot');
      await page.getByLabel('Username or email').fill('ada@example.com');
      await submit(page, 'Send a reset link');
      await expect(page.getByRole('status').textContent()).resolves.toContain('If that account exists');
      await shot('account-forgot-sent');
      const outbox = (await (await fetch(`${base}/api/v1/outbox?to=ada@example.com`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { mails: Array<{ kind: string; text: string }> };
      const link = /(http:\/\/\S+\/account\/reset\/\S+)/.exec(outbox.mails.find((m) => m.kind === 'password_reset')!.text)![1]!;
      await page.goto(link);
      await expect(page.locator('h1').textContent()).resolves.toBe('Choose a new password');
      await shot('account-reset');
      const finalPassword = 'eleven lighthouses whisper at dawn';
      await page.getByLabel('New password').fill(finalPassword);
      // One field takes the authenticator code or a recovery code (a user without their phone).
      await page.getByLabel('Code from your authenticator app or a recovery code').fill(recoveryCodes[0]!);
      await submit(page, 'Set the new password');
      await expect(page.locator('h1').textContent()).resolves.toBe('Your password was changed');
      await shot('account-reset-done');
      expect(await gh.authn.recoveryCodes.remaining('default', userId)).toBe(9);
      expect(await gh.authn.signIn.password('default', 'ada', finalPassword, { sourceIp: null, requestId: null })).toMatchObject({ ok: true });
      await page.goto(link);
      await expect(page.locator('h1').textContent()).resolves.toBe('This link is not valid');
      await shot('account-reset-invalid');
    });
  });
});
