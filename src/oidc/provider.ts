/**
 * The OpenID Provider: node-oidc-provider (OpenID-certified), configured, not re-implemented.
 *
 * - Issuer `config.issuer`; endpoints under `/oauth2` plus `/.well-known/openid-configuration`.
 * - Authorization code flow (`response_type=code` only), PKCE (S256) required for every client,
 *   public ones included (RFC 9700 §2.1.1); pushed authorization requests (RFC 9126).
 * - Refresh tokens for clients allowed the `refresh_token` grant, rotated on every use; a rotated
 *   token presented again revokes the whole grant, its other tokens included (RFC 9700 §4.14.2;
 *   see the adapter's `consume`).
 * - Client credentials (RFC 6749 §4.4) for service accounts with `client_secret_basic`,
 *   `client_secret_post` or `private_key_jwt` (src/oidc/machines.ts); API keys (src/oidc/api-keys.ts).
 * - Device authorization grant (RFC 8628), token exchange (RFC 8693, src/oidc/token-exchange.ts).
 * - Resource indicators (RFC 8707) → JWT access tokens (RFC 9068, ES256; src/oidc/resource-servers.ts).
 * - DPoP (RFC 9449) sender-constrained tokens for any client that sends a proof.
 * - RP-initiated logout and back-channel logout (OpenID Connect Back-Channel Logout 1.0).
 * - Userinfo, introspection (RFC 7662) and revocation (RFC 7009).
 * - `groups` and `roles` scopes/claims (src/oidc/claims.ts).
 * - State in the database through the Kysely adapter; signing and cookie keys persisted; signing
 *   keys rotate with `gatehouse keys rotate`, retired keys stay published while tokens they signed live.
 * - Client secrets are checked against their stored SHA-256; HS* and `client_secret_jwt` are off,
 *   so no secret is ever used as a key.
 */
