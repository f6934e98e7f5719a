/**
 * The composition root: opens storage, applies migrations, builds every domain service and the
 * HTTP app. The CLI's `serve` and the tests start Gatehouse through {@link createGatehouse}.
 */
import type { FastifyInstance } from 'fastify';
import { AuditLog } from './audit/audit-log.js';
import { ApiTokenService } from './identity/api-tokens.js';
import { ApiTokenRevocationFollower } from './identity/api-token-follower.js';
import { createIdentityServices } from './identity/index.js';
import type { ApplicationService, GroupService, RoleService, ServiceAccountService, UserService } from './identity/types.js';
import { TupleStore } from './authz/tuple-store.js';
import { startAuthz, type AuthzService } from './authz/service.js';
import { createAuthzStoreServices, type RelationshipService } from './authz/relationships.js';
import type { AuthzModelService } from './authz/models.js';
import type { AuthzAssertionService } from './authz/assertions.js';
import type { AuthzStoreService } from './authz/stores.js';
import { BUILTIN_STORE_ID } from './authz/tuples.js';
import { systemClock, type Clock } from './kernel/clock.js';
import { DEFAULT_TENANT } from './kernel/context.js';
import type { Config } from './kernel/config.js';
import { GatehouseError } from './kernel/errors.js';
import { createLogger, type Logger } from './kernel/logger.js';
import { openStorage, type Storage } from './storage/database.js';
import { migrateToLatest } from './storage/migrate.js';
import { buildHttpApp } from './http/app.js';
import { TotpService } from './authn/totp.js';
import { createAuthnServices, type AuthnServices } from './authn/index.js';
import { gatehousePolicy } from './oidc/policy.js';
import { createOidcService, type OidcService } from './oidc/provider.js';
import { createMachineServices } from './oidc/machine-services.js';
import type { CredentialService } from './identity/credentials.js';
import type { IdentityServices } from './identity/index.js';

export interface GatehouseOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
}

/** Every service of a running Gatehouse. Adapters (HTTP, CLI) reach the domain only through these. */
export interface Services {
  config: Config;
  clock: Clock;
  logger: Logger;
  storage: Storage;
  audit: AuditLog;
  tuples: TupleStore;
  apiTokens: ApiTokenService;
  /** Registers work to run at close (stop background loops), after HTTP stops and before the database closes. */
  onClose(fn: () => Promise<void> | void): void;
  // --- services wired by domain modules (keep one line each, alphabetical) ---
  applications: ApplicationService;
  authz: AuthzService;
  authzAssertions: AuthzAssertionService;
  authzModels: AuthzModelService;
  authzStores: AuthzStoreService;
  authzTuples: RelationshipService;
  groups: GroupService;
  credentials: CredentialService;
  authn: AuthnServices;
  oidc: OidcService;
  roles: RoleService;
  serviceAccounts: ServiceAccountService;
  totp: TotpService;
  users: UserService;
}

export interface Gatehouse extends Services {
  http: FastifyInstance;
  /** Starts listening on config.host:config.port; returns the base URL. */
  listen(): Promise<string>;
  /** Stops accepting requests, finishes in-flight ones (closing the connections of those still unfinished after 5 s: http/app.ts CLOSE_GRACE_MS), stops background work, closes the database. */
  close(): Promise<void>;
}

/** Creates the tenant's built-in rows (the built-in authorization store) if missing. */
async function bootstrapTenant(storage: Storage, clock: Clock, tenantId: string): Promise<void> {
  const now = clock.now().toISOString();
  await storage.db
    .insertInto('authz_stores')
    .values({ tenant_id: tenantId, id: BUILTIN_STORE_ID, name: 'Gatehouse identities', is_default: 1, created_at: now, updated_at: now, deleted_at: null })
    .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
    .execute();
}

/**
 * Opens the database, migrates it, and builds the services and HTTP app (not yet listening).
 * @throws GatehouseError `invalid_config` / `storage_unavailable`.
 */
export async function createGatehouse(opts: GatehouseOptions): Promise<Gatehouse> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const storage = openStorage(config.databaseUrl, { preparedStatements: config.databasePreparedStatements });
  const closers: Array<() => Promise<void> | void> = [];
  try {
    await migrateToLatest(storage);
    await bootstrapTenant(storage, clock, DEFAULT_TENANT);
    const audit = new AuditLog(storage.kind, clock);
    const tuples = new TupleStore(clock, { notify: storage.kind === 'postgres' });
    // Domain services are added in the wiring section below, hence the cast.
    const services = {
      config,
      clock,
      logger,
      storage,
      audit,
      tuples,
      apiTokens: new ApiTokenService(storage, audit, clock, { cacheTtlSeconds: config.apiTokenCacheTtlSeconds }),
      onClose: (fn: () => Promise<void> | void) => void closers.push(fn),
    } as Services;
    // --- domain wiring (each module adds its services here) ---
    Object.assign(services, createIdentityServices(services));
    services.authz = await startAuthz(services);
    Object.assign(services, createAuthzStoreServices(services));
    services.totp = new TotpService(storage, audit, clock);
    services.authn = createAuthnServices(services);
    (services as Services & Pick<IdentityServices, 'deprovisioner'>).deprovisioner.endSessionsWith(services.authn.sessions);
    services.oidc = await createOidcService({ config, storage, clock, logger, tenantId: DEFAULT_TENANT, policy: gatehousePolicy(services.authn, DEFAULT_TENANT) });
    Object.assign(services, createMachineServices(services as Services & Pick<IdentityServices, 'deprovisioner'>));

    // Revocations and rotations made by other processes (the CLI, replicas) leave the token cache promptly.
    const tokenFollower = new ApiTokenRevocationFollower({ storage, tokens: services.apiTokens, logger, listenUrl: storage.kind === 'postgres' ? config.databaseUrl : null });
    await tokenFollower.start();
    closers.push(() => tokenFollower.close());

    const http = await buildHttpApp(services);
    let closed = false;
    const gatehouse: Gatehouse = {
      ...services,
      http,
      async listen() {
        try {
          await http.listen({ host: config.host, port: config.port });
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
            const why = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'needs privileges this process lacks' : 'is not an address of this machine';
            throw new GatehouseError('invalid_config', `cannot listen on ${config.host}:${config.port}: the address ${why}; set HOST/PORT to another address`, { host: config.host, port: config.port });
          }
          throw err;
        }
        const addr = http.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : config.port;
        return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
      },
      async close() {
        if (closed) return;
        closed = true;
        await http.close();
        for (const c of closers.reverse()) await c();
        await storage.close();
      },
    };
    return gatehouse;
  } catch (err) {
    for (const c of closers.reverse()) await c();
    await storage.close();
    throw err;
  }
}
