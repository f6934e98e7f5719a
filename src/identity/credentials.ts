/**
 * Service-account credentials (DOMAIN.md: authenticators for machines), three kinds:
 *
 * - `client_secret`: `gh_cs_` + 32 random bytes, returned once, stored as SHA-256 hex; the
 *   service account authenticates at the token endpoint with `client_secret_basic` or
 *   `client_secret_post` (RFC 6749 §2.3.1).
 * - `public_key`: a public JWK (given as a JWK, a one-key JWKS, or a PEM SPKI) for
 *   `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9); its `kid` is the credential id.
 * - `api_key`: a personal access token `gh_sak_` + 32 random bytes with OAuth scopes; it is an
 *   opaque OAuth access token of the service account (introspectable, RFC 7662), returned once
 *   and stored only as SHA-256 hex.
 *
 * Every credential expires. The lifetime is bounded by policy (`credentialMaxLifetimeDays`): a
 * requested expiry beyond it is refused with `invalid_input` (`details.policy` =
 * `credential_max_lifetime`), never shortened silently. Rotation issues a successor and keeps
 * the old credential working for an overlap period. Revocation stops the credential at once and
 * deletes every token obtained with it, in the same transaction.
 */
import type { Selectable } from 'kysely';
import { calculateJwkThumbprint, exportJWK, importJWK, importSPKI, type JWK } from 'jose';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId, randomToken } from '../kernel/ids.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Executor, Storage } from '../storage/database.js';
import type { CredentialKind, ServiceAccountCredentialsTable } from '../storage/schema.js';

export type { CredentialKind };

/** Prefix of service-account client secrets (same as application secrets), for secret scanners. */
export const SA_CLIENT_SECRET_PREFIX = 'gh_cs_';
/** Prefix of service-account API keys, for secret scanners. */
export const API_KEY_PREFIX = 'gh_sak_';
/** Lifetime given when none is requested, in days (capped by the policy maximum). */
export const DEFAULT_CREDENTIAL_LIFETIME_DAYS = 90;
/** Default and largest rotation overlap, in seconds. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 24 * 3600;
export const MAX_ROTATION_OVERLAP_SECONDS = 30 * 24 * 3600;
/** Most scopes one API key may carry. */
export const MAX_API_KEY_SCOPES = 20;
/** Smallest RSA modulus accepted for `private_key_jwt`, in bits (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;

const CREDENTIAL_KINDS: readonly CredentialKind[] = ['client_secret', 'public_key', 'api_key'];
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN_RE = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

type CredentialRow = Selectable<ServiceAccountCredentialsTable>;

/** A credential as shown to administrators (never the secret). */
export interface Credential {
  id: string;
  serviceAccountId: string;
  kind: CredentialKind;
  name: string;
  /** `active`, `expired` or `revoked`, as of the read. */
  status: 'active' | 'expired' | 'revoked';
  /** OAuth scopes (API keys); empty otherwise. */
  scopes: string[];
  /** The public JWK (public keys only). */
  publicJwk: JWK | null;
  created: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  replacedBy: string | null;
}

/** A created credential; `secret` (client secret or API key) is shown this once, null for public keys. */
export interface CreatedCredential {
  credential: Credential;
  secret: string | null;
}

/** A public key as given: a JWK, a JWKS with one key, or a PEM `-----BEGIN PUBLIC KEY-----`. */
export interface PublicKeyInput {
  jwk?: unknown;
  jwks?: unknown;
  pem?: unknown;
}

export interface CredentialInput {
  kind: CredentialKind;
  name?: string;
  /** RFC 3339 instant; default now + min(90 days, policy maximum). */
  expiresAt?: string;
  /** For `public_key`. */
  publicKey?: PublicKeyInput;
  /** For `api_key`: OAuth scopes (RFC 6749 §3.3 syntax). */
  scopes?: string[];
}

export interface RotateInput {
  /** How long the old credential keeps working, in seconds (0..30 days, default 1 day). */
  overlapSeconds?: number;
  expiresAt?: string;
  name?: string;
  /** The successor key, required when rotating a `public_key`. */
  publicKey?: PublicKeyInput;
}

/**
 * Mints the opaque OAuth token behind an API key inside `trx` (implemented by the OpenID
 * Provider, src/oidc/api-keys.ts).
 */
