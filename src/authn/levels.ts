/**
 * Authentication levels Gatehouse asserts (NIST SP 800-63B-4 AALs as OIDC `acr` values) and the
 * RFC 8176 `amr` method names it uses.
 */

/** `acr` values, weakest first. Equal to `ACR` in oidc/provider.ts. */
export const ACR_AAL1 = 'urn:gatehouse:aal1';
export const ACR_AAL2 = 'urn:gatehouse:aal2';
const ORDER = [ACR_AAL1, ACR_AAL2];

/** Rank of an acr value (unknown values rank above every known one, so they are never "satisfied"). */
export function acrRank(acr: string | undefined | null): number {
  const i = ORDER.indexOf(acr ?? '');
  return i < 0 ? ORDER.length : i;
}

/**
 * Whether a session at `sessionAcr` meets an `acr_values` request (space-separated, in order of
 * preference): true if no value is asked, or the session's level is at least the lowest level asked.
 */
export function acrSatisfies(sessionAcr: string, acrValues: string | undefined | null): boolean {
  const wanted = (acrValues ?? '').split(' ').filter(Boolean);
  if (wanted.length === 0) return true;
  const known = wanted.filter((a) => ORDER.includes(a));
  if (known.length === 0) return true; // values Gatehouse does not offer cannot be met by re-authenticating
  return acrRank(sessionAcr) >= Math.min(...known.map(acrRank));
}

/** RFC 8176 method references. `hwk`: proof of possession of a key (passkey); `user`: user presence/verification. */
export const AMR = { pwd: 'pwd', otp: 'otp', mfa: 'mfa', hwk: 'hwk', user: 'user', pin: 'pin' } as const;

/** The acr a set of methods reaches: AAL2 with two factors (amr contains `mfa`), else AAL1. */
export function acrFor(amr: readonly string[]): string {
  return amr.includes(AMR.mfa) ? ACR_AAL2 : ACR_AAL1;
}
