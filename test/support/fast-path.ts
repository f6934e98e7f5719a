import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { ApiTokenService } from '../../src/identity/api-tokens.js';
import { DEFAULT_TENANT } from '../../src/kernel/context.js';

/**
 * The API token cache TTL, in seconds, for test instances that count requests on the AuthZEN fast
 * path (`apiTokenCacheTtlSeconds` in their config; 60 is the most the setting allows). The fast
 * path admits a token only while its cache entry is younger than the TTL (5 s by default), so on a
 * loaded machine a test of several requests could outlast the default. The TTL's own behaviour is
 * tested with a fixed clock (authzen-fast-path-tokens.test.ts).
 */
export const COUNTING_TOKEN_CACHE_TTL_SECONDS = 60;

const MS_PER_MINUTE = 60_000;

/**
 * Makes `token` admitted on the fast path for at least the next `windowMs` milliseconds of wall
 * time (at most the cache TTL), for a test that then counts the requests the fast path takes. The
 * fast path needs (`ApiTokenService.authenticateCached`):
 * - a cache entry younger than the TTL: `authenticate` does not renew a fresh entry, so this drops
 *   the entry (`forgetMany`, as the revocation follower does) and reads the token again;
 *   (again if a revocation landing meanwhile kept the read out of the cache: it checks with
 *   `authenticateCached`, the fast path's own test);
 * - the token's last use recorded in the current minute: the first request of each minute goes
 *   through Fastify, which records it. So when the next minute starts within `windowMs`, this
 *   waits for it first.
 * @throws when the token does not authenticate.
 */
export async function admitOnFastPath(apiTokens: Pick<ApiTokenService, 'authenticate' | 'authenticateCached' | 'forgetMany'>, token: string, windowMs = 5_000): Promise<void> {
  const toNextMinuteMs = MS_PER_MINUTE - (Date.now() % MS_PER_MINUTE);
  if (toNextMinuteMs < windowMs) await sleep(toNextMinuteMs + 20);
  const known = await apiTokens.authenticate(DEFAULT_TENANT, token);
  expect(known, 'the token authenticates').not.toBeNull();
  // A revocation of any token that lands while the read is in flight (on PostgreSQL its NOTIFY
  // arrives when it arrives) keeps that read out of the cache: read again until the entry is in.
  for (let attempt = 0; attempt < 20; attempt++) {
    apiTokens.forgetMany(DEFAULT_TENANT, [known!.id]);
    expect(await apiTokens.authenticate(DEFAULT_TENANT, token), 'the token authenticates').not.toBeNull();
    if (apiTokens.authenticateCached(DEFAULT_TENANT, token)) return;
    await sleep(10);
  }
  throw new Error('the token did not stay in the API token cache');
}
