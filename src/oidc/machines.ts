/**
 * Service accounts as OAuth clients of the OpenID Provider. A service account's id is its
 * `client_id`; it may use the `client_credentials` grant (RFC 6749 §4.4) and token exchange
 * (RFC 8693), authenticating with any of its live credentials:
 *
 * - `client_secret_basic` / `client_secret_post` with a client secret credential;
 * - `private_key_jwt` (RFC 7523 §2.2) with a public key credential (the key's `kid` is the credential id).
 *
 * oidc-provider registers one `token_endpoint_auth_method` per client, so the metadata given to
 * it follows how the current request authenticates (read from the request context): an
 * assertion means `private_key_jwt`, a Basic header `client_secret_basic`, a body secret
 * `client_secret_post`. Which methods work is decided by the credentials the service account holds.
 *
 * A service account is a usable client only while it is `active`, its owner is an `active`
 * user, and it holds a live credential (not revoked, not expired) of the kind the request uses.
 * Anything else makes it unknown to the provider (`invalid_client`), at once, for every grant.
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import Provider from 'oidc-provider';
import type { Clock } from '../kernel/clock.js';
import { constantTimeEqual, sha256Hex } from '../kernel/secrets.js';
import type { Storage } from '../storage/database.js';

/** RFC 8693 grant type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Where the credential that authenticated the current request is kept on the Koa context. */
const CREDENTIAL_ON_CTX = Symbol.for('gatehouse.credentialId');

type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  oidc?: { params?: Record<string, unknown> };
}

/** The Koa context of the request being served, if any (oidc-provider keeps it in AsyncLocalStorage). */
export function currentContext(): RequestLike | undefined {
  return (Provider as unknown as { ctx?: RequestLike }).ctx;
}

/** Remembers on the current request which credential authenticated the client. */
export function rememberCredential(credentialId: string): void {
  const ctx = currentContext() as Record<symbol, unknown> | undefined;
  if (ctx) ctx[CREDENTIAL_ON_CTX] = credentialId;
}

/** The credential that authenticated the current request's client, if it was a service-account credential. */
export function credentialOfRequest(): string | null {
  const ctx = currentContext() as Record<symbol, unknown> | undefined;
  const v = ctx?.[CREDENTIAL_ON_CTX];
  return typeof v === 'string' ? v : null;
}

function methodOfRequest(): AuthMethod | undefined {
  const ctx = currentContext();
  if (!ctx) return undefined;
  const params = ctx.oidc?.params ?? {};
  if (params.client_assertion !== undefined) return 'private_key_jwt';
  if (params.client_secret !== undefined) return 'client_secret_post';
  const auth = ctx.headers?.authorization;
  if (typeof auth === 'string' && /^basic /i.test(auth)) return 'client_secret_basic';
  return undefined;
}

export interface MachineClientsDeps {
  storage: Storage;
  clock: Clock;
  tenantId: string;
  /** Placeholder `client_secret` oidc-provider's schema needs; never used to authenticate (see adapter.ts). */
  clientSecretPlaceholder: string;
  /** Scopes a service account may ask for without a resource indicator (space separated). */
  scope: string;
}

/** Looks up service accounts as clients and checks their credentials. */
export class MachineClients {
  constructor(private readonly deps: MachineClientsDeps) {}

  private nowIso(): string {
    return this.deps.clock.now().toISOString();
  }

  /**
   * True when the service account exists, is `active`, and its owner (if any) is an active user.
   * One query; used for client lookup and introspection.
   */
  async isUsable(serviceAccountId: string): Promise<boolean> {
    return (await this.usable(serviceAccountId)) !== undefined;
  }

