/**
 * Translates a parsed SCIM filter (RFC 7644 §3.4.2.2) into one SQL boolean expression over the
 * resource's table, for both backends. Attribute names are resolved case-insensitively against
 * the resource type's schemas (RFC 7643 §2.1), optionally URN-qualified; each resolves to a
 * {@link Target} that a resource scope (src/scim/sql/user-scope.ts, group-scope.ts) supplies.
 * Multi-valued attributes match when any value matches (`emails co "x"` is `emails.value co
 * "x"`), and a value filter (`emails[type eq "work" and value co "@x"]`) requires one value to
 * satisfy all of it. Nothing is evaluated in memory; every client value is a bound parameter.
 */
import { sql } from 'kysely';
import { scimInvalid } from '../errors.js';
import { isGatehouseError } from '../../kernel/errors.js';
import type { CompareFilter, Filter, PresentFilter } from '../filter-parser.js';
import { COMMON_ATTRIBUTES, findAttribute, type AttributeDef, type ResourceTypeDef } from '../schemas.js';
import { compare, present, SqlDialect, type Sql, type ValueExpr } from './values.js';

/** The values of one element of a multi-valued attribute. */
export interface ElementScope {
  /** The element's sub-attribute (complex), or the element itself when `sub` is undefined (simple multi-valued). */
  value(sub: AttributeDef | undefined, label: string): ValueExpr;
}

/** What an attribute name stands for in SQL. */
export type Target =
  | { kind: 'value'; value: ValueExpr }
  /** A singular complex attribute (name, manager, meta). */
  | { kind: 'complex'; def: AttributeDef; sub(def: AttributeDef, label: string): ValueExpr }
  /** A multi-valued attribute: `exists(cond)` is true when some element satisfies `cond`. */
  | { kind: 'multi'; def: AttributeDef; exists(cond: (el: ElementScope) => Sql): Sql; sortValue?: () => Sql };

/** An attribute as the client named it, resolved against the schemas. */
export interface AttrRef {
  /** null for the core schema and common attributes. */
  schema: string | null;
  def: AttributeDef;
  sub?: AttributeDef;
  label: string;
}

/** A resource's row in SQL: resolves attributes to targets. */
export interface RowScope {
  readonly dialect: SqlDialect;
  readonly rt: ResourceTypeDef;
  target(ref: AttrRef): Target;
}

function bad(detail: string, scimType: 'invalidFilter' | 'invalidValue' = 'invalidFilter'): never {
  throw scimInvalid(scimType, detail);
}

/**
 * Resolves `attrPath` (`name`, `name.sub`, `urn:…:name[.sub]`) against `rt`. Unqualified names are
 * looked up in the core schema and the common attributes first, then in the extensions.
 * @throws GatehouseError `invalid_input` with `scimType` (default invalidFilter) for an unknown attribute or schema.
 */
export function resolveAttrPath(attrPath: string, rt: ResourceTypeDef, scimType: 'invalidFilter' | 'invalidValue' = 'invalidFilter'): AttrRef {
  let rest = attrPath;
  let schema: string | null = null;
  let defs: AttributeDef[] | null = null;
  const lower = attrPath.toLowerCase();
  const schemas = [rt.schema, ...rt.extensions.map((e) => e.schema)].sort((a, b) => b.id.length - a.id.length);
  for (const s of schemas) {
    if (lower.startsWith(`${s.id.toLowerCase()}:`)) {
      rest = attrPath.slice(s.id.length + 1);
      schema = s === rt.schema ? null : s.id;
      defs = s === rt.schema ? [...s.attributes, ...COMMON_ATTRIBUTES] : s.attributes;
      break;
    }
  }
  if (!defs && lower.startsWith('urn:')) bad(`"${attrPath}" names a schema this resource type does not have`, scimType);
  const [name = '', subName, more] = rest.split('.');
  if (more !== undefined) bad(`"${attrPath}" has more than one sub-attribute`, scimType);
  let def = findAttribute(defs ?? [...rt.schema.attributes, ...COMMON_ATTRIBUTES], name);
  if (!def && !defs) {
    const found = rt.extensions.map((e) => ({ e, d: findAttribute(e.schema.attributes, name) })).filter((x) => x.d);
    if (found.length === 1) {
      def = found[0]!.d;
      schema = found[0]!.e.schema.id;
    }
  }
  if (!def) bad(`unknown attribute "${attrPath}"`, scimType);
  const ref: AttrRef = { schema, def, label: attrPath };
  if (subName !== undefined) {
    const sub = findAttribute(def.subAttributes ?? [], subName);
    if (!sub) bad(`"${attrPath}": "${def.name}" has no sub-attribute "${subName}"`, scimType);
    ref.sub = sub;
  }
  return ref;
}

