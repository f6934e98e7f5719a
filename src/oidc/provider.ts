/**
 * The OpenID Provider: node-oidc-provider (OpenID-certified), configured, not re-implemented.
 *
 * - Issuer `config.issuer`; endpoints under `/oauth2` plus `/.well-known/openid-configuration`.
 * - Authorization code flow only, PKCE (S256) required for every client (RFC 9700 §2.1.1).
 * - Refresh tokens for clients allowed the `refresh_token` grant, rotated on every use (RFC 9700 §4.14.2).
 * - Userinfo, introspection (RFC 7662) and revocation (RFC 7009), each for the client's own tokens.
 * - State in the database through the Kysely adapter; signing and cookie keys persisted.
 * - Client secrets are checked against their stored SHA-256; HS* and `client_secret_jwt` are off,
 *   so no secret is ever used as a key.
 */
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { randomToken } from '../kernel/ids.js';
import { constantTimeEqual, sha256Hex } from '../kernel/secrets.js';
import type { Clock } from '../kernel/clock.js';
import type { Config } from '../kernel/config.js';
import type { Logger } from '../kernel/logger.js';
import type { Executor, Storage } from '../storage/database.js';
import { AccountDirectory, CLAIMS_BY_SCOPE } from './accounts.js';
import { createAdapterFactory, revokeAllForAccount } from './adapter.js';
import { loadCookieKeys, loadSigningKeys } from './keys.js';
import { errorPage, loggedOutPage, logoutConfirmPage } from './views.js';

/** Endpoint paths (relative to the issuer, which has no path). */
export const OIDC_ROUTES = {
  authorization: '/oauth2/authorize',
  token: '/oauth2/token',
  userinfo: '/oauth2/userinfo',
  jwks: '/oauth2/jwks',
  introspection: '/oauth2/introspect',
  revocation: '/oauth2/revoke',
  end_session: '/oauth2/logout',
} as const;

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
  const [jwks, cookieKeys] = await Promise.all([loadSigningKeys(storage, clock, tenantId), loadCookieKeys(storage, clock, tenantId)]);
  const accounts = new AccountDirectory(storage, tenantId);
  const adapter = createAdapterFactory({ storage, clock, tenantId, clientSecretPlaceholder: `unused-${randomToken(32)}` });

  const configuration: Configuration = {
    adapter,
    findAccount: (_ctx, sub) => accounts.findAccount(sub),
    jwks: { keys: jwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    routes: OIDC_ROUTES,
    scopes: ['openid', 'profile', 'email', 'offline_access'],
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
    },
    acrValues: [ACR.aal1, ACR.aal2],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      introspectionSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      authorizationSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect only its own tokens, and only while their account is active.
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId) return false;
          const accountId = 'accountId' in token ? token.accountId : undefined;
          return !accountId || accounts.isActive(accountId);
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
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: config.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: config.accessTokenTtlSeconds,
      Interaction: INTERACTION_TTL_SECONDS,
      RefreshToken: config.refreshTokenTtlSeconds,
      Session: config.sessionTtlSeconds,
      Grant: Math.max(config.refreshTokenTtlSeconds, config.sessionTtlSeconds),
    },
    interactions: {
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

  // Client secrets are stored only as SHA-256 hex (applications.client_secret_hash).
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string }, actual: string) {
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
  for (const event of ['grant.error', 'authorization.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'end_session.error'] as const) {
    (provider as unknown as NodeJS.EventEmitter).on(event, (_ctx: unknown, err: Error & { error?: string; error_description?: string }) => {
      logger.debug({ event, error: err.error, error_description: err.error_description }, 'oidc-provider refused a request');
    });
  }

  return {
    provider,
    accounts,
    tenantId,
    revokeAllForAccount: (trx, accountId) => revokeAllForAccount(trx, tenantId, accountId),
  };
}
