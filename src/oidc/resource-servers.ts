/**
 * OAuth resource servers (RFC 8707 resource indicators) from configuration
 * (`resourceServers`: resource URL → `{scope, accessTokenTtlSeconds}`). A token requested for
 * one of them is a JWT access token (RFC 9068, `typ: at+jwt`) signed with ES256, whose `aud` is
 * the resource URL; any other `resource` value is refused with `invalid_target`.
 */
import { errors } from 'oidc-provider';
import type { Config } from '../kernel/config.js';

/** Algorithm of JWT access tokens. */
export const ACCESS_TOKEN_SIGNING_ALG = 'ES256';

/** What oidc-provider's `getResourceServerInfo` returns. */
export interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenTTL: number;
  accessTokenFormat: 'jwt';
  jwt: { sign: { alg: string } };
}

/** Resource servers known to this deployment. */
export class ResourceServers {
  constructor(private readonly servers: Config['resourceServers']) {}

  /**
   * The resource server for an indicator.
   * @throws errors.InvalidTarget for an unknown resource (RFC 8707 §2).
   */
  info(resource: string): ResourceServerInfo {
    const rs = Object.hasOwn(this.servers, resource) ? this.servers[resource] : undefined;
    if (!rs) throw new errors.InvalidTarget('the resource is not a registered resource server');
    return { scope: rs.scope, audience: resource, accessTokenTTL: rs.accessTokenTtlSeconds, accessTokenFormat: 'jwt', jwt: { sign: { alg: ACCESS_TOKEN_SIGNING_ALG } } };
  }

  /** Every scope of every resource server (space separated, deduplicated). */
  allScopes(): string {
    return [...new Set(Object.values(this.servers).flatMap((rs) => rs.scope.split(' ').filter(Boolean)))].join(' ');
  }

  /** The longest access token lifetime of any resource server, in seconds (0 when none). */
  maxTtlSeconds(): number {
    return Math.max(0, ...Object.values(this.servers).map((rs) => rs.accessTokenTtlSeconds));
  }
}
