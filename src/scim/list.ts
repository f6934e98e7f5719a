/**
 * SCIM queries (RFC 7644 §3.4.2, §3.4.3): the list parameters — `filter` (the whole grammar,
 * parsed by {@link parseFilter} and answered in SQL by src/scim/sql/), `sortBy` / `sortOrder`,
 * 1-based `startIndex` and `count`, `attributes` / `excludedAttributes` — read from a GET query
 * string or a POST `/.search` body, the ListResponse, and attribute projection.
 */
import { parseFilter, type Filter } from './filter-parser.js';
import type { Page } from '../identity/types.js';
import { scimInvalid } from './errors.js';
import { isPlainObject, type ScimDoc } from './resource.js';
import { findAttribute, LIST_RESPONSE_SCHEMA, type ResourceTypeDef } from './schemas.js';

/** Largest page (announced as `filter.maxResults` in /ServiceProviderConfig). */
export const MAX_RESULTS = 1000;
/** Page size when the client gives no `count`. */
export const DEFAULT_COUNT = 100;
/** The SearchRequest message schema (RFC 7644 §3.4.3). */
export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

export interface ListParams {
  /** 1-based. */
  startIndex: number;
  /** 0..MAX_RESULTS. */
  count: number;
  filter?: Filter;
  sortBy?: string;
  sortOrder: 'ascending' | 'descending';
}

function intParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '' || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) return Math.max(-1e9, Math.min(1e9, v));
  if (typeof v !== 'string' || !/^[+-]?\d{1,9}$/.test(v.trim())) throw scimInvalid('invalidValue', `"${name}" must be an integer`, { parameter: name });
  return Number.parseInt(v, 10);
}

function stringParam(v: unknown, name: string, scimType: 'invalidFilter' | 'invalidValue' = 'invalidValue'): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw scimInvalid(scimType, `give one "${name}" parameter, as a string`, { parameter: name });
  return v;
}

/**
 * Reads `filter`, `sortBy`, `sortOrder`, `startIndex` and `count` (RFC 7644 §3.4.2.2-§3.4.2.4):
 * a startIndex below 1 is 1, a negative count is 0, a count above {@link MAX_RESULTS} is
 * MAX_RESULTS; sortOrder is `ascending` (default) or `descending`, in any case.
 * @throws GatehouseError `invalid_input`: scimType `invalidFilter` for a bad filter, `invalidValue` for the rest.
 */
export function readListParams(query: Record<string, unknown>): ListParams {
  const startIndex = intParam(query.startIndex, 'startIndex') ?? 1;
  const count = intParam(query.count, 'count') ?? DEFAULT_COUNT;
  const out: ListParams = { startIndex: Math.max(1, startIndex), count: Math.min(MAX_RESULTS, Math.max(0, count)), sortOrder: 'ascending' };
  const filter = stringParam(query.filter, 'filter', 'invalidFilter');
  if (filter !== undefined) out.filter = parseFilter(filter);
  const sortBy = stringParam(query.sortBy, 'sortBy');
  if (sortBy !== undefined) out.sortBy = sortBy.trim();
  const order = stringParam(query.sortOrder, 'sortOrder');
  if (order !== undefined) {
    const o = order.trim().toLowerCase();
    if (o !== 'ascending' && o !== 'descending') throw scimInvalid('invalidValue', '"sortOrder" must be "ascending" or "descending"', { parameter: 'sortOrder' });
    out.sortOrder = o;
  }
  return out;
}

const SEARCH_MEMBERS = ['schemas', 'attributes', 'excludedAttributes', 'filter', 'sortBy', 'sortOrder', 'startIndex', 'count'];

/**
 * Reads a `POST /.search` body (RFC 7644 §3.4.3) into the same shape as a GET query string
 * (member names matched case-insensitively; `attributes` as arrays or comma-separated strings).
 * @throws GatehouseError `invalid_input` scimType `invalidSyntax` for a body that is not a SearchRequest.
 */
export function readSearchRequest(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) throw scimInvalid('invalidSyntax', 'the request body must be a SearchRequest JSON object');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    const name = SEARCH_MEMBERS.find((m) => m.toLowerCase() === k.toLowerCase());
    if (!name) throw scimInvalid('invalidSyntax', `unknown member "${k}" in a SearchRequest`, { attribute: k });
    out[name] = v;
  }
  const schemas = out.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === SEARCH_REQUEST_SCHEMA.toLowerCase())) {
    throw scimInvalid('invalidSyntax', `"schemas" must be ["${SEARCH_REQUEST_SCHEMA}"]`, { attribute: 'schemas' });
  }
  delete out.schemas;
  for (const k of ['attributes', 'excludedAttributes']) {
    const v = out[k];
    if (v === undefined) continue;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v.join(',');
    else if (typeof v !== 'string') throw scimInvalid('invalidValue', `"${k}" must be an array of attribute names`, { parameter: k });
  }
  return out;
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
  /** Skip names this resource type does not have (a search across resource types, RFC 7644 §3.4.3). */
  lenient?: boolean;
}

