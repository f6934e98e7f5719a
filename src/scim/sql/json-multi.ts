/**
 * Attributes kept in a JSON document column (the `extra` of users and groups: phoneNumbers,
 * addresses, configured extension attributes ...). Multi-valued ones as SQL `exists` over the array's elements:
 * SQLite `json_each`, PostgreSQL `jsonb_array_elements`. Not indexed: these attributes are rarely
 * filtered on, and the scan reads only the rows the rest of the filter leaves.
 */
import { sql } from 'kysely';
import type { AttributeDef } from '../schemas.js';
import type { ElementScope, Target } from './filter-sql.js';
import type { Sql, SqlDialect, ValueExpr } from './values.js';

/**
 * A multi-valued attribute at `path` inside the JSON document `doc` (SQLite: JSON text; PostgreSQL: jsonb).
 * Elements that are not objects (complex) or not of the attribute's type (simple) never match.
 */
export function jsonMultiTarget(d: SqlDialect, def: AttributeDef, doc: Sql, path: string[]): Target {
  if (d.kind === 'postgres') {
    const p = sql`cast(${`{${path.map((k) => `"${k}"`).join(',')}}`} as text[])`;
    const arr = sql`(case when jsonb_typeof(${doc} #> ${p}) = 'array' then ${doc} #> ${p} else '[]'::jsonb end)`;
    const el: ElementScope = {
      value: (sub) => (sub ? d.jsonValue(sql`j.v`, [sub.name], sub) : d.jsonValue(sql`j.v`, [], def)),
    };
    return { kind: 'multi', def, exists: (cond) => sql`exists (select 1 from jsonb_array_elements(${arr}) as j(v) where ${cond(el)})` };
  }
  const p = `$${path.map((k) => `."${k}"`).join('')}`;
  const el: ElementScope = {
    value: (sub) => (sub ? d.jsonValue(sql`j.value`, [sub.name], sub) : sqliteAtom(d, def)),
  };
  return {
    kind: 'multi',
    def,
    exists: (cond) => sql`exists (select 1 from json_each(${doc}, ${p}) as j where json_type(${doc}, ${p}) = 'array'${def.type === 'complex' ? sql` and j.type = 'object'` : sql``} and ${cond(el)})`,
  };
}

/** A scalar element of a SQLite json_each row. */
function sqliteAtom(d: SqlDialect, def: AttributeDef): ValueExpr {
  if (def.type === 'boolean') return { kind: 'bool', def, isTrue: sql`(j.type = 'true')`, assigned: sql`(j.type in ('true', 'false'))` };
  if (def.type === 'integer' || def.type === 'decimal') return { kind: 'number', def, sql: sql`(case when j.type in ('integer', 'real') then j.atom end)` };
  return d.text(def, sql`(case when j.type = 'text' then j.atom end)`);
}

/** A resource's `extra` column (`alias.extra`) as a JSON document: text on SQLite, jsonb on PostgreSQL. */
export function extraDoc(d: SqlDialect, alias: 'u' | 'g'): Sql {
  return d.kind === 'postgres' ? sql`(${sql.ref(`${alias}.extra`)}::jsonb)` : sql.ref(`${alias}.extra`);
}

/** An attribute kept in a JSON document at `path`: multi-valued, singular complex, or a value. */
export function jsonAttributeTarget(d: SqlDialect, def: AttributeDef, doc: Sql, path: string[]): Target {
  if (def.multiValued) return jsonMultiTarget(d, def, doc, path);
  if (def.type === 'complex') return { kind: 'complex', def, sub: (s) => d.jsonValue(doc, [...path, s.name], s) };
  return { kind: 'value', value: d.jsonValue(doc, path, def) };
}

/** SQL listing the configured extension URNs present in `doc` (rows of one column `s`, each after `union all`). */
export function customSchemaRows(d: SqlDialect, urns: readonly string[], doc: Sql): Sql {
  return sql.join(
    urns.map((urn) => sql`union all select cast(${urn} as text) as s where ${d.kind === 'postgres' ? sql`jsonb_typeof(${doc} -> ${urn}) = 'object'` : sql`json_type(${doc}, ${`$."${urn}"`}) = 'object'`}`),
    sql` `,
  );
}
