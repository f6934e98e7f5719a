import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { GatehouseError } from './errors.js';
import { LOG_LEVELS } from './logger.js';

/**
 * The one configuration schema: it gives the types, the defaults, the validation at start
 * and the generated reference in docs/configuration.md.
 *
 * Sources, later ones winning: defaults, the JSON file named by `GATEHOUSE_CONFIG`,
 * environment variables.
 */
export const configSchema = z
  .object({
    databaseUrl: z
      .string()
      .min(1)
      .refine((u) => u.startsWith('sqlite:') || u.startsWith('postgres://') || u.startsWith('postgresql://'), {
        message: 'must start with sqlite:, postgres:// or postgresql://',
      })
      .default('sqlite:./data/gatehouse.db')
      .describe('GATEHOUSE_DATABASE_URL: `sqlite:PATH` (embedded, default) or a `postgres://` URL.'),
    databasePreparedStatements: z
      .union([z.boolean(), z.stringbool()])
      .default(true)
      .describe(
        'GATEHOUSE_DATABASE_PREPARED_STATEMENTS: on PostgreSQL, send the hottest insert statements as named prepared statements, parsed and planned once per connection (default true). Set false behind a connection pooler that does not keep prepared statements, such as PgBouncer in transaction mode before 1.21 or without `max_prepared_statements`. Ignored on SQLite.',
      ),
    issuer: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('GATEHOUSE_ISSUER: public base URL, the OpenID Connect issuer. Default: http://HOST:PORT.'),
    host: z.string().min(1).default('127.0.0.1').describe('HOST: address to listen on.'),
    port: z.coerce.number().int().min(0).max(65535).default(8080).describe('PORT: TCP port to listen on.'),
    workers: z.coerce
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe(
        'GATEHOUSE_WORKERS: number of server processes `gatehouse serve` runs (node:cluster), sharing HOST:PORT; each keeps its own authorization index and API token cache, fed from the database like a replica\'s. 1 (the default) serves from the one process; set it to the number of cores for more throughput. The primary process migrates the database, then starts the workers; SIGTERM or SIGINT stops them all; if one exits unexpectedly the others are stopped and the command exits with status 1, for the service manager to restart it. On SQLite, writes from the workers take turns on the database file.',
      ),
    logLevel: z.enum(LOG_LEVELS).default('info').describe('GATEHOUSE_LOG_LEVEL: fatal, error, warn, info, debug, trace or silent.'),
    bodyLimitBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024)
      .describe('GATEHOUSE_BODY_LIMIT_BYTES: largest accepted request body, in bytes (default 1 MiB).'),
    requestTimeoutSeconds: z.coerce
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(60)
      .describe(
        'GATEHOUSE_REQUEST_TIMEOUT_SECONDS: a client has this many seconds, from its first byte, to send a whole request (headers and body); a client that stalls or dribbles past it is answered 408 and its connection closed, so slow clients cannot hold connections open (the headers alone get at most 60 s). Checked every half of this period (at most every 30 s), so a stalled request is closed between 1 and 1.5 times this after it began.',
      ),
    keepAliveTimeoutSeconds: z.coerce
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(72)
      .describe(
        'GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS: how long, in seconds, a keep-alive connection may stay idle after its last answer before the server closes it (advertised as `Keep-Alive: timeout=N`; node:http closes 1 s later, so a client trusting the header does not race the close). Behind a load balancer or reverse proxy that reuses connections, keep it longer than the proxy\'s idle timeout (AWS ALB: 60 s by default), else the proxy may send a request on a connection Gatehouse is closing and answer 502. Independent of GATEHOUSE_REQUEST_TIMEOUT_SECONDS, which counts from a request\'s first byte.',
      ),
    accessTokenTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .default(3600)
      .describe('GATEHOUSE_ACCESS_TOKEN_TTL_SECONDS: lifetime of OAuth access tokens, in seconds.'),
    refreshTokenTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .default(14 * 24 * 3600)
      .describe('GATEHOUSE_REFRESH_TOKEN_TTL_SECONDS: lifetime of refresh tokens, in seconds.'),
    sessionTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .default(8 * 3600)
      .describe('GATEHOUSE_SESSION_TTL_SECONDS: absolute lifetime of a sign-in session, in seconds.'),
    sessionIdleTimeoutSeconds: z.coerce.number().int().min(60).default(3600)
      .describe('GATEHOUSE_SESSION_IDLE_TIMEOUT_SECONDS: a sign-in session ends after this many seconds without use (NIST SP 800-63B-4 §2.2.3: at most 1 hour at AAL2).'),
    passwordMinLength: z.coerce.number().int().min(8).max(64).default(15)
      .describe('GATEHOUSE_PASSWORD_MIN_LENGTH: shortest password, in characters, when the password is the only factor (NIST SP 800-63B-4 §3.1.1.2: at least 15).'),
    passwordMinLengthWithMfa: z.coerce.number().int().min(8).max(64).default(8)
      .describe('GATEHOUSE_PASSWORD_MIN_LENGTH_WITH_MFA: shortest password, in characters, for a user with a second factor (NIST: at least 8).'),
    passwordResetTtlSeconds: z.coerce.number().int().min(60).max(86400).default(900)
      .describe('GATEHOUSE_PASSWORD_RESET_TTL_SECONDS: lifetime of a password-reset link, in seconds (default 15 minutes).'),
    lockoutThreshold: z.coerce.number().int().min(5).max(100).default(100)
      .describe('GATEHOUSE_LOCKOUT_THRESHOLD: consecutive failed sign-ins after which an account is locked (NIST SP 800-63B-4 §3.2.2: at most 100).'),
    lockoutSeconds: z.coerce.number().int().min(60).default(3600)
      .describe('GATEHOUSE_LOCKOUT_SECONDS: how long a locked account stays locked, in seconds.'),
    smtpUrl: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional()
      .describe('GATEHOUSE_SMTP_URL: `smtp(s)://user:pass@host:port` for outgoing mail; without it mail goes to the outbox (`GET /api/v1/outbox`).'),
    mailFrom: z.string().min(3).default('Gatehouse <gatehouse@localhost>')
      .describe('GATEHOUSE_MAIL_FROM: the From address of mail Gatehouse sends.'),
    credentialMaxLifetimeDays: z.coerce
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(365)
      .describe('GATEHOUSE_CREDENTIAL_MAX_LIFETIME_DAYS: longest lifetime of a service-account credential (client secret, public key, API key), in days; a longer requested expiry is refused.'),
    serviceAccountOwnerLeaverPolicy: z
      .enum(['disable', 'handover'])
      .default('disable')
      .describe("GATEHOUSE_SERVICE_ACCOUNT_OWNER_LEAVER_POLICY: when a service account's owner is deactivated or deleted: `disable` the service account, or `handover` to the owner's manager (disabled when there is no active manager)."),
    resourceServers: z
      .preprocess(
        (v) => {
          if (typeof v !== 'string') return v;
          try {
            return JSON.parse(v) as unknown;
          } catch {
            return v; // reported as "expected record"
          }
        },
        z.record(
          z.url(),
          z.strictObject({
            scope: z.string().default(''),
            accessTokenTtlSeconds: z.number().int().min(30).max(86400).default(300),
          }),
        ),
      )
      .default({})
      .describe('GATEHOUSE_RESOURCE_SERVERS: JSON object of OAuth resource servers (RFC 8707 resource indicator URL → `{scope, accessTokenTtlSeconds}`); tokens for them are JWT access tokens (RFC 9068).'),
    oidcAllowPrivateNetworkCallbacks: z
      .union([z.boolean(), z.stringbool()])
      .default(false)
      .describe('GATEHOUSE_OIDC_ALLOW_PRIVATE_NETWORK_CALLBACKS: let the OpenID Provider call loopback and private addresses (back-channel logout URIs); off by default as SSRF protection; for development and tests.'),
    scimSchemaExtensions: z
      .preprocess((v) => (typeof v === 'string' ? (() => { try { return JSON.parse(v) as unknown; } catch { return v; } })() : v), z.array(z.record(z.string(), z.unknown())).max(20))
      .default([])
      .describe('GATEHOUSE_SCIM_SCHEMA_EXTENSIONS: JSON array of custom SCIM schema extensions of the User or Group resource (`{id, name, resourceType: "User" | "Group", attributes: [...]}`); see docs/scim-compatibility.md.'),
    authzDecisionLog: z
      .enum(['off', 'sampled', 'full'])
      .default('off')
      .describe('GATEHOUSE_AUTHZ_DECISION_LOG: authorization decision log: `off`, `sampled` (a fraction of decisions, see GATEHOUSE_AUTHZ_DECISION_LOG_SAMPLE_RATE) or `full`; logged allowed decisions also record when each granting tuple was last used.'),
    authzDecisionLogSampleRate: z.coerce
      .number()
      .min(0)
      .max(1)
      .default(0.01)
      .describe('GATEHOUSE_AUTHZ_DECISION_LOG_SAMPLE_RATE: fraction (0 to 1) of decisions logged in `sampled` mode.'),
    apiTokenCacheTtlSeconds: z.coerce
      .number()
      .int()
      .min(0)
      .max(60)
      .default(5)
      .describe(
        'GATEHOUSE_API_TOKEN_CACHE_TTL_SECONDS: how long, in seconds, a replica answers an authenticated API bearer token from memory (keyed by its SHA-256) before reading it again; 0 turns the cache off. Expiry is checked on every request, and revocation or rotation takes effect at once on the replica that made it; on other replicas and on a running server when the `gatehouse token` CLI (or deprovisioning a user its tokens are bound to) does it, within 1 s plus one query on SQLite (a 1 s poll of the audit log), on PostgreSQL as soon as the NOTIFY sent at commit arrives (same 1 s poll as a fallback); never later than this TTL.',
      ),
  })
  .strict();

