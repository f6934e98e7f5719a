/**
 * Fresh-eyes tester (issue #3): `gatehouse authz test FILE.fga.yaml` treats a malformed file as
 * a malformed file (exit 2, `invalid_input`), as `fga model test` refuses one it cannot read:
 * a check assertion that is not a boolean (`viewer: maybe`) was run and reported as a failing
 * assertion (expected="maybe", got=false), and a file with an empty `tests` list passed
 * ("Tests 0/0 passing", exit 0) with a missing model file or an invalid model.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';
import { runModelTests } from '../../src/cli/commands/authz-test.js';

const MODEL = 'model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user]\n';

describe('gatehouse authz test: malformed test files', () => {
  let gh: Gatehouse;
  let dir: string;
  beforeAll(async () => {
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: 'sqlite::memory:', logLevel: 'silent' }), logger: createLogger('silent') });
    dir = mkdtempSync(join(tmpdir(), 'gh-fga-test-'));
    writeFileSync(join(dir, 'model.fga'), MODEL);
  });
  afterAll(async () => {
    await gh?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('refuses a check assertion that is not true or false', async () => {
    const p = file('maybe.fga.yaml', 'model_file: ./model.fga\ntests:\n  - name: t\n    check:\n      - user: user:a\n        object: doc:1\n        assertions:\n          viewer: maybe\n');
    await expect(runModelTests(gh, p)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining("check assertion 'viewer' must be true or false") });
  });

  it('refuses a list_objects assertion that is not a list, and list_users users that are not a list', async () => {
    const lo = file('lo.fga.yaml', 'model_file: ./model.fga\ntests:\n  - name: t\n    list_objects:\n      - user: user:a\n        type: doc\n        assertions:\n          viewer: doc:1\n');
    await expect(runModelTests(gh, lo)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining("list_objects assertion 'viewer' must be a list") });
    const lu = file('lu.fga.yaml', 'model_file: ./model.fga\ntests:\n  - name: t\n    list_users:\n      - object: doc:1\n        user_filter:\n          - type: user\n        assertions:\n          viewer:\n            users: user:a\n');
    await expect(runModelTests(gh, lu)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining("list_users assertion 'viewer' must have a list of users") });
  });

  it('validates the model even when there are no tests', async () => {
    const missing = file('missing.fga.yaml', 'model_file: ./nope.fga\ntests: []\n');
    await expect(runModelTests(gh, missing)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('nope.fga') });
    const bad = file('bad.fga.yaml', 'model: |\n  model\n    schema 1.1\n  type user\n  type doc\n    relations\n      define v: [usr]\ntests: []\n');
    await expect(runModelTests(gh, bad)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('`usr` is not a valid type') });
    const ok = file('ok.fga.yaml', 'model_file: ./model.fga\ntests: []\n');
    expect((await runModelTests(gh, ok)).tests).toEqual({ total: 0, passed: 0 });
  });
});
