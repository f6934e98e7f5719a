/**
 * Helpers for the OpenID Provider tests: a listening Gatehouse whose issuer is its real URL,
 * rows seeded directly (users with an argon2id hash, applications with SHA-256 client secrets),
 * a browser without JavaScript (cookies by path, manual redirects, real form posts), and the
 * authorization code + PKCE flow driven by openid-client as the relying party.
 */
import { createServer } from 'node:net';
import * as client from 'openid-client';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { hashPassword } from '../../src/authn/password.js';
import { loadConfig } from '../../src/kernel/config.js';
import { newId, randomToken } from '../../src/kernel/ids.js';
import { normalizeIdentifier } from '../../src/kernel/normalize.js';
import { sha256Hex } from '../../src/kernel/secrets.js';
import type { AccountStatus } from '../../src/storage/schema.js';

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts Gatehouse on `databaseUrl` at a free port, with the issuer equal to its URL. */
export async function startGatehouse(databaseUrl: string, port?: number): Promise<{ gh: Gatehouse; base: string; port: number }> {
  const p = port ?? (await freePort());
  const config = loadConfig({}, { databaseUrl, port: p, host: '127.0.0.1', logLevel: 'silent', issuer: `http://127.0.0.1:${p}` });
  const gh = await createGatehouse({ config });
  const base = await gh.listen();
  return { gh, base, port: p };
}

/** Inserts a user row (and its email) directly. */
export async function seedUser(
  gh: Gatehouse,
  opts: { userName: string; password?: string; email?: string; status?: AccountStatus; givenName?: string; familyName?: string },
): Promise<string> {
  const id = newId();
  const now = new Date().toISOString();
  await gh.storage.db
    .insertInto('users')
    .values({
      tenant_id: 'default',
      id,
      user_name: opts.userName,
      user_name_norm: normalizeIdentifier(opts.userName),
      external_id: null,
      display_name: null,
      given_name: opts.givenName ?? null,
      family_name: opts.familyName ?? null,
      middle_name: null,
      formatted_name: null,
      honorific_prefix: null,
      honorific_suffix: null,
      nick_name: null,
      title: null,
      user_type: null,
      preferred_language: null,
      locale: null,
      timezone: null,
      employee_number: null,
      cost_center: null,
      organization: null,
      division: null,
      department: null,
      manager_id: null,
      status: opts.status ?? 'active',
      is_admin: 0,
      password_hash: opts.password ? await hashPassword(opts.password) : null,
      extra: '{}',
      created_at: now,
      updated_at: now,
      version: 1,
    })
    .execute();
  if (opts.email) {
    await gh.storage.db
      .insertInto('user_emails')
      .values({ tenant_id: 'default', user_id: id, position: 0, value: opts.email, value_norm: normalizeIdentifier(opts.email), type: 'work', is_primary: 1, display: null })
      .execute();
  }
  return id;
}

/**
 * Inserts an application row the way the identity service stores it: oidc-provider metadata
 * without the secret, and `client_secret_hash` = SHA-256 hex of the secret.
 */
export async function seedClient(gh: Gatehouse, opts: { public?: boolean; name?: string } = {}): Promise<{ clientId: string; clientSecret: string | null }> {
  const clientId = newId();
  const secret = opts.public ? null : `gh_cs_${randomToken(32)}`;
  const now = new Date().toISOString();
  const metadata = {
    client_id: clientId,
    client_name: opts.name ?? 'Test <App>',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: opts.public ? 'none' : 'client_secret_basic',
  };
  await gh.storage.db
    .insertInto('applications')
    .values({
      tenant_id: 'default',
      id: clientId,
      name: metadata.client_name,
      client_secret_hash: secret ? sha256Hex(secret) : null,
      metadata: JSON.stringify(metadata),
      owner_user_id: null,
      status: 'active',
      created_at: now,
      updated_at: now,
    })
    .execute();
  return { clientId, clientSecret: secret };
}