/** {@link resolveAttrPath}, or null (recorded in `unassigned`) for a name this type lacks in a cross-type search. */
function resolveOrUnassigned(attrPath: string, scope: RowScope, unassigned?: Map<string, unknown>): AttrRef | null {
  try {
    return resolveAttrPath(attrPath, scope.rt);
  } catch (err) {
    if (!unassigned || !isGatehouseError(err, 'invalid_input')) throw err;
    unassigned.set(attrPath.toLowerCase(), err);
    return null;
  }
}

function checkReadable(def: AttributeDef, label: string): void {
  if (def.mutability === 'writeOnly' || def.returned === 'never') bad(`"${label}" is write-only and cannot be used in a filter`);
}

function leaf(d: SqlDialect, v: ValueExpr, f: CompareFilter | PresentFilter, label: string, underNot: boolean): Sql {
  const expr = f.op === 'pr' ? present(d, v) : compare(d, v, f.op, f.compValue, label);
  return underNot ? d.definite(expr) : expr;
}

/** `value` sub-attribute of a complex attribute, used when a filter names the attribute alone (`emails co "x"`). */
function valueSub(def: AttributeDef, label: string): AttributeDef {
  const v = findAttribute(def.subAttributes ?? [], 'value');
  if (!v) bad(`"${label}" is complex: name one of its sub-attributes`);
  return v;
}

/**
 * A value filter's condition on one element. `mandatory` is true where the leaf must hold for the
 * element to match (the top level and under `and`): only there may a substring index narrow the
 * elements (src/scim/sql/user-scope.ts drives the element scan from it); elsewhere it is dropped.
 */
function elementFilter(d: SqlDialect, f: Filter, el: ElementScope, parent: AttributeDef, underNot: boolean, mandatory: boolean): Sql {
  switch (f.op) {
    case 'and':
    case 'or':
      return sql`(${sql.join(f.filters.map((g) => elementFilter(d, g, el, parent, underNot, mandatory && f.op === 'and')), sql.raw(` ${f.op} `))})`;
    case 'not':
      return sql`not (${elementFilter(d, f.filter, el, parent, true, false)})`;
    case '[]':
      return bad('value filters cannot be nested');
    default: {
      const sub = findAttribute(parent.subAttributes ?? [], f.attrPath);
      if (!sub) bad(`"${parent.name}" has no sub-attribute "${f.attrPath}"`);
      checkReadable(sub, `${parent.name}.${sub.name}`);
      return leaf(d, elementValue(el, sub, `${parent.name}.${sub.name}`, mandatory), f, `${parent.name}.${sub.name}`, underNot);
    }
  }
}

/** An element's value, without its substring index where the leaf is not mandatory (see {@link elementFilter}). */
function elementValue(el: ElementScope, sub: AttributeDef | undefined, label: string, mandatory: boolean): ValueExpr {
  const v = el.value(sub, label);
  if (mandatory || v.kind !== 'text' || !v.substringIndex) return v;
  const { substringIndex: _dropped, ...rest } = v;
  return rest;
}

/**
 * The SQL condition for filter `f` on rows of `scope`.
 * @throws GatehouseError `invalid_input` scimType `invalidFilter` (unknown or write-only
 *   attribute, an operator the attribute's type does not support, a value of the wrong type).
 * @param unassigned - a search across resource types (RFC 7644 §3.4.3): when given, an attribute this
 *   type does not have is unassigned here (its comparisons and `pr` are false) instead of an error,
 *   and its resolution error is recorded in the map under the lower-cased attribute path.
 */
