import type { Command } from 'commander';
import { DEFAULT_TENANT } from '../../kernel/context.js';
import { action, printJson, withGatehouse } from '../shared.js';

/** `gatehouse audit verify`: walks the hash chain; exits 1 naming the first altered or missing entry. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('verify the audit hash chain and name the first entry that was altered or removed')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const result = await gh.audit.verify(gh.storage.db, DEFAULT_TENANT);
          if (opts.json) printJson(result);
          else if (result.ok) process.stdout.write(`audit chain OK: ${result.checked} entries verified\n`);
          else {
            const bad = result.firstBad!;
            process.stdout.write(
              `audit chain BROKEN at entry seq=${bad.seq}${bad.id ? ` id=${bad.id}` : ''}: ${bad.reason} (${result.checked} entries verified before it)\n`,
            );
          }
          if (!result.ok) process.exitCode = 1;
        });
      }),
    );
}
