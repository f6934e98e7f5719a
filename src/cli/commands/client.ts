import type { Command } from 'commander';
import { cliContext } from '../../kernel/context.js';
import { GatehouseError } from '../../kernel/errors.js';
import { action, printJson, withGatehouse } from '../shared.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `gatehouse client create`: OpenID Connect client applications. */
export function registerClient(program: Command): void {
  const client = program.command('client').description('OpenID Connect client applications');
  client
    .command('create')
    .description('register an OIDC client (authorization code + PKCE); a confidential client\'s secret is printed once')
    .requiredOption('--name <name>', 'the client\'s name')
    .option('--redirect-uri <uri>', 'an allowed redirect URI (repeat for several)', collect, [])
    .option('--public', 'a public client: no secret, token_endpoint_auth_method none')
    .option('--json', 'print one JSON object')
    .action(
      action(async (opts: { name: string; redirectUri: string[]; public?: boolean; json?: boolean }) => {
        if (opts.redirectUri.length === 0) throw new GatehouseError('invalid_input', 'at least one --redirect-uri is required', { option: 'redirect-uri' });
        await withGatehouse(async (gh) => {
          const created = await gh.applications.create(cliContext(), { name: opts.name, redirectUris: opts.redirectUri, public: opts.public === true });
          const app = created.application;
          if (opts.json) {
            printJson({
              client_id: created.client_id,
              client_secret: created.client_secret,
              client_name: app.name,
              redirect_uris: app.redirectUris,
              token_endpoint_auth_method: app.tokenEndpointAuthMethod,
              public: app.public,
              created_at: app.created,
            });
          } else {
            process.stdout.write(`client_id: ${created.client_id}\n`);
            if (created.client_secret) process.stdout.write(`client_secret: ${created.client_secret}\n`);
            process.stderr.write(created.client_secret ? 'store the client secret now; it is not shown again\n' : 'public client: no secret; PKCE is required\n');
          }
        });
      }),
    );
}
