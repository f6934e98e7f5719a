/**
 * Resource versions as ETags (RFC 7644 §3.14, RFC 9110 §8.8.3): `meta.version` and the `ETag`
 * header are the weak tag `W/"<version>"`; `If-Match` / `If-None-Match` compare weakly.
 */
import { GatehouseError } from '../kernel/errors.js';

/** `W/"<version>"`. */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/** A parsed `If-Match` / `If-None-Match` header: `*`, or the versions it lists (unparsable tags are kept as never-matching). */
export type EtagCondition = { any: true } | { any: false; versions: number[] };

/** Parses an If-Match / If-None-Match header value; undefined when absent. */
export function parseEtagCondition(header: string | string[] | undefined): EtagCondition | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return { any: true };
  const versions: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(?:W\/)?"(\d{1,15})"\s*$/.exec(part);
    versions.push(m ? Number(m[1]) : -1);
  }
  return { any: false, versions };
}

/** Whether a condition matches a resource at `version` (weak comparison). */
export function etagMatches(cond: EtagCondition, version: number): boolean {
  return cond.any || cond.versions.includes(version);
}

/**
 * Enforces `If-Match` against the current version.
 * @throws GatehouseError `precondition_failed` when the resource has changed (HTTP 412, RFC 7644 §3.14).
 */
export function checkIfMatch(cond: EtagCondition | undefined, version: number): void {
  if (cond && !etagMatches(cond, version)) {
    throw new GatehouseError('precondition_failed', `the resource has changed: its version is ${etagOf(version)}`, { version: etagOf(version) });
  }
}
