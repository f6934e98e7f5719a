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
 * Returns the active private signing JWKs (RS256 first, then ES256), generating and storing them
 * on first start. Generation runs in one transaction behind a marker row in `server_secrets`, so
 * replicas starting together generate one set: the second blocks on the marker's insert and then
 * reads the first one's keys.
 */
export async function loadSigningKeys(storage: Storage, clock: Clock, tenantId: string): Promise<JWK[]> {
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
    .select(['kid', 'alg', 'private_jwk', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute();
  const order = (alg: string) => {
    const i = SIGNING_ALGS.indexOf(alg as (typeof SIGNING_ALGS)[number]);
    return i < 0 ? SIGNING_ALGS.length : i;
  };
  // Stable sort keeps the newest key of each algorithm first, which oidc-provider signs with.
  return rows.sort((a, b) => order(a.alg) - order(b.alg)).map((r) => JSON.parse(r.private_jwk) as JWK);
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
