import { sql } from 'kysely';
import { GatehouseError } from '../kernel/errors.js';
import { newId, randomToken } from '../kernel/ids.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Executor, Storage } from '../storage/database.js';
import { API_SCOPES, type ApiScope, type ApiToken, type CreatedApiToken } from './types.js';

/** PostgreSQL channel notified (at commit) by every API-token revocation and rotation. */
export const API_TOKEN_CHANNEL = 'gatehouse_api_tokens';
/** Audit actions after which a token's cached entry must go (followed by ApiTokenRevocationFollower). */
export const API_TOKEN_REVOCATION_ACTIONS = ['api_token.revoke', 'api_token.rotate'];

/** Sends the {@link API_TOKEN_CHANNEL} notification inside `trx` (PostgreSQL only; delivered at commit). */
async function notifyRevocation(trx: Executor, kind: Storage['kind']): Promise<void> {
  if (kind === 'postgres') await sql`select pg_notify(${API_TOKEN_CHANNEL}, '')`.execute(trx);
}

/** Prefix of every Gatehouse API token, so secret scanners can recognise leaked ones. */
export const API_TOKEN_PREFIX = 'gh_at_';

type TokenRow = {
  id: string;
  name: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  user_id: string | null;
};

const TOKEN_COLUMNS = ['id', 'name', 'scopes', 'created_at', 'expires_at', 'last_used_at', 'revoked_at', 'user_id'] as const;

function toApiToken(r: TokenRow): ApiToken {
  return {
    id: r.id,
    name: r.name,
    scopes: JSON.parse(r.scopes) as ApiScope[],
    created: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    userId: r.user_id,
  };
}

/** Default of {@link ApiTokenServiceOptions.cacheTtlSeconds} (GATEHOUSE_API_TOKEN_CACHE_TTL_SECONDS). */
export const DEFAULT_API_TOKEN_CACHE_TTL_SECONDS = 5;
/** Most tokens kept in the authentication cache; the oldest entry leaves first. */
export const API_TOKEN_CACHE_MAX_ENTRIES = 10_000;

/** Options of {@link ApiTokenService}. */
export interface ApiTokenServiceOptions {
  /**
   * How long, in seconds, an authenticated token is answered from memory without reading the
   * database again (0: never cached). Bounds how long a revocation or rotation made by another
   * replica goes unnoticed here; on this instance they take effect at once.
   */
  cacheTtlSeconds?: number;
}

/** One authenticated token in the cache: the row as read, and when it was read (clock ms). */
interface CachedToken {
  tenantId: string;
  token: ApiToken;
  loadedAtMs: number;
  /** `token.expiresAt` in clock ms (Infinity: never). */
  expiresAtMs: number;
  /** The minute (ms / 60,000, floored) of `token.lastUsedAt`; -1 when never used. */
  lastUsedMinute: number;
}

const MS_PER_MINUTE = 60_000;
/**
 * How long, in ms, a token dropped from inside its revoking transaction ({@link ApiTokenService.forgetRevoking})
 * stays out of the cache: longer than such a transaction runs. Costs nothing once it has committed
 * (a revoked token is never cached); after a rollback the token is read from the database on each
 * use until then.
 */
const REVOKING_HOLD_MS = 5 * 60_000;

/** The authentication cache's key for a token whose SHA-256 (hex) is `hash`. */
function cacheKeyOf(tenantId: string, hash: string): string {
  return `${tenantId}\u0000${hash}`;
}

/** The authentication cache's key for `token`: tenant and the token's SHA-256, never the token itself. */
function cacheKey(tenantId: string, token: string): string {
  return cacheKeyOf(tenantId, sha256Hex(token));
}

function cachedToken(tenantId: string, token: ApiToken, loadedAtMs: number): CachedToken {
  return {
    tenantId,
    token: Object.freeze(token),
    loadedAtMs,
    expiresAtMs: token.expiresAt ? Date.parse(token.expiresAt) : Infinity,
    lastUsedMinute: token.lastUsedAt ? Math.floor(Date.parse(token.lastUsedAt) / MS_PER_MINUTE) : -1,
  };
}

/**
 * Bearer tokens for Gatehouse's APIs. A token is `gh_at_` + 32 random bytes (base64url); only its
 * SHA-256 is stored, so a database leak does not leak usable tokens.
 *
 * Authenticated tokens are cached in memory, keyed by tenant and the token's SHA-256 (never the
 * token itself), for {@link ApiTokenServiceOptions.cacheTtlSeconds}. Expiry is checked on every
 * use; revocation and rotation through this instance drop the entry before they return; another
 * process's revocation or rotation (a replica, the CLI) is evicted by ApiTokenRevocationFollower
 * (src/identity/api-token-follower.ts: 1 s poll, PostgreSQL NOTIFY) and at the latest
 * `cacheTtlSeconds` later. Unknown tokens are never cached.
 *
 * A caller that serves many requests on one connection (HTTP keep-alive) may pass the connection
 * to {@link authenticateCached}: the token's cache key is then remembered for that connection, so
 * a client presenting the same token again is not hashed again. The memo holds the last token the
 * connection presented (which its own requests carry anyway) and leaves with the connection (a
 * `WeakMap`); it changes no outcome, as the key is a pure function of tenant and token.
 */
