/**
 * SQL value expressions for SCIM attributes, and the comparisons of RFC 7644 §3.4.2.2 on them,
 * written once for both backends so SQLite and PostgreSQL return the same rows:
 *
 * - text compares by code point on both (PostgreSQL with `COLLATE "C"`, SQLite's BINARY);
 * - case-insensitive attributes (caseExact false) compare either on a stored normalised column
 *   (`norm`: NFC + case folding, for userName, email addresses and group displayName, which are
 *   indexed) or after ASCII lower-casing on both sides (`ascii`: SQLite's `lower()` folds only
 *   ASCII, so PostgreSQL uses `translate()` to fold exactly the same letters);
 * - `co`, `sw`, `ew` never use LIKE (SQLite's LIKE ignores ASCII case even for caseExact
 *   attributes): `instr`/`strpos`, `substr`;
 * - a comparison on an unassigned attribute is false for every operator (`title ne "x"` does not
 *   match users without a title); `not` negates, so `not (title eq "x")` does.
 */
import { sql, type RawBuilder } from 'kysely';
import { normalizeIdentifier } from '../../kernel/normalize.js';
import type { StorageKind } from '../../storage/database.js';
import { scimInvalid } from '../errors.js';
import type { CompareOp, CompValue } from '../filter-parser.js';
import type { AttributeDef } from '../schemas.js';

export type Sql = RawBuilder<unknown>;

/** How a text value compares (see the file comment). */
export type Fold = 'exact' | 'ascii' | 'norm';

/** A SQL expression holding one attribute value of a row or element. */
export type ValueExpr =
  | {
      kind: 'text';
      def: AttributeDef;
      sql: Sql;
      fold: Fold;
      dateTime?: boolean;
      /** An index for substrings of at least 3 characters (SQLite FTS5 trigram): a condition narrowing the rows, rechecked exactly. */
      substringIndex?: (needle: string) => Sql;
    }
  /** A SQL boolean test that is true when the attribute is true; `assigned` when it can be unassigned. */
  | { kind: 'bool'; def: AttributeDef; isTrue: Sql; assigned?: Sql }
  | { kind: 'number'; def: AttributeDef; sql: Sql }
  /** A constant (meta.resourceType). */
  | { kind: 'const'; def: AttributeDef; value: string };

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';

/** Lower-cases A-Z only, as SQLite's `lower()` does. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The dialect-specific pieces of the translation. */
export class SqlDialect {
  constructor(readonly kind: StorageKind) {}

  /** ASCII-only lower-casing, identical on both backends. */
  foldAscii(x: Sql): Sql {
    return this.kind === 'postgres' ? sql`translate(${x}, ${sql.lit(UPPER)}, ${sql.lit(LOWER)})` : sql`lower(${x})`;
  }

  /** Text in code-point order (for gt/ge/lt/le and sorting). */
  binary(x: Sql): Sql {
    return this.kind === 'postgres' ? sql`(${x} COLLATE "C")` : x;
  }

  /** PostgreSQL: LIKE with every wildcard escaped (exact, case-sensitive; served by the trigram indexes of 0004_scim). */
  private like(x: Sql, pattern: string): Sql {
    return sql`(${x} like ${pattern} escape '\\')`;
  }

  contains(x: Sql, v: string): Sql {
    return this.kind === 'postgres' ? this.like(x, `%${escapeLike(v)}%`) : sql`instr(${x}, ${v}) > 0`;
  }

  startsWith(x: Sql, v: string): Sql {
    if (this.kind === 'postgres') return this.like(x, `${escapeLike(v)}%`);
    return sql`substr(${x}, 1, ${[...v].length}) = ${v}`;
  }

  endsWith(x: Sql, v: string): Sql {
    if (this.kind === 'postgres') return this.like(x, `%${escapeLike(v)}`);
    const n = [...v].length;
    return sql`(length(${x}) >= ${n} and substr(${x}, length(${x}) - ${n - 1}) = ${v})`;
  }

  false(): Sql {
    return this.kind === 'postgres' ? sql`false` : sql`0`;
  }

  true(): Sql {
    return this.kind === 'postgres' ? sql`true` : sql`1`;
  }

  /** `expr` as a two-valued boolean (NULL → false), for use under `not`. */
  definite(x: Sql): Sql {
    return sql`coalesce(${x}, ${this.false()})`;
  }

  /**
   * A JSON value inside a JSON document column or element: `doc` is the SQL expression of the
   * document (text on SQLite, jsonb on PostgreSQL), `path` the object keys (schema-defined names, never client text).
   */
  jsonValue(doc: Sql, path: string[], def: AttributeDef): ValueExpr {
    if (this.kind === 'postgres') {
      const p = sql`cast(${`{${path.map((k) => `"${k}"`).join(',')}}`} as text[])`;
      const node = path.length ? sql`(${doc} #> ${p})` : doc;
      switch (jsonKind(def)) {
        case 'bool':
          return { kind: 'bool', def, isTrue: sql`(${node} = 'true'::jsonb)`, assigned: sql`(jsonb_typeof(${node}) = 'boolean')` };
        case 'number':
          return { kind: 'number', def, sql: sql`(case when jsonb_typeof(${node}) = 'number' then (${node} #>> '{}')::numeric end)` };
        default:
          return this.text(def, sql`(case when jsonb_typeof(${node}) = 'string' then ${node} #>> '{}' end)`);
      }
    }
    const p = `$${path.map((k) => `."${k}"`).join('')}`;
    switch (jsonKind(def)) {
      case 'bool':
        return { kind: 'bool', def, isTrue: sql`(json_type(${doc}, ${p}) = 'true')`, assigned: sql`(json_type(${doc}, ${p}) in ('true', 'false'))` };
      case 'number':
        return { kind: 'number', def, sql: sql`(case when json_type(${doc}, ${p}) in ('integer', 'real') then json_extract(${doc}, ${p}) end)` };
      default:
        return this.text(def, sql`(case when json_type(${doc}, ${p}) = 'text' then json_extract(${doc}, ${p}) end)`);
    }
  }