export type ApiKeyIssuer = (
  trx: Executor,
  args: { tenantId: string; serviceAccountId: string; credentialId: string; apiKey: string; scopes: string[]; expiresAt: Date },
) => Promise<void>;

export interface CredentialServiceDeps {
  storage: Storage;
  audit: AuditLog;
  clock: Clock;
  /** Policy: longest credential lifetime, in days. */
  maxLifetimeDays: number;
  issueApiKey: ApiKeyIssuer;
}

function statusOf(r: CredentialRow, nowIso: string): Credential['status'] {
  if (r.revoked_at) return 'revoked';
  return r.expires_at <= nowIso ? 'expired' : 'active';
}

function toCredential(r: CredentialRow, nowIso: string): Credential {
  return {
    id: r.id,
    serviceAccountId: r.service_account_id,
    kind: r.kind,
    name: r.name,
    status: statusOf(r, nowIso),
    scopes: JSON.parse(r.scopes) as string[],
    publicJwk: r.public_jwk ? (JSON.parse(r.public_jwk) as JWK) : null,
    created: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    replacedBy: r.replaced_by,
  };
}

function algFor(jwk: JWK): string | undefined {
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[jwk.crv ?? ''];
  if (jwk.kty === 'OKP') return jwk.crv === 'Ed25519' ? 'EdDSA' : undefined;
  return undefined; // RSA: RS256 or PS256, left to the assertion's header
}

/**
 * Parses a public key for `private_key_jwt` into a public JWK with `kid`, `use: sig` and (except
 * RSA) `alg`. Accepts EC P-256/384/521, Ed25519 and RSA of at least 2048 bits.
 * @throws GatehouseError `invalid_input` (`details.field` = `public_key`) for anything else,
 *   including private keys.
 */
export async function parsePublicKey(input: PublicKeyInput | undefined, kid: string): Promise<JWK> {
  const field = 'public_key';
  const bad = (message: string, cause?: unknown): never => {
    throw new GatehouseError('invalid_input', message, { field }, cause === undefined ? undefined : { cause });
  };
  if (!input || typeof input !== 'object') return bad('a public key (jwk, jwks or pem) is required');
  const given = [input.jwk, input.jwks, input.pem].filter((v) => v !== undefined);
  if (given.length !== 1) return bad('give exactly one of jwk, jwks or pem');
  let jwk: JWK;
  if (input.pem !== undefined) {
    if (typeof input.pem !== 'string' || !input.pem.includes('-----BEGIN PUBLIC KEY-----')) return bad('pem must be a PEM "PUBLIC KEY" (SPKI)');
    let key: Awaited<ReturnType<typeof importSPKI>>;
    try {
      key = await importSPKI(input.pem, 'RS256', { extractable: true });
    } catch {
      try {
        key = await importSPKI(input.pem, 'ES256', { extractable: true });
      } catch {
        try {
          key = await importSPKI(input.pem, 'EdDSA', { extractable: true });
        } catch (err) {
          return bad('pem is not an RSA, P-256 or Ed25519 public key', err);
        }
      }
    }
    jwk = await exportJWK(key);
  } else {
    let candidate = input.jwk;
    if (input.jwks !== undefined) {
      const keys = (input.jwks as { keys?: unknown })?.keys;
      if (!Array.isArray(keys) || keys.length !== 1) return bad('jwks must hold exactly one key (add one credential per key)');
      candidate = keys[0];
    }
    if (!candidate || typeof candidate !== 'object' || Array.isArray(candidate)) return bad('jwk must be a JSON object');
    const c = candidate as JWK;
    if ('d' in c || 'p' in c || 'k' in c) return bad('a private or symmetric key was given; give the public key only');
    if (!['RSA', 'EC', 'OKP'].includes(String(c.kty))) return bad('kty must be RSA, EC or OKP');
    try {
      const alg = c.kty === 'RSA' ? 'RS256' : c.kty === 'OKP' ? 'EdDSA' : algFor(c) ?? 'ES256';
      await importJWK(c, alg);
    } catch (err) {
      return bad('jwk is not a valid public key', err);
    }
    jwk = { kty: c.kty, ...(c.crv ? { crv: c.crv } : {}), ...(c.x ? { x: c.x } : {}), ...(c.y ? { y: c.y } : {}), ...(c.n ? { n: c.n, e: c.e } : {}) };
  }
  if (jwk.kty === 'RSA' && Buffer.from(jwk.n ?? '', 'base64url').length * 8 < MIN_RSA_BITS) return bad(`RSA keys must have at least ${MIN_RSA_BITS} bits`);
  if (jwk.kty === 'OKP' && jwk.crv !== 'Ed25519') return bad('OKP keys must be Ed25519');
  if (jwk.kty === 'EC' && !algFor(jwk)) return bad('EC keys must use P-256, P-384 or P-521');
  // Ed25519 keys get no `alg`: assertions may say `EdDSA` or `Ed25519` (RFC 9864).
  const alg = jwk.kty === 'OKP' ? undefined : algFor(jwk);
  // The thumbprint is computed to prove the JWK has every required member.
  await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, use: 'sig', ...(alg ? { alg } : {}) };
}

