/**
 * SCIM PATCH (RFC 7644 §3.5.2), transport-free: reads a PatchOp request, parses attribute
 * paths (RFC 7644 §3.10: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, optionally
 * URN-qualified), and applies the operations to a copy of the resource's SCIM document. The
 * caller then validates the whole result ({@link ./resource.ts}) and stores it in ONE service
 * call, so a request applies all of its operations or none.
 *
 * Client compatibility (docs/scim-compatibility.md): operation names are case-insensitive
 * ("Replace", "Add", "Remove" from Microsoft Entra ID); `remove` of a multi-valued attribute
 * with a `value` array removes just those values (Entra's member removal); no-path operations
 * take an object whose keys are themselves paths (`"name.givenName"`, URN-qualified names); an
 * `add`/`replace` through a value filter made only of `eq` tests creates the missing value
 * (`emails[type eq "work"].value`); a complex attribute with a `value` sub-attribute (manager)
 * accepts a bare string.
 */
import { parseValueFilter, type Filter } from './filter-parser.js';
import { scimInvalid } from './errors.js';
import { isPlainObject, parseScimBoolean, type ScimDoc } from './resource.js';
import { findAttribute, PATCH_OP_SCHEMA, type AttributeDef, type ResourceTypeDef } from './schemas.js';

export type PatchOpName = 'add' | 'replace' | 'remove';

/** One operation of a PatchOp request. */
export interface PatchOperation {
  op: PatchOpName;
  path?: string;
  value?: unknown;
}

/** Largest number of operations accepted in one PATCH request. */
export const MAX_PATCH_OPERATIONS = 1000;

/**
 * Reads a PatchOp request body (RFC 7644 §3.5.2).
 * @throws GatehouseError `invalid_input` scimType `invalidSyntax` (not a PatchOp, unknown member,
 *   unknown op, no Operations) or `invalidValue` (too many operations, a path that is not a string).
 */
export function readPatchRequest(body: unknown): PatchOperation[] {
  if (!isPlainObject(body)) throw scimInvalid('invalidSyntax', 'the request body must be a JSON object');
  let schemas: unknown;
  let operations: unknown;
  for (const [k, v] of Object.entries(body)) {
    const key = k.toLowerCase();
    if (key === 'schemas') schemas = v;
    else if (key === 'operations') operations = v;
    else throw scimInvalid('invalidSyntax', `unknown member "${k}" in a PatchOp request`, { attribute: k });
  }
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase())) {
    throw scimInvalid('invalidSyntax', `"schemas" must be ["${PATCH_OP_SCHEMA}"]`, { attribute: 'schemas' });
  }
  if (!Array.isArray(operations) || operations.length === 0) throw scimInvalid('invalidSyntax', '"Operations" must be a non-empty array');
  if (operations.length > MAX_PATCH_OPERATIONS) throw scimInvalid('invalidValue', `at most ${MAX_PATCH_OPERATIONS} operations per request`);
  return operations.map((raw, i) => {
    if (!isPlainObject(raw)) throw scimInvalid('invalidSyntax', `Operations[${i}] must be an object`);
    const op: Partial<PatchOperation> = {};
    let hasValue = false;
    for (const [k, v] of Object.entries(raw)) {
      const key = k.toLowerCase();
      if (key === 'op') {
        const name = typeof v === 'string' ? v.toLowerCase() : '';
        if (name !== 'add' && name !== 'replace' && name !== 'remove') {
          throw scimInvalid('invalidSyntax', `Operations[${i}].op must be "add", "replace" or "remove"`);
        }
        op.op = name;
      } else if (key === 'path') {
        if (typeof v !== 'string' || !v.trim()) throw scimInvalid('invalidPath', `Operations[${i}].path must be a non-empty string`);
        op.path = v.trim();
      } else if (key === 'value') {
        op.value = v;
        hasValue = true;
      } else {
        throw scimInvalid('invalidSyntax', `unknown member "${k}" in Operations[${i}]`);
      }
    }
    if (!op.op) throw scimInvalid('invalidSyntax', `Operations[${i}].op is required`);
    if (op.op !== 'remove' && !hasValue) throw scimInvalid('invalidValue', `Operations[${i}] (${op.op}) needs a "value"`);
    if (op.op === 'remove' && !op.path) throw scimInvalid('noTarget', `Operations[${i}] (remove) needs a "path"`);
    return op as PatchOperation;
  });
}

