/**
 * Files the `gatehouse authz` commands read, in the formats of OpenFGA's CLI (`fga tuple write`,
 * `fga model test`): tuple files in YAML, JSON (a list of `{user, relation, object, condition?}`)
 * or CSV (header `user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context`),
 * and model files in DSL (`.fga`) or JSON.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
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

/** Splits one CSV line (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

/** Parses the CSV tuple format of `fga tuple write`. */
export function parseTupleCsv(text: string, file: string): FgaTupleKey[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const header = csvFields(lines[0]!);
  const col = (name: string) => header.indexOf(name);
  for (const required of ['user_type', 'user_id', 'relation', 'object_type', 'object_id']) {
    if (col(required) < 0) throw bad(file, `CSV header lacks '${required}'`);
  }
  return lines.slice(1).map((line, i) => {
    const f = csvFields(line);
    const get = (name: string) => (col(name) >= 0 ? (f[col(name)] ?? '') : '');
    const userRelation = get('user_relation');
    const key: FgaTupleKey = {
      user: `${get('user_type')}:${get('user_id')}${userRelation ? `#${userRelation}` : ''}`,
      relation: get('relation'),
      object: `${get('object_type')}:${get('object_id')}`,
    };
    const cond = get('condition_name');
    if (cond) {
      const ctxText = get('condition_context');
      let context: Record<string, unknown> | undefined;
      if (ctxText) {
        try {
          context = JSON.parse(ctxText) as Record<string, unknown>;
        } catch {
          throw bad(file, `line ${i + 2}: condition_context is not JSON`);
        }
      }
      key.condition = { name: cond, ...(context ? { context } : {}) };
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
