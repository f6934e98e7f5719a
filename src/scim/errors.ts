/**
 * SCIM 2.0 errors (RFC 7644 §3.12): the error schema, the `scimType` keywords, and the one
 * mapping from Gatehouse's error codes to SCIM status + scimType. Transport-free: the HTTP
 * adapter classifies any error once and hands the result here.
 */
import { GatehouseError, type ErrorCode } from '../kernel/errors.js';

/** The SCIM error message schema URN (RFC 7644 §3.12). */
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** `scimType` keywords of RFC 7644 §3.12, Table 9. */
export const SCIM_TYPES = [
  'invalidFilter',
  'tooMany',
  'uniqueness',
  'mutability',
  'invalidSyntax',
  'invalidPath',
  'noTarget',
  'invalidValue',
  'invalidVers',
  'sensitive',
] as const;
export type ScimType = (typeof SCIM_TYPES)[number];

/** A SCIM error response body. `status` is the HTTP status as a string, as RFC 7644 §3.12 requires. */
export interface ScimErrorBody {
  schemas: [typeof SCIM_ERROR_SCHEMA];
  status: string;
  scimType?: ScimType;
  detail: string;
}

/**
 * A 400 with a SCIM `scimType`: a GatehouseError `invalid_input` whose `details.scimType`
 * the SCIM edge puts in the body. Other protocols see an ordinary `invalid_input`.
 *
 * @example
 * throw scimInvalid('invalidPath', 'unknown attribute "nickname2"', { path: 'nickname2' });
 */
export function scimInvalid(scimType: ScimType, detail: string, details: Record<string, unknown> = {}): GatehouseError {
  return new GatehouseError('invalid_input', detail, { ...details, scimType });
}

/** The parts of a classified error the SCIM mapping reads (see http/errors.ts `classifyError`). */
export interface ErrorView {
  status: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  unexpected: boolean;
}

function isScimType(v: unknown): v is ScimType {
  return typeof v === 'string' && (SCIM_TYPES as readonly string[]).includes(v);
}

/**
 * Maps a classified error to the SCIM status and body (RFC 7644 §3.12):
 * `conflict` → 409 `uniqueness` (or the scimType its details name); `invalid_input` → 400 with the given scimType (default
 * `invalidValue`, or `fallbackScimType`); `weak_password` / `invariant_violation` → 400
 * `invalidValue`; `not_found` 404; `precondition_failed` 412; `unauthenticated` 401;
 * `forbidden` 403; `payload_too_large` 413; `unsupported_media_type` 415; `rate_limited` 429;
 * anything else keeps its status with a generic detail and no internals.
 *
 * @param fallbackScimType - scimType for an `invalid_input` that names none (e.g. `invalidSyntax` for unparsable JSON).
 */
export function toScimError(c: ErrorView, fallbackScimType?: ScimType): { status: number; body: ScimErrorBody } {
  let status = c.status;
  let scimType: ScimType | undefined;
  let detail = c.message;
  switch (c.code) {
    case 'conflict':
      status = 409;
      scimType = isScimType(c.details?.scimType) ? c.details.scimType : 'uniqueness';
      break;
    case 'invalid_input':
      status = 400;
      scimType = isScimType(c.details?.scimType) ? c.details.scimType : (fallbackScimType ?? 'invalidValue');
      break;
    case 'weak_password':
    case 'invariant_violation':
    case 'group_nesting_too_deep':
      status = 400;
      scimType = 'invalidValue';
      break;
    case 'not_found':
    case 'precondition_failed':
    case 'unauthenticated':
    case 'forbidden':
    case 'payload_too_large':
    case 'unsupported_media_type':
    case 'rate_limited':
    case 'method_not_allowed':
      break;
    default:
      status = c.status >= 500 ? c.status : 500;
      detail = status === 503 ? 'The service is temporarily unavailable.' : 'An unexpected error occurred.';
  }
  if (c.unexpected) detail = 'An unexpected error occurred.';
  const body: ScimErrorBody = { schemas: [SCIM_ERROR_SCHEMA], status: String(status), detail };
  if (scimType) body.scimType = scimType;
  return { status, body };
}
