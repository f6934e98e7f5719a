/**
 * Files the `gatehouse authz` commands read, in the formats of OpenFGA's CLI (`fga tuple write`,
 * `fga model test`): tuple files in YAML, JSON (a list of `{user, relation, object, condition?}`)
 * or CSV (header `user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context`),
 * and model files in DSL (`.fga`) or JSON.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { CsvError, parse as parseCsv } from 'csv-parse/sync';
import { parse as parseYaml } from 'yaml';
import { GatehouseError } from '../../kernel/errors.js';
import type { FgaTupleKey } from '../../authz/validation.js';

function bad(file: string, message: string): GatehouseError {
  return new GatehouseError('invalid_input', `${file}: ${message}`, { file });
}

/** Reads a whole file as UTF-8. @throws GatehouseError `invalid_input` when it cannot be read. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw bad(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Checks a parsed list of tuple keys. */
export function asTupleKeys(value: unknown, where: string): FgaTupleKey[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw bad(where, 'tuples must be a list of {user, relation, object}');
  return value.map((v, i) => {
    const k = v as Partial<FgaTupleKey> | null;
    if (!k || typeof k.user !== 'string' || typeof k.relation !== 'string' || typeof k.object !== 'string') {
      throw bad(where, `tuple ${i + 1} needs string user, relation and object`);
    }
    const key: FgaTupleKey = { user: k.user, relation: k.relation, object: k.object };
    if (k.condition) key.condition = { name: String(k.condition.name), ...(k.condition.context ? { context: k.condition.context } : {}) };
    return key;
  });
}

/** The columns of the CSV tuple format, in the order `fga tuple write` documents them. */
const CSV_COLUMNS = ['user_type', 'user_id', 'user_relation', 'relation', 'object_type', 'object_id', 'condition_name', 'condition_context'] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];
const REQUIRED_CSV_COLUMNS: CsvColumn[] = ['user_type', 'user_id', 'relation', 'object_type', 'object_id'];

/** `file: line N: message`, with `details.line`. */
function badLine(file: string, line: number, message: string): GatehouseError {
  return new GatehouseError('invalid_input', `${file}: line ${line}: ${message}`, { file, line });
}

/** The 1-based line a record starts on, from the line it ends on and the line breaks inside its (quoted) fields. */
function startLine(endLine: number, fields: readonly unknown[]): number {
  return endLine - fields.reduce<number>((n, f) => n + (typeof f === 'string' ? f.split('\n').length - 1 : 0), 0);
}

/** csv-parse's syntax error, in words that say how to fix the file. */
function csvSyntaxError(file: string, err: CsvError & { lines?: number; record?: string[] }): GatehouseError {
  const line = startLine(err.lines ?? 1, err.record ?? []);
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return badLine(file, line, 'a quoted field is not closed');
    case 'INVALID_OPENING_QUOTE':
      return badLine(file, line, 'a quote inside a field that does not start with one: quote the whole field and double the quotes in it ("{""a"": 1}")');
    case 'CSV_INVALID_CLOSING_QUOTE':
      return badLine(file, line, 'a quote inside a quoted field must be doubled ("")');
    default:
      return badLine(file, line, err.message);
  }
}

/**
 * Parses the CSV tuple format of `fga tuple write` (RFC 4180, parsed by csv-parse): a header
 * naming some of {@link CSV_COLUMNS} in any order (user_type, user_id, relation, object_type and
 * object_id required; condition_context only with condition_name), then one tuple per record with
 * exactly as many fields as the header. Fields are trimmed; empty lines are skipped; a byte-order
 * mark is ignored; CRLF inside a quoted field reads as LF, as OpenFGA's CLI (Go encoding/csv) reads it.
 * @throws GatehouseError `invalid_input` naming the file and the line (`details.line`, 1-based,
 *   where the record starts): a record with more or fewer fields than the header, an unknown,
 *   repeated or missing column, broken quoting, a condition_context that is not a JSON object or
 *   has no condition_name.
 */
export function parseTupleCsv(text: string, file: string): FgaTupleKey[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    // Field counts are checked below, against the header, to name both counts and the line.
    records = parseCsv(text.replace(/\r\n/g, '\n'), { bom: true, trim: true, skip_empty_lines: true, info: true, relax_column_count: true });
  } catch (err) {
    if (err instanceof CsvError) throw csvSyntaxError(file, err);
    throw err;
  }
  if (records.length === 0) return [];
  const [head, ...rows] = records as [(typeof records)[number], ...typeof records];
  const headerLine = startLine(head.info.lines, head.record);
  const col = new Map<CsvColumn, number>();
  head.record.forEach((name, i) => {
    if (!(CSV_COLUMNS as readonly string[]).includes(name)) throw badLine(file, headerLine, `unknown column '${name}' (the columns are ${CSV_COLUMNS.join(', ')})`);
    if (col.has(name as CsvColumn)) throw badLine(file, headerLine, `column '${name}' appears twice`);
    col.set(name as CsvColumn, i);
  });
  for (const required of REQUIRED_CSV_COLUMNS) {
    if (!col.has(required)) throw badLine(file, headerLine, `the header lacks '${required}'`);
  }
  if (col.has('condition_context') && !col.has('condition_name')) throw badLine(file, headerLine, "the header has 'condition_context' but not 'condition_name'");

  return rows.map(({ record, info }) => {
    const line = startLine(info.lines, record);
    if (record.length !== head.record.length) throw badLine(file, line, `${record.length} fields, but the header has ${head.record.length}`);
    const get = (name: CsvColumn) => {
      const i = col.get(name);
      return i === undefined ? '' : (record[i] ?? '');
    };
    const userRelation = get('user_relation');
    const key: FgaTupleKey = {
      user: `${get('user_type')}:${get('user_id')}${userRelation ? `#${userRelation}` : ''}`,
      relation: get('relation'),
      object: `${get('object_type')}:${get('object_id')}`,
    };
    const cond = get('condition_name');
    const ctxText = get('condition_context');
    if (!cond && ctxText) throw badLine(file, line, 'condition_context without condition_name');
    if (cond) {
      let context: unknown;
      if (ctxText) {
        try {
          context = JSON.parse(ctxText);
        } catch {
          throw badLine(file, line, 'condition_context is not JSON');
        }
        if (!context || typeof context !== 'object' || Array.isArray(context)) throw badLine(file, line, 'condition_context must be a JSON object');
      }
      key.condition = { name: cond, ...(context ? { context: context as Record<string, unknown> } : {}) };
    }
    return key;
  });
}

/**
 * Reads a tuple file: `.csv`, `.json`, or YAML (`.yaml`, `.yml`, anything else).
 * @throws GatehouseError `invalid_input` (unreadable file, bad syntax, malformed entries).
 */
export function readTupleFile(file: string): FgaTupleKey[] {
  const text = readText(file);
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return parseTupleCsv(text, file);
  let value: unknown;
  try {
    value = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw bad(file, `not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (value && typeof value === 'object' && !Array.isArray(value) && 'tuples' in value) value = (value as { tuples: unknown }).tuples;
  return asTupleKeys(value, file);
}
