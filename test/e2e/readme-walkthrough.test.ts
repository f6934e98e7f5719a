/**
 * Runs the README's walkthrough block verbatim (bash, curl, jq, `npx gatehouse`) against a
 * fresh `gatehouse serve` on http://127.0.0.1:8080, as a new user would, and checks what it prints.
 * Skips, saying why, when curl or jq is missing or port 8080 is taken.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, ROOT, ensureBuilt } from '../support/cli.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

const missing = ['curl', 'jq', 'bash'].filter((c) => !has(c));
const free8080 = await portFree(8080);
const skipReason = missing.length ? `needs ${missing.join(', ')}` : !free8080 ? 'port 8080 is taken' : null;
if (skipReason) console.warn(`[readme walkthrough] skipped: ${skipReason}`);

function walkthroughBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme);
  if (!m) throw new Error('README.md has no walkthrough block');
  return m[1]!;
}

describe.skipIf(skipReason !== null)('README walkthrough, verbatim', () => {
  let server: ChildProcess;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-readme-'));
    env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}`, GATEHOUSE_LOG_LEVEL: 'warn' };
    server = spawn(process.execPath, [CLI_MAIN, 'serve'], { cwd: ROOT, env, stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await fetch('http://127.0.0.1:8080/readyz').then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('gatehouse serve did not become ready');
  }, 180_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions, decides, signs in, deprovisions and verifies the audit chain', () => {
    const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', walkthroughBlock()], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    const out = r.stdout;
    expect(r.status, `walkthrough failed:\n${out}\n${r.stderr}`).toBe(0);
    const userId = /^user: ([0-9a-f-]{36})$/m.exec(out)?.[1];
    expect(userId).toBeTruthy();
    expect(out).toContain('password: HTTP 204\n');
    expect(out).toContain('assignment: HTTP 201\n');
    const decisions = [...out.matchAll(/^\{"decision":(true|false)\}$/gm)].map((m) => m[1]);
    expect(decisions).toEqual(['true', 'false', 'false']);
    expect(out).toContain(`"active": true,\n  "sub": "${userId}"`);
    expect(out).toContain('\nfalse\nfalse\n"invalid_grant"\n');
    expect(out).toMatch(/user\.create\nuser\.password_set\ntotp\.enroll\nsignin\.success\n/);
    expect(out).toMatch(/audit chain OK: \d+ entries verified\n$/);
    // Synchronous: vitest fails it once it returns if it took longer than this, so this is above
    // the walkthrough's own 120 s limit, whose failure shows the output up to the step that hung.
  }, 180_000);

  it('left a server that shuts down cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
