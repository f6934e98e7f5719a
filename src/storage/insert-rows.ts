/**
 * Multi-row INSERTs for the hottest writes (user creation, audit events) without building and
 * compiling a Kysely query each time: the SQL text of a (table, columns, row count, backend) is
 * made once and kept; only the parameters change. At 100,000 users provisioned over SCIM,
 * building and compiling the three inserts of a user cost more CPU than SQLite ran them in.
 */
import { CompiledQuery, PostgresAdapter, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { prepareOnPostgres } from './prepared.js';

/** One table's insert: its name and its rows, all with the same keys (the columns, taken from the first row; `undefined` is stored as NULL). */
export interface RowsInsert<T extends keyof Database & string> {
  table: T;
  rows: ReadonlyArray<Partial<Record<keyof Database[T] & string, unknown>>>;
}

interface Resolved {
  table: string;
  columns: string[];
  rows: ReadonlyArray<Record<string, unknown>>;
}

const texts = new Map<string, string>();

/** Statements with at most this many parameters run as named prepared statements on PostgreSQL (see storage/prepared.ts). */
const MAX_PREPARED_PARAMS = 1000;

/** True when `db` talks to PostgreSQL (`$n` placeholders; data-modifying WITH). */
export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

function valuesText(columns: readonly string[], rowCount: number, pg: boolean, firstParam: number): string {
  let n = firstParam;
  const rows: string[] = [];
  for (let r = 0; r < rowCount; r++) rows.push(`(${columns.map(() => (pg ? `$${n++}` : '?')).join(', ')})`);
  return rows.join(', ');
}

function insertText(i: Resolved, pg: boolean, firstParam: number): string {
  return `insert into "${i.table}" (${i.columns.map((c) => `"${c}"`).join(', ')}) values ${valuesText(i.columns, i.rows.length, pg, firstParam)}`;
}

function parametersOf(inserts: readonly Resolved[]): unknown[] {
  const out: unknown[] = [];
  for (const i of inserts) for (const row of i.rows) for (const c of i.columns) out.push(row[c] ?? null);
  return out;
}

/**
 * A statement run after the inserts of {@link insertRowsThen} (on PostgreSQL in the same
 * statement): `key` names its SQL text, `sqlOf` writes it with `param(i)` as the placeholder of
 * `params[i]`. It must not read the inserted rows (on PostgreSQL it does not see them).
 */
export interface FinalStatement {
  key: string;
  sqlOf: (param: (i: number) => string) => string;
  params: readonly unknown[];
  /** PostgreSQL only: more WITH queries (`"name" as (…)`), after the inserts', that `sqlOf` may read; their placeholders are `params`' too. */
  withsOf?: (param: (i: number) => string) => string[];
}

/**
 * Inserts rows into several tables in one statement on PostgreSQL (each but the last as a
 * data-modifying WITH, in order; foreign keys are checked at the end of the statement) and in
 * one statement per table on SQLite (where a statement is no round trip). Tables without rows
 * are skipped. Errors are the driver's (e.g. a unique violation, whose `table` names the table on PostgreSQL).
 */
export async function insertRows(db: Kysely<Database>, ...given: Array<RowsInsert<keyof Database & string>>): Promise<void> {
  await insertRowsThen(db, given);
}

/**
 * As {@link insertRows}, then `final` (an UPDATE of another table, say): on PostgreSQL the
 * inserts become data-modifying WITHs of `final`, one statement and one round trip for all.
 */
export async function insertRowsThen(db: Kysely<Database>, given: ReadonlyArray<RowsInsert<keyof Database & string>>, final?: FinalStatement): Promise<void> {
  const inserts: Resolved[] = given.filter((i) => i.rows.length > 0).map((i) => ({ table: i.table, columns: Object.keys(i.rows[0]!), rows: i.rows as ReadonlyArray<Record<string, unknown>> }));
  if (inserts.length === 0 && !final) return;
  const pg = isPostgres(db);
  if (!pg) {
    for (const i of inserts) {
      const key = `s|${i.table}|${i.columns.join(',')}|${i.rows.length}`;
      let text = texts.get(key);
      if (text === undefined) {
        if (texts.size > 1000) texts.clear();
        texts.set(key, (text = insertText(i, false, 1)));
      }
      await db.executeQuery(CompiledQuery.raw(text, parametersOf([i])));
    }
    if (final?.withsOf) throw new Error('insertRowsThen: WITH queries need PostgreSQL');
    if (final) await db.executeQuery(CompiledQuery.raw(finalText(final, false, 1), [...final.params]));
    return;
  }
  const key = `p|${inserts.map((i) => `${i.table}|${i.columns.join(',')}|${i.rows.length}`).join('|')}|${final?.key ?? ''}`;
  let text = texts.get(key);
  if (text === undefined) {
    let param = 1;
    const parts = inserts.map((i) => {
      const t = insertText(i, true, param);
      param += i.columns.length * i.rows.length;
      return t;
    });
    if (final) parts.push(finalText(final, true, param));
    const last = parts.pop()!;
    const withs = parts.map((p, k) => `"w${k}" as (${p})`);
    if (final?.withsOf) withs.push(...final.withsOf((i) => `$${param + i}`));
    text = withs.length === 0 ? last : `with ${withs.join(', ')} ${last}`;
    // A statement of a few rows (a single write: one user with its emails and audit event) is
    // prepared once per connection; a bulk insert's, with thousands of parameters, is not kept.
    if (param - 1 + (final?.params.length ?? 0) <= MAX_PREPARED_PARAMS) prepareOnPostgres(text);
    if (texts.size > 1000) texts.clear();
    texts.set(key, text);
  }
  const params = parametersOf(inserts);
  if (final) params.push(...final.params);
  await db.executeQuery(CompiledQuery.raw(text, params));
}

function finalText(final: FinalStatement, pg: boolean, firstParam: number): string {
  return final.sqlOf((i) => (pg ? `$${firstParam + i}` : '?'));
}
