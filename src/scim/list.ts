/**
 * SCIM queries for this slice (RFC 7644 §3.4.2): the equality filters the identity services
 * answer with an index (`userName eq`, `externalId eq`, `emails.value eq` for Users;
 * `displayName eq`, `externalId eq` for Groups, joined by `and`), 1-based `startIndex` /
 * `count` paging, the ListResponse, and `attributes` / `excludedAttributes` projection.
 * Any other filter is refused with `invalidFilter` rather than ignored.
 */
import { parse as parseFilter, type Filter } from 'scim2-parse-filter';
import type { GroupFilter, Page, UserFilter } from '../identity/types.js';
import { scimInvalid } from './errors.js';
import type { ScimDoc } from './resource.js';
import { findAttribute, LIST_RESPONSE_SCHEMA, type ResourceTypeDef } from './schemas.js';

/** Largest page (announced as `filter.maxResults` in /ServiceProviderConfig). */
export const MAX_RESULTS = 1000;
/** Page size when the client gives no `count`. */
export const DEFAULT_COUNT = 100;

export interface ListParams {
  /** 1-based. */
  startIndex: number;
  /** 0..MAX_RESULTS. */
  count: number;
}

function intParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^[+-]?\d{1,9}$/.test(v.trim())) throw scimInvalid('invalidValue', `"${name}" must be an integer`, { parameter: name });
  return Number.parseInt(v, 10);
}

/**
 * Reads `startIndex` and `count` (RFC 7644 §3.4.2.4): a startIndex below 1 is 1, a negative count
 * is 0, a count above {@link MAX_RESULTS} is MAX_RESULTS.
 * @throws GatehouseError `invalid_input` scimType `invalidValue` for non-integers.
 */
export function readListParams(query: Record<string, unknown>): ListParams {
  const startIndex = intParam(query.startIndex, 'startIndex') ?? 1;
  const count = intParam(query.count, 'count') ?? DEFAULT_COUNT;
  return { startIndex: Math.max(1, startIndex), count: Math.min(MAX_RESULTS, Math.max(0, count)) };
}

const CORE_PREFIX: Record<ResourceTypeDef['id'], string> = {
  User: 'urn:ietf:params:scim:schemas:core:2.0:user:',
  Group: 'urn:ietf:params:scim:schemas:core:2.0:group:',
};

/** Supported filter attributes (lower-cased, after any core URN prefix) → the service filter key. */
const USER_FILTER_KEYS: Record<string, keyof UserFilter> = { username: 'userName', externalid: 'externalId', emails: 'email', 'emails.value': 'email' };
const GROUP_FILTER_KEYS: Record<string, keyof GroupFilter> = { displayname: 'displayName', externalid: 'externalId' };
/** Which of those compare exactly (RFC 7643: externalId is caseExact; userName, emails and displayName are not). */
const CASE_EXACT = new Set(['externalId']);

function parseOrRefuse(text: string): Filter {
  if (text.length > 4096) throw scimInvalid('invalidFilter', 'the filter is too long');
  try {
    return parseFilter(text);
  } catch {
    throw scimInvalid('invalidFilter', 'the filter does not parse (RFC 7644 §3.4.2.2)');
  }
}

function collect(f: Filter, rt: ResourceTypeDef, keys: Record<string, string>, out: Array<[string, string]>): void {
  if (f.op === 'and') {
    for (const g of (f as { filters: Filter[] }).filters) collect(g, rt, keys, out);
    return;
  }
  const unsupported = () =>
    scimInvalid('invalidFilter', `this server supports only ${Object.values(keys).filter((v, i, a) => a.indexOf(v) === i).map((k) => `${k} eq "…"`).join(', ')} (joined by "and") on ${rt.name} resources`);
  if (f.op !== 'eq') throw unsupported();
  const c = f as { attrPath: string; compValue: unknown };
  let name = c.attrPath.toLowerCase();
  if (name.startsWith(CORE_PREFIX[rt.id])) name = name.slice(CORE_PREFIX[rt.id].length);
  const key = keys[name];
  if (!key) throw unsupported();
  if (typeof c.compValue !== 'string') throw scimInvalid('invalidFilter', `"${c.attrPath} eq" needs a string value`);
  out.push([key, c.compValue]);
}

/**
 * Translates a filter into a service filter. `impossible` is true when the filter can match
 * nothing (the same attribute asked to equal two different values).
 * @throws GatehouseError `invalid_input` scimType `invalidFilter`.
 */
function translate<F extends Record<string, string | undefined>>(text: string, rt: ResourceTypeDef, keys: Record<string, string>): { filter: F; impossible: boolean } {
  const pairs: Array<[string, string]> = [];
  collect(parseOrRefuse(text), rt, keys, pairs);
  const filter: Record<string, string> = {};
  let impossible = false;
  for (const [k, v] of pairs) {
    const prev = filter[k];
    if (prev === undefined) filter[k] = v;
    else if (CASE_EXACT.has(k) ? prev !== v : prev.toLowerCase() !== v.toLowerCase()) impossible = true;
  }
  return { filter: filter as F, impossible };
}

