import type { Command } from 'commander';
import { cliContext } from '../../kernel/context.js';
import { action, printJson, withGatehouse } from '../shared.js';

/** `gatehouse token create|list|rotate|revoke`: API bearer tokens (scopes scim, admin, authz). */
export function registerToken(program: Command): void {
  const token = program.command('token').description('API bearer tokens');
  token
    .command('create')
    .description('create an API token; it is printed once and only its SHA-256 is stored')
    .requiredOption('--name <name>', 'a name for the token')
    .requiredOption('--scopes <list>', 'comma-separated scopes: scim, admin, authz')
    .option('--expires-in-days <n>', 'lifetime in days (default: no expiry)')
    .option('--user <id>', 'the user the token acts for (SCIM /Me)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (opts: { name: string; scopes: string; expiresInDays?: string; user?: string; json?: boolean }) => {
        const days = opts.expiresInDays === undefined ? undefined : Number(opts.expiresInDays);
        await withGatehouse(async (gh) => {
          const created = await gh.apiTokens.create(cliContext(), { name: opts.name, scopes: opts.scopes.split(','), expiresInDays: days, ...(opts.user ? { userId: opts.user } : {}) });
          if (opts.json) {
            printJson({ id: created.apiToken.id, name: created.apiToken.name, token: created.token, scopes: created.apiToken.scopes, expires_at: created.apiToken.expiresAt, user_id: created.apiToken.userId });
          } else {
            process.stdout.write(`${created.token}\n`);
            process.stderr.write(`token ${created.apiToken.id} (${created.apiToken.scopes.join(',')}) created; store it now, it is not shown again\n`);
          }
        });
      }),
    );
  token
    .command('list')
    .description('list API tokens (never the tokens themselves)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (opts: { json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const tokens = await gh.apiTokens.list(cliContext());
          if (opts.json) printJson({ tokens });
          else for (const t of tokens) process.stdout.write(`${t.id}  ${t.name}  ${t.scopes.join(',')}  ${t.revokedAt ? 'revoked' : t.expiresAt ? `expires ${t.expiresAt}` : 'no expiry'}\n`);
        });
      }),
    );
  token
    .command('rotate <id>')
    .description('replace a token\'s secret (same id, scopes and expiry); the old secret stops working on running servers within 1 s plus one query (PostgreSQL: at commit, via NOTIFY)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const rotated = await gh.apiTokens.rotate(cliContext(), id);
          if (opts.json) printJson({ id: rotated.apiToken.id, name: rotated.apiToken.name, token: rotated.token, scopes: rotated.apiToken.scopes, expires_at: rotated.apiToken.expiresAt });
          else {
            process.stdout.write(`${rotated.token}\n`);
            process.stderr.write(`token ${id} rotated; the previous secret no longer works; store the new one now, it is not shown again\n`);
          }
        });
      }),
    );
  token
    .command('revoke <id>')
    .description('revoke an API token; running servers refuse it within 1 s plus one query (PostgreSQL: at commit, via NOTIFY)')
    .action(
      action(async (id: string) => {
        await withGatehouse(async (gh) => {
          await gh.apiTokens.revoke(cliContext(), id);
          process.stdout.write(`revoked ${id}\n`);
        });
      }),
    );
}
