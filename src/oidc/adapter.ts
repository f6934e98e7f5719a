/**
 * oidc-provider's storage adapter on Kysely, over the `oidc_payloads` table (and, for the
 * `Client` model, the `applications` table).
 *
 * Every model (Session, Grant, AccessToken, RefreshToken, AuthorizationCode, Interaction,
 * ReplayDetection, PushedAuthorizationRequest, ...) is one row keyed by (tenant, model, id), with
 * `account_id`, `grant_id`, `uid` and `user_code` lifted out of the payload so that
 * deprovisioning can delete everything issued to an account with one DELETE
 * (see {@link revokeAllForAccount}), and `expires_at` so expired rows are never returned.
 *
 * Contract: https://github.com/panva/node-oidc-provider/blob/v9.x/example/my_adapter.js
 */
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Clock } from '../kernel/clock.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Executor, Storage } from '../storage/database.js';
import { API_KEY_PREFIX } from '../identity/credentials.js';
import { credentialOfRequest, type MachineClients } from './machines.js';

/** What the adapter needs from the rest of Gatehouse. */
export interface OidcAdapterDeps {
  storage: Storage;
  clock: Clock;
  tenantId: string;
  /**
   * Placeholder `client_secret` put into the metadata of confidential clients, because
   * oidc-provider's client schema requires one for `client_secret_basic`/`_post`. It never
   * authenticates anything: `compareClientSecret` is overridden to check the stored SHA-256,
   * and every algorithm that would use the secret as a key (HS*, `client_secret_jwt`,
   * `dir`/A*KW encryption) is disabled. Random per process, so it is not even guessable.
   */
  clientSecretPlaceholder: string;
  /** Service accounts as clients (client lookup falls back to them) and credential last-use. */
  machines?: MachineClients;
}

/**
 * The row id of a stored token: an API key (`gh_sak_…`, a long-lived bearer secret) is stored
 * and looked up by its SHA-256 hex only, so the database never holds a usable key. Every other
 * id is stored as given.
 */
export function storedId(id: string): string {
  return id.startsWith(API_KEY_PREFIX) ? sha256Hex(id) : id;
}

/** The `oidc_payloads` row for a payload (ids of special models lifted into columns). */
export function payloadRow(model: string, id: string, payload: AdapterPayload, expiresAt: string | null, credentialId: string | null) {
  const p = payload as AdapterPayload & { uid?: string; userCode?: string };
  // A client-credentials token is "issued to" its client: for a service account, deprovisioning
  // (which deletes by account_id) then deletes its tokens too.
  // An Interaction carries its account in `result.login` (and `session`) once the user signed in:
  // lifting it lets deprovisioning end a sign-in that is half-way through as well.
  const interaction = p as { result?: { login?: { accountId?: unknown } }; session?: { accountId?: unknown } };
  const interactionAccount = model === 'Interaction' ? (interaction.result?.login?.accountId ?? interaction.session?.accountId) : undefined;
  const accountId =
    typeof p.accountId === 'string'
      ? p.accountId
      : typeof interactionAccount === 'string'
        ? interactionAccount
        : model === 'ClientCredentials' && typeof p.clientId === 'string'
          ? p.clientId
          : null;
  return {
    payload: JSON.stringify(payload),
    account_id: accountId,
    // A Grant row carries its own id as grant_id, so "everything of grant G" is one predicate.
    grant_id: model === 'Grant' ? id : typeof p.grantId === 'string' ? p.grantId : null,
    user_code: typeof p.userCode === 'string' ? p.userCode : null,
    uid: typeof p.uid === 'string' ? p.uid : null,
    expires_at: expiresAt,
    consumed_at: null,
    credential_id: credentialId,
  };
}

/** Client auth methods that need a (placeholder) `client_secret` in the metadata. */
const SECRET_AUTH_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

/** The oidc-provider `Client` model read from `applications` (status `active` only). Read-only. */
class ApplicationsClientAdapter implements Adapter {
  constructor(private readonly deps: OidcAdapterDeps) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    const row = await this.deps.storage.db
      .selectFrom('applications')
      .select(['id', 'metadata', 'client_secret_hash'])
      .where('tenant_id', '=', this.deps.tenantId)
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (!row) return this.deps.machines ? ((await this.deps.machines.clientMetadata(id)) as AdapterPayload | undefined) : undefined;
    let metadata: Record<string, unknown>;
    try {
      metadata = JSON.parse(row.metadata) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    // Whatever was stored, the secret never comes from the metadata.
    delete metadata.client_secret;
    const method = typeof metadata.token_endpoint_auth_method === 'string' ? metadata.token_endpoint_auth_method : 'client_secret_basic';
    const payload: Record<string, unknown> = { ...metadata, client_id: row.id };
    if (SECRET_AUTH_METHODS.has(method)) {
      // A confidential client without a stored hash cannot authenticate at all.
      if (!row.client_secret_hash) return undefined;
      payload.client_secret = this.deps.clientSecretPlaceholder;
    }
    return payload as AdapterPayload;
  }