/** `filter` for /Users: `userName eq`, `externalId eq`, `emails eq` / `emails.value eq`, joined by `and`. */
export function userFilterFromScim(text: string, rt: ResourceTypeDef): { filter: UserFilter; impossible: boolean } {
  return translate<UserFilter & Record<string, string | undefined>>(text, rt, USER_FILTER_KEYS);
}

/** `filter` for /Groups: `displayName eq`, `externalId eq`, joined by `and`. */
export function groupFilterFromScim(text: string, rt: ResourceTypeDef): { filter: GroupFilter; impossible: boolean } {
  return translate<GroupFilter & Record<string, string | undefined>>(text, rt, GROUP_FILTER_KEYS);
}

/** A ListResponse (RFC 7644 §3.4.2). */
export interface ListResponse {
  schemas: [typeof LIST_RESPONSE_SCHEMA];
  totalResults: number;
  itemsPerPage: number;
  startIndex: number;
  Resources: ScimDoc[];
}

export function listResponse(page: Pick<Page<unknown>, 'totalResults'>, startIndex: number, resources: ScimDoc[]): ListResponse {
  return { schemas: [LIST_RESPONSE_SCHEMA], totalResults: page.totalResults, itemsPerPage: resources.length, startIndex, Resources: resources };
}

/** Which attributes to return (RFC 7644 §3.4.2.5). */
export interface Projection {
  attributes?: string[];
  excludedAttributes?: string[];
}

/** Top-level keys of a document an attribute name selects: `name`, `name.givenName` (whole `name`), or a URN-qualified extension attribute. */
type Selector = { ext: string | null; attr: string };

function selectors(list: string, rt: ResourceTypeDef, param: string): Selector[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((raw) => {
      let name = raw;
      let ext: string | null = null;
      const lower = raw.toLowerCase();
      for (const s of [rt.schema, ...rt.extensions.map((e) => e.schema)]) {
        const id = s.id.toLowerCase();
        if (lower === id) return { ext: s.id, attr: '' };
        if (lower.startsWith(`${id}:`)) {
          name = raw.slice(id.length + 1);
          ext = s === rt.schema ? null : s.id;
        }
      }
      const top = name.split('.')[0] ?? '';
      const defs = ext ? rt.extensions.find((e) => e.schema.id === ext)!.schema.attributes : rt.schema.attributes;
      const def = findAttribute(defs, top);
      const common = ['id', 'externalid', 'meta', 'schemas'].find((c) => c === top.toLowerCase());
      if (!def && !(common && !ext)) throw scimInvalid('invalidValue', `"${param}" names an unknown attribute "${raw}"`, { parameter: param });
      const canonical = def ? def.name : ({ id: 'id', externalid: 'externalId', meta: 'meta', schemas: 'schemas' } as Record<string, string>)[common!]!;
      return { ext, attr: canonical };
    });
}

/**
 * Applies `attributes` / `excludedAttributes` to a document (top-level granularity: asking for
 * `name.givenName` returns the whole `name`). `id` and `schemas` are always returned.
 * @throws GatehouseError `invalid_input` scimType `invalidValue` for an unknown attribute name.
 */
export function project(doc: ScimDoc, p: Projection, rt: ResourceTypeDef): ScimDoc {
  const wantRaw = p.attributes?.join(',');
  const dropRaw = p.excludedAttributes?.join(',');
  if (!wantRaw && !dropRaw) return doc;
  const out: ScimDoc = {};
  if (wantRaw) {
    const want = selectors(wantRaw, rt, 'attributes');
    for (const [k, v] of Object.entries(doc)) {
      if (k === 'id' || k === 'schemas') out[k] = v;
      else if (rt.extensions.some((e) => e.schema.id === k)) {
        const sel = want.filter((w) => w.ext === k);
        if (sel.some((w) => w.attr === '')) out[k] = v;
        else if (sel.length) {
          const ext: Record<string, unknown> = {};
          for (const w of sel) if ((v as Record<string, unknown>)[w.attr] !== undefined) ext[w.attr] = (v as Record<string, unknown>)[w.attr];
          if (Object.keys(ext).length) out[k] = ext;
        }
      } else if (want.some((w) => w.ext === null && w.attr === k)) out[k] = v;
    }
    return out;
  }
  const drop = selectors(dropRaw!, rt, 'excludedAttributes');
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'id' || k === 'schemas') out[k] = v;
    else if (rt.extensions.some((e) => e.schema.id === k)) {
      const sel = drop.filter((w) => w.ext === k);
      if (sel.some((w) => w.attr === '')) continue;
      const ext = { ...(v as Record<string, unknown>) };
      for (const w of sel) delete ext[w.attr];
      if (Object.keys(ext).length) out[k] = ext;
    } else if (!drop.some((w) => w.ext === null && w.attr === k)) out[k] = v;
  }
  return out;
}
