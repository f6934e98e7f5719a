/**
 * The OIDC sign-in pages (/login/:uid) in Debian's Chromium, with openid-client as the relying
 * party finishing each code exchange: password then TOTP (AAL2), a wrong password, an expired
 * sign-in page, and passwordless sign-in with a passkey registered at /account/passkeys through
 * Chromium's virtual authenticator (DevTools WebAuthn domain). The redirect_uri is answered by
 * a route in the browser, so nothing listens on it.
 */
import * as client from 'openid-client';
import { generate } from 'otplib';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import { cliContext } from '../../src/kernel/context.js';
import { SIGNIN_FAILED_MESSAGE } from '../../src/oidc/interactions.js';
import { describeEachBackend } from '../support/backends.js';
import { REDIRECT_URI, relyingParty, seedClient, startAuthorization } from '../oidc/support.js';
import { addVirtualAuthenticator, capture, describeWithChromium, launchChromium, startGatehouseForBrowser, gotoSettled } from './support.js';

const PASSWORD = 'purple otters juggling winter plums';
const ctx = cliContext();

async function submit(page: Page, name: string): Promise<void> {
  await Promise.all([page.waitForEvent('framenavigated'), page.getByRole('button', { name, exact: true }).click()]);
  await page.waitForLoadState('load');
}

describeWithChromium('OIDC sign-in pages in Chromium', () => {
  describeEachBackend('oidc sign-in', (backend) => {
    let gh: Gatehouse;
    let base: string;
    let drop: () => Promise<void>;
    let chromium: Awaited<ReturnType<typeof launchChromium>>;
    let context: BrowserContext;
    let page: Page;
    let rp: client.Configuration;
    const shot = (name: string) => capture(page, backend.kind === 'sqlite' ? name : `${name}.${backend.kind}`);

    beforeAll(async () => {
      const db = await backend.create();
      drop = db.drop;
      ({ gh, base } = await startGatehouseForBrowser(db.url));
      const c = await seedClient(gh, { name: 'Payroll <Staff>' });
      rp = await relyingParty(base, c.clientId, c.clientSecret);
      chromium = await launchChromium();
      ({ context, page } = chromium);
      await context.route(`${REDIRECT_URI}**`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<!DOCTYPE html><html lang="en"><title>Callback</title><h1>Back at the application</h1></html>' }),
      );
    });
    afterAll(async () => {
      await chromium?.close();
      await gh?.close();
      await drop?.();
    });

    /**
     * The redirect to the redirect_uri, read from the redirecting response (Chromium refuses to
     * load port 9 itself, ERR_UNSAFE_PORT, when a script submits the form). Call before the action.
     */
    function callback(): Promise<URL> {
      return page
        .waitForResponse((r) => r.status() >= 300 && r.status() < 400 && (r.headers().location ?? '').startsWith(REDIRECT_URI))
        .then((r) => new URL(r.headers().location!));
    }

    /** Redeems the code of the redirect with openid-client. */
    async function finish(start: Awaited<ReturnType<typeof startAuthorization>>, redirected: Promise<URL>) {
      const tokens = await client.authorizationCodeGrant(rp, await redirected, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
      return { tokens, claims: tokens.claims()! };
    }

    it('password then TOTP: the sign-in page, a wrong password, the code page, and the ID token at AAL2', async () => {
      const id = (await gh.users.create(ctx, { userName: 'grace', emails: [{ value: 'grace@example.com' }], password: PASSWORD })).id;
      const { secret } = await gh.totp.enroll(ctx, id);
      const start = await startAuthorization(rp);
      await page.goto(start.url.href);
      expect(new URL(page.url()).pathname).toMatch(/^\/login\/[\w-]+$/);
      const facts = await shot('oidc-signin');
      expect(facts.h1).toEqual(['Sign in to Payroll <Staff>']); // the client name is escaped, shown as text
      await page.getByLabel('Username or email').fill('grace');
      await page.getByLabel('Password', { exact: true }).fill('wrong wrong wrong wrong');
      await submit(page, 'Sign in');
      await expect(page.getByRole('alert').first().textContent()).resolves.toBe(SIGNIN_FAILED_MESSAGE);
      await shot('oidc-signin-error');
      await page.getByLabel('Username or email').fill('grace@example.com');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await submit(page, 'Sign in');
      await expect(page.locator('h1').textContent()).resolves.toBe('Enter your verification code');
      await shot('oidc-signin-otp');
      await page.getByLabel('Verification code').fill(await generate({ secret }));
      const redirected = callback();
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      const { tokens, claims } = await finish(start, redirected);
      expect(claims).toMatchObject({ sub: id, acr: 'urn:gatehouse:aal2', amr: ['pwd', 'otp', 'mfa'], nonce: start.nonce });
      expect(tokens.refresh_token).toBeTruthy();
      expect((await client.fetchUserInfo(rp, tokens.access_token, id)).email).toBe('grace@example.com');
    });

    it('an unknown or expired sign-in page is a clear, accessible error page', async () => {
      await gotoSettled(page, `${base}/login/not-a-real-interaction`);
      const facts = await shot('oidc-signin-expired');
      expect(facts.h1).toEqual(['Sign-in expired']);
    });

    it('a passkey registered at /account signs in without a password; openid-client gets an AAL2 ID token with amr hwk', async () => {
      await context.clearCookies();
      const id = (await gh.users.create(ctx, { userName: 'nadia', password: PASSWORD })).id;
      const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
      await page.goto(`${base}/account/signin`);
      await page.getByLabel('Username or email').fill('nadia');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await submit(page, 'Sign in');
      await page.goto(`${base}/account/passkeys`);
      await page.getByLabel('Name for the new passkey').fill('Phone');
      await submit(page, 'Add a passkey');
      await expect(page.getByRole('status').textContent()).resolves.toBe('Passkey “Phone” added.');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).toHaveLength(1);
      const signCountBefore = credentials[0]!.signCount;

      await context.clearCookies(); // a new visit: no Gatehouse session
      const start = await startAuthorization(rp);
      await page.goto(start.url.href);
      await expect(page.getByRole('button', { name: 'Sign in with a passkey' }).count()).resolves.toBe(1);
      const redirected = callback();
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      const { claims } = await finish(start, redirected);
      expect(claims).toMatchObject({ sub: id, acr: 'urn:gatehouse:aal2' });
      expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
      const after = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!;
      expect(after.signCount).toBeGreaterThan(signCountBefore);
      const [passkey] = await gh.authn.passkeys.list('default', id);
      expect(passkey).toMatchObject({ name: 'Phone' });
      expect(passkey!.lastUsedAt).not.toBeNull();
      // Single sign-on afterwards: the same browser goes straight back to the application.
      const again = await startAuthorization(rp);
      const sso = callback();
      await page.goto(again.url.href).catch(() => undefined); // ends on the unloadable redirect_uri
      expect((await finish(again, sso)).claims.sub).toBe(id);
    });
  });
});