/** One attribute named in `attributes` / `excludedAttributes`: the document key (core name or extension URN), the attribute in it, and optionally a sub-attribute. */
type Selector = { key: string; attr: string | null; sub: string | null };

function selectors(list: string, rt: ResourceTypeDef, param: string, lenient = false): Selector[] {
  const out: Selector[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    try {
      out.push(selector(raw, rt, param));
    } catch (err) {
      if (!lenient) throw err;
    }
  }
  return out;
}

function selector(raw: string, rt: ResourceTypeDef, param: string): Selector {
  {
    {
      const lower = raw.toLowerCase();
      let rest = raw;
      let ext: ResourceTypeDef['extensions'][number]['schema'] | null = null;
      for (const s of [rt.schema, ...rt.extensions.map((e) => e.schema)].sort((a, b) => b.id.length - a.id.length)) {
        const id = s.id.toLowerCase();
        if (lower === id) {
          if (s === rt.schema) throw scimInvalid('invalidValue', `"${param}" names a whole core schema`, { parameter: param });
          return { key: s.id, attr: null, sub: null };
        }
        if (lower.startsWith(`${id}:`)) {
          rest = raw.slice(id.length + 1);
          ext = s === rt.schema ? null : s;
          break;
        }
      }
      const [top = '', subName] = rest.split('.');
      const common = ['id', 'externalId', 'meta', 'schemas'].find((c) => c.toLowerCase() === top.toLowerCase());
      let def = findAttribute(ext ? ext.attributes : rt.schema.attributes, top);
      let key = ext ? ext.id : null;
      if (!def && !ext && !common) {
        // An unqualified extension attribute name (e.g. `department`) when exactly one extension has it.
        const found = rt.extensions.filter((e) => findAttribute(e.schema.attributes, top));
        if (found.length === 1) {
          key = found[0]!.schema.id;
          def = findAttribute(found[0]!.schema.attributes, top);
        }
      }
      if (!def && !(common && !ext)) throw scimInvalid('invalidValue', `"${param}" names an unknown attribute "${raw}"`, { parameter: param });
      const name = def ? def.name : common!;
      let sub: string | null = null;
      if (subName !== undefined) {
        const subDef = def ? findAttribute(def.subAttributes ?? [], subName) : name === 'meta' ? { name: subName } : undefined;
        if (!subDef) throw scimInvalid('invalidValue', `"${param}" names an unknown sub-attribute "${raw}"`, { parameter: param });
        sub = subDef.name;
      }
      return key ? { key, attr: name, sub } : { key: name, attr: null, sub };
    }
  }
}

function pickSub(v: unknown, sub: string): unknown {
  const one = (o: unknown) => (isPlainObject(o) && o[sub] !== undefined ? { [sub]: o[sub] } : undefined);
  if (Array.isArray(v)) {
    const items = v.map(one).filter((x) => x !== undefined);
    return items.length ? items : undefined;
  }
  return one(v);
}

function dropSub(v: unknown, sub: string): unknown {
  const one = (o: unknown) => {
    if (!isPlainObject(o)) return o;
    const c = { ...o };
    delete c[sub];
    return Object.keys(c).length ? c : undefined;
  };
  if (Array.isArray(v)) {
    const items = v.map(one).filter((x) => x !== undefined);
    return items.length ? items : undefined;
  }
  return one(v);
}

function merge(a: unknown, b: unknown): unknown {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (isPlainObject(a) && isPlainObject(b)) return { ...a, ...b };
  if (Array.isArray(a) && Array.isArray(b)) return a.map((x, i) => merge(x, b[i]));
  return b;
}

/** Removes extension attributes whose `returned` is `request` (RFC 7643 §2.2): shown only when named in `attributes`. */
function withoutRequestOnly(doc: ScimDoc, rt: ResourceTypeDef): ScimDoc {
  let out = doc;
  for (const e of rt.extensions) {
    const hidden = e.schema.attributes.filter((a) => a.returned === 'request').map((a) => a.name);
    const v = doc[e.schema.id];
    if (!hidden.length || !isPlainObject(v) || !hidden.some((h) => v[h] !== undefined)) continue;
    const kept = Object.fromEntries(Object.entries(v).filter(([k]) => !hidden.includes(k)));
    out = { ...out };
    if (Object.keys(kept).length) out[e.schema.id] = kept;
    else {
      delete out[e.schema.id];
      if (Array.isArray(out.schemas)) out.schemas = (out.schemas as string[]).filter((s) => s !== e.schema.id);
    }
  }
  return out;
}

