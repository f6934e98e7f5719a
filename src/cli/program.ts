/**
 * The `gatehouse` command tree (commander), with one rule for usage errors on every command: a
 * missing or extra argument, an unknown option, a missing required option or an unknown command
 * prints `error [invalid_input]: …` and the command's help on stderr and exits 2
 * (src/cli/exit-codes.ts); `--help` exits 0.
 */
import { Command, CommanderError } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerAuthz } from './commands/authz.js';
import { registerMigrate } from './commands/migrate.js';
import { registerServe } from './commands/serve.js';
import { registerToken } from './commands/token.js';
import { registerAdmin } from './commands/admin.js';
import { registerClient } from './commands/client.js';
import { registerKeys } from './commands/keys.js';
import { registerCredentials } from './commands/credentials.js';
import { EXIT } from './exit-codes.js';

/** Where the program's own output (help, usage errors) goes, and how it exits on them. */
export interface ProgramIo {
  /** Ends the process with a status (default `process.exit`). Called for help and usage errors only. */
  exit?: (status: number) => never;
  /** Writes help (default: stdout). */
  writeOut?: (text: string) => void;
  /** Writes usage errors, and help shown after one (default: stderr). */
  writeErr?: (text: string) => void;
}

/** Builds the `gatehouse` program; `parseAsync(process.argv)` runs it. */
export function buildProgram(io: ProgramIo = {}): Command {
  const exit = io.exit ?? ((status: number): never => process.exit(status));
  const program = new Command();
  // Set before any subcommand is added: commander copies these settings into each one.
  program
    .name('gatehouse')
    .description('Gatehouse identity and access management. Configuration: environment variables (see README).')
    .showHelpAfterError()
    .configureOutput({
      writeOut: io.writeOut ?? ((s) => process.stdout.write(s)),
      writeErr: io.writeErr ?? ((s) => process.stderr.write(s)),
      // commander's `error: unknown option '--x'` in the CLI's own form, `error [code]: message`.
      outputError: (text, write) => write(text.replace(/^error: /, 'error [invalid_input]: ')),
    })
    .exitOverride((err: CommanderError) => exit(err.exitCode === 0 ? EXIT.ok : EXIT.invalid));

  // One line per command module.
  registerServe(program);
  registerMigrate(program);
  registerAudit(program);
  registerAuthz(program);
  registerToken(program);
  registerAdmin(program);
  registerClient(program);
  registerKeys(program);
  registerCredentials(program);
  return program;
}
