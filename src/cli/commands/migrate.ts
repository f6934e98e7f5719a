import type { Command } from 'commander';
import { loadConfig } from '../../kernel/config.js';
import { openStorage } from '../../storage/database.js';
import { migrateToLatest } from '../../storage/migrate.js';
import { action, printJson } from '../shared.js';

/** `gatehouse migrate`: applies pending database migrations and exits. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const config = loadConfig();
        const storage = openStorage(config.databaseUrl, { preparedStatements: config.databasePreparedStatements });
        try {
          const applied = await migrateToLatest(storage);
          if (opts.json) printJson({ applied, database: storage.displayUrl });
          else process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
        } finally {
          await storage.close();
        }
      }),
    );
}
