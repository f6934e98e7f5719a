/**
 * Fresh-eyes tester (issue #3): `gatehouse authz tuples write FILE` and `gatehouse authz import DIR`
 * never leave a partial write. A tuple file whose 221st tuple names an unknown relation, or whose
 * 150th tuple already exists, used to leave its first 100 or 200 tuples written (they were written
 * 100 per transaction) while the command failed with exit code 2; an import whose model or
 * tuples were invalid left a new store behind. Run as an operator runs them (a child process on
 * the sources), on both backends.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';

const ROOT = join(import.meta.dirname, '..', '..');

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

const MODEL = 'model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user]\n';

describeEachBackend('gatehouse authz: no partial write from a tuple file or an import', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let dir: string;
  beforeAll(async () => {
    ({ url, drop } = await backend.create());
    dir = mkdtempSync(join(tmpdir(), 'gh-authz-atomic-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await drop?.();
  });

  const viewers = () => {
    const res = cli(['authz', 'list-users', 'doc:big', 'viewer', '--filter', 'user'], url);
    expect(res.status, res.stderr).toBe(0);
    return (res.json.users as unknown[]).length;
  };

  it('tuples write: an invalid or existing tuple anywhere in a file of 250 writes none of them', () => {
    expect(cli(['authz', 'store', 'create', 'atomic', '--default'], url).status).toBe(0);
    writeFileSync(join(dir, 'm.fga'), MODEL);
    expect(cli(['authz', 'model', 'write', join(dir, 'm.fga')], url).status).toBe(0);
    const tuples = Array.from({ length: 250 }, (_, i) => ({ user: `user:u${i}`, relation: 'viewer', object: 'doc:big' }));

    // The 221st tuple names a relation the model lacks.
    const bad = tuples.map((t, i) => (i === 220 ? { ...t, relation: 'nope' } : t));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
    const rejected = cli(['authz', 'tuples', 'write', join(dir, 'bad.json')], url);
    expect(rejected.status).toBe(2);
    expect(rejected.stderr).toContain("relation 'doc#nope' not found");
    expect(viewers()).toBe(0);

    // The 150th tuple already exists (written alone first).
    writeFileSync(join(dir, 'one.yaml'), '- user: user:u149\n  relation: viewer\n  object: doc:big\n');
    expect(cli(['authz', 'tuples', 'write', join(dir, 'one.yaml')], url).json).toMatchObject({ written: 1 });
    writeFileSync(join(dir, 'all.json'), JSON.stringify(tuples));
    const dup = cli(['authz', 'tuples', 'write', join(dir, 'all.json')], url);
    expect(dup.status).toBe(2);
    expect(dup.stderr).toContain('cannot write a tuple which already exists: doc:big#viewer@user:u149');
    expect(viewers()).toBe(1);

    // The same tuple twice in one file, 200 tuples apart.
    writeFileSync(join(dir, 'twice.json'), JSON.stringify([...tuples.filter((_, i) => i !== 149), tuples[0]]));
    const twice = cli(['authz', 'tuples', 'write', join(dir, 'twice.json')], url);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toContain("duplicate tuple in write: user: 'user:u0'");
    expect(viewers()).toBe(1);

    // All valid: every tuple is written, in one revision.
    const ok = cli(['authz', 'tuples', 'write', join(dir, 'all.json'), '--on-duplicate', 'ignore'], url);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({ written: 250 });
    expect(viewers()).toBe(250);
  }, 300_000);

  it('import: an invalid model or tuple file creates no store', () => {
    const stores = () => (cli(['authz', 'store', 'list'], url).json.stores as Array<{ name: string }>).map((s) => s.name).sort();
    const before = stores();

    const badModel = join(dir, 'bad-model');
    mkdirSync(badModel, { recursive: true });
    writeFileSync(join(badModel, 'model.fga'), 'model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [usr]\n');
    writeFileSync(join(badModel, 'tuples.yaml'), '- user: user:a\n  relation: viewer\n  object: doc:1\n');
    const m = cli(['authz', 'import', badModel, '--default'], url);
    expect(m.status).toBe(2);
    expect(m.stderr).toContain('line 6, column 21');

    const badTuples = join(dir, 'bad-tuples');
    mkdirSync(badTuples, { recursive: true });
    writeFileSync(join(badTuples, 'model.fga'), MODEL);
    writeFileSync(join(badTuples, 'tuples.yaml'), '- user: user:a\n  relation: viewer\n  object: doc:1\n- user: user:b\n  relation: owner\n  object: doc:1\n');
    const t = cli(['authz', 'import', badTuples, '--default'], url);
    expect(t.status).toBe(2);
    expect(t.stderr).toContain("relation 'doc#owner' not found");

    expect(stores()).toEqual(before);
    expect(cli(['authz', 'store', 'list'], url).json.stores.find((s: { default: boolean }) => s.default).name).toBe('atomic');
  }, 300_000);
});