/** Checks API key scopes (RFC 6749 §3.3 syntax, 1..20, duplicates removed). @throws GatehouseError `invalid_input`. */
export function checkScopes(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new GatehouseError('invalid_input', 'an API key needs at least one scope', { field: 'scopes' });
  const scopes = [...new Set(value)];
  if (scopes.length > MAX_API_KEY_SCOPES) throw new GatehouseError('invalid_input', `at most ${MAX_API_KEY_SCOPES} scopes`, { field: 'scopes', max: MAX_API_KEY_SCOPES });
  for (const s of scopes) {
    if (typeof s !== 'string' || !SCOPE_TOKEN_RE.test(s)) throw new GatehouseError('invalid_input', 'each scope must be an RFC 6749 scope-token', { field: 'scopes' });
  }
  return scopes as string[];
}

/** Credentials of service accounts: create, list, read, rotate, revoke. */
export class CredentialService {
  constructor(private readonly deps: CredentialServiceDeps) {}

  private nowIso(): string {
    return this.deps.clock.now().toISOString();
  }

  /**
   * The expiry to store: the requested instant, or now + min(90 days, policy maximum).
   * @throws GatehouseError `invalid_input` when not an RFC 3339 instant, not in the future, or
   *   beyond the policy maximum (`details.policy` = `credential_max_lifetime`, `details.maxLifetimeDays`).
   */
  expiryFor(requested: string | undefined): string {
    const now = this.deps.clock.now().getTime();
    const maxDays = this.deps.maxLifetimeDays;
    const maxMs = now + maxDays * 86_400_000;
    if (requested === undefined) return new Date(Math.min(now + DEFAULT_CREDENTIAL_LIFETIME_DAYS * 86_400_000, maxMs)).toISOString();
    const t = typeof requested === 'string' && /^\d{4}-\d\d-\d\dT/.test(requested) ? Date.parse(requested) : NaN;
    if (!Number.isFinite(t)) throw new GatehouseError('invalid_input', 'expires_at must be an RFC 3339 instant', { field: 'expires_at' });
    if (t <= now) throw new GatehouseError('invalid_input', 'expires_at must be in the future', { field: 'expires_at' });
    if (t > maxMs) {
      throw new GatehouseError(
        'invalid_input',
        `expires_at is beyond the maximum credential lifetime of ${maxDays} days set by policy; request an earlier expiry`,
        { field: 'expires_at', policy: 'credential_max_lifetime', maxLifetimeDays: maxDays, latestAllowed: new Date(maxMs).toISOString() },
      );
    }
    return new Date(t).toISOString();
  }

  private async assertServiceAccount(db: Executor, tenantId: string, id: string): Promise<void> {
    const sa = await db.selectFrom('service_accounts').select('status').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    if (!sa || sa.status === 'deprovisioned') throw new GatehouseError('not_found', 'no such service account', { resource: 'service_account', id });
  }

