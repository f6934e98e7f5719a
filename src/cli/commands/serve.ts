import type { Command } from 'commander';
import { createGatehouse } from '../../gatehouse.js';
import { loadConfig } from '../../kernel/config.js';
import { action } from '../shared.js';

/** `gatehouse serve`: runs the server until SIGTERM or SIGINT, then shuts down gracefully. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Gatehouse server (HTTP APIs, OpenID Connect provider, sign-in pages)')
    .action(
      action(async () => {
        const config = loadConfig();
        const gh = await createGatehouse({ config });
        const url = await gh.listen();
        gh.logger.info({ url, issuer: config.issuer, database: gh.storage.displayUrl }, `Gatehouse listening on ${url}`);
        const issuerHost = new URL(config.issuer).hostname;
        if (/^[\d.]+$/.test(issuerHost) || issuerHost.startsWith('[')) {
          // WebAuthn's relying-party id must be a domain name (WebAuthn Level 3 §5.1.4.1); browsers refuse an IP address.
          gh.logger.warn(
            { issuer: config.issuer },
            `passkeys need a domain name in GATEHOUSE_ISSUER (browsers refuse an IP address as WebAuthn relying-party id); for local use set GATEHOUSE_ISSUER=http://localhost:${new URL(config.issuer).port || 80}`,
          );
        }
        let stopping = false;
        const stop = async (signal: string) => {
          if (stopping) return;
          stopping = true;
          gh.logger.info({ signal }, 'shutting down');
          const force = setTimeout(() => process.exit(1), 10_000);
          force.unref();
          await gh.close();
          process.exit(0);
        };
        process.on('SIGTERM', () => void stop('SIGTERM'));
        process.on('SIGINT', () => void stop('SIGINT'));
      }),
    );
}
