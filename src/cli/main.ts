#!/usr/bin/env node
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerMigrate } from './commands/migrate.js';
import { registerServe } from './commands/serve.js';
import { registerToken } from './commands/token.js';

const program = new Command();
program
  .name('gatehouse')
  .description('Gatehouse identity and access management. Configuration: environment variables (see README).')
  .showHelpAfterError();

// One line per command module.
registerServe(program);
registerMigrate(program);
registerAudit(program);
registerToken(program);

await program.parseAsync(process.argv);
