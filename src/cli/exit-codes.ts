/**
 * The exit status of the `gatehouse` command, one table for every command (docs/errors.md,
 * "Exit status of the gatehouse command", prints the same table; a test holds them equal).
 *
 * The status follows the HTTP status the APIs give the same error code:
 * - 0: done (`authz check` exits 0 whether allowed or not).
 * - 1: the command was well formed but the data refused it (HTTP 401, 403, 404, 405, 409, 412,
 *   413, 415: not found, already exists, …), or the command's own negative answer (`audit verify`
 *   found a broken chain, `authz test` a failing assertion, `serve` a worker that died).
 * - 2: the command line, an input file or the configuration is invalid (HTTP 400, and
 *   `invalid_config`), including usage errors: missing or extra arguments, unknown options.
 *   Running it again unchanged fails again.
 * - 69 (sysexits EX_UNAVAILABLE): temporary (HTTP 503, 429): the database is unreachable or
 *   busy; running it again later may succeed.
 * - 70 (sysexits EX_SOFTWARE): an unexpected error (`internal`, or any error that is not a
 *   GatehouseError).
 */
import { isGatehouseError, type ErrorCode } from '../kernel/errors.js';

/** The exit statuses the `gatehouse` command uses. */
export const EXIT = { ok: 0, failed: 1, invalid: 2, unavailable: 69, internal: 70 } as const;

/** The exit status for each error code (every code listed: a new code needs a decision here). */
export const EXIT_CODES: Record<ErrorCode, number> = {
  invalid_input: EXIT.invalid,
  weak_password: EXIT.invalid,
  condition_error: EXIT.invalid,
  resolution_too_complex: EXIT.invalid,
  invalid_config: EXIT.invalid,
  not_found: EXIT.failed,
  conflict: EXIT.failed,
  invariant_violation: EXIT.failed,
  owner_not_active: EXIT.failed,
  group_nesting_too_deep: EXIT.failed,
  precondition_failed: EXIT.failed,
  unauthenticated: EXIT.failed,
  forbidden: EXIT.failed,
  method_not_allowed: EXIT.failed,
  payload_too_large: EXIT.failed,
  unsupported_media_type: EXIT.failed,
  storage_unavailable: EXIT.unavailable,
  shutting_down: EXIT.unavailable,
  revision_timeout: EXIT.unavailable,
  rate_limited: EXIT.unavailable,
  internal: EXIT.internal,
};

/** The exit status for an error a command threw: {@link EXIT_CODES} for a GatehouseError, else 70. */
export function exitStatusOf(err: unknown): number {
  return isGatehouseError(err) ? EXIT_CODES[err.code] : EXIT.internal;
}