  /** The service account's name when it is usable (see {@link isUsable}), else undefined. */
  private async usable(serviceAccountId: string): Promise<{ name: string } | undefined> {
    const row = await this.deps.storage.db
      .selectFrom('service_accounts as sa')
      .leftJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 'sa.tenant_id').onRef('u.id', '=', 'sa.owner_user_id'))
      .select(['sa.name as name', 'sa.status as status', 'sa.owner_user_id as owner', 'u.status as ownerStatus'])
      .where('sa.tenant_id', '=', this.deps.tenantId)
      .where('sa.id', '=', serviceAccountId)
      .executeTakeFirst();
    return row && row.status === 'active' && (row.owner === null || row.ownerStatus === 'active') ? { name: row.name } : undefined;
  }

  private liveCredentials(serviceAccountId: string, kind: 'client_secret' | 'public_key') {
    return this.deps.storage.db
      .selectFrom('service_account_credentials')
      .where('tenant_id', '=', this.deps.tenantId)
      .where('service_account_id', '=', serviceAccountId)
      .where('kind', '=', kind)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', this.nowIso());
  }

  /**
   * oidc-provider client metadata for a usable service account, or undefined. The auth method
   * follows the current request; outside client authentication it is `private_key_jwt` when the
   * account holds a live key, else `client_secret_basic`.
   */
  async clientMetadata(id: string): Promise<Record<string, unknown> | undefined> {
    const sa = await this.usable(id);
    if (!sa) return undefined;
    const keys = (await this.liveCredentials(id, 'public_key').select('public_jwk').orderBy('created_at', 'desc').execute()).map((r) => JSON.parse(r.public_jwk!) as JWK);
    const method = methodOfRequest() ?? (keys.length > 0 ? 'private_key_jwt' : 'client_secret_basic');
    const metadata: Record<string, unknown> = {
      client_id: id,
      client_name: sa.name,
      grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: method,
      scope: this.deps.scope || undefined,
    };
    if (method === 'private_key_jwt') {
      if (keys.length === 0) return undefined;
      metadata.jwks = { keys };
    } else {
      metadata.client_secret = this.deps.clientSecretPlaceholder;
    }
    return metadata;
  }

  /** True if `id` names a service account of this tenant (in any status). */
  async isServiceAccount(id: string): Promise<boolean> {
    const row = await this.deps.storage.db.selectFrom('service_accounts').select('id').where('tenant_id', '=', this.deps.tenantId).where('id', '=', id).executeTakeFirst();
    return !!row;
  }

  /**
   * Checks a presented client secret against the service account's live client secrets
   * (SHA-256, constant-time compare). On success records the credential on the request and its
   * last use. @returns whether it matched.
   */
  async verifySecret(serviceAccountId: string, presented: string): Promise<boolean> {
    const hash = sha256Hex(typeof presented === 'string' ? presented : '');
    const rows = await this.liveCredentials(serviceAccountId, 'client_secret').select(['id', 'secret_hash', 'last_used_at']).execute();
    const match = rows.find((r) => constantTimeEqual(hash, r.secret_hash ?? ''));
    if (!match) return false;
    rememberCredential(match.id);
    await this.touch(match.id, match.last_used_at);
    return true;
  }

  /**
   * After oidc-provider verified a `private_key_jwt` assertion: finds which live key signed it
   * (by `kid`, else by trying each), records it on the request and its last use.
   * @returns false when no live key of the account verifies the assertion.
   */
  async acceptAssertion(serviceAccountId: string, assertion: string, kid: string | undefined): Promise<boolean> {
    const rows = await this.liveCredentials(serviceAccountId, 'public_key').select(['id', 'public_jwk', 'last_used_at']).execute();
    const candidates = kid ? rows.filter((r) => r.id === kid) : rows;
    for (const r of candidates) {
      const jwk = JSON.parse(r.public_jwk!) as JWK;
      try {
        await compactVerify(assertion, await importJWK(jwk, jwk.alg ?? (jwk.kty === 'OKP' ? 'EdDSA' : 'RS256')));
      } catch {
        try {
          if (jwk.kty !== 'RSA') continue;
          await compactVerify(assertion, await importJWK(jwk, 'PS256'));
        } catch {
          continue;
        }
      }
      rememberCredential(r.id);
      await this.touch(r.id, r.last_used_at);
      return true;
    }
    return false;
  }

  /** Records a credential's last use, at minute granularity (a busy credential writes once a minute). */
  async touch(credentialId: string, lastUsedAt: string | null): Promise<void> {
    const now = this.nowIso();
    if (lastUsedAt && lastUsedAt.slice(0, 16) === now.slice(0, 16)) return;
    await this.deps.storage.db
      .updateTable('service_account_credentials')
      .set({ last_used_at: now })
      .where('tenant_id', '=', this.deps.tenantId)
      .where('id', '=', credentialId)
      .execute();
  }
}
