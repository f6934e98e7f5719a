/**
 * Helpers shared by the identity services: their dependencies, paging, input checks, and the
 * lock that serialises changes to the built-in authorization graph.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { TupleStore } from '../authz/tuple-store.js';
import type { Clock } from '../kernel/clock.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Deprovisioner } from '../lifecycle/deprovision.js';
import type { Executor, Storage } from '../storage/database.js';
import type { ListQuery } from './types.js';

/** What every identity service is built from (see `gatehouse.ts`). */
export interface IdentityDeps {
  storage: Storage;
  audit: AuditLog;
  tuples: TupleStore;
  clock: Clock;
  deprovisioner: Deprovisioner;
}

/** Largest page a list call returns. */
export const MAX_PAGE_SIZE = 1000;

/**
 * Turns SCIM paging (`startIndex` 1-based, `count` 0..1000; RFC 7644 §3.4.2.4) into an offset and limit.
 * A `startIndex` below 1 is read as 1, as RFC 7644 asks.
 * @throws GatehouseError `invalid_input` for a count outside 0..1000 or non-integers.
 */
export function pageBounds(page: ListQuery): { offset: number; limit: number; startIndex: number } {
  if (!Number.isInteger(page.startIndex) || !Number.isInteger(page.count)) {
    throw new GatehouseError('invalid_input', 'startIndex and count must be integers', { field: 'startIndex' });
  }
  if (page.count < 0 || page.count > MAX_PAGE_SIZE) {
    throw new GatehouseError('invalid_input', `count must be between 0 and ${MAX_PAGE_SIZE}`, { field: 'count', max: MAX_PAGE_SIZE });
  }
  const startIndex = Math.max(1, page.startIndex);
  return { offset: startIndex - 1, limit: page.count, startIndex };
}

/** Longest free-text attribute accepted (code points). */
export const MAX_TEXT_LENGTH = 1024;

// C0/C1 control characters (tab excluded for free text).
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
// A lone UTF-16 surrogate: not a Unicode scalar value, so not text (it would be stored as U+FFFD).
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Unicode format characters (category Cf: zero-width space and joiners, bidirectional overrides,
// soft hyphen, ...): invisible, so two names that differ only by them look identical.
const FORMAT_RE = /\p{Cf}/u;

/**
 * Checks an optional free-text attribute: a string (or null/undefined) of at most `max` code points
 * without control characters. Returns the value or null.
 * @throws GatehouseError `invalid_input` with `details.field`.
 */
export function optionalText(field: string, value: unknown, max = MAX_TEXT_LENGTH): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new GatehouseError('invalid_input', `${field} must be a string`, { field });
  if ([...value].length > max) throw new GatehouseError('invalid_input', `${field} must have at most ${max} characters`, { field, max });
  if (CONTROL_RE.test(value)) throw new GatehouseError('invalid_input', `${field} must not contain control characters`, { field });
  if (LONE_SURROGATE_RE.test(value)) throw new GatehouseError('invalid_input', `${field} is not well-formed Unicode text`, { field });
  return value;
}

/**
 * Checks text that identifies someone or something (userName, email address, names): as
 * {@link optionalText}, and no invisible format characters (Unicode category Cf, such as U+200B
 * ZERO WIDTH SPACE or U+202E RIGHT-TO-LEFT OVERRIDE), which would let two identifiers look alike.
 * @throws GatehouseError `invalid_input` with `details.field`.
 */
export function identifierText(field: string, value: unknown, max = 256): string | null {
  const v = optionalText(field, value, max);
  if (v !== null && FORMAT_RE.test(v)) throw new GatehouseError('invalid_input', `${field} must not contain invisible format characters`, { field });
  return v;
}

/**
 * Checks a required identifier-like name (userName, displayName, role name): a non-blank string of
 * at most `max` code points, no control characters, no leading or trailing white space.
 * @throws GatehouseError `invalid_input` with `details.field`.
 */
export function requiredName(field: string, value: unknown, max = 256): string {
  if (typeof value !== 'string' || value.trim() === '') throw new GatehouseError('invalid_input', `${field} is required`, { field });
  if (value !== value.trim()) throw new GatehouseError('invalid_input', `${field} must not start or end with white space`, { field });
  if (/[\t]/.test(value)) throw new GatehouseError('invalid_input', `${field} must not contain tabs`, { field });
  return identifierText(field, value, max) as string;
}

/**
 * Serialises changes to the built-in authorization graph that first read it (nesting-cycle
 * checks, membership diffs): on PostgreSQL it locks the changelog counter row, which every tuple
 * writer locks anyway; SQLite write transactions are already serial.
 */
export async function lockAuthorizationGraph(trx: Executor, storage: Storage): Promise<void> {
  if (storage.kind === 'postgres') await trx.selectFrom('authz_revision').select('revision').where('id', '=', 1).forUpdate().execute();
}

/**
 * Compares a caller's `expectedVersion` (SCIM If-Match) with the stored one.
 * @throws GatehouseError `precondition_failed` with `details.currentVersion`.
 */
export function checkVersion(expected: number | undefined, current: number): void {
  if (expected !== undefined && expected !== current) {
    throw new GatehouseError('precondition_failed', `the resource is at version ${current}, not ${expected}`, { currentVersion: current, expectedVersion: expected });
  }
}
