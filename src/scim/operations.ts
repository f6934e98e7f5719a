/**
 * Helpers shared by the SCIM Users and Groups endpoints (transport-free).
 */
import { isGatehouseError } from '../kernel/errors.js';
import { scimInvalid } from './errors.js';
import type { EtagCondition } from './etag.js';
import type { Projection } from './list.js';

/** Query parameters of a SCIM read (RFC 7644 §3.4.2), as the HTTP layer received them. */
export type ScimQuery = Record<string, unknown>;

/** How many times a read-modify-write is retried when another writer got in first. */
const MAX_ATTEMPTS = 3;

/**
 * Runs a read-modify-write `attempt` that passes the version it read as `expectedVersion`.
 * When the client sent no `If-Match`, a `precondition_failed` means a concurrent writer, so
 * the attempt is repeated on the fresh state (up to 3 times); with `If-Match` it is the client's
 * 412. Each attempt is one service call, so a request applies all of its changes or none.
 */
export async function withOptimisticRetry<T>(cond: EtagCondition | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (cond !== undefined || i >= MAX_ATTEMPTS || !isGatehouseError(err, 'precondition_failed')) throw err;
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