  /** A text value with the fold its definition implies (`norm` only for the indexed normalised columns). */
  text(def: AttributeDef, x: Sql, fold?: Fold): ValueExpr {
    return { kind: 'text', def, sql: x, fold: fold ?? (def.caseExact ? 'exact' : 'ascii'), dateTime: def.type === 'dateTime' };
  }
}

function escapeLike(v: string): string {
  return v.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function jsonKind(def: AttributeDef): 'bool' | 'number' | 'text' {
  if (def.type === 'boolean') return 'bool';
  if (def.type === 'integer' || def.type === 'decimal') return 'number';
  return 'text';
}

function bad(detail: string): never {
  throw scimInvalid('invalidFilter', detail);
}

function readBoolean(v: CompValue, label: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
  return bad(`"${label}" is a boolean: compare it with true or false`);
}

/**
 * `value op compValue` as SQL. `label` names the attribute in error messages.
 * @throws GatehouseError `invalid_input` scimType `invalidFilter` for an operator the type does not
 *   support (gt/ge/lt/le on booleans and binary, co/sw/ew on non-strings) or a value of the wrong type.
 */
export function compare(d: SqlDialect, v: ValueExpr, op: CompareOp, compValue: CompValue, label: string): Sql {
  if (compValue === null) {
    // RFC 7644 leaves `eq null` open; Gatehouse reads it as "unassigned" and `ne null` as "assigned".
    if (op === 'eq') return sql`not (${d.definite(present(d, v))})`;
    if (op === 'ne') return present(d, v);
    return bad(`"${label} ${op} null" is not a comparison`);
  }
  switch (v.kind) {
    case 'const': {
      if (typeof compValue !== 'string') return bad(`"${label}" is a string: compare it with a JSON string`);
      const a = v.value.toLowerCase();
      const b = compValue.toLowerCase();
      const r = op === 'eq' ? a === b : op === 'ne' ? a !== b : op === 'co' ? a.includes(b) : op === 'sw' ? a.startsWith(b) : op === 'ew' ? a.endsWith(b) : op === 'gt' ? a > b : op === 'ge' ? a >= b : op === 'lt' ? a < b : a <= b;
      return r ? d.true() : d.false();
    }
    case 'bool': {
      if (op !== 'eq' && op !== 'ne') return bad(`"${label}" is a boolean: only eq, ne and pr apply`);
      const want = readBoolean(compValue, label) === (op === 'eq');
      const test = want ? v.isTrue : sql`not (${v.isTrue})`;
      return v.assigned ? sql`(${v.assigned} and ${test})` : test;
    }
    case 'number': {
      if (typeof compValue !== 'number') return bad(`"${label}" is a number: compare it with a JSON number`);
      if (v.def.type === 'integer' && !Number.isInteger(compValue) && (op === 'eq' || op === 'ne')) return op === 'eq' ? d.false() : present(d, v);
      const o = numberOps[op];
      if (!o) return bad(`"${label}" is a number: co, sw and ew do not apply`);
      return sql`(${v.sql} ${sql.raw(o)} ${compValue})`;
    }
    case 'text': {
      if (typeof compValue !== 'string') return bad(`"${label}" is a ${v.def.type}: compare it with a JSON string`);
      // PostgreSQL text cannot hold U+0000, and no stored value contains it (control characters are refused on input).
      if (compValue.includes('\u0000')) return bad(`the value compared with "${label}" contains U+0000`);
      if (v.def.type === 'binary' && ['gt', 'ge', 'lt', 'le'].includes(op)) return bad(`"${label}" is binary: gt, ge, lt and le do not apply`);
      if (v.dateTime) {
        if (op === 'co' || op === 'sw' || op === 'ew') return bad(`"${label}" is a dateTime: co, sw and ew do not apply`);
        const t = Date.parse(compValue);
        if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(compValue)) return bad(`"${compValue}" is not an xsd:dateTime (e.g. 2011-05-13T04:42:34Z)`);
        return sql`(${d.binary(v.sql)} ${sql.raw(numberOps[op]!)} ${new Date(t).toISOString()})`;
      }
      const x = v.fold === 'ascii' ? d.foldAscii(v.sql) : v.sql;
      const p = v.fold === 'norm' ? normalizeIdentifier(compValue) : v.fold === 'ascii' ? asciiLower(compValue) : compValue;
      switch (op) {
        case 'eq':
          return sql`(${x} = ${p})`;
        case 'ne':
          return sql`(${x} <> ${p})`;
        case 'co':
        case 'sw':
        case 'ew': {
          const exact = op === 'co' ? d.contains(x, p) : op === 'sw' ? d.startsWith(x, p) : d.endsWith(x, p);
          return v.substringIndex && [...p].length >= 3 ? sql`(${v.substringIndex(p)} and ${exact})` : exact;
        }
        default:
          return sql`(${d.binary(x)} ${sql.raw(numberOps[op]!)} ${p})`;
      }
    }
  }
}

const numberOps: Partial<Record<CompareOp, string>> = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' };

/** `attr pr`: assigned and not empty (RFC 7644 §3.4.2.2). */
export function present(d: SqlDialect, v: ValueExpr): Sql {
  switch (v.kind) {
    case 'const':
      return d.true();
    case 'bool':
      return v.assigned ?? d.true();
    case 'number':
      return sql`(${v.sql} is not null)`;
    case 'text':
      return sql`(${v.sql} is not null and ${v.sql} <> '')`;
  }
}
