/**
 * Runs the built `gatehouse` command (`node dist/cli/main.js`) as an operator does.
 * dist/ is rebuilt (once, under a lock shared by parallel test files) when older than src/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI_MAIN = join(ROOT, 'dist', 'cli', 'main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const fresh = () => existsSync(CLI_MAIN) && statSync(CLI_MAIN).mtimeMs >= newestMtime(join(ROOT, 'src'));

/** Builds dist/ (`npm run build`) when it is missing or older than src/. */
export async function ensureBuilt(): Promise<void> {
  if (fresh()) return;
  const lock = join(ROOT, '.build-lock');
  for (let i = 0; i < 600; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
      if (fresh()) return;
    }
  }
  try {
    if (!fresh()) {
      const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `gatehouse ARGS` with only the given environment (plus PATH and HOME), `input` on stdin. */
export function runCli(args: string[], env: Record<string, string>, input = ''): CliRun {
  const r = spawnSync(process.execPath, [CLI_MAIN, ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEHOUSE_LOG_LEVEL: 'warn', ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
