/**
 * Gatehouse's one error type and its closed set of codes.
 *
 * Domain code throws {@link GatehouseError} with a stable `code`; each protocol edge
 * (SCIM, OAuth, AuthZEN, the admin API's RFC 9457 problem details) maps the code once.
 * Callers and tests branch on `code`, never on `message`.
 */

/** Every error code Gatehouse raises, with the HTTP status it maps to by default. */
export const ERROR_CODES = {
  /** The request or input is malformed or fails validation. */
  invalid_input: 400,
  /** A resource named by the caller does not exist (or is not visible to it). */
  not_found: 404,
  /** A uniqueness rule was violated (userName, email, group name, role name, client id). */
  conflict: 409,
  /** The change would break an invariant of the data (for example a group nesting cycle). */
  invariant_violation: 409,
  /** A service account cannot be activated or owned while its (new) owner is not an active user. */
  owner_not_active: 409,
  /** The caller presented no credentials or invalid ones. */
  unauthenticated: 401,
  /** The caller is authenticated but lacks the scope or right for the operation. */
  forbidden: 403,
  /** A versioned precondition (ETag, revision) failed. */
  precondition_failed: 412,
  /** The request body exceeds the configured limit. */
  payload_too_large: 413,
  /** The path exists but not under the request's HTTP method (the `Allow` header lists those it serves). */
  method_not_allowed: 405,
  /** Group nesting would be deeper than the authorization resolution depth limit (25), so checks through it could not be answered. */
  group_nesting_too_deep: 409,
  /** The request's media type is not accepted. */
  unsupported_media_type: 415,
  /** Too many requests from this caller. */
  rate_limited: 429,
  /** A password does not meet the password policy. */
  weak_password: 400,
  /** Configuration given at start is invalid. */
  invalid_config: 500,
  /** The database is unreachable or failed in an unexpected way. */
  storage_unavailable: 503,
  /** The server is shutting down (graceful stop): the request was not run; send it again (to another instance). The connection is closed. */
  shutting_down: 503,
  /** A check needed more than the resolution depth limit (default 25) of rewrites and usersets in a chain (OpenFGA `authorization_model_resolution_too_complex`). */
  resolution_too_complex: 400,
  /** A CEL condition could not be evaluated: a parameter missing from the context, wrongly typed, or an evaluation error (never a silent deny). */
  condition_error: 400,
  /** A consistency token names a revision the index has not reached in time. */
  revision_timeout: 503,
  /** Anything unexpected. The message is never shown to API callers. */
  internal: 500,
} as const;

/** The closed union of error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Extra, safe-to-show facts about an error (field names, limits). Never secrets. */
export type ErrorDetails = Record<string, unknown>;

/**
 * The error every Gatehouse layer throws on purpose.
 *
 * @example
 * throw new GatehouseError('conflict', 'userName is already taken', { attribute: 'userName' });
 */
export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** The default HTTP status for this error's code. */
  get status(): number {
    return ERROR_CODES[this.code];
  }
}

/** True if `err` is a {@link GatehouseError}, optionally with the given code. */
export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}
