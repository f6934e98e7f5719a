/**
 * The exit status of the `gatehouse` command: one table (src/cli/exit-codes.ts) maps every error
 * code, follows the HTTP status the APIs give the same code, and is the one docs/errors.md prints.
 * Usage errors (missing or extra arguments, unknown options, missing required options, unknown
 * commands) exit 2 with `error [invalid_input]: …` on every command.
 *
 * Fresh-eyes tester: `authz check` failing on a condition parameter (missing, or `{"ip":5}`) or on
 * the depth limit, `authz list-users` without `--filter`, and every commander usage error exited
 * 1 although docs/openfga-api.md says invalid input exits 2.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES, exitStatusOf } from '../../src/cli/exit-codes.js';
import { buildProgram } from '../../src/cli/program.js';
import { ERROR_CODES, GatehouseError, type ErrorCode } from '../../src/kernel/errors.js';
import { describeEachBackend } from '../support/backends.js';
import { ensureBuilt, runCli } from '../support/cli.js';

describe('exit status table', () => {
  it('gives every error code the status its HTTP status implies', () => {
    const byRule = (code: ErrorCode): number => {
      const http = ERROR_CODES[code];
      if (code === 'invalid_config' || http === 400) return 2;
      if (http === 503 || http === 429) return 69;
      if (http >= 500) return 70;
      return 1;
    };
    expect(Object.keys(EXIT_CODES).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) expect([code, EXIT_CODES[code]]).toEqual([code, byRule(code)]);
    expect(exitStatusOf(new GatehouseError('condition_error', 'x'))).toBe(2);
    expect(exitStatusOf(new GatehouseError('resolution_too_complex', 'x'))).toBe(2);
    expect(exitStatusOf(new GatehouseError('not_found', 'x'))).toBe(1);
    expect(exitStatusOf(new GatehouseError('storage_unavailable', 'x'))).toBe(69);
    expect(exitStatusOf(new Error('boom'))).toBe(70);
  });

  it('is the table docs/errors.md prints, every code once', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Exit status of the gatehouse command'));
    expect(section.length).toBeLessThan(doc.length);
    const documented: Record<string, number> = {};
    for (const row of section.matchAll(/^\| (\d+) \|.*\|(.*)\|$/gm)) {
      for (const code of row[2]!.matchAll(/`(\w+)`/g)) {
        expect(documented[code[1]!], `${code[1]} listed twice`).toBeUndefined();
        documented[code[1]!] = Number(row[1]);
      }
    }
    expect(documented).toEqual(EXIT_CODES);
  });
});

/** Every command that runs (has no subcommands), with its words from the program. */
function leaves(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  if (cmd.commands.length === 0) return [{ path, cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

/** Parses `args` in-process; no action runs (each is replaced by one that fails the test). */
async function parse(args: string[]): Promise<{ status: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  class Exit {
    constructor(readonly status: number) {}
  }
  const program = buildProgram({
    exit: (status) => {
      throw new Exit(status);
    },
    writeErr: (s) => (stderr += s),
    writeOut: (s) => (stdout += s),
  });
  for (const { cmd } of leaves(program)) {
    cmd.action(() => {
      throw new Error(`the action of '${cmd.name()}' ran for ${args.join(' ')}`);
    });
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof Exit) return { status: err.status, stderr, stdout };
    throw err;
  }
  return { status: 0, stderr, stdout };
}

describe('usage errors exit 2 on every command (parsed in-process: nothing runs)', () => {
  const commands = leaves(buildProgram());

  it('covers the whole command tree', () => {
    const names = commands.map((c) => c.path.join(' '));
    expect(names).toEqual(expect.arrayContaining(['serve', 'migrate', 'authz check', 'authz list-users', 'authz import', 'authz store default', 'token create', 'credential rotate']));
    expect(names.length).toBeGreaterThanOrEqual(25);
  });

  it.each(commands.map((c) => [c.path.join(' '), c] as const))('%s: unknown option, extra or missing argument, missing required option', async (_name, { path, cmd }) => {
    const args = cmd.registeredArguments.filter((a) => a.required).map((a) => `${a.name()}-value`);
    const required = cmd.options.filter((o) => o.mandatory);
    const requiredArgs = required.flatMap((o) => [o.long!, 'x']);
    const cases: Array<{ argv: string[]; message: RegExp }> = [{ argv: [...path, ...args, ...requiredArgs, '--bogus'], message: /unknown option '--bogus'/ }];
    if (!cmd.registeredArguments.at(-1)?.variadic) cases.push({ argv: [...path, ...args, 'extra', ...requiredArgs], message: /too many arguments/ });
    if (args.length > 0) cases.push({ argv: [...path, ...args.slice(0, -1), ...requiredArgs], message: /missing required argument/ });
    for (const o of required) {
      cases.push({ argv: [...path, ...args, ...required.filter((p) => p !== o).flatMap((p) => [p.long!, 'x'])], message: new RegExp(`required option '${o.flags}' not specified`) });
    }
    for (const c of cases) {
      const r = await parse(c.argv);
      expect({ argv: c.argv.join(' '), status: r.status, stdout: r.stdout }).toEqual({ argv: c.argv.join(' '), status: 2, stdout: '' });
      expect(r.stderr.split('\n')[0]).toMatch(/^error \[invalid_input\]: /);
      expect(r.stderr).toMatch(c.message);
    }
  });

  it('no or an unknown command exits 2; --help exits 0', async () => {
    for (const argv of [[], ['authz'], ['authz', 'store'], ['nosuch'], ['authz', 'nosuch']]) {
      const r = await parse(argv);
      expect({ argv, status: r.status, stdout: r.stdout }).toEqual({ argv, status: 2, stdout: '' });
      expect(r.stderr).toContain('Usage: gatehouse');
    }
    for (const argv of [['--help'], ['authz', 'check', '--help'], ['help', 'authz']]) {
      const r = await parse(argv);
      expect({ argv, status: r.status, stderr: r.stderr }).toEqual({ argv, status: 0, stderr: '' });
      expect(r.stdout).toContain('Usage: gatehouse');
    }
  });
});

describe('the built command', () => {
  beforeAll(ensureBuilt, 180_000);

  it('a usage error exits 2 (list-users without --filter), before opening any database', () => {
    const r = runCli(['authz', 'list-users', 'doc:1', 'viewer'], { GATEHOUSE_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(r.stderr).toMatch(/^error \[invalid_input\]: required option '--filter <type>' not specified$/m);
  });

  it('an unreachable database exits 69 (try again)', () => {
    const r = runCli(['authz', 'store', 'list'], { GATEHOUSE_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 69, stdout: '' });
    expect(r.stderr).toMatch(/^error \[storage_unavailable\]: /m);
  });
});

const MODEL = `model
  schema 1.1
type user
type team
  relations
    define member: [user, team#member]
type doc
  relations
    define editor: [user with in_office]

condition in_office(ip: ipaddress, office: string) {
  ip.in_cidr(office)
}
`;

describeEachBackend('CLI exit status of authz queries', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let dir: string;
  const gatehouse = (args: string[]) => runCli(args, { GATEHOUSE_DATABASE_URL: url });

  beforeAll(async () => {
    await ensureBuilt();
    ({ url, drop } = await backend.create());
    dir = mkdtempSync(join(tmpdir(), 'gh-exit-'));
    const folder = join(dir, 'exits');
    mkdirSync(folder);
    writeFileSync(join(folder, 'model.fga'), MODEL);
    // user:carl edits doc:d2 from the office; team:t1 <- team:t2 <- … <- team:t30 <- user:deep.
    const tuples = ['- user: user:carl\n  relation: editor\n  object: doc:d2\n  condition:\n    name: in_office\n    context:\n      office: 10.0.0.0/8\n'];
    for (let i = 1; i < 30; i++) tuples.push(`- user: team:t${i + 1}#member\n  relation: member\n  object: team:t${i}\n`);
    tuples.push('- user: user:deep\n  relation: member\n  object: team:t30\n');
    writeFileSync(join(folder, 'tuples.yaml'), tuples.join(''));
    const imported = gatehouse(['authz', 'import', folder, '--default']);
    expect(imported.status, imported.stderr).toBe(0);
  }, 180_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await drop?.();
  });

  it('a condition parameter missing or wrongly typed exits 2 (condition_error); a good one answers', () => {
    const missing = gatehouse(['authz', 'check', 'user:carl', 'editor', 'doc:d2']);
    expect({ status: missing.status, stdout: missing.stdout }).toEqual({ status: 2, stdout: '' });
    expect(missing.stderr).toMatch(/^error \[condition_error\]: .*ip/m);
    const typed = gatehouse(['authz', 'check', 'user:carl', 'editor', 'doc:d2', '--context', '{"ip":5}']);
    expect({ status: typed.status, stdout: typed.stdout }).toEqual({ status: 2, stdout: '' });
    expect(typed.stderr).toMatch(/^error \[condition_error\]: /m);
    const ok = gatehouse(['authz', 'check', 'user:carl', 'editor', 'doc:d2', '--context', '{"ip":"10.1.2.3"}']);
    expect({ status: ok.status, out: JSON.parse(ok.stdout) }).toEqual({ status: 0, out: { allowed: true } });
  }, 120_000);

  it('the depth limit exits 2 (resolution_too_complex); an unknown store exits 1 (not_found)', () => {
    const deep = gatehouse(['authz', 'check', 'user:deep', 'member', 'team:t1']);
    expect({ status: deep.status, stdout: deep.stdout }).toEqual({ status: 2, stdout: '' });
    expect(deep.stderr).toMatch(/^error \[resolution_too_complex\]: /m);
    const nosuch = gatehouse(['authz', 'store', 'default', 'nosuch']);
    expect({ status: nosuch.status, stdout: nosuch.stdout }).toEqual({ status: 1, stdout: '' });
    expect(nosuch.stderr).toMatch(/^error \[not_found\]: store 'nosuch' not found$/m);
  }, 120_000);

  it('credential --public-key: a missing file or one that is neither PEM nor a JSON object exits 2 (invalid_input), not 70', () => {
    const missing = join(dir, 'no-such-key.pem');
    const notJson = join(dir, 'key.txt');
    writeFileSync(notJson, 'not a key');
    const list = join(dir, 'key.json');
    writeFileSync(list, '[1, 2]');
    for (const [file, message] of [
      [missing, `${missing}: cannot read: ENOENT`],
      [notJson, `${notJson}: not a PEM public key, a JWK or a JWKS (JSON object)`],
      [list, `${list}: not a PEM public key, a JWK or a JWKS (JSON object)`],
    ] as const) {
      for (const args of [
        ['credential', 'create', '00000000-0000-7000-8000-000000000000', '--kind', 'public_key', '--public-key', file],
        ['credential', 'rotate', '00000000-0000-7000-8000-000000000000', '00000000-0000-7000-8000-000000000001', '--public-key', file],
      ]) {
        const r = gatehouse(args);
        expect({ args, status: r.status, stdout: r.stdout }).toEqual({ args, status: 2, stdout: '' });
        expect(r.stderr.split('\n')).toContain(`error [invalid_input]: ${message}`);
      }
    }
  }, 120_000);
});
