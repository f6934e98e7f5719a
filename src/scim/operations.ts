/**
 * Helpers shared by the SCIM Users and Groups endpoints (transport-free).
 */
import { GatehouseError, isGatehouseError } from '../kernel/errors.js';
import { scimInvalid } from './errors.js';
import type { EtagCondition } from './etag.js';
import type { Projection } from './list.js';
import { jitteredPause } from '../kernel/clock.js';

/** Query parameters of a SCIM read (RFC 7644 §3.4.2), as the HTTP layer received them. */
export type ScimQuery = Record<string, unknown>;

/** How many times a read-modify-write is tried when other writers keep getting in first. */
const MAX_ATTEMPTS = 10;

/**
 * Runs a read-modify-write `attempt` that passes the version it read as `expectedVersion`.
 * When the client sent no `If-Match`, a `precondition_failed` means a concurrent writer, so
 * the attempt is repeated on the fresh state after a short jittered pause (1–4 ms, doubling, at
 * most 64–256 ms; up to 10 attempts in all). Each round lets at least one of the racing writers
 * through, so concurrent PATCHes of one resource (Entra ID sends membership changes that way)
 * all apply. With `If-Match` the mismatch is the client's 412 (RFC 7644 §3.14). Each attempt is
 * one service call, so a request applies all of its changes or none.
 *
 * @throws GatehouseError `storage_unavailable` (HTTP 503, retryable) when, without `If-Match`,
 *   every attempt lost the race: a 412 is only for a client's own precondition.
 */
export async function withOptimisticRetry<T>(cond: EtagCondition | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (cond !== undefined || !isGatehouseError(err, 'precondition_failed')) throw err;
      if (i >= MAX_ATTEMPTS) {
        throw new GatehouseError('storage_unavailable', 'the resource kept changing under concurrent writes; retry the request', { retryable: true }, { cause: err });
      }
      await jitteredPause(Math.min(2 ** (i - 1), 64));
    }
  }
}

function listParam(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw scimInvalid('invalidValue', `"${name}" must be a comma-separated list of attribute names`, { parameter: name });
}

/** `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5); giving both is refused. */
export function readProjection(query: ScimQuery): Projection {
  const attributes = listParam(query.attributes, 'attributes');
  const excludedAttributes = listParam(query.excludedAttributes, 'excludedAttributes');
  if (attributes && excludedAttributes) throw scimInvalid('invalidValue', 'give "attributes" or "excludedAttributes", not both');
  return { attributes, excludedAttributes };
}