export function filterToSql(f: Filter, scope: RowScope, underNot = false, unassigned?: Map<string, unknown>): Sql {
  const d = scope.dialect;
  switch (f.op) {
    case 'and':
    case 'or':
      return sql`(${sql.join(f.filters.map((g) => filterToSql(g, scope, underNot, unassigned)), sql.raw(` ${f.op} `))})`;
    case 'not':
      return sql`not (${filterToSql(f.filter, scope, true, unassigned)})`;
    case '[]': {
      const ref = resolveOrUnassigned(f.attrPath, scope, unassigned);
      if (!ref) return sql`1 = 0`;
      checkReadable(ref.def, ref.label);
      const t = scope.target(ref);
      if (t.kind !== 'multi' || ref.def.type !== 'complex') bad(`"${f.attrPath}[…]": a value filter needs a multi-valued complex attribute`);
      return t.exists((el) => elementFilter(d, f.valFilter, el, ref.def, false, true));
    }
    default: {
      const ref = resolveOrUnassigned(f.attrPath, scope, unassigned);
      if (!ref) return sql`1 = 0`;
      checkReadable(ref.def, ref.label);
      if (ref.sub) checkReadable(ref.sub, ref.label);
      const t = scope.target(ref);
      if (t.kind === 'value') return leaf(d, t.value, f, ref.label, underNot);
      if (t.kind === 'complex') {
        if (ref.sub) return leaf(d, t.sub(ref.sub, ref.label), f, ref.label, underNot);
        if (f.op === 'pr') {
          const subs = (ref.def.subAttributes ?? []).filter((s) => s.returned !== 'never').map((s) => present(d, t.sub(s, `${ref.label}.${s.name}`)));
          return underNot ? d.definite(sql`(${sql.join(subs, sql.raw(' or '))})`) : sql`(${sql.join(subs, sql.raw(' or '))})`;
        }
        return leaf(d, t.sub(valueSub(ref.def, ref.label), ref.label), f, ref.label, underNot);
      }
      // Multi-valued: some value matches (RFC 7644 §3.4.2.2).
      const sub = ref.sub ?? (ref.def.type === 'complex' ? (f.op === 'pr' ? undefined : valueSub(ref.def, ref.label)) : undefined);
      if (f.op === 'pr' && !ref.sub) return t.exists(() => d.true());
      return t.exists((el) => leaf(d, elementValue(el, sub, ref.label, true), f, ref.label, false));
    }
  }
}

/**
 * The SQL sort key for `sortBy` (RFC 7644 §3.4.2.3): a singular attribute's value (case-folded
 * when it is not caseExact), or a multi-valued attribute's primary (else first) value.
 * @throws GatehouseError `invalid_input` scimType `invalidValue` for an unknown or unsortable attribute.
 */
export function sortKey(sortBy: string, scope: RowScope): Sql {
  const d = scope.dialect;
  const ref = resolveAttrPath(sortBy, scope.rt, 'invalidValue');
  if (ref.def.mutability === 'writeOnly' || ref.def.returned === 'never') bad(`cannot sort by write-only "${sortBy}"`, 'invalidValue');
  const t = scope.target(ref);
  let v: ValueExpr | undefined;
  if (t.kind === 'value') v = t.value;
  else if (t.kind === 'complex') v = t.sub(ref.sub ?? valueSub(ref.def, ref.label), ref.label);
  else if (t.sortValue && !ref.sub) return t.sortValue();
  if (!v) return bad(`cannot sort by "${sortBy}"`, 'invalidValue');
  switch (v.kind) {
    case 'text':
      return d.binary(v.fold === 'ascii' ? d.foldAscii(v.sql) : v.sql);
    case 'bool':
      return v.assigned ? sql`(case when ${v.assigned} then (case when ${v.isTrue} then 1 else 0 end) end)` : sql`(case when ${v.isTrue} then 1 else 0 end)`;
    case 'number':
      return v.sql;
    case 'const':
      return sql`(case when 1 = 1 then 0 end)`;
  }
}