export class ApiTokenService {
  private readonly cache = new Map<string, CachedToken>();
  /** Per connection: the last tenant and token it presented, and their cache key. */
  private readonly keyOnConnection = new WeakMap<object, { tenantId: string; token: string; key: string }>();
  private readonly cacheTtlMs: number;
  /** Bumped by every revocation and rotation: a read that started before one is not cached. */
  private generation = 0;
  /** Tokens (`tenant\0id`) being revoked by a transaction that may not have committed yet, and until when (clock ms) they are kept out of the cache. */
  private readonly revoking = new Map<string, number>();

  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    options: ApiTokenServiceOptions = {},
  ) {
    const ttl = options.cacheTtlSeconds ?? DEFAULT_API_TOKEN_CACHE_TTL_SECONDS;
    this.cacheTtlMs = Math.max(0, ttl) * 1000;
  }

  /**
   * Creates a token and returns it once.
   * @param input.expiresInDays - lifetime in days (1..3650), or undefined for no expiry.
   * @param input.userId - the user the token acts for (SCIM `/Me`); must exist and not be deprovisioned.
   * @throws GatehouseError `invalid_input` for an empty name, unknown scope or bad lifetime; `not_found` for an unknown user.
   */
  async create(ctx: OperationContext, input: { name: string; scopes: string[]; expiresInDays?: number; userId?: string }): Promise<CreatedApiToken> {
    const name = input.name.trim();
    if (!name || name.length > 200) throw new GatehouseError('invalid_input', 'name must be 1 to 200 characters', { field: 'name' });
    const scopes = [...new Set(input.scopes.map((s) => s.trim()).filter(Boolean))];
    if (scopes.length === 0) throw new GatehouseError('invalid_input', `at least one scope is required (${API_SCOPES.join(', ')})`, { field: 'scopes' });
    const unknown = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
    if (unknown.length) throw new GatehouseError('invalid_input', `unknown scope(s): ${unknown.join(', ')}; allowed: ${API_SCOPES.join(', ')}`, { field: 'scopes', unknown });
    const days = input.expiresInDays;
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650)) {
      throw new GatehouseError('invalid_input', 'expires-in-days must be a whole number from 1 to 3650', { field: 'expiresInDays' });
    }
    const now = this.clock.now();
    const token = `${API_TOKEN_PREFIX}${randomToken(32)}`;
    const row: TokenRow & { tenant_id: string; token_hash: string } = {
      tenant_id: ctx.tenantId,
      id: newId(),
      name,
      token_hash: sha256Hex(token),
      scopes: JSON.stringify(scopes),
      created_at: now.toISOString(),
      expires_at: days === undefined ? null : new Date(now.getTime() + days * 86_400_000).toISOString(),
      last_used_at: null,
      revoked_at: null,
      user_id: input.userId ?? null,
    };
    await this.storage.db.transaction().execute(async (trx) => {
      if (row.user_id !== null) {
        const user = await trx.selectFrom('users').select('id').where('tenant_id', '=', ctx.tenantId).where('id', '=', row.user_id).where('status', '<>', 'deprovisioned').executeTakeFirst();
        if (!user) throw new GatehouseError('not_found', 'no such user', { resource: 'user', id: row.user_id });
      }
      await trx.insertInto('api_tokens').values(row).execute();
      await this.audit.append(trx, ctx, {
        action: 'api_token.create',
        target: { type: 'api_token', id: row.id },
        after: { name, scopes, expiresAt: row.expires_at, userId: row.user_id },
      });
    });
    return { token, apiToken: toApiToken(row) };
  }

  /**
   * Resolves a presented bearer token. Returns null for an unknown, revoked or expired token
   * (the caller answers 401 without saying which). Served from the cache while its entry is
   * younger than the cache TTL (see the class comment); the returned object is frozen.
   */
  async authenticate(tenantId: string, token: string): Promise<ApiToken | null> {
    if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return null;
    const hash = sha256Hex(token);
    const key = cacheKeyOf(tenantId, hash);
    const nowMs = this.clock.now().getTime();
    const hit = this.cache.get(key);
    if (hit && nowMs - hit.loadedAtMs < this.cacheTtlMs) return this.stillValid(hit, nowMs);
    if (hit) this.cache.delete(key);
    const generation = this.generation;
    const row = await this.storage.db
      .selectFrom('api_tokens as t')
      .leftJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 't.tenant_id').onRef('u.id', '=', 't.user_id'))
      .select(TOKEN_COLUMNS.map((c) => `t.${c}` as const))
      .select('u.status as user_status')
      .where('t.tenant_id', '=', tenantId)
      .where('t.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row || row.revoked_at) return null;
    // Defence in depth: a token bound to a user acts only while that user is active (deprovisioning
    // also revokes such tokens, in its own transaction; see revokeUserApiTokens).
    if (row.user_id !== null && row.user_status !== 'active') return null;
    const entry = cachedToken(tenantId, toApiToken(row), nowMs);
    if (this.cacheTtlMs > 0 && generation === this.generation && !this.isRevoking(tenantId, row.id, nowMs)) {
      if (this.cache.size >= API_TOKEN_CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, entry);
    }
    return this.stillValid(entry, nowMs);
  }

  /**
   * The answer for `token` when it needs no database access: the cached token (fresh entry, use
   * already recorded this minute), or null when the token is malformed or its cached entry has
   * expired; undefined when {@link authenticate} must be called. Same outcomes as `authenticate`.
   * @param connection - the connection the token came on (a `net.Socket`), to hash a token it
   *   presents again only once (see the class comment); any object that lives as long as it.
   */
  authenticateCached(tenantId: string, token: string, connection?: object): ApiToken | null | undefined {
    if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return null;
    if (this.cache.size === 0) return undefined;
    const hit = this.cache.get(connection === undefined ? cacheKey(tenantId, token) : this.keyFor(connection, tenantId, token));
    if (!hit) return undefined;
    const nowMs = this.clock.now().getTime();
    if (nowMs - hit.loadedAtMs >= this.cacheTtlMs) return undefined;
    if (hit.expiresAtMs <= nowMs) return null;
    return hit.lastUsedMinute === Math.floor(nowMs / MS_PER_MINUTE) ? hit.token : undefined;
  }

  /** {@link cacheKey} of `tenantId` and `token`, remembered for `connection` (see the class comment). */
  private keyFor(connection: object, tenantId: string, token: string): string {
    const seen = this.keyOnConnection.get(connection);
    if (seen !== undefined && seen.token === token && seen.tenantId === tenantId) return seen.key;
    const key = cacheKey(tenantId, token);
    if (seen === undefined) this.keyOnConnection.set(connection, { tenantId, token, key });
    else {
      seen.tenantId = tenantId;
      seen.token = token;
      seen.key = key;
    }
    return key;
  }

  /** The cached token if it has not expired at `nowMs`, after recording its use (minute granularity). */
  private async stillValid(entry: CachedToken, nowMs: number): Promise<ApiToken | null> {
    if (entry.expiresAtMs <= nowMs) return null;
    // Last use at minute granularity, so a busy token does not write on every request.
    const minute = Math.floor(nowMs / MS_PER_MINUTE);
    if (entry.lastUsedMinute !== minute) {
      const now = new Date(nowMs).toISOString();
      entry.token = Object.freeze({ ...entry.token, lastUsedAt: now });
      entry.lastUsedMinute = minute;
      await this.storage.db.updateTable('api_tokens').set({ last_used_at: now }).where('tenant_id', '=', entry.tenantId).where('id', '=', entry.token.id).execute();
    }
    return entry.token;
  }

  /** Whether token `id` is held out of the cache by {@link forgetRevoking} at `nowMs`. */
  private isRevoking(tenantId: string, id: string, nowMs: number): boolean {
    if (this.revoking.size === 0) return false;
    const until = this.revoking.get(`${tenantId}\u0000${id}`);
    return until !== undefined && until > nowMs;
  }

  /**
   * {@link forgetMany} for a caller still inside the transaction that revokes the tokens
   * (deprovisioning, revokeUserApiTokens): also keeps them out of the cache for
   * {@link REVOKING_HOLD_MS}, because a read on another connection before that transaction commits
   * still sees them valid (PostgreSQL) and would cache them, and the cache (the AuthZEN fast path)
   * would admit them after the revocation returned.
   */
  forgetRevoking(tenantId: string, ids: readonly string[]): void {
    if (ids.length === 0) return;
    const nowMs = this.clock.now().getTime();
    // Oldest first (insertion order, same hold): drop the expired ones.
    for (const [key, until] of this.revoking) {
      if (until > nowMs) break;
      this.revoking.delete(key);
    }
    for (const id of ids) {
      const key = `${tenantId}\u0000${id}`;
      this.revoking.delete(key);
      this.revoking.set(key, nowMs + REVOKING_HOLD_MS);
    }
    this.forgetMany(tenantId, ids);
  }

  /** Drops token `id` of `tenantId` from the cache and stops in-flight reads from caching it. */
  private forget(tenantId: string, id: string): void {
    this.forgetMany(tenantId, [id]);
  }

  /** The tenants that have tokens in the cache now. */
  cachedTenants(): Set<string> {
    const tenants = new Set<string>();
    for (const e of this.cache.values()) tenants.add(e.tenantId);
    return tenants;
  }

  /**
   * Drops the tokens `ids` of `tenantId` from the authentication cache and stops reads in flight
   * from caching them (used after a revocation made outside this service and committed: the
   * revocation follower). From inside the revoking transaction, use {@link forgetRevoking}.
   */
  forgetMany(tenantId: string, ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.generation++;
    const gone = new Set(ids);
    for (const [key, e] of this.cache) if (e.tenantId === tenantId && gone.has(e.token.id)) this.cache.delete(key);
  }

  async list(ctx: OperationContext): Promise<ApiToken[]> {
    const rows = await this.storage.db
      .selectFrom('api_tokens')
      .select(TOKEN_COLUMNS)
      .where('tenant_id', '=', ctx.tenantId)
      .orderBy('created_at')
      .execute();
    return rows.map(toApiToken);
  }

  /**
   * Rotates a token: a new secret replaces the old one under the same id, name, scopes, user and
   * expiry; the old secret stops working at once (one transaction, audited `api_token.rotate`).
   * Returns the new token once.
   * @throws GatehouseError `not_found` for an unknown, revoked or expired token.
   */
  async rotate(ctx: OperationContext, id: string): Promise<CreatedApiToken> {
    const token = `${API_TOKEN_PREFIX}${randomToken(32)}`;
    const now = this.clock.now().toISOString();
    const row = await this.storage.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('api_tokens')
        .set({ token_hash: sha256Hex(token), last_used_at: null })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new GatehouseError('not_found', 'no such active API token', { id });
      await this.audit.append(trx, ctx, { action: 'api_token.rotate', target: { type: 'api_token', id } });
      await notifyRevocation(trx, this.storage.kind);
      return trx.selectFrom('api_tokens').select(TOKEN_COLUMNS).where('tenant_id', '=', ctx.tenantId).where('id', '=', id).executeTakeFirstOrThrow();
    });
    this.forget(ctx.tenantId, id);
    return { token, apiToken: toApiToken(row) };
  }

  /** Revokes a token at once. @throws GatehouseError `not_found`. */
  async revoke(ctx: OperationContext, id: string): Promise<void> {
    await this.storage.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('api_tokens')
        .set({ revoked_at: this.clock.now().toISOString() })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new GatehouseError('not_found', 'no such active API token', { id });
      await this.audit.append(trx, ctx, { action: 'api_token.revoke', target: { type: 'api_token', id } });
      await notifyRevocation(trx, this.storage.kind);
    });
    this.forget(ctx.tenantId, id);
  }
}

