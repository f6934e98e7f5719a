/**
 * OIDC client applications. A confidential client authenticates with `client_secret_basic`
 * (RFC 6749 §2.3.1); a public client with `none` (RFC 8252 native / browser apps). PKCE
 * (RFC 7636) is required for both by the provider configuration. The client secret is returned
 * once and stored only as SHA-256 hex; `applications.metadata` is the oidc-provider client
 * metadata (OpenID Connect Dynamic Client Registration 1.0 §2 names) without the secret.
 */
import type { Selectable } from 'kysely';
import { GatehouseError } from '../kernel/errors.js';
import { newId, randomToken } from '../kernel/ids.js';
import { constantTimeEqual, sha256Hex } from '../kernel/secrets.js';
import type { OperationContext } from '../kernel/context.js';
import type { Executor } from '../storage/database.js';
import type { ApplicationsTable } from '../storage/schema.js';
import { pageBounds, requiredName, type IdentityDeps } from './shared.js';
import type { Application, ApplicationInput, ApplicationService, CreatedApplication, ListQuery, OidcClientMetadata, Page } from './types.js';

export type { OidcClientMetadata };

type ApplicationRow = Selectable<ApplicationsTable>;

/** Prefix of every client secret, so secret scanners can recognise leaked ones. */
export const CLIENT_SECRET_PREFIX = 'gh_cs_';
/** Most redirect URIs one application may register. */
export const MAX_REDIRECT_URIS = 20;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Checks redirect URIs: absolute URLs without a fragment (RFC 6749 §3.1.2); `https:`, or `http:`
 * only on a loopback host (127.0.0.1, [::1], localhost — RFC 8252 §7.3, RFC 9700 §2.1, as Entra ID
 * requires); no wildcards, since redirect URIs are compared exactly (RFC 9700 §4.1.3); at most
 * {@link MAX_REDIRECT_URIS}, duplicates removed. Returns them as given.
 * @throws GatehouseError `invalid_input` with `details.field`.
 */
export function checkRedirectUris(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new GatehouseError('invalid_input', 'at least one redirect URI is required', { field: 'redirectUris' });
  if (value.length > MAX_REDIRECT_URIS) throw new GatehouseError('invalid_input', `at most ${MAX_REDIRECT_URIS} redirect URIs`, { field: 'redirectUris', max: MAX_REDIRECT_URIS });
  for (const [i, u] of value.entries()) {
    const field = `redirectUris[${i}]`;
    let url: URL | null = null;
    if (typeof u === 'string' && u.length <= 2000 && !/\s/.test(u)) {
      try {
        url = new URL(u);
      } catch {
        url = null;
      }
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new GatehouseError('invalid_input', `${field} must be an absolute http or https URL`, { field, value: u });
    }
    if ((u as string).includes('#')) throw new GatehouseError('invalid_input', `${field} must not contain a fragment (RFC 6749 §3.1.2)`, { field, value: u });
    if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
      throw new GatehouseError('invalid_input', `${field} must use https (plain http is allowed only on 127.0.0.1, [::1] or localhost)`, { field, value: u });
    }
    if ((u as string).includes('*')) throw new GatehouseError('invalid_input', `${field} must not contain a wildcard: redirect URIs are matched exactly (RFC 9700 §4.1.3)`, { field, value: u });
  }
  return [...new Set(value as string[])];
}

function toApplication(r: ApplicationRow): Application {
  const m = JSON.parse(r.metadata) as OidcClientMetadata;
  return {
    id: r.id,
    name: r.name,
    redirectUris: m.redirect_uris,
    tokenEndpointAuthMethod: m.token_endpoint_auth_method,
    public: m.token_endpoint_auth_method === 'none',
    created: r.created_at,
  };
}

