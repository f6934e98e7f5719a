/**
 * OAuth 2.0 Token Exchange (RFC 8693) for service-to-service delegation, registered on
 * oidc-provider with `registerGrantType` (the provider's extension point; it does not ship this
 * grant).
 *
 * A confidential client (typically a service account) presents an access token it received
 * (`subject_token`, type `urn:ietf:params:oauth:token-type:access_token`) and gets a new access
 * token for the same subject, acting on its behalf:
 * - the subject token must be an active opaque access token of this provider, not sender-constrained;
 *   its subject (a user, or the service account it was issued to) must still be active;
 * - requested scopes must be a subset of the subject token's (no escalation), default: all of them;
 * - with `resource` (RFC 8707) the token is a JWT access token for that resource server;
 * - the new token carries `act: {sub: <requesting client_id>}` (RFC 8693 §4.1), nesting any
 *   previous `act`, and never outlives the subject token.
 * `actor_token` and other requested token types are refused with `invalid_request`.
 */
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { MachineClients } from './machines.js';
import type { ResourceServers } from './resource-servers.js';

export { TOKEN_EXCHANGE_GRANT } from './machines.js';

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Parameters the grant reads. */
export const TOKEN_EXCHANGE_PARAMS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope', 'resource', 'audience'];

/** Symbol under which extra token claims (`act`) ride on a token until `extraTokenClaims` reads them. */
export const EXTRA_CLAIMS = Symbol.for('gatehouse.extraClaims');

interface Deps {
  provider: Provider;
  machines: MachineClients;
  resourceServers: ResourceServers;
  isUserActive(userId: string): Promise<boolean>;
}

type AnyToken = {
  accountId?: string;
  clientId: string;
  scope?: string;
  exp: number;
  isValid: boolean;
  jkt?: string;
  'x5t#S256'?: string;
  extra?: Record<string, unknown>;
  kind: string;
};

/** The grant handler for `urn:ietf:params:oauth:grant-type:token-exchange`. */
export function tokenExchangeHandler(deps: Deps) {
  return async (ctx: KoaContextWithOIDC): Promise<void> => {
    const params = ctx.oidc.params as Record<string, string | undefined>;
    const client = ctx.oidc.client!;
    if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('public clients cannot exchange tokens');
    if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    if (params.actor_token !== undefined || params.actor_token_type !== undefined) throw new errors.InvalidRequest('actor_token is not supported');
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    if (params.audience !== undefined) throw new errors.InvalidTarget('use resource (RFC 8707) instead of audience');

    const { provider } = deps;
    const subject = ((await provider.AccessToken.find(params.subject_token)) ?? (await provider.ClientCredentials.find(params.subject_token))) as AnyToken | undefined;
    if (!subject?.isValid) throw new errors.InvalidGrant('subject_token is invalid, expired or revoked');
    if (subject.jkt || subject['x5t#S256']) throw new errors.InvalidGrant('a sender-constrained subject_token cannot be exchanged');
    const subjectId = subject.accountId ?? subject.clientId;
    const active = subject.accountId && !(await deps.machines.isServiceAccount(subject.accountId)) ? await deps.isUserActive(subject.accountId) : await deps.machines.isUsable(subjectId);
    if (!active) throw new errors.InvalidGrant('the subject of subject_token is not active');

    const granted = new Set((subject.scope ?? '').split(' ').filter(Boolean));
    granted.delete('openid');
    granted.delete('offline_access');
    let scopes = params.scope ? params.scope.split(' ').filter(Boolean) : [...granted];
    const excess = scopes.filter((s) => !granted.has(s));
    if (excess.length) throw new errors.InvalidScope('requested scope exceeds the subject_token scope', excess.join(' '));

    const remaining = subject.exp - Math.floor(Date.now() / 1000);
    const token = new provider.AccessToken({ accountId: subjectId, client, gty: 'token_exchange' } as never) as unknown as {
      scope?: string;
      resourceServer?: unknown;
      expiresIn?: number;
      expiration: number;
      tokenType: string;
      save(): Promise<string>;
      [EXTRA_CLAIMS]?: Record<string, unknown>;
    };
    if (params.resource !== undefined) {
      const info = deps.resourceServers.info(params.resource);
      const allowed = new Set(info.scope.split(' '));
      scopes = scopes.filter((s) => allowed.has(s));
      token.resourceServer = new provider.ResourceServer(params.resource, info as never);
    }
    token.scope = scopes.join(' ') || undefined;
    token.expiresIn = Math.max(1, Math.min(token.expiration, remaining));
    const previousAct = subject.extra?.act;
    token[EXTRA_CLAIMS] = { act: previousAct ? { sub: client.clientId, act: previousAct } : { sub: client.clientId } };
    ctx.oidc.entity('AccessToken', token as never);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: token.tokenType,
      expires_in: token.expiration,
      scope: token.scope,
    };
  };
}
