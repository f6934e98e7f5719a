import cluster, { type Worker } from 'node:cluster';
import type { Command } from 'commander';
import { createGatehouse } from '../../gatehouse.js';
import { loadConfig, type Config } from '../../kernel/config.js';
import { GatehouseError } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/logger.js';
import { openStorage } from '../../storage/database.js';
import { migrateToLatest } from '../../storage/migrate.js';
import { action } from '../shared.js';

/** How long a stopping process (or the primary, for its workers) waits before it gives up, in milliseconds. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * `gatehouse serve`: runs the server until SIGTERM or SIGINT, then shuts down gracefully.
 * With `GATEHOUSE_WORKERS` > 1 this process is the node:cluster primary: it migrates the database
 * and starts that many workers, each a whole Gatehouse (its own authorization index and API token
 * cache, fed from the database's changelog like any replica's) sharing HOST:PORT.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Gatehouse server (HTTP APIs, OpenID Connect provider, sign-in pages)')
    .action(
      action(async () => {
        const config = loadConfig();
        if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
        if (!cluster.isWorker) return runServer(config);
        // A worker that cannot start exits (its IPC channel would keep it alive): the primary then stops the rest.
        return runServer(config).catch((err: unknown) => {
          setImmediate(() => process.exit(process.exitCode || 1));
          throw err;
        });
      }),
    );
}

/** One Gatehouse server in this process (the only one, or a cluster worker). */
async function runServer(config: Config): Promise<void> {
  const gh = await createGatehouse({ config });
  const url = await gh.listen();
  const worker = cluster.isWorker ? { worker: cluster.worker?.id } : {};
  gh.logger.info({ url, issuer: config.issuer, database: gh.storage.displayUrl, ...worker }, `Gatehouse listening on ${url}`);
  const issuerHost = new URL(config.issuer).hostname;
  if (!cluster.isWorker || cluster.worker?.id === 1) {
    if (/^[\d.]+$/.test(issuerHost) || issuerHost.startsWith('[')) {
      // WebAuthn's relying-party id must be a domain name (WebAuthn Level 3 §5.1.4.1); browsers refuse an IP address.
      gh.logger.warn(
        { issuer: config.issuer },
        `passkeys need a domain name in GATEHOUSE_ISSUER (browsers refuse an IP address as WebAuthn relying-party id); for local use set GATEHOUSE_ISSUER=http://localhost:${new URL(config.issuer).port || 80}`,
      );
    }
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    gh.logger.info({ signal, ...worker }, 'shutting down');
    const force = setTimeout(() => process.exit(1), STOP_TIMEOUT_MS);
    force.unref();
    await gh.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // A worker whose primary is gone (killed) stops too, instead of serving on unsupervised.
  if (cluster.isWorker) process.on('disconnect', () => void stop('disconnect'));
}

/**
 * The cluster primary: migrates the database once, starts `config.workers` workers and waits.
 * SIGTERM/SIGINT stop every worker (each finishes its in-flight requests, 5 s at most: http/app.ts CLOSE_GRACE_MS), then the primary exits 0.
 * A worker that exits on its own (crash, failed start) stops the others and the primary exits 1:
 * the service manager restarts the whole set, as it would a single process.
 */
async function runPrimary(config: Config): Promise<void> {
  if (config.databaseUrl === 'sqlite::memory:') {
    throw new GatehouseError('invalid_config', 'GATEHOUSE_WORKERS > 1 needs a database the workers share (a SQLite file or PostgreSQL); sqlite::memory: would give each worker its own');
  }
  const logger = createLogger(config.logLevel);
  const storage = openStorage(config.databaseUrl, { preparedStatements: config.databasePreparedStatements });
  try {
    await migrateToLatest(storage);
  } finally {
    await storage.close();
  }

  const workers = new Set<Worker>();
  let stopping = false;
  let exitCode = 0;
  const stopAll = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    logger.info({ reason, workers: workers.size }, 'shutting down the workers');
    for (const w of workers) w.process.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const w of workers) w.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_TIMEOUT_MS + 2_000);
    force.unref();
    if (workers.size === 0) process.exit(exitCode);
  };

  cluster.on('exit', (w, code, signal) => {
    workers.delete(w);
    if (!stopping) {
      logger.error({ worker: w.id, pid: w.process.pid, code, signal }, 'a worker exited unexpectedly; stopping the others');
      stopAll('worker exited', 1);
    }
    if (stopping && workers.size === 0) process.exit(exitCode);
  });
  process.on('SIGTERM', () => stopAll('SIGTERM', 0));
  process.on('SIGINT', () => stopAll('SIGINT', 0));

  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === config.workers) logger.info({ workers: config.workers, primaryPid: process.pid }, `Gatehouse: ${config.workers} workers listening`);
  });
  for (let i = 0; i < config.workers; i++) workers.add(cluster.fork());
}
