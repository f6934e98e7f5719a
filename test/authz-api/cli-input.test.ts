/**
 * Fresh-eyes tester: `gatehouse authz import` and tuple files quietly did what the API refuses.
 * `--name` longer than 64 characters was cut to 64; a folder with both tuples.yaml and
 * tuples.json (or two model files) imported one of them; a CSV row with more (or fewer) fields
 * than its header was written, the extra fields dropped. Each is now refused with invalid_input
 * and exit 2, before anything is written. A folder with no tuple file still imports (a store with
 * a model and no tuples), and says so on stderr.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTupleCsv } from '../../src/cli/commands/authz-files.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { describeEachBackend } from '../support/backends.js';
import { ensureBuilt, runCli } from '../support/cli.js';

const HEADER6 = 'user_type,user_id,user_relation,relation,object_type,object_id';
const HEADER8 = `${HEADER6},condition_name,condition_context`;

/** The invalid_input error `parseTupleCsv` throws, as `{ message, line }`. */
function csvError(text: string): { message: string; line: unknown } {
  try {
    parseTupleCsv(text, 'x.csv');
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    const e = err as GatehouseError;
    expect(e.code).toBe('invalid_input');
    return { message: e.message, line: e.details?.line };
  }
  throw new Error('parseTupleCsv accepted the file');
}

describe('CSV tuple files', () => {
  it('refuses a row with more or fewer fields than the header, naming its line', () => {
    expect(csvError(`${HEADER6}\nuser,csv7,,owner,doc,c0\nuser,csv8,,owner,doc,c1,,,,junk,more\n`)).toEqual({
      message: 'x.csv: line 3: 11 fields, but the header has 6',
      line: 3,
    });
    expect(csvError(`${HEADER8}\nuser,csv8,,owner,doc\n`)).toEqual({ message: 'x.csv: line 2: 5 fields, but the header has 8', line: 2 });
    // A trailing comma is one more (empty) field.
    expect(csvError(`${HEADER6}\nuser,csv8,,owner,doc,c1,\n`)).toEqual({ message: 'x.csv: line 2: 7 fields, but the header has 6', line: 2 });
  });

  it('counts lines as an editor does: a quoted field may span lines, blank lines count', () => {
    const text = `${HEADER8}\r\n\r\nuser,a,,owner,doc,1,in_office,"{\r\n""office"": ""10.0.0.0/8""}"\r\nuser,b,,owner,doc,2,,,x\r\n`;
    expect(csvError(text)).toEqual({ message: 'x.csv: line 5: 9 fields, but the header has 8', line: 5 });
    // A record that spans lines is named by the line it starts on.
    expect(csvError(`${HEADER8}\nuser,a,,owner,doc,1,in_office,"{\n""office"": ""10.0.0.0/8""}",extra\n`).line).toBe(2);
  });

  it('refuses unknown, repeated and missing header columns, and a context without a condition name', () => {
    expect(csvError('user_type,user_id,relation,object_type,object_id,colour\n').message).toBe(
      "x.csv: line 1: unknown column 'colour' (the columns are user_type, user_id, user_relation, relation, object_type, object_id, condition_name, condition_context)",
    );
    expect(csvError('user_type,user_id,relation,object_type,object_id,user_id\nuser,a,owner,doc,1,b\n').message).toBe("x.csv: line 1: column 'user_id' appears twice");
    expect(csvError('user,relation\nuser:a,viewer\n').message).toMatch(/^x\.csv: line 1: unknown column 'user'/);
    expect(csvError('user_type,user_id,object_type,object_id\nuser,a,doc,1\n').message).toBe("x.csv: line 1: the header lacks 'relation'");
    expect(csvError('user_type,user_id,relation,object_type,object_id,condition_context\nuser,a,owner,doc,1,{}\n').message).toBe(
      "x.csv: line 1: the header has 'condition_context' but not 'condition_name'",
    );
  });

  it('refuses broken quoting and a condition_context that is not a JSON object, naming the line', () => {
    expect(csvError(`${HEADER8}\nuser,a,,owner,doc,1,c,"{""x"": 1}\n`).message).toMatch(/^x\.csv: line 2: /);
    expect(csvError(`${HEADER8}\nuser,a,,owner,doc,1,c,{"x": 1}\n`).message).toMatch(/^x\.csv: line 2: /);
    expect(csvError(`${HEADER8}\nuser,a,,owner,doc,1,c,[1]\n`).message).toBe('x.csv: line 2: condition_context must be a JSON object');
    expect(csvError(`${HEADER8}\nuser,a,,owner,doc,1,c,{x}\n`).message).toBe('x.csv: line 2: condition_context is not JSON');
    expect(csvError(`${HEADER8}\nuser,a,,owner,doc,1,,"{""x"": 1}"\n`).message).toBe('x.csv: line 2: condition_context without condition_name');
  });

  it('still reads well-formed files: any column order, a BOM, CRLF, blank lines, spaces around fields', () => {
    const text = `\uFEFFobject_id,object_type,relation,user_id,user_type\r\n1, doc ,owner,anne,user\r\n\r\n2,doc,owner,bob,user\r\n\r\n`;
    expect(parseTupleCsv(text, 'x.csv')).toEqual([
      { user: 'user:anne', relation: 'owner', object: 'doc:1' },
      { user: 'user:bob', relation: 'owner', object: 'doc:2' },
    ]);
    expect(parseTupleCsv('', 'x.csv')).toEqual([]);
    expect(parseTupleCsv(`${HEADER8}\n`, 'x.csv')).toEqual([]);
  });
});

