/**
 * Cross-site form-post detection for the server-rendered pages (/login, /account): the CSRF
 * defence that runs before any handler (OWASP CSRF Prevention Cheat Sheet, "Fetch Metadata" and
 * "Verifying Origin with standard headers").
 *
 * Browsers send `Origin: null` on a form post from a page whose referrer policy is `no-referrer`
 * (Fetch §3.1 "serializing a request origin") — and every Gatehouse page has that policy (Helmet's
 * default header and the pages' own meta tag) — so the Origin header alone refuses the pages' own
 * forms. `Sec-Fetch-Site` is set by the browser itself (web content cannot forge it) and says
 * `same-origin` for them, so it is consulted first; the Origin header is the fallback for browsers
 * without Fetch Metadata. A request with neither (not from a browser) is not a cross-site form post.
 */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Whether a request was sent by a browser on behalf of another site.
 * @param headers - the request headers.
 * @param ownOrigins - origins that count as this site (the issuer's origin, the Host the request was sent to).
 * @returns true for `Sec-Fetch-Site: cross-site | same-site`, or (without Fetch Metadata) an `Origin` not in `ownOrigins`, including `null`.
 */
export function isCrossSiteRequest(headers: IncomingHttpHeaders, ownOrigins: readonly string[]): boolean {
  const site = headers['sec-fetch-site'];
  if (site === 'same-origin' || site === 'none') return false;
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = headers.origin;
  return origin !== undefined && !ownOrigins.includes(origin);
}
