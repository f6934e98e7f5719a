/**
 * Reads a SCIM resource representation sent by a client (POST, PUT, and the result of a PATCH)
 * into a canonical document: attribute names in their schema spelling (RFC 7643 §2.1: names
 * are case-insensitive), values type-checked against {@link ./schemas.ts}, string booleans
 * ("True"/"False", as Microsoft Entra ID sends) turned into booleans, readOnly attributes dropped
 * (RFC 7644 §3.5.1), and every unknown attribute refused with `invalidSyntax` — never ignored.
 */
import { scimInvalid } from './errors.js';
import { findAttribute, type AttributeDef, type ResourceTypeDef } from './schemas.js';

/** A canonical SCIM document: core attributes at the top, each extension under its schema URN. */
export type ScimDoc = Record<string, unknown>;

/** Common attributes (RFC 7643 §3.1) and other readOnly attributes a client may echo back; ignored on input. */
const IGNORED_READ_ONLY = new Set(['id', 'meta', 'groups']);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a boolean the way provisioning clients send it: JSON true/false, or the strings
 * "true"/"false" in any case (Microsoft Entra ID sends "True"/"False").
 * @returns the boolean, or undefined if `v` is neither.
 */
export function parseScimBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  return undefined;
}

/** Canonical spelling of each key of `obj` against `defs`; refuses unknown and duplicate (case-insensitive) keys. */
function* entries(obj: Record<string, unknown>, defs: readonly AttributeDef[], where: string): Generator<[AttributeDef, unknown]> {
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(obj)) {
    const def = findAttribute(defs, key);
    if (!def) throw scimInvalid('invalidSyntax', `unknown attribute "${where}${key}"`, { attribute: `${where}${key}` });
    if (seen.has(def.name)) throw scimInvalid('invalidSyntax', `attribute "${where}${def.name}" is given twice`, { attribute: `${where}${def.name}` });
    seen.add(def.name);
    yield [def, value];
  }
}