/** {@link ApplicationService} on the `applications` table. */
export class ApplicationServiceImpl implements ApplicationService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Registers a client. A confidential client gets a secret (`gh_cs_` + 32 random bytes,
   * base64url) returned here once; only its SHA-256 hex is stored.
   * @throws GatehouseError `invalid_input` (name, redirect URIs).
   * @example
   * const { client_id, client_secret } = await apps.create(ctx, { name: 'Wiki', redirectUris: ['https://wiki.example/cb'] });
   */
  async create(ctx: OperationContext, input: ApplicationInput): Promise<CreatedApplication> {
    if (typeof input !== 'object' || input === null) throw new GatehouseError('invalid_input', 'an application must be an object', { field: '' });
    const name = requiredName('name', input.name, 200);
    const redirectUris = checkRedirectUris(input.redirectUris);
    if (input.public !== undefined && typeof input.public !== 'boolean') throw new GatehouseError('invalid_input', 'public must be a boolean', { field: 'public' });
    const isPublic = input.public === true;
    const id = newId();
    const secret = isPublic ? null : `${CLIENT_SECRET_PREFIX}${randomToken(32)}`;
    const metadata: OidcClientMetadata = {
      client_id: id,
      client_name: name,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: isPublic ? 'none' : 'client_secret_basic',
    };
    const now = this.deps.clock.now().toISOString();
    const row: ApplicationRow = {
      tenant_id: ctx.tenantId,
      id,
      name,
      client_secret_hash: secret === null ? null : sha256Hex(secret),
      metadata: JSON.stringify(metadata),
      owner_user_id: ctx.actor.type === 'user' ? ctx.actor.id : null,
      status: 'active',
      created_at: now,
      updated_at: now,
    };
    const application = toApplication(row);
    await this.deps.storage.db.transaction().execute(async (trx) => {
      await trx.insertInto('applications').values(row).execute();
      await this.deps.audit.append(trx, ctx, { action: 'application.create', target: { type: 'application', id }, after: application, details: { source: ctx.source ?? null } });
    });
    return { client_id: id, client_secret: secret, application };
  }

  /** @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, id: string): Promise<Application> {
    return toApplication(await this.row(this.deps.storage.db, ctx.tenantId, id));
  }

  /** Applications, oldest first. @throws GatehouseError `invalid_input` for bad paging. */
  async list(ctx: OperationContext, page: ListQuery): Promise<Page<Application>> {
    const { offset, limit, startIndex } = pageBounds(page);
    const q = this.deps.storage.db.selectFrom('applications').where('tenant_id', '=', ctx.tenantId).where('status', '=', 'active');
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = limit === 0 ? [] : await q.selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute();
    return { totalResults: Number(total.n), startIndex, items: rows.map(toApplication) };
  }

  /**
   * Deletes the registration (the row is removed, so the provider no longer finds the client) and
   * every tuple naming it. @throws GatehouseError `not_found`.
   */
  async delete(ctx: OperationContext, id: string): Promise<void> {
    await this.deps.storage.db.transaction().execute(async (trx) => {
      const before = toApplication(await this.row(trx, ctx.tenantId, id));
      await this.deps.tuples.deleteTouching(trx, ctx, 'application', id);
      await trx.deleteFrom('applications').where('tenant_id', '=', ctx.tenantId).where('id', '=', id).execute();
      await this.deps.audit.append(trx, ctx, { action: 'application.delete', target: { type: 'application', id }, before, details: { source: ctx.source ?? null } });
    });
  }

  /**
   * The stored oidc-provider client metadata of an active application, or null (for the
   * provider's client lookup). Never contains the secret.
   */
  async clientMetadata(tenantId: string, clientId: string): Promise<OidcClientMetadata | null> {
    const row = await this.deps.storage.db
      .selectFrom('applications')
      .select('metadata')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', clientId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return row ? (JSON.parse(row.metadata) as OidcClientMetadata) : null;
  }

  /**
   * True when `secret` is the client secret of the confidential application `clientId`
   * (compares SHA-256 hex in constant time). False for unknown, public or deleted clients.
   */
  async verifyClientSecret(tenantId: string, clientId: string, secret: string): Promise<boolean> {
    const row = await this.deps.storage.db
      .selectFrom('applications')
      .select('client_secret_hash')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', clientId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    const presented = sha256Hex(secret);
    if (!row?.client_secret_hash) {
      constantTimeEqual(presented, presented);
      return false;
    }
    return constantTimeEqual(presented, row.client_secret_hash);
  }

  private async row(db: Executor, tenantId: string, id: string): Promise<ApplicationRow> {
    const row = await db.selectFrom('applications').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).where('status', '=', 'active').executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', 'no such application', { resource: 'application', id });
    return row;
  }
}
