/**
 * API keys (personal access tokens) of service accounts, minted as opaque OAuth access tokens
 * of oidc-provider's `ClientCredentials` model: a resource server checks one with token
 * introspection (RFC 7662) like any access token, and it stops at once when the credential is
 * revoked or the service account (or its owner) is deactivated.
 *
 * The key (`gh_sak_…`) is stored only as its SHA-256 hex (row id and `jti`), see `storedId`.
 */
import type Provider from 'oidc-provider';
import type { ApiKeyIssuer } from '../identity/credentials.js';
import { sha256Hex } from '../kernel/secrets.js';
import { payloadRow } from './adapter.js';

/**
 * Returns the {@link ApiKeyIssuer} the credential service calls inside its transaction. Builds
 * the token's payload with oidc-provider (so it is exactly what the provider expects) and writes
 * the `oidc_payloads` row with `trx`.
 */
export function apiKeyIssuer(provider: Provider): ApiKeyIssuer {
  return async (trx, { tenantId, serviceAccountId, credentialId, apiKey, scopes, expiresAt }) => {
    const expiresIn = Math.max(1, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
    const token = new provider.ClientCredentials({ clientId: serviceAccountId, scope: scopes.join(' '), expiresIn } as never) as unknown as {
      jti: string;
      exp: number;
      format: string;
      getValueAndPayload(): Promise<{ payload: Record<string, unknown> }>;
    };
    token.format = 'opaque';
    token.exp = Math.floor(expiresAt.getTime() / 1000);
    token.jti = sha256Hex(apiKey);
    const { payload } = await token.getValueAndPayload();
    await trx
      .insertInto('oidc_payloads')
      .values({ tenant_id: tenantId, model: 'ClientCredentials', id: token.jti, ...payloadRow('ClientCredentials', token.jti, payload as never, expiresAt.toISOString(), credentialId) })
      .execute();
  };
}
