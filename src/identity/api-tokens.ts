import { GatehouseError } from '../kernel/errors.js';
import { newId, randomToken } from '../kernel/ids.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Storage } from '../storage/database.js';
import { API_SCOPES, type ApiScope, type ApiToken, type CreatedApiToken } from './types.js';

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

/**
 * Bearer tokens for Gatehouse's APIs. A token is `gh_at_` + 32 random bytes (base64url); only its
 * SHA-256 is stored, so a database leak does not leak usable tokens.
 */
export class ApiTokenService {
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

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
   * (the caller answers 401 without saying which).
   */
  async authenticate(tenantId: string, token: string): Promise<ApiToken | null> {
    if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return null;
    const row = await this.storage.db
      .selectFrom('api_tokens')
      .select(TOKEN_COLUMNS)
      .where('tenant_id', '=', tenantId)
      .where('token_hash', '=', sha256Hex(token))
      .executeTakeFirst();
    if (!row || row.revoked_at) return null;
    const now = this.clock.now().toISOString();
    if (row.expires_at && row.expires_at <= now) return null;
    // Last use at minute granularity, so a busy token does not write on every request.
    if (!row.last_used_at || row.last_used_at.slice(0, 16) !== now.slice(0, 16)) {
      await this.storage.db.updateTable('api_tokens').set({ last_used_at: now }).where('tenant_id', '=', tenantId).where('id', '=', row.id).execute();
      row.last_used_at = now;
    }
    return toApiToken(row);
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
      return trx.selectFrom('api_tokens').select(TOKEN_COLUMNS).where('tenant_id', '=', ctx.tenantId).where('id', '=', id).executeTakeFirstOrThrow();
    });
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
    });
  }
}
