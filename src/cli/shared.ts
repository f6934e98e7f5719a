import type { Command } from 'commander';
import { createGatehouse, type Gatehouse } from '../gatehouse.js';
import { loadConfig } from '../kernel/config.js';
import { createLogger } from '../kernel/logger.js';
import { isGatehouseError } from '../kernel/errors.js';
import { exitStatusOf } from './exit-codes.js';

/**
 * Runs `fn` with a Gatehouse opened on the configured database (migrated, not listening),
 * then closes it. Logs go to stderr so that stdout carries only the command's output.
 */
export async function withGatehouse<T>(fn: (gh: Gatehouse) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const gh = await createGatehouse({ config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, 2) });
  try {
    return await fn(gh);
  } finally {
    await gh.close();
  }
}

/** Prints one JSON object on stdout (the `--json` contract). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Reads all of standard input as UTF-8. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Wraps a command action: an error prints `error [code]: message` on stderr (`internal` for one
 * that is not a GatehouseError) and sets the exit status from the one table, {@link exitStatusOf}
 * (src/cli/exit-codes.ts).
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const code = isGatehouseError(err) ? err.code : 'internal';
      process.stderr.write(`error [${code}]: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = exitStatusOf(err);
    }
  };
}

/** A command module: adds its subcommands to the program. */
export type CommandModule = (program: Command) => void;
