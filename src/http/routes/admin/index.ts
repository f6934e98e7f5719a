/**
 * The admin REST API under /api/v1: bearer API token with the `admin` scope, JSON bodies validated
 * by zod, RFC 9457 problem details for every error, and its OpenAPI 3.1 document at
 * /api/v1/openapi.json, derived from the same route declarations.
 *
 * Register it with one line: `await app.register(async (s) => adminApi(s, services), { prefix: '/api/v1' })`.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../../../audit/audit-log.js';
import type { Config } from '../../../kernel/config.js';
import type { OperationContext } from '../../../kernel/context.js';
import type { Storage } from '../../../storage/database.js';
import type { ApiTokenService } from '../../../identity/api-tokens.js';
import type { ApplicationService, GroupService, RoleService, ServiceAccountService, UserService } from '../../../identity/types.js';
import { requireApiToken } from '../../auth.js';
import { sendProblem } from '../../problem.js';
import { unmatchedRoute } from '../../allowed-methods.js';
import { applicationRoutes } from './applications.js';
import { auditRoutes } from './audit.js';
import { credentialRoutes } from './credentials.js';
import type { CredentialService } from '../../../identity/credentials.js';
import { authnRoutes } from './authn.js';
import type { AuthnServices } from '../../../authn/index.js';
import { groupRoutes } from './groups.js';
import { buildOpenApiDocument } from './openapi.js';
import { registerRoute, type AdminRoute } from './route.js';
import { roleRoutes } from './roles.js';
import { serviceAccountRoutes } from './service-accounts.js';
import { apiTokenRoutes } from './tokens.js';
import { userRoutes } from './users.js';
import { jsonBodyParser } from '../../json-body.js';

/** TOTP enrollment as the admin API uses it (src/authn/totp.ts). */
export interface TotpEnroller {
  /** Creates (or replaces) the user's TOTP secret: SHA-1, 6 digits, 30 s (RFC 6238). */
  enroll(ctx: OperationContext, userId: string): Promise<{ secret: string; otpauthUri: string }>;
}

/** The services the admin API calls. */
export interface AdminApiServices {
  config: Config;
  storage: Storage;
  audit: AuditLog;
  apiTokens: ApiTokenService;
  users: UserService;
  groups: GroupService;
  roles: RoleService;
  serviceAccounts: ServiceAccountService;
  credentials: CredentialService;
  applications: ApplicationService;
  totp: TotpEnroller;
  authn: AuthnServices;
}

/** Every admin API operation, in document order. */
export function adminRoutes(services: AdminApiServices): AdminRoute[] {
  return [
    ...userRoutes(services),
    ...groupRoutes(services),
    ...roleRoutes(services),
    ...serviceAccountRoutes(services),
    ...credentialRoutes(services),
    ...applicationRoutes(services),
    ...auditRoutes(services),
    ...authnRoutes(services),
    ...apiTokenRoutes(services),
  ];
}

const OPENAPI_PATH = '/openapi.json';

/** Gatehouse's version from package.json (the same relative path from src/ and dist/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The Fastify plugin; mount it with prefix `/api/v1`. */
export async function adminApi(scope: FastifyInstance, services: AdminApiServices): Promise<void> {
  const routes = adminRoutes(services);
  const document = buildOpenApiDocument(routes, packageVersion());

  scope.setErrorHandler((err, request, reply) => sendProblem(request, reply, err));
  scope.setNotFoundHandler((request, reply) => sendProblem(request, reply, unmatchedRoute(request, reply)));

  // Only JSON bodies: other media types (forms, text/plain) are answered 415 before any handler runs.
  // An empty JSON body counts as no body, so `POST …/deactivate` with a JSON content type works.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: services.config.bodyLimitBytes }, jsonBodyParser(scope, true));

  // Authenticate before the body is read, so unauthenticated callers cannot make us parse anything.
  const authenticate = requireApiToken(services, 'admin', 'admin');
  scope.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === `${scope.prefix}${OPENAPI_PATH}`) return;
    await authenticate(request);
  });

  scope.get(OPENAPI_PATH, async (_request, reply) => reply.type('application/json; charset=utf-8').send(document));
  for (const route of routes) registerRoute(scope, route);
}
