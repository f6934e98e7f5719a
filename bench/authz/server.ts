/**
 * A Gatehouse server for the HTTP benchmark (workload (c)), run in its own process so the load
 * generator does not share its event loop: SQLite in a temporary folder, the RBAC workload's
 * tuples in the built-in store, an API token with the `authz` scope, listening on 127.0.0.1 only.
 * Prints one JSON line `{"url", "token"}` on stdout when ready; stops on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGatehouse } from '../../src/gatehouse.js';
import { BUILTIN_STORE_ID } from '../../src/authz/tuples.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { benchCtx, rbacTuples, rbacWorkload } from './rbac.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-bench-http-'));
const gh = await createGatehouse({
  config: loadConfig({}, { databaseUrl: `sqlite:${join(dir, 'http.db')}`, logLevel: 'silent', host: '127.0.0.1', port: 0 }),
  logger: createLogger('silent'),
});
const all = rbacTuples(rbacWorkload(1));
for (let i = 0; i < all.length; i += 5000) {
  await gh.storage.db.transaction().execute((trx) => gh.tuples.write(trx, benchCtx, BUILTIN_STORE_ID, { writes: all.slice(i, i + 5000) }));
}
await gh.authz.refresh();
const { token } = await gh.apiTokens.create(cliContext(), { name: 'bench', scopes: ['authz'] });
const url = await gh.listen();
process.stdout.write(`${JSON.stringify({ url, token })}\n`);

const stop = async () => {
  await gh.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