  private async row(db: Executor, tenantId: string, serviceAccountId: string, id: string): Promise<CredentialRow> {
    const row = await db
      .selectFrom('service_account_credentials')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('service_account_id', '=', serviceAccountId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', 'no such credential', { resource: 'credential', id });
    return row;
  }

  /** Inserts one credential inside `trx` and returns it with its secret. */
  private async insert(
    trx: Executor,
    ctx: OperationContext,
    serviceAccountId: string,
    input: { kind: CredentialKind; name: string; expiresAt: string; publicKey?: PublicKeyInput; scopes: string[] },
  ): Promise<CreatedCredential> {
    const id = newId();
    let secret: string | null = null;
    let publicJwk: string | null = null;
    if (input.kind === 'client_secret') secret = `${SA_CLIENT_SECRET_PREFIX}${randomToken(32)}`;
    else if (input.kind === 'api_key') secret = `${API_KEY_PREFIX}${randomToken(32)}`;
    else publicJwk = JSON.stringify(await parsePublicKey(input.publicKey, id));
    const row: CredentialRow = {
      tenant_id: ctx.tenantId,
      id,
      service_account_id: serviceAccountId,
      kind: input.kind,
      name: input.name,
      secret_hash: secret === null ? null : sha256Hex(secret),
      public_jwk: publicJwk,
      scopes: JSON.stringify(input.scopes),
      created_at: this.nowIso(),
      expires_at: input.expiresAt,
      last_used_at: null,
      revoked_at: null,
      replaced_by: null,
    };
    await trx.insertInto('service_account_credentials').values(row).execute();
    if (input.kind === 'api_key') {
      await this.deps.issueApiKey(trx, {
        tenantId: ctx.tenantId,
        serviceAccountId,
        credentialId: id,
        apiKey: secret!,
        scopes: input.scopes,
        expiresAt: new Date(input.expiresAt),
      });
    }
    const credential = toCredential(row, this.nowIso());
    await this.deps.audit.append(trx, ctx, {
      action: 'credential.create',
      target: { type: 'service_account', id: serviceAccountId },
      after: { id, kind: credential.kind, name: credential.name, scopes: credential.scopes, expiresAt: credential.expiresAt },
      details: { source: ctx.source ?? null },
    });
    return { credential, secret };
  }

  /**
   * Adds a credential to an active or suspended service account.
   * @throws GatehouseError `invalid_input` (kind, name, expiry beyond policy, key, scopes), `not_found` (service account).
   * @example
   * const { secret } = await credentials.create(ctx, saId, { kind: 'client_secret', expiresAt: '2026-12-31T00:00:00Z' });
   */
  async create(ctx: OperationContext, serviceAccountId: string, input: CredentialInput): Promise<CreatedCredential> {
    if (!input || !CREDENTIAL_KINDS.includes(input.kind)) throw new GatehouseError('invalid_input', `kind must be one of ${CREDENTIAL_KINDS.join(', ')}`, { field: 'kind' });
    const name = (input.name ?? input.kind).trim();
    if (!name || name.length > 200) throw new GatehouseError('invalid_input', 'name must be 1 to 200 characters', { field: 'name' });
    const expiresAt = this.expiryFor(input.expiresAt);
    const scopes = input.kind === 'api_key' ? checkScopes(input.scopes) : [];
    if (input.kind !== 'api_key' && input.scopes !== undefined) throw new GatehouseError('invalid_input', 'only API keys carry scopes', { field: 'scopes' });
    if (input.kind !== 'public_key' && input.publicKey !== undefined) throw new GatehouseError('invalid_input', 'only public_key credentials take a public key', { field: 'public_key' });
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await this.assertServiceAccount(trx, ctx.tenantId, serviceAccountId);
      return this.insert(trx, ctx, serviceAccountId, { kind: input.kind, name, expiresAt, publicKey: input.publicKey, scopes });
    });
  }

  /** Every credential of the service account (revoked and expired included), oldest first. @throws GatehouseError `not_found`. */
  async list(ctx: OperationContext, serviceAccountId: string): Promise<Credential[]> {
    await this.assertServiceAccount(this.deps.storage.db, ctx.tenantId, serviceAccountId);
    const rows = await this.deps.storage.db
      .selectFrom('service_account_credentials')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('service_account_id', '=', serviceAccountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const now = this.nowIso();
    return rows.map((r) => toCredential(r, now));
  }

  /** @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, serviceAccountId: string, id: string): Promise<Credential> {
    return toCredential(await this.row(this.deps.storage.db, ctx.tenantId, serviceAccountId, id), this.nowIso());
  }

  /**
   * Rotates: issues a successor of the same kind (same scopes for API keys; `publicKey` is
   * required for public keys) and lets the old credential work for `overlapSeconds` more (never
   * longer than it would have anyway). Returns the successor with its secret.
   * @throws GatehouseError `invalid_input` (overlap, expiry, key), `not_found`, `conflict` when
   *   the credential is revoked, expired or already rotated.
   */
  async rotate(ctx: OperationContext, serviceAccountId: string, id: string, input: RotateInput = {}): Promise<CreatedCredential> {
    const overlap = input.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
      throw new GatehouseError('invalid_input', `overlap_seconds must be a whole number from 0 to ${MAX_ROTATION_OVERLAP_SECONDS}`, { field: 'overlap_seconds', max: MAX_ROTATION_OVERLAP_SECONDS });
    }
    const expiresAt = this.expiryFor(input.expiresAt);
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await this.assertServiceAccount(trx, ctx.tenantId, serviceAccountId);
      const old = await this.row(trx, ctx.tenantId, serviceAccountId, id);
      if (statusOf(old, this.nowIso()) !== 'active' || old.replaced_by) {
        throw new GatehouseError('conflict', 'only an active credential that was not rotated yet can be rotated', { attribute: 'status' });
      }
      if (old.kind === 'public_key' && !input.publicKey) throw new GatehouseError('invalid_input', 'rotating a public key needs the successor public key', { field: 'public_key' });
      if (old.kind !== 'public_key' && input.publicKey) throw new GatehouseError('invalid_input', 'only public_key credentials take a public key', { field: 'public_key' });
      const created = await this.insert(trx, ctx, serviceAccountId, {
        kind: old.kind,
        name: input.name?.trim() || old.name,
        expiresAt,
        publicKey: input.publicKey,
        scopes: JSON.parse(old.scopes) as string[],
      });
      const overlapEnd = new Date(this.deps.clock.now().getTime() + overlap * 1000).toISOString();
      const oldExpiry = overlapEnd < old.expires_at ? overlapEnd : old.expires_at;
      await trx
        .updateTable('service_account_credentials')
        .set({ expires_at: oldExpiry, replaced_by: created.credential.id })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      // An API key's token ends with the overlap too; tokens obtained with a secret or key keep their own short lifetime.
      await trx
        .updateTable('oidc_payloads')
        .set({ expires_at: oldExpiry })
        .where('tenant_id', '=', ctx.tenantId)
        .where('credential_id', '=', id)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', oldExpiry)]))
        .execute();
      await this.deps.audit.append(trx, ctx, {
        action: 'credential.rotate',
        target: { type: 'service_account', id: serviceAccountId },
        before: { id, expiresAt: old.expires_at },
        after: { id, expiresAt: oldExpiry, replacedBy: created.credential.id },
        details: { overlapSeconds: overlap, source: ctx.source ?? null },
      });
      return created;
    });
  }

  /**
   * Revokes at once: the credential stops authenticating and every token obtained with it
   * (API key tokens, client-credentials access tokens) is deleted in the same transaction, so
   * introspection answers `active: false`. Revoking a revoked credential is a no-op.
   * @throws GatehouseError `not_found`.
   */
  async revoke(ctx: OperationContext, serviceAccountId: string, id: string): Promise<Credential> {
    return this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, serviceAccountId, id);
      if (row.revoked_at) return toCredential(row, this.nowIso());
      const now = this.nowIso();
      await trx.updateTable('service_account_credentials').set({ revoked_at: now }).where('tenant_id', '=', ctx.tenantId).where('id', '=', id).execute();
      const deleted = await trx.deleteFrom('oidc_payloads').where('tenant_id', '=', ctx.tenantId).where('credential_id', '=', id).executeTakeFirst();
      await this.deps.audit.append(trx, ctx, {
        action: 'credential.revoke',
        target: { type: 'service_account', id: serviceAccountId },
        before: { id, kind: row.kind, name: row.name },
        details: { tokensDeleted: Number(deleted.numDeletedRows), source: ctx.source ?? null },
      });
      return toCredential({ ...row, revoked_at: now }, now);
    });
  }
}
