/**
 * Helpers for the /account page tests over real HTTP: sign in at /account/signin with the
 * JavaScript-free {@link Browser} of test/oidc/support.ts, read the CSRF token of a page, post
 * signed-in forms.
 */
import { expect } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import { Browser } from '../oidc/support.js';

/** The value of the first `csrf` hidden field in `html`. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([0-9a-f]{64})"/.exec(html);
  if (!m) throw new Error(`no CSRF field in page: ${html.slice(0, 300)}`);
  return m[1]!;
}

/** The `gh_session` cookie value a response set, if any. */
export function sessionCookieOf(res: Response): string | undefined {
  const line = res.headers.getSetCookie().find((c) => c.startsWith('gh_session='));
  return line ? line.slice('gh_session='.length).split(';')[0] : undefined;
}

/** Signs in at /account/signin with a password only (no second factor); returns the browser, signed in. */
export async function accountSignIn(base: string, username: string, password: string, browser = new Browser()): Promise<Browser> {
  const res = await browser.post(`${base}/account/signin`, { username, password });
  expect(res.status, `sign-in of ${username}`).toBe(303);
  expect(res.headers.get('location')).toBe('/account');
  return browser;
}

/** GETs an /account page and posts its form `path` with the page's CSRF token plus `fields`. */
export async function postWithCsrf(browser: Browser, base: string, page: string, path: string, fields: Record<string, string>): Promise<Response> {
  const html = await (await browser.request(`${base}${page}`)).text();
  return browser.post(`${base}${path}`, { csrf: csrfOf(html), ...fields });
}

/** Forgets every throttling counter, so one test's deliberate failures do not delay the next. */
export async function resetThrottle(gh: Gatehouse): Promise<void> {
  await gh.storage.db.deleteFrom('authn_throttle').execute();
}

/** The audit events about `userId` (action and parsed details), oldest first. */
export async function auditOf(gh: Gatehouse, userId: string): Promise<Array<{ action: string; details: Record<string, unknown> }>> {
  const rows = await gh.storage.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', userId).orderBy('seq').execute();
  return rows.map((r) => ({ action: r.action, details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : {} }));
}