/** A resolved attribute path. */
export type ParsedPath =
  | { kind: 'extension'; ext: string }
  | { kind: 'attribute'; ext: string | null; attr: AttributeDef; filter?: Filter; sub?: AttributeDef };

const COMMON: AttributeDef[] = [
  { name: 'externalId', type: 'string', multiValued: false, description: '', required: false, caseExact: true, mutability: 'readWrite', returned: 'default', uniqueness: 'none' },
  { name: 'id', type: 'string', multiValued: false, description: '', required: false, caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' },
  { name: 'meta', type: 'complex', multiValued: false, description: '', required: false, caseExact: false, mutability: 'readOnly', returned: 'default', uniqueness: 'none' },
  { name: 'schemas', type: 'reference', multiValued: true, description: '', required: true, caseExact: false, mutability: 'readOnly', returned: 'always', uniqueness: 'none' },
];

const PATH_RE = /^([A-Za-z$][\w$-]*)(?:\[(.*)\])?(?:\.([A-Za-z$][\w$-]*))?$/s;

/**
 * Parses an attribute path (RFC 7644 §3.10 ABNF `PATH = attrPath / valuePath [subAttr]`), with
 * names matched case-insensitively and an optional schema URN prefix.
 * @throws GatehouseError `invalid_input` scimType `invalidPath` for a path that does not name a
 *   supported attribute, or whose value filter does not parse.
 */
export function parsePath(path: string, rt: ResourceTypeDef): ParsedPath {
  let rest = path.trim();
  let ext: string | null = null;
  const lower = rest.toLowerCase();
  const schemas = [rt.schema, ...rt.extensions.map((e) => e.schema)].sort((a, b) => b.id.length - a.id.length);
  let matched = false;
  for (const s of schemas) {
    const id = s.id.toLowerCase();
    if (lower === id) {
      if (s === rt.schema) throw scimInvalid('invalidPath', `path "${path}" names a whole schema`, { path });
      return { kind: 'extension', ext: s.id };
    }
    if (lower.startsWith(`${id}:`)) {
      rest = rest.slice(id.length + 1);
      ext = s === rt.schema ? null : s.id;
      matched = true;
      break;
    }
  }
  if (!matched && lower.startsWith('urn:')) throw scimInvalid('invalidPath', `path "${path}" names an unsupported schema`, { path });
  const m = PATH_RE.exec(rest);
  if (!m) throw scimInvalid('invalidPath', `path "${path}" is not a valid attribute path`, { path });
  const [, attrName = '', filterText, subName] = m;
  const defs = ext ? (rt.extensions.find((e) => e.schema.id === ext)?.schema.attributes ?? []) : [...rt.schema.attributes, ...COMMON];
  const attr = findAttribute(defs, attrName);
  if (!attr) throw scimInvalid('invalidPath', `path "${path}": unknown attribute "${attrName}"`, { path });
  const out: ParsedPath = { kind: 'attribute', ext, attr };
  if (filterText !== undefined) {
    if (!attr.multiValued || attr.type !== 'complex') throw scimInvalid('invalidPath', `path "${path}": "${attr.name}" is not multi-valued`, { path });
    try {
      out.filter = parseValueFilter(filterText);
    } catch {
      throw scimInvalid('invalidPath', `path "${path}": the value filter does not parse`, { path });
    }
    checkFilterAttributes(out.filter, attr, path);
  }
  if (subName !== undefined) {
    const sub = findAttribute(attr.subAttributes ?? [], subName);
    if (!sub) throw scimInvalid('invalidPath', `path "${path}": unknown sub-attribute "${subName}"`, { path });
    if (attr.multiValued && filterText === undefined) throw scimInvalid('invalidPath', `path "${path}": a sub-attribute of a multi-valued attribute needs a value filter`, { path });
    out.sub = sub;
  }
  return out;
}

function checkFilterAttributes(f: Filter, attr: AttributeDef, path: string): void {
  switch (f.op) {
    case 'and':
    case 'or':
      for (const g of (f as { filters: Filter[] }).filters) checkFilterAttributes(g, attr, path);
      return;
    case 'not':
      checkFilterAttributes((f as { filter: Filter }).filter, attr, path);
      return;
    case '[]':
      throw scimInvalid('invalidPath', `path "${path}": nested value filters are not allowed`, { path });
    default: {
      const name = (f as { attrPath: string }).attrPath;
      if (!findAttribute(attr.subAttributes ?? [], name)) throw scimInvalid('invalidPath', `path "${path}": "${name}" is not a sub-attribute of "${attr.name}"`, { path });
    }
  }
}

/** The item's value for a sub-attribute, looked up case-insensitively. */
function subValue(item: Record<string, unknown>, name: string): unknown {
  const n = name.toLowerCase();
  for (const [k, v] of Object.entries(item)) if (k.toLowerCase() === n) return v;
  return undefined;
}

function setSub(item: Record<string, unknown>, name: string, value: unknown): void {
  const n = name.toLowerCase();
  for (const k of Object.keys(item)) if (k.toLowerCase() === n) delete item[k];
  item[name] = value;
}

function compare(def: AttributeDef, a: unknown, op: string, b: unknown): boolean {
  if (def.type === 'boolean') {
    const x = parseScimBoolean(a);
    const y = parseScimBoolean(b);
    if (op === 'eq') return x !== undefined && x === y;
    if (op === 'ne') return x !== y;
    return false;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    return op === 'eq' ? a === b : op === 'ne' ? a !== b : op === 'gt' ? a > b : op === 'ge' ? a >= b : op === 'lt' ? a < b : op === 'le' ? a <= b : false;
  }
  if (typeof a !== 'string' || typeof b !== 'string') return op === 'ne' ? a !== b : false;
  const x = def.caseExact ? a : a.toLowerCase();
  const y = def.caseExact ? b : b.toLowerCase();
  switch (op) {
    case 'eq': return x === y;
    case 'ne': return x !== y;
    case 'co': return x.includes(y);
    case 'sw': return x.startsWith(y);
    case 'ew': return x.endsWith(y);
    case 'gt': return x > y;
    case 'ge': return x >= y;
    case 'lt': return x < y;
    case 'le': return x <= y;
    default: return false;
  }
}

/** Whether a value of a multi-valued complex attribute matches a value filter. */
function matches(item: Record<string, unknown>, f: Filter, attr: AttributeDef): boolean {
  switch (f.op) {
    case 'and': return (f as { filters: Filter[] }).filters.every((g) => matches(item, g, attr));
    case 'or': return (f as { filters: Filter[] }).filters.some((g) => matches(item, g, attr));
    case 'not': return !matches(item, (f as { filter: Filter }).filter, attr);
    case 'pr': {
      const v = subValue(item, (f as { attrPath: string }).attrPath);
      return v !== undefined && v !== null && v !== '';
    }
    default: {
      const c = f as { attrPath: string; op: string; compValue: unknown };
      const def = findAttribute(attr.subAttributes ?? [], c.attrPath)!;
      return compare(def, subValue(item, def.name), c.op, c.compValue);
    }
  }
}

/** For a filter made only of `eq` tests joined by `and`, the sub-attribute values it asks for; else null. */
function equalities(f: Filter, attr: AttributeDef): Record<string, unknown> | null {
  if (f.op === 'eq') {
    const c = f as { attrPath: string; compValue: unknown };
    return { [findAttribute(attr.subAttributes ?? [], c.attrPath)!.name]: c.compValue };
  }
  if (f.op === 'and') {
    const out: Record<string, unknown> = {};
    for (const g of (f as { filters: Filter[] }).filters) {
      const e = equalities(g, attr);
      if (!e) return null;
      Object.assign(out, e);
    }
    return out;
  }
  return null;
}

function valueKey(item: unknown, attr: AttributeDef): string {
  if (isPlainObject(item)) {
    const v = subValue(item, 'value');
    if (v !== undefined) {
      const caseExact = findAttribute(attr.subAttributes ?? [], 'value')?.caseExact ?? false;
      return typeof v === 'string' && !caseExact ? `v:${v.toLowerCase()}` : `v:${JSON.stringify(v)}`;
    }
  }
  return `j:${JSON.stringify(item)}`;
}

/** Keeps `primary` unique: when `chosen` is primary, every other value loses it (RFC 7643 §2.4). */
function keepPrimaryUnique(items: Array<Record<string, unknown>>, chosen: Array<Record<string, unknown>>): void {
  const primary = chosen.find((c) => parseScimBoolean(subValue(c, 'primary')) === true);
  if (!primary) return;
  for (const i of items) if (i !== primary && parseScimBoolean(subValue(i, 'primary')) === true) setSub(i, 'primary', false);
}

function asItems(v: unknown): Array<Record<string, unknown>> {
  return Array.isArray(v) ? (v as Array<Record<string, unknown>>) : [];
}

function applyToPath(doc: ScimDoc, op: PatchOpName, p: ParsedPath, value: unknown, rt: ResourceTypeDef): void {
  if (p.kind === 'extension') {
    if (op === 'remove') {
      delete doc[p.ext];
      return;
    }
    if (!isPlainObject(value)) throw scimInvalid('invalidValue', `the value for "${p.ext}" must be an object`);
    for (const [k, v] of Object.entries(value)) applyToPath(doc, op, parsePath(`${p.ext}:${k}`, rt), v, rt);
    return;
  }
  const { attr, sub, filter } = p;
  const label = p.ext ? `${p.ext}:${attr.name}` : attr.name;
  if (attr.mutability === 'readOnly' || sub?.mutability === 'readOnly') {
    throw scimInvalid('mutability', `"${label}${sub ? `.${sub.name}` : ''}" is read-only`, { attribute: label });
  }
  let container: Record<string, unknown> = doc;
  if (p.ext) {
    if (!isPlainObject(doc[p.ext])) {
      if (op === 'remove') return;
      doc[p.ext] = {};
    }
    container = doc[p.ext] as Record<string, unknown>;
  }
  const name = attr.name;

  if (attr.multiValued) {
    const items = asItems(container[name]);
    if (!filter) {
      if (op === 'remove') {
        if (value === undefined || value === null) {
          delete container[name];
          return;
        }
        const toRemove = (Array.isArray(value) ? value : [value]).map((v) => {
          if (!isPlainObject(v) || subValue(v, 'value') === undefined) throw scimInvalid('invalidValue', `remove from "${label}" takes values with a "value"`, { attribute: label });
          return valueKey(v, attr);
        });
        container[name] = items.filter((i) => !toRemove.includes(valueKey(i, attr)));
        return;
      }
      const given = Array.isArray(value) ? value : [value];
      if (given.some((g) => g === null || (attr.type === 'complex' && !isPlainObject(g)))) {
        throw scimInvalid('invalidValue', `the values for "${label}" must be objects`, { attribute: label });
      }
      if (op === 'replace') {
        container[name] = [...given];
        return;
      }
      const keys = new Set(items.map((i) => valueKey(i, attr)));
      const added: Array<Record<string, unknown>> = [];
      for (const g of given as Array<Record<string, unknown>>) {
        const k = valueKey(g, attr);
        if (keys.has(k)) {
          // Already there (same `value`): not duplicated; the sub-attributes given are merged into it (RFC 7644 §3.5.2.1).
          const existing = items.find((i) => valueKey(i, attr) === k);
          if (isPlainObject(existing) && isPlainObject(g)) {
            for (const [sk, sv] of Object.entries(g)) setSub(existing, sk, sv);
            added.push(existing);
          }
          continue;
        }
        keys.add(k);
        added.push(g);
      }
      const next = [...items, ...added.filter((x) => !items.includes(x))];
      keepPrimaryUnique(next, added);
      container[name] = next;
      return;
    }
    const matched = items.filter((i) => isPlainObject(i) && matches(i, filter, attr));
    if (op === 'remove') {
      if (sub) for (const i of matched) delete i[Object.keys(i).find((k) => k.toLowerCase() === sub.name.toLowerCase()) ?? sub.name];
      else container[name] = items.filter((i) => !matched.includes(i));
      return;
    }
    if (matched.length === 0) {
      const seed = equalities(filter, attr);
      if (!seed) throw scimInvalid('noTarget', `no value of "${label}" matches the filter`, { attribute: label });
      const created: Record<string, unknown> = { ...seed };
      items.push(created);
      matched.push(created);
      container[name] = items;
    }
    for (const i of matched) {
      if (sub) setSub(i, sub.name, value);
      else {
        if (!isPlainObject(value)) throw scimInvalid('invalidValue', `the value for "${label}[…]" must be an object`, { attribute: label });
        if (op === 'replace') for (const k of Object.keys(i)) delete i[k];
        for (const [k, v] of Object.entries(value)) setSub(i, k, v);
      }
    }
    keepPrimaryUnique(items, matched);
    return;
  }

  if (attr.type === 'complex') {
    const current = isPlainObject(container[name]) ? (container[name] as Record<string, unknown>) : undefined;
    if (sub) {
      if (op === 'remove') {
        if (current) delete current[Object.keys(current).find((k) => k.toLowerCase() === sub.name.toLowerCase()) ?? sub.name];
        return;
      }
      const obj = current ?? {};
      setSub(obj, sub.name, value);
      container[name] = obj;
      return;
    }
    if (op === 'remove' || value === null) {
      delete container[name];
      return;
    }
    let v = value;
    if (typeof v === 'string' && findAttribute(attr.subAttributes ?? [], 'value')) v = { value: v };
    if (!isPlainObject(v)) throw scimInvalid('invalidValue', `the value for "${label}" must be an object`, { attribute: label });
    const obj = current ?? {};
    for (const [k, x] of Object.entries(v)) setSub(obj, k, x);
    container[name] = obj;
    return;
  }

  if (sub) throw scimInvalid('invalidPath', `"${label}" has no sub-attributes`, { attribute: label });
  if (op === 'remove') delete container[name];
  else container[name] = value;
}

/**
 * Applies PATCH operations, in order, to a copy of `doc` (a SCIM document as
 * {@link ./user-mapping.ts userToScim} / {@link ./group-mapping.ts groupToScim} produce it).
 * Neither `doc` nor `ops` is changed. The result is not yet validated: read it with `userInputFromScim` / `groupInputFromScim`.
 *
 * @throws GatehouseError `invalid_input` with scimType `invalidPath`, `noTarget`, `mutability`
 *   or `invalidValue`.
 */
export function applyPatch(doc: ScimDoc, ops: readonly PatchOperation[], rt: ResourceTypeDef): ScimDoc {
  const out = structuredClone(doc);
  for (const op of ops) {
    // The document takes a copy of the value: later operations change what an earlier one put
    // there in place, and `ops` must stay as sent, since an optimistic retry or a Bulk re-run
    // applies them again.
    const value = structuredClone(op.value);
    if (op.path !== undefined) {
      applyToPath(out, op.op, parsePath(op.path, rt), value, rt);
      continue;
    }
    if (!isPlainObject(value)) throw scimInvalid('invalidValue', `an "${op.op}" without "path" needs an object value`);
    for (const [key, v] of Object.entries(value)) {
      const k = key.toLowerCase();
      if (k === 'schemas') continue;
      if (k === 'id' && v === out.id) continue;
      applyToPath(out, op.op, parsePath(key, rt), v, rt);
    }
  }
  return out;
}