/** openid-client's view of the provider for one client. */
export async function relyingParty(base: string, clientId: string, clientSecret: string | null): Promise<client.Configuration> {
  return client.discovery(new URL(base), clientId, undefined, clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

interface StoredCookie {
  value: string;
  path: string;
}

/** A browser without JavaScript: cookies (by name and path), manual redirects, form posts. */
export class Browser {
  private readonly jar = new Map<string, StoredCookie>();

  private cookieHeader(url: URL): string | undefined {
    const pairs = [...this.jar.entries()].filter(([, c]) => url.pathname.startsWith(c.path)).map(([k, c]) => `${k.split('\n')[0]}=${c.value}`);
    return pairs.length ? pairs.join('; ') : undefined;
  }

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const pathAttr = attrs.find((a) => /^path=/i.test(a));
      const path = pathAttr ? pathAttr.slice(5) : '/';
      const key = `${name}\n${path}`;
      const expired = attrs.some((a) => /^max-age=0$/i.test(a) || /^expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.jar.delete(key);
      else this.jar.set(key, { value, path });
    }
  }

  /** One request, no redirect following. */
  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(u);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    this.store(res);
    return res;
  }

  /** Posts an HTML form (urlencoded). */
  async post(url: string | URL, fields: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /**
   * Follows redirects from `res` until a non-redirect page or a Location starting with `stopAt`.
   * @returns the final response (with its URL) or the redirect_uri location.
   */
  async follow(res: Response, from: string | URL, stopAt: string): Promise<{ page?: { url: URL; res: Response }; callback?: URL }> {
    let current = res;
    let url = new URL(from);
    for (let i = 0; i < 10; i++) {
      if (current.status < 300 || current.status >= 400) return { page: { url, res: current } };
      const location = current.headers.get('location');
      if (!location) throw new Error(`redirect ${current.status} without Location`);
      const next = new URL(location, url);
      if (next.href.startsWith(stopAt)) return { callback: next };
      url = next;
      current = await this.request(next);
    }
    throw new Error('too many redirects');
  }
}

/** The `action` of the first form in `html`, resolved against `base`. */
export function formAction(html: string, base: URL): URL {
  const m = /<form[^>]*action="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no form in page: ${html.slice(0, 200)}`);
  return new URL(m[1]!.replace(/&amp;/g, '&'), base);
}

export interface AuthorizationStart {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

/** Builds an authorization request with PKCE S256, state and nonce. */
export async function startAuthorization(rp: client.Configuration, scope = 'openid profile email offline_access'): Promise<AuthorizationStart> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT_URI,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, verifier, state, nonce };
}

/** Opens the authorization URL in `browser` and returns the sign-in page it lands on. */
export async function openLoginPage(browser: Browser, start: AuthorizationStart): Promise<{ url: URL; html: string; status: number }> {
  const res = await browser.request(start.url);
  const { page } = await browser.follow(res, start.url, REDIRECT_URI);
  if (!page) throw new Error('expected a sign-in page, got a callback');
  return { url: page.url, html: await page.res.text(), status: page.res.status };
}

/**
 * Runs the whole sign-in: password form, then (if asked) the TOTP form with `otp()`, then the
 * code exchange with openid-client. Returns the tokens and the ID token claims.
 */
export async function signIn(
  rp: client.Configuration,
  opts: { username: string; password: string; otp?: () => Promise<string>; browser?: Browser },
) {
  const browser = opts.browser ?? new Browser();
  const start = await startAuthorization(rp);
  const login = await openLoginPage(browser, start);
  let res = await browser.post(formAction(login.html, login.url), { username: opts.username, password: opts.password });
  let from = formAction(login.html, login.url);
  if (res.status === 200) {
    const html = await res.text();
    if (!html.includes('name="otp"') || !opts.otp) throw new Error(`sign-in did not continue: ${html}`);
    from = formAction(html, from);
    res = await browser.post(from, { otp: await opts.otp() });
  }
  const { callback, page } = await browser.follow(res, from, REDIRECT_URI);
  if (!callback) throw new Error(`no callback; page ${page?.res.status}: ${await page?.res.text()}`);
  const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
  return { tokens, claims: tokens.claims()!, browser };
}