function readScalar(def: AttributeDef, value: unknown, path: string): unknown {
  const bad = (expected: string) => scimInvalid('invalidValue', `"${path}" must be ${expected}`, { attribute: path });
  switch (def.type) {
    case 'boolean': {
      const b = parseScimBoolean(value);
      if (b === undefined) throw bad('a boolean');
      return b;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw bad('an integer');
      return value;
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad('a number');
      return value;
    case 'dateTime':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw bad('an xsd:dateTime string');
      return value;
    case 'string':
    case 'reference':
    case 'binary':
      if (typeof value !== 'string') throw bad('a string');
      if (value.length > 4096) throw bad('at most 4096 characters');
      return value;
    default:
      throw bad('a simple value');
  }
}

function readComplex(def: AttributeDef, value: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw scimInvalid('invalidValue', `"${path}" must be an object`, { attribute: path });
  const out: Record<string, unknown> = {};
  for (const [sub, v] of entries(value, def.subAttributes ?? [], `${path}.`)) {
    if (sub.mutability === 'readOnly' || v === null || v === undefined) continue;
    out[sub.name] = readScalar(sub, v, `${path}.${sub.name}`);
  }
  return out;
}

/**
 * Validates one attribute value against its definition and returns it canonicalised.
 * `null` means unassigned (RFC 7643 §2.5) and is returned as null.
 * @throws GatehouseError `invalid_input` with scimType `invalidValue` (wrong type, more than one
 *   `primary`) or `invalidSyntax` (unknown sub-attribute).
 */
export function readAttributeValue(def: AttributeDef, value: unknown, path: string = def.name): unknown {
  if (value === null || value === undefined) return null;
  if (def.multiValued) {
    if (!Array.isArray(value)) throw scimInvalid('invalidValue', `"${path}" must be an array`, { attribute: path });
    if (value.length > 1000) throw scimInvalid('invalidValue', `"${path}" has more than 1000 values`, { attribute: path });
    const items = value.map((item, i) => {
      if (item === null) throw scimInvalid('invalidValue', `"${path}[${i}]" must not be null`, { attribute: path });
      return def.type === 'complex' ? readComplex(def, item, path) : readScalar(def, item, path);
    });
    if (items.filter((i) => isPlainObject(i) && i.primary === true).length > 1) {
      throw scimInvalid('invalidValue', `at most one value of "${path}" may be primary`, { attribute: path });
    }
    return items;
  }
  return def.type === 'complex' ? readComplex(def, value, path) : readScalar(def, value, path);
}

/**
 * Reads a resource representation into a canonical {@link ScimDoc}.
 *
 * @param body - the parsed JSON request body.
 * @param rt - the resource type (Users or Groups) whose schemas apply.
 * @param opts.requireSchemas - POST/PUT: `schemas` must be present and name the core schema (RFC 7643 §3).
 * @throws GatehouseError `invalid_input` (scimType `invalidSyntax` for a body that is not an object
 *   or holds an unknown attribute; `invalidValue` for a wrong type, a missing required attribute
 *   or an unknown schema URN).
 */
export function readResource(body: unknown, rt: ResourceTypeDef, opts: { requireSchemas: boolean }): ScimDoc {
  if (!isPlainObject(body)) throw scimInvalid('invalidSyntax', 'the request body must be a JSON object');
  const out: ScimDoc = {};
  const seen = new Set<string>();
  const allowedSchemas = [rt.schema.id, ...rt.extensions.map((e) => e.schema.id)];
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (seen.has(lower)) throw scimInvalid('invalidSyntax', `attribute "${key}" is given twice`, { attribute: key });
    seen.add(lower);
    if (lower === 'schemas') {
      if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) throw scimInvalid('invalidValue', '"schemas" must be an array of schema URNs');
      const canonical = value.map((s: string) => {
        const known = allowedSchemas.find((a) => a.toLowerCase() === s.toLowerCase());
        if (!known) throw scimInvalid('invalidValue', `schema "${s}" is not supported for ${rt.name} resources`, { schema: s });
        return known;
      });
      out.schemas = [...new Set(canonical)];
      continue;
    }
    if (IGNORED_READ_ONLY.has(lower)) continue;
    if (lower === 'externalid') {
      if (value !== null && typeof value !== 'string') throw scimInvalid('invalidValue', '"externalId" must be a string', { attribute: 'externalId' });
      if (typeof value === 'string' && value.length > 1024) throw scimInvalid('invalidValue', '"externalId" must be at most 1024 characters', { attribute: 'externalId' });
      out.externalId = value;
      continue;
    }
    const ext = rt.extensions.find((e) => e.schema.id.toLowerCase() === lower);
    if (ext) {
      if (value === null) continue;
      if (!isPlainObject(value)) throw scimInvalid('invalidValue', `"${ext.schema.id}" must be an object`, { attribute: ext.schema.id });
      const extOut: Record<string, unknown> = {};
      for (const [def, v] of entries(value, ext.schema.attributes, `${ext.schema.id}:`)) {
        if (def.mutability === 'readOnly') continue;
        extOut[def.name] = readAttributeValue(def, v, `${ext.schema.id}:${def.name}`);
      }
      out[ext.schema.id] = extOut;
      continue;
    }
    const def = findAttribute(rt.schema.attributes, key);
    if (!def) throw scimInvalid('invalidSyntax', `unknown attribute "${key}"`, { attribute: key });
    if (def.mutability === 'readOnly') continue;
    out[def.name] = readAttributeValue(def, value);
  }
  if (opts.requireSchemas) {
    const schemas = out.schemas as string[] | undefined;
    if (!schemas || !schemas.includes(rt.schema.id)) {
      throw scimInvalid('invalidValue', `"schemas" must include "${rt.schema.id}"`, { attribute: 'schemas' });
    }
  }
  for (const e of rt.extensions) {
    const v = out[e.schema.id] as Record<string, unknown> | undefined;
    if (opts.requireSchemas && e.required && !v) throw scimInvalid('invalidValue', `the extension "${e.schema.id}" is required`, { attribute: e.schema.id });
    if (!v) continue;
    for (const def of e.schema.attributes) {
      if (def.required && (v[def.name] === null || v[def.name] === undefined)) {
        throw scimInvalid('invalidValue', `"${e.schema.id}:${def.name}" is required`, { attribute: `${e.schema.id}:${def.name}` });
      }
    }
  }
  for (const def of rt.schema.attributes) {
    if (!def.required) continue;
    const v = out[def.name];
    if (v === null || v === undefined || (typeof v === 'string' && v.trim() === '')) {
      throw scimInvalid('invalidValue', `"${def.name}" is required`, { attribute: def.name });
    }
  }
  return out;
}

function assigned(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

/**
 * Enforces `immutable` (RFC 7643 §2.2: "may be defined at resource creation or in a replace
 * request if it was not previously set; SHALL NOT be updated") between the current document and
 * the one a PUT or PATCH would store. Removing an immutable value is a change too.
 * @throws GatehouseError `invalid_input` scimType `mutability`.
 */
export function checkImmutable(before: ScimDoc, after: ScimDoc, rt: ResourceTypeDef): void {
  const check = (defs: readonly AttributeDef[], b: Record<string, unknown>, a: Record<string, unknown>, prefix: string) => {
    for (const def of defs) {
      if (def.mutability === 'immutable' && assigned(b[def.name]) && JSON.stringify(b[def.name]) !== JSON.stringify(a[def.name] ?? null)) {
        throw scimInvalid('mutability', `"${prefix}${def.name}" is immutable: it cannot change once set`, { attribute: `${prefix}${def.name}` });
      }
      if (def.type === 'complex' && !def.multiValued && isPlainObject(b[def.name])) {
        check(def.subAttributes ?? [], b[def.name] as Record<string, unknown>, isPlainObject(a[def.name]) ? (a[def.name] as Record<string, unknown>) : {}, `${prefix}${def.name}.`);
      }
    }
  };
  check(rt.schema.attributes, before, after, '');
  for (const e of rt.extensions) {
    const b = before[e.schema.id];
    if (isPlainObject(b)) check(e.schema.attributes, b, isPlainObject(after[e.schema.id]) ? (after[e.schema.id] as Record<string, unknown>) : {}, `${e.schema.id}:`);
  }
}
