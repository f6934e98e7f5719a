import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '../kernel/errors.js';
import { DEFAULT_TENANT, type OperationContext } from '../kernel/context.js';
import type { ApiScope, ApiToken } from '../identity/types.js';
import type { Services } from '../gatehouse.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by {@link requireApiToken}: who is calling, for services and audit. */
    operationContext?: OperationContext;
  }
}

/** The bearer token in an `Authorization: Bearer …` header value (RFC 6750 §2.1), or null. */
export function bearerTokenIn(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/** The bearer token in the request's `Authorization: Bearer …` (RFC 6750 §2.1), or null. */
export function bearerToken(request: FastifyRequest): string | null {
  return bearerTokenIn(request.headers.authorization);
}

/** The operation context of a request admitted with API token `token`. */
export function apiTokenContext(token: ApiToken, requestId: string, sourceIp: string, source: OperationContext['source']): OperationContext {
  return { tenantId: DEFAULT_TENANT, actor: { type: 'api_token', id: token.id }, requestId, sourceIp, source };
}

/** Admits `found` for `scope`, setting `request.operationContext`. @throws GatehouseError as {@link requireApiToken}. */
function admit(request: FastifyRequest, found: ApiToken | null, scope: ApiScope, source: OperationContext['source']): void {
  if (!found) throw new GatehouseError('unauthenticated', 'the bearer token is invalid, expired or revoked');
  if (!found.scopes.includes(scope)) throw new GatehouseError('forbidden', `the token lacks the '${scope}' scope`, { requiredScope: scope });
  request.operationContext = apiTokenContext(found, String(request.id), request.ip, source);
}

/**
 * A preHandler that admits only API tokens holding `scope`, and sets `request.operationContext`.
 * @throws GatehouseError `unauthenticated` (no, unknown, expired or revoked token) or `forbidden` (scope missing);
 *   the protocol's error handler formats it.
 */
export function requireApiToken(services: Pick<Services, 'apiTokens'>, scope: ApiScope, source: OperationContext['source'] = 'admin') {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    if (!token) throw new GatehouseError('unauthenticated', 'a bearer token is required');
    admit(request, await services.apiTokens.authenticate(DEFAULT_TENANT, token), scope, source);
  };
}

/**
 * {@link requireApiToken} as a callback-style Fastify hook: a token answered from the API token
 * cache is admitted synchronously (no promise per request); otherwise the database is read.
 * Same outcomes and errors.
 */
export function apiTokenHook(services: Pick<Services, 'apiTokens'>, scope: ApiScope, source: OperationContext['source'] = 'admin') {
  return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    const token = bearerToken(request);
    if (!token) return done(new GatehouseError('unauthenticated', 'a bearer token is required'));
    const cached = services.apiTokens.authenticateCached(DEFAULT_TENANT, token, request.raw.socket);
    if (cached !== undefined) {
      try {
        admit(request, cached, scope, source);
      } catch (err) {
        return done(err as Error);
      }
      return done();
    }
    services.apiTokens.authenticate(DEFAULT_TENANT, token).then(
      (found) => {
        try {
          admit(request, found, scope, source);
        } catch (err) {
          return done(err as Error);
        }
        done();
      },
      (err: Error) => done(err),
    );
  };
}

/** The operation context set by {@link requireApiToken}. @throws GatehouseError `unauthenticated` if absent. */
export function contextOf(request: FastifyRequest): OperationContext {
  if (!request.operationContext) throw new GatehouseError('unauthenticated', 'not authenticated');
  return request.operationContext;
}
