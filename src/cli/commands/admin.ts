import type { Command } from 'commander';
import { cliContext } from '../../kernel/context.js';
import { GatehouseError } from '../../kernel/errors.js';
import { action, printJson, readStdin, withGatehouse } from '../shared.js';

/** The password read from standard input, less one trailing newline (`\n` or `\r\n`), as `docker login --password-stdin` does. */
export function passwordFromStdin(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** `gatehouse admin create`: Gatehouse administrators (console and admin sign-in). */
export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('Gatehouse administrators');
  admin
    .command('create')
    .description('create an active administrator; the password is read from standard input')
    .requiredOption('--username <name>', 'the administrator\'s userName')
    .option('--password-stdin', 'read the password from standard input (required; one trailing newline is removed)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (opts: { username: string; passwordStdin?: boolean; json?: boolean }) => {
        if (!opts.passwordStdin) {
          throw new GatehouseError('invalid_input', '--password-stdin is required: pass the password on standard input, never as an argument', { option: 'password-stdin' });
        }
        if (process.stdin.isTTY) process.stderr.write('reading the password from standard input (end with Ctrl-D)\n');
        const password = passwordFromStdin(await readStdin());
        if (password === '') throw new GatehouseError('invalid_input', 'the password read from standard input is empty', { option: 'password-stdin' });
        await withGatehouse(async (gh) => {
          const user = await gh.users.createAdministrator(cliContext(), { userName: opts.username, password });
          if (opts.json) {
            printJson({ id: user.id, user_name: user.userName, is_admin: user.isAdmin, active: user.active, status: user.status, created_at: user.created });
          } else {
            process.stdout.write(`${user.id}\n`);
            process.stderr.write(`administrator ${user.userName} created\n`);
          }
        });
      }),
    );
}
