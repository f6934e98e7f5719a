/**
 * The Gatehouse server for `npm run bench:signin`, in its own process so the load generator does
 * not share its event loop: SQLite (or PostgreSQL when BENCH_DATABASE_URL is set) on a fresh
 * database, one resource server, a service account with a client secret and one with an ES256
 * key, and users with argon2id passwords; listening on 127.0.0.1 only. Prints one JSON line when
 * ready; stops on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { createGatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { systemContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { freePort, seedUser } from '../../test/oidc/support.js';
import { seedApp } from '../../test/oidc/machine-support.js';

export const RESOURCE = 'https://api.bench.test/';
const USERS = Number(process.env.BENCH_USERS ?? 64);
const PASSWORD = 'correct horse battery staple';

const dir = mkdtempSync(join(tmpdir(), 'gh-bench-signin-'));
const port = await freePort();
const gh = await createGatehouse({
  config: loadConfig(
    {},
    {
      databaseUrl: process.env.BENCH_DATABASE_URL ?? `sqlite:${join(dir, 'signin.db')}`,
      logLevel: 'silent',
      host: '127.0.0.1',
      port,
      issuer: `http://127.0.0.1:${port}`,
      resourceServers: { [RESOURCE]: { scope: 'bench:read', accessTokenTtlSeconds: 300 } },
    },
  ),
  logger: createLogger('silent'),
});
const ctx = systemContext();
const owner = await seedUser(gh, { userName: 'bench-owner' });
const secretSa = await gh.serviceAccounts.create(ctx, { name: 'bench-secret', ownerUserId: owner });
const secret = (await gh.credentials.create(ctx, secretSa.id, { kind: 'client_secret' })).secret!;
const keySa = await gh.serviceAccounts.create(ctx, { name: 'bench-key', ownerUserId: owner });
const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const keyCred = await gh.credentials.create(ctx, keySa.id, { kind: 'public_key', publicKey: { jwk: await exportJWK(publicKey) } });
const users: string[] = [];
for (let i = 0; i < USERS; i++) {
  await seedUser(gh, { userName: `bench-user-${i}`, password: PASSWORD });
  users.push(`bench-user-${i}`);
}
const app = await seedApp(gh, { client_name: 'bench app' });
const url = await gh.listen();
process.stdout.write(
  `${JSON.stringify({
    url,
    resource: RESOURCE,
    secretClient: { id: secretSa.id, secret },
    keyClient: { id: keySa.id, kid: keyCred.credential.id, privateJwk: await exportJWK(privateKey) },
    app,
    users,
    password: PASSWORD,
    backend: gh.storage.kind,
  })}\n`,
);

const stop = async () => {
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
