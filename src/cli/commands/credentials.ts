import type { Command } from 'commander';
import { cliContext } from '../../kernel/context.js';
import { GatehouseError } from '../../kernel/errors.js';
import type { CredentialKind, PublicKeyInput } from '../../identity/credentials.js';
import { action, printJson, withGatehouse } from '../shared.js';
import { readText } from './authz-files.js';

/**
 * Reads `--public-key FILE`: a PEM public key, or a JSON JWK / JWKS (the key itself is checked by
 * the credential service).
 * @throws GatehouseError `invalid_input` when the file cannot be read or is neither PEM nor a JSON object.
 */
function publicKeyFrom(file: string | undefined): PublicKeyInput | undefined {
  if (!file) return undefined;
  const text = readText(file);
  if (text.includes('-----BEGIN')) return { pem: text };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new GatehouseError('invalid_input', `${file}: not a PEM public key, a JWK or a JWKS (JSON object)`, { file });
  }
  return Array.isArray((json as { keys?: unknown }).keys) ? { jwks: json } : { jwk: json };
}

/**
 * `gatehouse credential create|list|rotate|revoke`: a service account's credentials (client
 * secrets, public keys for private_key_jwt, API keys). A secret is printed once on stdout.
 */
export function registerCredentials(program: Command): void {
  const cred = program.command('credential').description('service-account credentials');
  cred
    .command('create <serviceAccountId>')
    .description('add a credential; a client secret or API key is printed once')
    .requiredOption('--kind <kind>', 'client_secret, public_key or api_key')
    .option('--name <name>', 'a name for the credential')
    .option('--expires-at <instant>', 'RFC 3339 expiry (default 90 days, at most the policy maximum)')
    .option('--scopes <list>', 'API keys: comma-separated OAuth scopes')
    .option('--public-key <file>', 'public keys: a PEM SPKI, a JWK or a one-key JWKS')
    .option('--json', 'print one JSON object')
    .action(
      action(async (saId: string, opts: { kind: string; name?: string; expiresAt?: string; scopes?: string; publicKey?: string; json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const created = await gh.credentials.create(cliContext(), saId, {
            kind: opts.kind as CredentialKind,
            name: opts.name,
            expiresAt: opts.expiresAt,
            scopes: opts.scopes?.split(','),
            publicKey: publicKeyFrom(opts.publicKey),
          });
          if (opts.json) printJson({ credential: created.credential, secret: created.secret });
          else {
            if (created.secret) process.stdout.write(`${created.secret}\n`);
            process.stderr.write(`credential ${created.credential.id} (${created.credential.kind}) expires ${created.credential.expiresAt}${created.secret ? '; store the secret now, it is not shown again' : ''}\n`);
          }
        });
      }),
    );
  cred
    .command('list <serviceAccountId>')
    .description('list credentials (never secrets)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (saId: string, opts: { json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const list = await gh.credentials.list(cliContext(), saId);
          if (opts.json) printJson({ credentials: list });
          else for (const c of list) process.stdout.write(`${c.id}  ${c.kind}  ${c.status}  expires ${c.expiresAt}  last used ${c.lastUsedAt ?? 'never'}\n`);
        });
      }),
    );
  cred
    .command('rotate <serviceAccountId> <credentialId>')
    .description('issue a successor; the old credential keeps working for the overlap')
    .option('--overlap-seconds <n>', 'how long the old credential keeps working (default 86400)')
    .option('--expires-at <instant>', 'RFC 3339 expiry of the successor')
    .option('--public-key <file>', 'the successor public key (public_key credentials)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (saId: string, id: string, opts: { overlapSeconds?: string; expiresAt?: string; publicKey?: string; json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const created = await gh.credentials.rotate(cliContext(), saId, id, {
            overlapSeconds: opts.overlapSeconds === undefined ? undefined : Number(opts.overlapSeconds),
            expiresAt: opts.expiresAt,
            publicKey: publicKeyFrom(opts.publicKey),
          });
          if (opts.json) printJson({ credential: created.credential, secret: created.secret });
          else {
            if (created.secret) process.stdout.write(`${created.secret}\n`);
            process.stderr.write(`credential ${created.credential.id} replaces ${id}\n`);
          }
        });
      }),
    );
  cred
    .command('revoke <serviceAccountId> <credentialId>')
    .description('revoke at once (tokens obtained with it stop too)')
    .action(
      action(async (saId: string, id: string) => {
        await withGatehouse(async (gh) => {
          await gh.credentials.revoke(cliContext(), saId, id);
          process.stdout.write(`revoked ${id}\n`);
        });
      }),
    );
}
