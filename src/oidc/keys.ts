/**
 * The OpenID provider's persisted secrets: token signing keys (`signing_keys`) and cookie
 * signing keys (`server_secrets`). Both are generated on first start and read back on every
 * start, so tokens, sessions and cookies survive a restart and are shared by every replica.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Clock } from '../kernel/clock.js';
import type { Storage } from '../storage/database.js';

/** Signing algorithms a key is generated for, in preference order (RS256 is the OIDC default). */
export const SIGNING_ALGS = ['RS256', 'ES256'] as const;

const SIGNING_KEYS_MARKER = 'oidc.signing_keys_generated';
const COOKIE_KEYS_NAME = 'oidc.cookie_keys';

async function newPrivateJwk(alg: (typeof SIGNING_ALGS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg, use: 'sig' };
}

/**
 * Returns the private signing JWKs: the active ones (RS256 first, then ES256), then keys retired
 * less than `retiredGraceSeconds` ago; generating and storing a first set on first start. Generation runs in one transaction behind a marker row in `server_secrets`, so
 * replicas starting together generate one set: the second blocks on the marker's insert and then
 * reads the first one's keys.
 */
export async function loadSigningKeys(storage: Storage, clock: Clock, tenantId: string, retiredGraceSeconds = 0): Promise<JWK[]> {
  await storage.db.transaction().execute(async (trx) => {
    const now = clock.now().toISOString();
    const marker = await trx
      .insertInto('server_secrets')
      .values({ tenant_id: tenantId, name: SIGNING_KEYS_MARKER, value: now, created_at: now })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .returning('name')
      .executeTakeFirst();
    if (!marker) return;
    for (const alg of SIGNING_ALGS) {
      const jwk = await newPrivateJwk(alg);
      await trx
        .insertInto('signing_keys')
        .values({ tenant_id: tenantId, kid: jwk.kid!, alg, private_jwk: JSON.stringify(jwk), created_at: now, retired_at: null })
        .execute();
    }
  });
  const rows = await storage.db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'private_jwk', 'created_at', 'retired_at'])
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', new Date(clock.now().getTime() - retiredGraceSeconds * 1000).toISOString())]))
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute();
  const order = (alg: string) => {
    const i = SIGNING_ALGS.indexOf(alg as (typeof SIGNING_ALGS)[number]);
    return i < 0 ? SIGNING_ALGS.length : i;
  };
  // Active keys first (oidc-provider signs with the first key of an algorithm), newest first,
  // RS256 before ES256; then retired keys, published only so tokens they signed still verify.
  const rank = (r: { retired_at: string | null }) => (r.retired_at === null ? 0 : 1);
  return rows.sort((a, b) => rank(a) - rank(b) || order(a.alg) - order(b.alg)).map((r) => JSON.parse(r.private_jwk) as JWK);
}

/** A signing key as listed by `gatehouse keys list` (never the private part). */
export interface SigningKeyInfo {
  kid: string;
  alg: string;
  created: string;
  retiredAt: string | null;
  /** `active` (signs), `retired` (published for verification only), `expired` (no longer published). */
  state: 'active' | 'retired' | 'expired';
}

/**
 * Lists every signing key with its state. A retired key stays published for
 * `retiredGraceSeconds` after retirement: the longest lifetime of anything signed with it.
 */
export async function listSigningKeys(storage: Storage, clock: Clock, tenantId: string, retiredGraceSeconds: number): Promise<SigningKeyInfo[]> {
  const cutoff = new Date(clock.now().getTime() - retiredGraceSeconds * 1000).toISOString();
  const rows = await storage.db.selectFrom('signing_keys').select(['kid', 'alg', 'created_at', 'retired_at']).where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('kid').execute();
  return rows.map((r) => ({ kid: r.kid, alg: r.alg, created: r.created_at, retiredAt: r.retired_at, state: r.retired_at === null ? 'active' : r.retired_at > cutoff ? 'retired' : 'expired' }));
}

/**
 * Rotates the signing keys in one transaction: generates a new RS256 and ES256 key and retires
 * the active ones (they stay published, see {@link loadSigningKeys}). Running processes pick the
 * new keys up when they restart. Keys that left publication are deleted.
 * @returns the new keys' ids and the retired keys' ids.
 */
export async function rotateSigningKeys(
  storage: Storage,
  clock: Clock,
  tenantId: string,
  retiredGraceSeconds: number,
): Promise<{ created: string[]; retired: string[]; deleted: string[] }> {
  const fresh = await Promise.all(SIGNING_ALGS.map((alg) => newPrivateJwk(alg)));
  return storage.db.transaction().execute(async (trx) => {
    const now = clock.now().toISOString();
    const cutoff = new Date(clock.now().getTime() - retiredGraceSeconds * 1000).toISOString();
    // First start may not have happened yet: keep its marker consistent with the keys written here.
    await trx
      .insertInto('server_secrets')
      .values({ tenant_id: tenantId, name: SIGNING_KEYS_MARKER, value: now, created_at: now })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .execute();
    const expired = await trx.selectFrom('signing_keys').select('kid').where('tenant_id', '=', tenantId).where('retired_at', '<=', cutoff).execute();
    if (expired.length) await trx.deleteFrom('signing_keys').where('tenant_id', '=', tenantId).where('retired_at', '<=', cutoff).execute();
    const active = await trx.selectFrom('signing_keys').select('kid').where('tenant_id', '=', tenantId).where('retired_at', 'is', null).execute();
    await trx.updateTable('signing_keys').set({ retired_at: now }).where('tenant_id', '=', tenantId).where('retired_at', 'is', null).execute();
    for (const jwk of fresh) {
      await trx.insertInto('signing_keys').values({ tenant_id: tenantId, kid: jwk.kid!, alg: String(jwk.alg), private_jwk: JSON.stringify(jwk), created_at: now, retired_at: null }).execute();
    }
    return { created: fresh.map((k) => k.kid!), retired: active.map((r) => r.kid), deleted: expired.map((r) => r.kid) };
  });
}

/**
 * Returns the cookie signing keys (a JSON array of random base64url strings in
 * `server_secrets`), creating them on first start. Newest first, as Koa's keygrip expects.
 */
export async function loadCookieKeys(storage: Storage, clock: Clock, tenantId: string): Promise<string[]> {
  const now = clock.now().toISOString();
  const fresh = JSON.stringify([randomBytes(32).toString('base64url')]);
  await storage.db
    .insertInto('server_secrets')
    .values({ tenant_id: tenantId, name: COOKIE_KEYS_NAME, value: fresh, created_at: now })
    .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
    .execute();
  const row = await storage.db
    .selectFrom('server_secrets')
    .select('value')
    .where('tenant_id', '=', tenantId)
    .where('name', '=', COOKIE_KEYS_NAME)
    .executeTakeFirstOrThrow();
  return JSON.parse(row.value) as string[];
}
