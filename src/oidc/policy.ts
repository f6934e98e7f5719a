/**
 * oidc-provider's interaction policy with Gatehouse's two extra login checks, so the provider's
 * own browser session never outlives or outranks Gatehouse's server-side session:
 *
 * - `gatehouse_session`: the browser's `gh_session` (src/authn/sessions.ts) must be live (not
 *   ended by the user or an admin, not idle, not past its absolute end) and belong to the
 *   provider session's account; otherwise the user signs in again (and `prompt=none` answers
 *   `login_required`).
 * - `gatehouse_acr` (step-up): when the client's `acr_values` asks for more than the session's
 *   acr and the user has a way to reach it (a second factor or a passkey), the login prompt is
 *   shown again; the interaction then asks only for the missing factor.
 *
 * `max_age` and `prompt=login` are oidc-provider's own checks.
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { AuthnServices } from '../authn/index.js';
import { acrSatisfies } from '../authn/levels.js';
import { SESSION_COOKIE } from '../authn/sessions.js';

const { Check, base } = interactionPolicy;

/** True if the user could reach a higher acr than a password gives (second factor or passkey). */
export async function canStepUp(authn: AuthnServices, tenantId: string, userId: string): Promise<boolean> {
  if (await authn.signIn.secondFactorsOf(tenantId, userId)) return true;
  return (await authn.passkeys.list(tenantId, userId)).length > 0;
}

/** The default policy plus the Gatehouse checks on the `login` prompt. */
export function gatehousePolicy(authn: AuthnServices, tenantId: string): interactionPolicy.DefaultPolicy {
  const policy = base();
  const login = policy.get('login')!;
  login.checks.add(
    new Check('gatehouse_session', 'the Gatehouse sign-in session ended or expired', async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId || ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const s = await authn.sessions.authenticate(tenantId, ctx.cookies.get(SESSION_COOKIE));
      return s && s.userId === accountId ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  login.checks.add(
    new Check('gatehouse_acr', 'a stronger authentication was requested', async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId || ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const acrValues = ctx.oidc.params?.acr_values as string | undefined;
      if (acrSatisfies(ctx.oidc.session?.acr ?? '', acrValues)) return Check.NO_NEED_TO_PROMPT;
      return (await canStepUp(authn, tenantId, accountId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