/** Validated configuration. `issuer` is always set after {@link loadConfig}. */
export type Config = z.infer<typeof configSchema> & { issuer: string };

/** Environment variable for each config key. */
export const ENV_NAMES: Record<keyof z.infer<typeof configSchema>, string> = {
  databaseUrl: 'GATEHOUSE_DATABASE_URL',
  databasePreparedStatements: 'GATEHOUSE_DATABASE_PREPARED_STATEMENTS',
  issuer: 'GATEHOUSE_ISSUER',
  host: 'HOST',
  port: 'PORT',
  workers: 'GATEHOUSE_WORKERS',
  logLevel: 'GATEHOUSE_LOG_LEVEL',
  bodyLimitBytes: 'GATEHOUSE_BODY_LIMIT_BYTES',
  requestTimeoutSeconds: 'GATEHOUSE_REQUEST_TIMEOUT_SECONDS',
  keepAliveTimeoutSeconds: 'GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS',
  accessTokenTtlSeconds: 'GATEHOUSE_ACCESS_TOKEN_TTL_SECONDS',
  refreshTokenTtlSeconds: 'GATEHOUSE_REFRESH_TOKEN_TTL_SECONDS',
  sessionTtlSeconds: 'GATEHOUSE_SESSION_TTL_SECONDS',
  sessionIdleTimeoutSeconds: 'GATEHOUSE_SESSION_IDLE_TIMEOUT_SECONDS',
  passwordMinLength: 'GATEHOUSE_PASSWORD_MIN_LENGTH',
  passwordMinLengthWithMfa: 'GATEHOUSE_PASSWORD_MIN_LENGTH_WITH_MFA',
  passwordResetTtlSeconds: 'GATEHOUSE_PASSWORD_RESET_TTL_SECONDS',
  lockoutThreshold: 'GATEHOUSE_LOCKOUT_THRESHOLD',
  lockoutSeconds: 'GATEHOUSE_LOCKOUT_SECONDS',
  smtpUrl: 'GATEHOUSE_SMTP_URL',
  mailFrom: 'GATEHOUSE_MAIL_FROM',
  credentialMaxLifetimeDays: 'GATEHOUSE_CREDENTIAL_MAX_LIFETIME_DAYS',
  serviceAccountOwnerLeaverPolicy: 'GATEHOUSE_SERVICE_ACCOUNT_OWNER_LEAVER_POLICY',
  resourceServers: 'GATEHOUSE_RESOURCE_SERVERS',
  oidcAllowPrivateNetworkCallbacks: 'GATEHOUSE_OIDC_ALLOW_PRIVATE_NETWORK_CALLBACKS',
  scimSchemaExtensions: 'GATEHOUSE_SCIM_SCHEMA_EXTENSIONS',
  authzDecisionLog: 'GATEHOUSE_AUTHZ_DECISION_LOG',
  authzDecisionLogSampleRate: 'GATEHOUSE_AUTHZ_DECISION_LOG_SAMPLE_RATE',
  apiTokenCacheTtlSeconds: 'GATEHOUSE_API_TOKEN_CACHE_TTL_SECONDS',
};

/**
 * Loads and validates configuration.
 *
 * @param env - environment (default `process.env`); `GATEHOUSE_CONFIG` may name a JSON file.
 * @param overrides - values that win over every source (used by tests and CLI flags).
 * @throws GatehouseError `invalid_config` naming each bad setting and its variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  let fromFile: Record<string, unknown> = {};
  const file = env.GATEHOUSE_CONFIG;
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new GatehouseError('invalid_config', `GATEHOUSE_CONFIG: cannot read ${file} as JSON: ${(err as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      throw new GatehouseError('invalid_config', `GATEHOUSE_CONFIG: ${file} must hold a JSON object`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const parsed = configSchema.safeParse({ ...fromFile, ...fromEnv, ...overrides });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const name = ENV_NAMES[key as keyof typeof ENV_NAMES];
      return `${name ? `${name} (${key})` : key || 'config'}: ${i.message}`;
    });
    throw new GatehouseError('invalid_config', `Invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  const c = parsed.data;
  const issuer = (c.issuer ?? `http://${c.host === '0.0.0.0' ? '127.0.0.1' : c.host}:${c.port}`).replace(/\/+$/, '');
  return { ...c, issuer };
}