/** The `reason` recorded on each `api_token.revoke` audit event written by deprovisioning. */
export const DEPROVISION_TOKEN_REVOKE_REASON = 'user_deprovisioned';

/**
 * Revokes, inside `trx`, every unrevoked API token bound to user `userId` (`api_tokens.user_id`),
 * writing one `api_token.revoke` audit event per token with `details.reason`
 * {@link DEPROVISION_TOKEN_REVOKE_REASON}. Called by deprovisioning; a revoked token stays revoked
 * when the user is reactivated. The caller must drop the ids from this instance's cache, still
 * inside `trx` ({@link ApiTokenService.forgetRevoking}); other instances' followers do at commit.
 * @param kind - the database kind (PostgreSQL: a NOTIFY reaches other instances at commit).
 * @param nowIso - revocation time (ISO 8601 UTC).
 * @returns the ids revoked (empty when the user had none).
 */
export async function revokeUserApiTokens(trx: Executor, kind: Storage['kind'], audit: AuditLog, ctx: OperationContext, userId: string, nowIso: string): Promise<string[]> {
  const rows = await trx
    .updateTable('api_tokens')
    .set({ revoked_at: nowIso })
    .where('tenant_id', '=', ctx.tenantId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute();
  const ids = rows.map((r) => r.id).sort();
  for (const id of ids) {
    await audit.append(trx, ctx, { action: 'api_token.revoke', target: { type: 'api_token', id }, details: { reason: DEPROVISION_TOKEN_REVOKE_REASON, userId } });
  }
  if (ids.length > 0) await notifyRevocation(trx, kind);
  return ids;
}