/** Attributes whose `returned` is `always` (RFC 7643 §2.2): `id`, `schemas`, and any so declared. */
function alwaysReturned(rt: ResourceTypeDef, key: string, attr: string | null): boolean {
  if (attr === null) return key === 'id' || key === 'schemas' || findAttribute(rt.schema.attributes, key)?.returned === 'always';
  const ext = rt.extensions.find((e) => e.schema.id === key);
  return findAttribute(ext?.schema.attributes ?? [], attr)?.returned === 'always';
}

/**
 * Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) to a document, down to
 * sub-attributes (`name.givenName`, `emails.value`). Attributes returned `always` (`id`,
 * `schemas`) are kept; excluding them has no effect.
 * @throws GatehouseError `invalid_input` scimType `invalidValue` for an unknown attribute name.
 */
export function project(doc: ScimDoc, p: Projection, rt: ResourceTypeDef): ScimDoc {
  const wantRaw = p.attributes?.join(',');
  const dropRaw = p.excludedAttributes?.join(',');
  if (!wantRaw) doc = withoutRequestOnly(doc, rt);
  if (!wantRaw && !dropRaw) return doc;
  const out: ScimDoc = {};
  if (wantRaw) {
    const want = selectors(wantRaw, rt, 'attributes', p.lenient);
    for (const [k, v] of Object.entries(doc)) {
      const isExt = rt.extensions.some((e) => e.schema.id === k);
      if (!isExt) {
        if (alwaysReturned(rt, k, null)) {
          out[k] = v;
          continue;
        }
        const sel = want.filter((w) => w.key === k && w.attr === null);
        if (sel.some((w) => w.sub === null)) out[k] = v;
        else {
          let picked: unknown;
          for (const w of sel) picked = merge(picked, pickSub(v, w.sub!));
          if (picked !== undefined) out[k] = picked;
        }
        continue;
      }
      const sel = want.filter((w) => w.key === k);
      if (sel.some((w) => w.attr === null)) {
        out[k] = v;
        continue;
      }
      const ext: Record<string, unknown> = {};
      for (const [a, av] of Object.entries(v as Record<string, unknown>)) {
        if (alwaysReturned(rt, k, a)) ext[a] = av;
        const s2 = sel.filter((w) => w.attr === a);
        if (s2.some((w) => w.sub === null)) ext[a] = av;
        else for (const w of s2) ext[a] = merge(ext[a], pickSub(av, w.sub!));
        if (ext[a] === undefined) delete ext[a];
      }
      if (Object.keys(ext).length) out[k] = ext;
    }
    if (Array.isArray(out.schemas)) out.schemas = (out.schemas as string[]).filter((s) => s === rt.schema.id || out[s] !== undefined);
    return out;
  }
  const drop = selectors(dropRaw!, rt, 'excludedAttributes', p.lenient);
  for (const [k, v] of Object.entries(doc)) {
    const isExt = rt.extensions.some((e) => e.schema.id === k);
    if (!isExt) {
      const sel = drop.filter((w) => w.key === k && w.attr === null);
      if (alwaysReturned(rt, k, null) || sel.length === 0) out[k] = v;
      else if (!sel.some((w) => w.sub === null)) {
        let kept: unknown = v;
        for (const w of sel) kept = dropSub(kept, w.sub!);
        if (kept !== undefined) out[k] = kept;
      }
      continue;
    }
    const sel = drop.filter((w) => w.key === k);
    if (sel.some((w) => w.attr === null)) continue;
    const ext: Record<string, unknown> = {};
    for (const [a, av] of Object.entries(v as Record<string, unknown>)) {
      const s2 = sel.filter((w) => w.attr === a);
      if (alwaysReturned(rt, k, a) || s2.length === 0) ext[a] = av;
      else if (!s2.some((w) => w.sub === null)) {
        let kept: unknown = av;
        for (const w of s2) kept = dropSub(kept, w.sub!);
        if (kept !== undefined) ext[a] = kept;
      }
    }
    if (Object.keys(ext).length) out[k] = ext;
  }
  if (Array.isArray(out.schemas)) out.schemas = (out.schemas as string[]).filter((s) => s === rt.schema.id || out[s] !== undefined);
  return out;
}
