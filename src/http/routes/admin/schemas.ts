/**
 * Schemas shared by every admin API resource: problem details, paging, path ids.
 *
 * Conventions of the whole admin API (stated once here and in the OpenAPI document's description):
 * - JSON member names are snake_case (`user_name`, `otpauth_uri`, `expires_at`), in requests and responses.
 * - Instants are RFC 3339 / ISO 8601 UTC strings named `*_at`.
 * - Request bodies are `application/json` objects; unknown members are refused (400 `invalid_input`).
 * - Lists are paged with `start_index` (1-based) and `count` and answer `{total_results, start_index, items_per_page, items}`;
 *   the audit log, which only grows, is paged with `limit` and the `after` cursor instead.
 * - Every error is an RFC 9457 problem details object (`application/problem+json`).
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../../kernel/errors.js';

/** Largest page a list returns. */
export const MAX_PAGE_SIZE = 1000;
/** Page size when `count` / `limit` is not given. */
export const DEFAULT_PAGE_SIZE = 100;

/** RFC 9457 problem details, as written by `sendProblem` (src/http/problem.ts). */
export const problemSchema = z
  .object({
    type: z.string().meta({ description: 'URI naming the problem type: https://gatehouse.dev/problems/<code>.' }),
    title: z.string().meta({ description: 'Short, human-readable summary of the problem type.' }),
    status: z.number().int().meta({ description: 'The HTTP status code.' }),
    detail: z.string().meta({ description: 'Explanation specific to this occurrence.' }),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).meta({ description: 'Stable error code; branch on this, never on `detail`.' }),
    request_id: z.string().optional().meta({ description: 'The request id (also in the `X-Request-ID` response header).' }),
    details: z.record(z.string(), z.unknown()).optional().meta({ description: 'Safe extra facts, e.g. `issues` for validation errors.' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details.' });

/** `{id}` path parameter. */
export const idParams = z.strictObject({
  id: z.string().min(1).max(128).meta({ description: 'The resource id (a UUIDv7).' }),
});

/** Paging query of every list except the audit log. */
export const pageQueryShape = {
  start_index: z.coerce.number().int().min(1).default(1).meta({ description: '1-based index of the first item to return.' }),
  count: z.coerce.number().int().min(0).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE).meta({ description: `Largest number of items to return (0..${MAX_PAGE_SIZE}).` }),
};

export const pageQuery = z.strictObject(pageQueryShape);

/** The list envelope: `{total_results, start_index, items_per_page, items}`. */
export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      total_results: z.number().int().meta({ description: 'Items matching the query, over all pages.' }),
      start_index: z.number().int().meta({ description: '1-based index of the first item in `items`.' }),
      items_per_page: z.number().int().meta({ description: 'Number of items in `items`.' }),
      items: z.array(item),
    })
    .meta({ id });
}

/** Maps a domain page to the list envelope. */
export function toPage<T, U>(page: { totalResults: number; startIndex: number; items: T[] }, map: (item: T) => U) {
  return { total_results: page.totalResults, start_index: page.startIndex, items_per_page: page.items.length, items: page.items.map(map) };
}

/** An ISO 8601 / RFC 3339 instant with an offset (`Z` or `±hh:mm`). */
export const instant = z.iso.datetime({ offset: true });

/** A short optional text (descriptions, display names), null clears it. */
export const optionalText = (max: number) => z.string().max(max).nullable().optional();
