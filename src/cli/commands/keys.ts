import type { Command } from 'commander';
import { DEFAULT_TENANT } from '../../kernel/context.js';
import { listSigningKeys, rotateSigningKeys } from '../../oidc/keys.js';
import { retiredKeyGraceSeconds } from '../../oidc/provider.js';
import { action, printJson, withGatehouse } from '../shared.js';

/**
 * `gatehouse keys rotate|list`: the OpenID Provider's token signing keys. Rotation creates a new
 * RS256 and ES256 key and retires the active ones; retired keys stay in the JWKS for as long as
 * tokens signed with them can live, then leave it. Running servers sign with the new keys after
 * a restart.
 */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('OpenID Provider signing keys');
  keys
    .command('rotate')
    .description('create new signing keys and retire the current ones (still published until their tokens expire)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (opts: { json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const grace = retiredKeyGraceSeconds(gh.config);
          const r = await rotateSigningKeys(gh.storage, gh.clock, DEFAULT_TENANT, grace);
          if (opts.json) printJson({ ...r, retired_published_for_seconds: grace });
          else {
            process.stdout.write(`new keys: ${r.created.join(', ')}\n`);
            process.stdout.write(`retired (published ${grace} s more): ${r.retired.join(', ') || 'none'}\n`);
            process.stderr.write('restart Gatehouse (every replica) to sign with the new keys\n');
          }
        });
      }),
    );
  keys
    .command('list')
    .description('list signing keys (never the private parts)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (opts: { json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const list = await listSigningKeys(gh.storage, gh.clock, DEFAULT_TENANT, retiredKeyGraceSeconds(gh.config));
          if (opts.json) printJson({ keys: list });
          else for (const k of list) process.stdout.write(`${k.kid}  ${k.alg}  ${k.state}  created ${k.created}${k.retiredAt ? `  retired ${k.retiredAt}` : ''}\n`);
        });
      }),
    );
}
