#!/usr/bin/env node
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerAuthz } from './commands/authz.js';
import { registerMigrate } from './commands/migrate.js';
import { registerServe } from './commands/serve.js';
import { registerToken } from './commands/token.js';
import { registerAdmin } from './commands/admin.js';
import { registerClient } from './commands/client.js';
import { registerKeys } from './commands/keys.js';
import { registerCredentials } from './commands/credentials.js';

const program = new Command();
program
  .name('gatehouse')
  .description('Gatehouse identity and access management. Configuration: environment variables (see README).')
  .showHelpAfterError();

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

await program.parseAsync(process.argv);
