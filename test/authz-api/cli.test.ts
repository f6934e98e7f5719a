/**
 * `gatehouse authz …` run as an operator runs it (a child process on the sources), on both
 * backends; and the `fga model test` runner on the fixtures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';
import { formatReport, runModelTests } from '../../src/cli/commands/authz-test.js';
import { parseTupleCsv } from '../../src/cli/commands/authz-files.js';
import { describeEachBackend } from '../support/backends.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(import.meta.dirname, 'fixtures');

function cli(args: string[], databaseUrl: string): { status: number | null; stdout: string; stderr: string; json: any } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_LOG_LEVEL: 'warn' },
    timeout: 120_000,
  });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

describe('tuple files', () => {
  it('reads the CSV format of fga tuple write, with conditions and quoting', () => {
    const keys = parseTupleCsv(
      'user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context\nuser,anne,,member,team,eng,,\nteam,eng,member,editor,document,spec,in_office,"{""office"": ""10.0.0.0/8""}"\n',
      'x.csv',
    );
    expect(keys).toEqual([
      { user: 'user:anne', relation: 'member', object: 'team:eng' },
      { user: 'team:eng#member', relation: 'editor', object: 'document:spec', condition: { name: 'in_office', context: { office: '10.0.0.0/8' } } },
    ]);
    expect(() => parseTupleCsv('user,relation\nuser:a,viewer\n', 'bad.csv')).toThrow(/bad\.csv: line 1: unknown column 'user'/);
    expect(() => parseTupleCsv('user_id,relation,object_type,object_id\na,viewer,doc,1\n', 'bad.csv')).toThrow(/lacks 'user_type'/);
  });
});

describe('gatehouse authz test (fga model test format)', () => {
  let gh: Gatehouse;
  beforeAll(async () => {
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: 'sqlite::memory:', logLevel: 'silent' }), logger: createLogger('silent') });
  });
  afterAll(async () => gh?.close());

  it('runs every check, list_objects and list_users assertion of the fixture', async () => {
    const report = await runModelTests(gh, join(FIXTURES, 'docs.fga.yaml'));
    const failing = report.results.filter((x) => !x.passed);
    expect(failing).toEqual([]);
    expect(report.tests).toEqual({ total: 2, passed: 2 });
    expect(report.checks).toEqual({ total: 11, passed: 11 });
    expect(report.listObjects).toEqual({ total: 3, passed: 3 });
    expect(report.listUsers).toEqual({ total: 2, passed: 2 });
    expect(formatReport(report)).toContain('Checks 11/11 passing');
  });

  it('reports failing assertions with expected and actual values', async () => {
    const report = await runModelTests(gh, join(FIXTURES, 'failing.fga.yaml'));
    expect(report.tests).toEqual({ total: 1, passed: 0 });
    expect(report.checks).toEqual({ total: 1, passed: 0 });
    expect(report.listObjects).toEqual({ total: 1, passed: 1 });
    const text = formatReport(report);
    expect(text).toContain('(FAILING) wrong expectation: Check(user=user:anne,relation=viewer,object=doc:1): expected=false, got=true');
    expect(text).toContain('Tests 0/1 passing');
  });

  it('exits 1 when an assertion fails and 0 when all pass', () => {
    const ok = cli(['authz', 'test', join(FIXTURES, 'docs.fga.yaml')], 'sqlite::memory:');
    expect(ok.stdout).toContain('Tests 2/2 passing');
    expect(ok.status).toBe(0);
    const bad = cli(['authz', 'test', join(FIXTURES, 'failing.fga.yaml')], 'sqlite::memory:');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('(FAILING)');
  }, 60_000);
});

describeEachBackend('gatehouse authz commands', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let dir: string;
  beforeAll(async () => {
    ({ url, drop } = await backend.create());
    dir = mkdtempSync(join(tmpdir(), 'gh-authz-cli-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await drop?.();
  });

  it('creates a default store and writes a model; an invalid model names the file, line and column', () => {
    const store = cli(['authz', 'store', 'create', 'docs', '--default'], url);
    expect(store.status).toBe(0);
    expect(store.json).toMatchObject({ name: 'docs', default: true });
    const bad = join(dir, 'bad.fga');
    writeFileSync(bad, 'model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [usr]\n');
    const rejected = cli(['authz', 'model', 'write', bad], url);
    expect(rejected.status).toBe(2);
    expect(rejected.stderr).toContain(`error [invalid_input]: ${bad}: invalid authorization model: line 6, column 21: \`usr\` is not a valid type.`);
    const model = cli(['authz', 'model', 'write', join(FIXTURES, 'docs.fga')], url);
    expect(model.status).toBe(0);
    expect(model.json.store_id).toBe(store.json.id);
  }, 300_000);

  it('writes tuples from CSV and YAML files; a duplicate fails unless --on-duplicate ignore', () => {
    expect(cli(['authz', 'tuples', 'write', join(FIXTURES, 'tuples.csv')], url).json).toMatchObject({ written: 5 });
    writeFileSync(join(dir, 't.yaml'), '- user: folder:sub\n  relation: parent\n  object: document:spec\n- user: user:dave\n  relation: blocked\n  object: document:spec\n');
    expect(cli(['authz', 'tuples', 'write', join(dir, 't.yaml')], url).json).toMatchObject({ written: 2 });
    const dup = cli(['authz', 'tuples', 'write', join(dir, 't.yaml')], url);
    expect(dup.status).toBe(2);
    expect(dup.stderr).toContain('cannot write a tuple which already exists');
    expect(cli(['authz', 'tuples', 'write', join(dir, 't.yaml'), '--on-duplicate', 'ignore'], url).status).toBe(0);
  }, 300_000);

  it('checks (context, contextual tuples, explain), lists objects and prints the model', () => {
    const allowed = cli(['authz', 'check', 'user:carl', 'viewer', 'folder:sub', '--explain'], url);
    expect(allowed.json.allowed).toBe(true);
    expect(allowed.json.explanation.decision).toBe(true);
    expect(cli(['authz', 'check', 'user:carl', 'viewer', 'document:spec'], url).json).toEqual({ allowed: true });
    expect(cli(['authz', 'check', 'user:anne', 'editor', 'document:spec', '--context', '{"ip":"10.0.0.7"}'], url).json).toEqual({ allowed: true });
    expect(cli(['authz', 'check', 'user:erin', 'editor', 'document:spec', '--contextual-tuple', 'document:spec#owner@user:erin'], url).json).toEqual({ allowed: true });
    expect(cli(['authz', 'list-objects', 'user:carl', 'viewer', 'folder'], url).json.objects.sort()).toEqual(['folder:root', 'folder:sub']);
    const unknown = cli(['authz', 'check', 'user:carl', 'viewer', 'invoice:1'], url);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("type 'invoice' not found");
    const dsl = cli(['authz', 'model', 'get'], url);
    expect(dsl.stdout).toContain('define viewer: ([user, user:*, team#member] or editor or viewer from parent) but not blocked');
  }, 300_000);

  it('imports a folder into a fresh store marked default', () => {
    const folder = join(dir, 'acme');
    rmSync(folder, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', folder]);
    writeFileSync(join(folder, 'model.fga'), 'model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user, group#member]\n');
    writeFileSync(join(folder, 'tuples.yaml'), '- user: user:ann\n  relation: viewer\n  object: doc:1\n- user: group:eng#member\n  relation: viewer\n  object: doc:2\n');
    const res = cli(['authz', 'import', folder, '--default'], url);
    expect(res.status).toBe(0);
    expect(res.json).toMatchObject({ name: 'acme', default: true, tuples: 2 });
    const list = cli(['authz', 'store', 'list'], url).json.stores as Array<{ id: string; default: boolean; name: string }>;
    expect(list.filter((s) => s.default).map((s) => s.id)).toEqual([res.json.store_id]);
    expect(cli(['authz', 'check', 'user:ann', 'viewer', 'doc:1'], url).json).toEqual({ allowed: true });
    const back = cli(['authz', 'store', 'default', 'gatehouse'], url);
    expect(back.json).toMatchObject({ id: 'gatehouse', default: true });
    const missing = cli(['authz', 'import', join(dir, 'nowhere')], url);
    expect(missing.status).toBe(2);
  }, 300_000);
});