import Provider, { errors, type Configuration, type interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { randomToken } from '../kernel/ids.js';
import { constantTimeEqual, sha256Hex } from '../kernel/secrets.js';
import type { Clock } from '../kernel/clock.js';
import type { Config } from '../kernel/config.js';
import type { Logger } from '../kernel/logger.js';
import type { Executor, Storage } from '../storage/database.js';
import { AccountDirectory, CLAIMS_BY_SCOPE } from './accounts.js';
import { createAdapterFactory, revokeAllForAccount } from './adapter.js';
import { apiKeyIssuer } from './api-keys.js';
import { GROUP_ROLE_CLAIMS_BY_SCOPE, GroupRoleClaims } from './claims.js';
import { deviceSuccessSource, userCodeConfirmSource, userCodeInputSource } from './device-views.js';
import { loadCookieKeys, loadSigningKeys } from './keys.js';
import { MachineClients } from './machines.js';
import { ResourceServers } from './resource-servers.js';
import { EXTRA_CLAIMS, TOKEN_EXCHANGE_GRANT, TOKEN_EXCHANGE_PARAMS, tokenExchangeHandler } from './token-exchange.js';
import { errorPage, loggedOutPage, logoutConfirmPage } from './views.js';
import type { ApiKeyIssuer } from '../identity/credentials.js';

/** Endpoint paths (relative to the issuer, which has no path). */
export const OIDC_ROUTES = {
  authorization: '/oauth2/authorize',
  token: '/oauth2/token',
  userinfo: '/oauth2/userinfo',
  jwks: '/oauth2/jwks',
  introspection: '/oauth2/introspect',
  revocation: '/oauth2/revoke',
  end_session: '/oauth2/logout',
  device_authorization: '/oauth2/device/auth',
  code_verification: '/oauth2/device',
  pushed_authorization_request: '/oauth2/par',
} as const;

/** Signing algorithms for ID tokens, JWT responses and client assertions (no HS*: no secret is a key). */
const ASYMMETRIC_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
const algs = () => [...ASYMMETRIC_ALGS];

/**
 * How long a retired signing key stays published, in seconds: the longest lifetime of anything
 * signed with it (ID tokens and JWT access tokens), plus clock skew.
 */
export function retiredKeyGraceSeconds(config: Config): number {
  const resource = Math.max(0, ...Object.values(config.resourceServers).map((rs) => rs.accessTokenTtlSeconds));
  return Math.max(config.accessTokenTtlSeconds, resource) + 300;
}

/** Path prefix of the sign-in pages; the interaction uid follows. */
export const LOGIN_PATH_PREFIX = '/login/';

/** Authentication context class references Gatehouse asserts (NIST SP 800-63B-4 AALs). */
export const ACR = { aal1: 'urn:gatehouse:aal1', aal2: 'urn:gatehouse:aal2' } as const;

/** Lifetime of a sign-in interaction, in seconds. */
export const INTERACTION_TTL_SECONDS = 900;

/** What the rest of Gatehouse uses of the OpenID Provider. */
export interface OidcService {
  /** The oidc-provider instance (a Koa app); mount with `provider.callback()`. */
  provider: Provider;
  /** Accounts as the provider sees them (users by id or sign-in identifier). */
  accounts: AccountDirectory;
  /** Service accounts as OAuth clients. */
  machines: MachineClients;
  /** Mints API keys (for the credential service). */
  issueApiKey: ApiKeyIssuer;
  tenantId: string;
  /**
   * Ends everything issued to an account (sessions, grants, codes, access and refresh tokens,
   * interactions); call inside the deprovisioning transaction. Returns rows deleted.
   */
  revokeAllForAccount(trx: Executor, accountId: string): Promise<number>;
}

export interface OidcDeps {
  config: Config;
  storage: Storage;
  clock: Clock;
  logger: Logger;
  tenantId: string;
  /** Interaction policy (src/oidc/policy.ts adds the Gatehouse session and acr step-up checks); oidc-provider's default when absent. */
  policy?: interactionPolicy.DefaultPolicy;
}

function sameOrigin(uri: string, origin: string): boolean {
  try {
    return new URL(uri).origin === origin;
  } catch {
    return false;
  }
}

/**
 * Builds the provider: loads (or generates on first start) signing and cookie keys, and wires the
 * Kysely adapter and account lookup.
 * @throws whatever oidc-provider throws for an invalid configuration (a bug, not user input).
 */
export async function createOidcService(deps: OidcDeps): Promise<OidcService> {
  const { config, storage, clock, logger, tenantId } = deps;
  const [jwks, cookieKeys] = await Promise.all([
    loadSigningKeys(storage, clock, tenantId, retiredKeyGraceSeconds(config)),
    loadCookieKeys(storage, clock, tenantId),
  ]);
  const accounts = new AccountDirectory(storage, tenantId);
  const resourceServers = new ResourceServers(config.resourceServers);
  const clientSecretPlaceholder = `unused-${randomToken(32)}`;
  const machines = new MachineClients({ storage, clock, tenantId, clientSecretPlaceholder, scope: resourceServers.allScopes() });
  const adapter = createAdapterFactory({ storage, clock, tenantId, clientSecretPlaceholder, machines });
  const groupRoleClaims = new GroupRoleClaims(storage, clock, tenantId);
  const isUserActive = (id: string) => accounts.isActive(id);

  const configuration: Configuration = {
    adapter,
    findAccount: async (_ctx, sub) => {
      const account = await accounts.findAccount(sub);
      if (!account) return undefined;
      return {
        accountId: account.accountId,
        // `groups` / `roles` only when the client was granted them (scope or claims parameter).
        async claims(use, scope, claims, rejected) {
          const base = await account.claims(use, scope, claims, rejected);
          const asked = (name: 'groups' | 'roles') =>
            (scope.split(' ').includes(name) || Boolean(claims?.[name as keyof typeof claims])) && !rejected.includes(name);
          return { ...base, ...(await groupRoleClaims.claimsFor(account.accountId, { groups: asked('groups'), roles: asked('roles') })) };
        },
      };
    },
    jwks: { keys: jwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    routes: OIDC_ROUTES,
    // Resource servers' scopes are provider scopes too (service accounts may ask for them).
    scopes: [...new Set(['openid', 'profile', 'email', 'offline_access', 'groups', 'roles', ...resourceServers.allScopes().split(' ').filter(Boolean)])],
    claims: {
      acr: null,
      amr: null,
      sid: null,
      auth_time: null,
      iss: null,
      // How the user signed in is always in the ID token (OIDC Core §2), not only when requested.
      openid: [...CLAIMS_BY_SCOPE.openid, 'acr', 'amr', 'auth_time'],
      profile: [...CLAIMS_BY_SCOPE.profile],
      email: [...CLAIMS_BY_SCOPE.email],
      groups: [...GROUP_ROLE_CLAIMS_BY_SCOPE.groups],
      roles: [...GROUP_ROLE_CLAIMS_BY_SCOPE.roles],
    },
    acrValues: [ACR.aal1, ACR.aal2],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'],
      idTokenSigningAlgValues: algs(),
      requestObjectSigningAlgValues: algs(),
      userinfoSigningAlgValues: algs(),
      introspectionSigningAlgValues: algs(),
      authorizationSigningAlgValues: algs(),
      dPoPSigningAlgValues: ['ES256', 'Ed25519', 'EdDSA', 'RS256', 'PS256'],
    },
    // Service accounts: after oidc-provider verified a private_key_jwt assertion, note which key did it.
    assertJwtClientAuthClaimsAndHeader: async (ctx, _claims, header, client) => {
      if (client.clientAuthMethod !== 'private_key_jwt' || !(await machines.isServiceAccount(client.clientId))) return;
      const assertion = String(ctx.oidc.params?.client_assertion ?? '');
      if (!(await machines.acceptAssertion(client.clientId, assertion, typeof header.kid === 'string' ? header.kid : undefined))) {
        throw new errors.InvalidClientAuth('the assertion was not signed by a live key of this service account');
      }
    },
    extraTokenClaims: async (_ctx, token) => (token as unknown as Record<symbol, Record<string, unknown> | undefined>)[EXTRA_CLAIMS],
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true, userCodeInputSource, userCodeConfirmSource, successSource: deviceSuccessSource },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      dPoP: { enabled: true },
      backchannelLogout: { enabled: true },
      claimsParameter: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => resourceServers.info(resource) as never,
      },
      introspection: {
        enabled: true as never,
        // A client introspects its own tokens; a confidential client (a resource server) may
        // introspect any token. Either way a token is active only while its subject is: a user
        // account must be active; a service account usable (active, owner active).
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId && client.clientAuthMethod === 'none') return false;
          const accountId = 'accountId' in token ? token.accountId : undefined;
          if (accountId) return (await machines.isServiceAccount(accountId)) ? machines.isUsable(accountId) : accounts.isActive(accountId);
          const clientId = token.clientId ?? '';
          return (await machines.isServiceAccount(clientId)) ? machines.isUsable(clientId) : true;
        },
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = logoutConfirmPage({ form, clientName: ctx.oidc.client?.clientName });
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = loggedOutPage();
        },
      },
    },
    // oidc-provider refuses to call special-use addresses (SSRF protection) unless configured otherwise.
    ...(config.oidcAllowPrivateNetworkCallbacks
      ? { fetch: (url: string | URL | Request, options?: RequestInit) => globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit) }
      : {}),
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtlSeconds,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtlSeconds,
      DeviceCode: 600,
      AuthorizationCode: 60,
      IdToken: config.accessTokenTtlSeconds,
      Interaction: INTERACTION_TTL_SECONDS,
      RefreshToken: config.refreshTokenTtlSeconds,
      Session: config.sessionTtlSeconds,
      Grant: Math.max(config.refreshTokenTtlSeconds, config.sessionTtlSeconds),
    },
    interactions: {
      ...(deps.policy ? { policy: deps.policy } : {}),
      url: async (_ctx, interaction) => `${LOGIN_PATH_PREFIX}${interaction.uid}`,
    },
    clientBasedCORS: (_ctx, origin, client) => origin !== 'null' && (client.redirectUris ?? []).some((uri) => sameOrigin(uri, origin)),
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage({
        title: 'Sign-in request refused',
        message: out.error_description ?? 'The request could not be processed.',
        code: out.error,
      });
    },
  };

  const provider = new Provider(config.issuer, configuration);
  // Gatehouse does not terminate TLS itself: an https issuer means a TLS-terminating proxy in
  // front, whose X-Forwarded-Proto/Host oidc-provider must trust to build URLs and secure cookies.
  provider.proxy = new URL(config.issuer).protocol === 'https:';

  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, tokenExchangeHandler({ provider, machines, resourceServers, isUserActive }), TOKEN_EXCHANGE_PARAMS);

  // Client secrets are stored only as SHA-256 hex (applications.client_secret_hash, and
  // service_account_credentials.secret_hash for service accounts).
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string }, actual: string) {
    if (await machines.isServiceAccount(this.clientId)) return machines.verifySecret(this.clientId, actual);
    const row = await storage.db
      .selectFrom('applications')
      .select('client_secret_hash')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', this.clientId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    const presented = sha256Hex(typeof actual === 'string' ? actual : '');
    return constantTimeEqual(presented, row?.client_secret_hash ?? '0'.repeat(64)) && Boolean(row?.client_secret_hash);
  };

  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    logger.error({ err, route: ctx.oidc?.route }, 'oidc-provider server_error');
  });
  for (const event of ['grant.error', 'authorization.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'end_session.error', 'backchannel.error', 'pushed_authorization_request.error', 'device_authorization.error', 'code_verification.error'] as const) {
    (provider as unknown as NodeJS.EventEmitter).on(event, (_ctx: unknown, err: Error & { error?: string; error_description?: string }) => {
      // Error codes and descriptions only: never the request, which may carry secrets or tokens.
      logger.debug({ event, error: err.error ?? err.name, error_description: err.error_description ?? err.message }, 'oidc-provider refused a request');
    });
  }

  return {
    provider,
    accounts,
    machines,
    issueApiKey: apiKeyIssuer(provider),
    tenantId,
    revokeAllForAccount: (trx, accountId) => revokeAllForAccount(trx, tenantId, accountId),
  };
}