const MODEL = 'model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define owner: [user]\n';
const TUPLE_YAML = '- user: user:a\n  relation: owner\n  object: doc:1\n';

describeEachBackend('gatehouse authz import and tuples write refuse what the API refuses', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let dir: string;
  const gatehouse = (args: string[]) => runCli(args, { GATEHOUSE_DATABASE_URL: url });
  const stores = () => {
    const r = gatehouse(['authz', 'store', 'list']);
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout).stores as Array<{ id: string; name: string; default: boolean }>).map((s) => `${s.name}${s.default ? ' (default)' : ''}`).sort();
  };
  const folder = (name: string, files: Record<string, string>) => {
    const f = join(dir, name);
    mkdirSync(f, { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(f, file), text);
    return f;
  };
  const refused = (args: string[], message: string) => {
    const r = gatehouse(args);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(r.stderr).toContain(`error [invalid_input]: ${message}`);
  };

  beforeAll(async () => {
    await ensureBuilt();
    ({ url, drop } = await backend.create());
    dir = mkdtempSync(join(tmpdir(), 'gh-cli-input-'));
  }, 180_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await drop?.();
  });

  it('import: a name over 64 characters, two tuple files, two model files or a bad CSV row create no store', () => {
    const before = stores();
    const ok = folder('ok', { 'model.fga': MODEL, 'tuples.yaml': TUPLE_YAML });
    refused(['authz', 'import', ok, '--name', 'n'.repeat(65)], '--name must be 1 to 64 characters (it has 65)');
    const longFolder = folder('f'.repeat(65), { 'model.fga': MODEL });
    refused(['authz', 'import', longFolder], `the folder name is ${65} characters, more than a store name's 64: give --name`);
    const twoTuples = folder('two-tuples', { 'model.fga': MODEL, 'tuples.yaml': TUPLE_YAML, 'tuples.json': '[]' });
    refused(['authz', 'import', twoTuples], `${twoTuples}: more than one tuple file (tuples.yaml, tuples.json): keep one`);
    const twoModels = folder('two-models', { 'model.fga': MODEL, 'model.json': '{}', 'tuples.yaml': TUPLE_YAML });
    refused(['authz', 'import', twoModels], `${twoModels}: more than one model file (model.fga, model.json): keep one`);
    const badCsv = folder('bad-csv', { 'model.fga': MODEL, 'tuples.csv': `${HEADER6}\nuser,csv7,,owner,doc,c0\nuser,csv8,,owner,doc,c1,,,,junk,more\n` });
    refused(['authz', 'import', badCsv], `${join(badCsv, 'tuples.csv')}: line 3: 11 fields, but the header has 6`);
    expect(stores()).toEqual(before);
  }, 300_000);

  it('import: a folder without a tuple file makes a store with the model and no tuples, and says so', () => {
    const name = 'n'.repeat(64);
    const modelOnly = folder('model-only', { 'model.fga': MODEL });
    const r = gatehouse(['authz', 'import', modelOnly, '--name', name, '--default']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name, default: true, tuples: 0 });
    expect(r.stderr).toContain(`note: ${modelOnly} has no tuple file (tuples.yaml, tuples.yml, tuples.json or tuples.csv): the store has the model and no tuples`);
    expect(stores()).toContain(`${name} (default)`);
  }, 300_000);

  it('tuples write: a CSV row with extra fields writes nothing, not even the rows before it', () => {
    const file = join(dir, 'extra.csv');
    writeFileSync(file, `${HEADER6}\nuser,csv7,,owner,doc,c1\nuser,csv8,,owner,doc,c1,,,,junk,more\n`);
    refused(['authz', 'tuples', 'write', file], `${file}: line 3: 11 fields, but the header has 6`);
    const users = gatehouse(['authz', 'list-users', 'doc:c1', 'owner', '--filter', 'user']);
    expect({ status: users.status, out: JSON.parse(users.stdout) }).toEqual({ status: 0, out: { users: [] } });
  }, 300_000);
});
