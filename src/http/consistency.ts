/**
 * The consistency token of the query APIs (OpenFGA and AuthZEN; issue #3 point 6): every write
 * answers the changelog revision it committed (`x-gatehouse-revision`), and a query that sends
 * `x-gatehouse-at-least-revision: N` is answered from an index that has applied revision N,
 * waiting for it up to the engine's limit (2 s, then `revision_timeout`). One parser for both APIs;
 * each API's error edge formats the error.
 */
import { fgaInvalid } from '../authz/validation.js';

/** The request header naming the revision a query must see. */
export const AT_LEAST_REVISION_HEADER = 'x-gatehouse-at-least-revision';

/** A revision as a write answers it: decimal digits only (no sign, exponent, fraction or hex). */
const DECIMAL = /^[0-9]{1,16}$/;

/**
 * The revision `x-gatehouse-at-least-revision` asks for: undefined when the header is absent or
 * empty; otherwise a decimal integer from 0 to 2^53 - 1 (a header sent twice arrives joined with
 * ", " and is refused).
 * @throws GatehouseError `invalid_input` (details `{ field, openfga: 'validation_error' }`) for any other value.
 * @example
 * atLeastRevisionOf({ 'x-gatehouse-at-least-revision': '42' }); // 42
 */
export function atLeastRevisionOf(headers: Readonly<Record<string, unknown>>): number | undefined {
  const h = headers[AT_LEAST_REVISION_HEADER];
  if (h === undefined || h === '') return undefined;
  const n = typeof h === 'string' && DECIMAL.test(h) ? Number(h) : NaN;
  if (!Number.isSafeInteger(n)) throw fgaInvalid('validation_error', `${AT_LEAST_REVISION_HEADER} must be a non-negative decimal integer`, { field: AT_LEAST_REVISION_HEADER });
  return n;
}
