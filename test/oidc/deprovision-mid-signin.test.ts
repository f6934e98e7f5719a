/**
 * A user deactivated half-way through signing in: after the password step and before the
 * browser returns to the authorization endpoint. The sign-in must end with a clean 4xx page,
 * never a 500 and never an authorization code.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type * as client from 'openid-client';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { Browser, REDIRECT_URI, formAction, openLoginPage, relyingParty, seedClient, seedUser, startAuthorization, startGatehouse } from './support.js';

const PASSWORD = 'correct horse battery staple';

describeEachBackend('deprovisioning during a sign-in', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let rp: client.Configuration;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    let base: string;
    ({ gh, base } = await startGatehouse(db.url));
    const c = await seedClient(gh);
    rp = await relyingParty(base, c.clientId, c.clientSecret);
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('ends the sign-in with a 4xx page and no code when the user is suspended after the password step', async () => {
    const userId = await seedUser(gh, { userName: 'midway', password: PASSWORD });
    const browser = new Browser();
    const start = await startAuthorization(rp);
    const login = await openLoginPage(browser, start);
    const action = formAction(login.html, login.url);
    const posted = await browser.post(action, { username: 'midway', password: PASSWORD });
    expect(posted.status).toBe(303);
    const resume = new URL(posted.headers.get('location')!, action);
    expect(resume.pathname).toMatch(/^\/oauth2\/authorize\//);

    await gh.users.setActive(systemContext(), userId, false);

    const res = await browser.request(resume);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const location = res.headers.get('location') ?? '';
    expect(location.startsWith(REDIRECT_URI) && location.includes('code=')).toBe(false);
    expect(await res.text()).not.toMatch(/server_error|stack|TypeError/);
  });
});