  async upsert(): Promise<void> {
    throw new Error('Clients are managed through the applications service, not oidc-provider');
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async consume(): Promise<void> {}
  async destroy(): Promise<void> {
    throw new Error('Clients are managed through the applications service, not oidc-provider');
  }
  async revokeByGrantId(): Promise<void> {}
}

/** A generic model stored in `oidc_payloads`. */
export class PayloadAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly deps: Pick<OidcAdapterDeps, 'storage' | 'clock' | 'tenantId' | 'machines'>,
  ) {}

  private get db() {
    return this.deps.storage.db;
  }

  private nowIso(): string {
    return this.deps.clock.now().toISOString();
  }

  /** Inserts or replaces the row. `expiresIn` is in seconds (absent: no expiry). */
  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const now = this.deps.clock.now();
    const expiresAt = typeof expiresIn === 'number' ? new Date(now.getTime() + expiresIn * 1000).toISOString() : null;
    const credentialId = this.model === 'ClientCredentials' || this.model === 'AccessToken' ? credentialOfRequest() : null;
    const row = payloadRow(this.model, id, payload, expiresAt, credentialId);
    await this.db
      .insertInto('oidc_payloads')
      .values({ tenant_id: this.deps.tenantId, model: this.model, id: storedId(id), ...row })
      .onConflict((oc) => oc.columns(['tenant_id', 'model', 'id']).doUpdateSet(row))
      .execute();
  }

  private async findWhere(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
    const isApiKey = column === 'id' && value.startsWith(API_KEY_PREFIX);
    const row = await this.db
      .selectFrom('oidc_payloads')
      .select(['payload', 'consumed_at', 'credential_id'])
      .where('tenant_id', '=', this.deps.tenantId)
      .where('model', '=', this.model)
      .where(column, '=', column === 'id' ? storedId(value) : value)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', this.nowIso())]))
      .executeTakeFirst();
    if (!row) return undefined;
    if (isApiKey && row.credential_id && this.deps.machines) {
      const cred = await this.db.selectFrom('service_account_credentials').select('last_used_at').where('tenant_id', '=', this.deps.tenantId).where('id', '=', row.credential_id).executeTakeFirst();
      if (cred) await this.deps.machines.touch(row.credential_id, cred.last_used_at);
    }
    const payload = JSON.parse(row.payload) as AdapterPayload;
    if (row.consumed_at) payload.consumed = Math.floor(Date.parse(row.consumed_at) / 1000);
    return payload;
  }

  /** The unexpired payload with this id, with `consumed` (epoch seconds) if consumed. */
  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('id', id);
  }

  /** The unexpired Session with this `uid`. */
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('uid', uid);
  }

  /** The unexpired DeviceCode with this `userCode`. */
  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('user_code', userCode);
  }

  /**
   * Marks the row consumed with one conditional UPDATE (`… AND consumed_at IS NULL`). If no row
   * changed, another request consumed it first: everything of its grant is revoked (RFC 6749
   * §4.1.2, RFC 9700 §4.14.2) and the request fails with `invalid_grant`, so a code or refresh
   * token is never redeemed twice even by concurrent requests.
   * @throws errors.InvalidGrant when already consumed.
   */
  async consume(id: string): Promise<void> {
    const res = await this.db
      .updateTable('oidc_payloads')
      .set({ consumed_at: this.nowIso() })
      .where('tenant_id', '=', this.deps.tenantId)
      .where('model', '=', this.model)
      .where('id', '=', storedId(id))
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return;
    const row = await this.db
      .selectFrom('oidc_payloads')
      .select('grant_id')
      .where('tenant_id', '=', this.deps.tenantId)
      .where('model', '=', this.model)
      .where('id', '=', id)
      .executeTakeFirst();
    if (row?.grant_id) await revokeGrant(this.db, this.deps.tenantId, row.grant_id);
    throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
  }

  async destroy(id: string): Promise<void> {
    await this.db
      .deleteFrom('oidc_payloads')
      .where('tenant_id', '=', this.deps.tenantId)
      .where('model', '=', this.model)
      .where('id', '=', storedId(id))
      .execute();
  }

  /** Deletes this model's rows issued under `grantId`. */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db
      .deleteFrom('oidc_payloads')
      .where('tenant_id', '=', this.deps.tenantId)
      .where('model', '=', this.model)
      .where('grant_id', '=', grantId)
      .execute();
  }
}

/** Deletes every row (any model, the Grant included) of one grant. */
async function revokeGrant(db: Executor, tenantId: string, grantId: string): Promise<void> {
  await db.deleteFrom('oidc_payloads').where('tenant_id', '=', tenantId).where('grant_id', '=', grantId).execute();
}

/**
 * Builds the adapter factory given to oidc-provider's `adapter` setting: `Client` reads
 * `applications`; every other model uses `oidc_payloads`.
 */
export function createAdapterFactory(deps: OidcAdapterDeps): (model: string) => Adapter {
  return (model) => (model === 'Client' ? new ApplicationsClientAdapter(deps) : new PayloadAdapter(model, deps));
}

/**
 * Ends everything oidc-provider issued to an account: sessions, grants, authorization codes,
 * access and refresh tokens, interactions and pending logins. Run it inside the transaction that
 * deactivates or deletes the account (DOMAIN.md: deprovisioning). Afterwards the refresh grant
 * answers `invalid_grant`, introspection `active: false`, userinfo `invalid_token`, and the
 * browser session is gone (the next authorization request asks to sign in again).
 *
 * @returns the number of rows deleted.
 */
export async function revokeAllForAccount(trx: Executor, tenantId: string, accountId: string): Promise<number> {
  const res = await trx
    .deleteFrom('oidc_payloads')
    .where('tenant_id', '=', tenantId)
    .where((eb) =>
      eb.or([
        eb('account_id', '=', accountId),
        eb(
          'grant_id',
          'in',
          eb
            .selectFrom('oidc_payloads as g')
            .select('g.grant_id')
            .where('g.tenant_id', '=', tenantId)
            .where('g.account_id', '=', accountId)
            .where('g.grant_id', 'is not', null),
        ),
      ]),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
