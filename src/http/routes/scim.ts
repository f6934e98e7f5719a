/**
 * SCIM 2.0 service provider at /scim/v2 (RFC 7644): a thin adapter over the transport-free
 * endpoints in src/scim/. Callers present an API token with the `scim` scope; changes are
 * recorded with source `scim`. Bodies are `application/scim+json` or `application/json`;
 * answers are `application/scim+json`. Every error in this scope — authentication, body
 * parsing, size, validation, domain — is answered once, here, in the SCIM error schema.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../kernel/config.js';
import { DEFAULT_TENANT } from '../../kernel/context.js';
import { GatehouseError } from '../../kernel/errors.js';
import type { ApiTokenService } from '../../identity/api-tokens.js';
import type { GroupService, UserService } from '../../identity/types.js';
import type { Storage } from '../../storage/database.js';
import { ScimBulkProcessor } from '../../scim/bulk.js';
import { allResourceTypes, allSchemas, findResourceType, findSchema, resourceTypeDoc, schemaDoc, serviceProviderConfig } from '../../scim/discovery.js';
import { toScimError } from '../../scim/errors.js';
import { etagMatches, etagOf, parseEtagCondition } from '../../scim/etag.js';
import { buildSchemaSet } from '../../scim/extensions.js';
import { ScimGroupEndpoint } from '../../scim/group-endpoint.js';
import { listResponse, readListParams, readSearchRequest } from '../../scim/list.js';
import type { Filter } from '../../scim/filter-parser.js';
import type { ScimDoc } from '../../scim/resource.js';
import { readProjection } from '../../scim/operations.js';
import { ScimQueryStore } from '../../scim/sql/query-store.js';
import { ScimUserEndpoint, type ScimResult } from '../../scim/user-endpoint.js';
import { GroupCommit, retryTransient } from '../../storage/transactions.js';
import type { WriteRunner } from '../../identity/types.js';
import { apiTokenHook, bearerToken, contextOf } from '../auth.js';
import { classifyError } from '../errors.js';
import { unmatchedRoute } from '../allowed-methods.js';
import { jsonBodyParser } from '../json-body.js';
import { KeyedSerial } from '../../kernel/serial.js';

/** The media type of SCIM messages (RFC 7644 §3.1). */
export const SCIM_MEDIA_TYPE = 'application/scim+json; charset=utf-8';

/** What the SCIM routes need from the composition root. */
export interface ScimRouteServices {
  config: Pick<Config, 'issuer' | 'bodyLimitBytes'> & { scimSchemaExtensions?: unknown[] };
  storage: Storage;
  apiTokens: ApiTokenService;
  users: UserService;
  groups: GroupService;
}

const JSON_SYNTAX_CODES = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY']);

type IdParams = { Params: { id: string } };

/** Any error as a SCIM status and body (the one classification of src/http/errors.ts). */
function scimErrorOf(err: unknown) {
  const c = classifyError(err);
  const code = (err as { code?: unknown } | null)?.code;
  const syntax = (typeof code === 'string' && JSON_SYNTAX_CODES.has(code)) || err instanceof SyntaxError;
  return { ...toScimError(c, syntax ? 'invalidSyntax' : undefined), unexpected: c.unexpected };
}

/** Answers any error in the SCIM error schema (RFC 7644 §3.12), as `application/scim+json`. */
export function sendScimError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body, unexpected } = scimErrorOf(err);
  if (unexpected) request.log.error({ err }, 'unexpected error in SCIM request');
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="scim"');
  if (status === 503) {
    // The database is unreachable, or concurrent changes outlasted the retries (retryTransient,
    // withOptimisticRetry): say which to operators, and when to come back to the client.
    request.log.warn({ code: (err as { code?: string }).code, reason: (err as { cause?: { message?: string } }).cause?.message }, 'SCIM request answered 503');
    reply.header('retry-after', '1');
  }
  return reply.code(status).type(SCIM_MEDIA_TYPE).send(body);
}

/**
 * Registers the SCIM routes; mount with `{ prefix: '/scim/v2' }`.
 * @throws GatehouseError `invalid_config` when the configured schema extensions are invalid.
 */
export async function scimRoutes(app: FastifyInstance, services: ScimRouteServices): Promise<void> {
  const baseUrl = `${services.config.issuer}/scim/v2`;
  const schemaSet = buildSchemaSet(services.config.scimSchemaExtensions ?? []);
  const store = new ScimQueryStore(services.storage);
  const users = new ScimUserEndpoint(services.users, store, baseUrl, schemaSet.user);
  const groups = new ScimGroupEndpoint(services.groups, store, baseUrl, schemaSet.group);
  const bulk = new ScimBulkProcessor(users, groups, (err) => scimErrorOf(err), services.storage);
  // On SQLite single user creations that arrive together share one transaction (a savepoint each)
  // and one commit; the group holds the write lock only for the inserts (hashing is done before).
  // Not on PostgreSQL, where a group's held row locks could deadlock with concurrent writers.
  const userCreations = services.storage.kind === 'sqlite' ? new GroupCommit(services.storage.rootDb) : null;
  const groupedWrite: WriteRunner | undefined = userCreations ? (insert) => userCreations.run(insert) : undefined;

  app.removeAllContentTypeParsers();
  // Provisioning clients send Content-Type on every request, DELETE and GET included: an empty
  // body is no body. Endpoints that need one answer invalidSyntax themselves.
  app.addContentTypeParser(['application/scim+json', 'application/json'], { parseAs: 'string', bodyLimit: services.config.bodyLimitBytes }, jsonBodyParser(app, true));

  app.setErrorHandler(sendScimError);
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toScimError(classifyError(unmatchedRoute(request, reply)));
    return reply.code(status).type(SCIM_MEDIA_TYPE).send(body);
  });

  // Callback-style hooks (no promise per request; a cached token is admitted synchronously).
  app.addHook('onRequest', apiTokenHook(services, 'scim', 'scim'));
  app.addHook('onSend', (_request, reply, payload, done) => {
    const type = reply.getHeader('content-type');
    if (type === undefined || String(type).startsWith('application/json')) reply.type(SCIM_MEDIA_TYPE);
    done(null, payload);
  });

  /** PUT/PATCH of one resource, one at a time in this process (keyed by tenant, type and id). */
  const writesOf = new KeyedSerial();
  const ifMatch = (request: FastifyRequest) => parseEtagCondition(request.headers['if-match']);
  const query = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>;
  const projection = (request: FastifyRequest) => readProjection(query(request));

  /** Sends one resource with its ETag; `If-None-Match` on a read answers 304 when unchanged. */
  const sendResource = (request: FastifyRequest, reply: FastifyReply, r: ScimResult, status = 200) => {
    reply.header('etag', etagOf(r.version));
    if (status === 201) reply.header('location', (r.doc.meta as { location: string } | undefined)?.location ?? `${baseUrl}`);
    const inm = request.method === 'GET' ? parseEtagCondition(request.headers['if-none-match']) : undefined;
    if (inm && etagMatches(inm, r.version)) return reply.code(304).send();
    return reply.code(status).type(SCIM_MEDIA_TYPE).send(r.doc);
  };

  // Users and Groups: the same routes on both endpoints.
  for (const [path, endpoint] of [
    ['/Users', users],
    ['/Groups', groups],
  ] as const) {
    // Each write is one transaction (after-commit work only runs after its commit), so a PostgreSQL
    // deadlock or serialization failure re-runs it (retryTransient) instead of answering 500.
    app.post(path, async (request, reply) => {
      const ctx = contextOf(request);
      const r = await retryTransient(() => (endpoint === users ? users.create(ctx, request.body, projection(request), groupedWrite) : endpoint.create(ctx, request.body, projection(request))));
      return sendResource(request, reply, r, 201);
    });
    app.get(path, async (request) => endpoint.list(contextOf(request), readListParams(query(request)), projection(request)));
    app.post(`${path}/.search`, async (request, reply) => {
      const q = readSearchRequest(request.body);
      return reply.code(200).send(await endpoint.list(contextOf(request), readListParams(q), readProjection(q)));
    });
    app.get<IdParams>(`${path}/:id`, async (request, reply) => sendResource(request, reply, await endpoint.get(contextOf(request), request.params.id, projection(request))));
    // PUT and PATCH of one resource are applied one after another in this process (a burst of
    // Entra ID membership PATCHes of one group would otherwise race and be re-run); other
    // processes still meet the version check (withOptimisticRetry).
    app.put<IdParams>(`${path}/:id`, async (request, reply) => {
      const ctx = contextOf(request);
      const r = await writesOf.run(`${ctx.tenantId}${path}/${request.params.id}`, () =>
        retryTransient(() => endpoint.replace(ctx, request.params.id, request.body, ifMatch(request), projection(request))),
      );
      return sendResource(request, reply, r);
    });
    app.patch<IdParams>(`${path}/:id`, async (request, reply) => {
      const ctx = contextOf(request);
      const r = await writesOf.run(`${ctx.tenantId}${path}/${request.params.id}`, () =>
        retryTransient(() => endpoint.patch(ctx, request.params.id, request.body, ifMatch(request), projection(request))),
      );
      return sendResource(request, reply, r);
    });
    app.delete<IdParams>(`${path}/:id`, async (request, reply) => {
      await retryTransient(() => endpoint.delete(contextOf(request), request.params.id, ifMatch(request)));
      return reply.code(204).send();
    });
  }

  // Searching from the root (RFC 7644 §3.4.3): Users and Groups as one list, ordered by sortBy
  // (else Users, then Groups) in SQL; the page's resources are then read by id through each
  // endpoint, so they look exactly as a list of that type shows them.
  app.post('/.search', async (request) => {
    const q = readSearchRequest(request.body);
    const params = readListParams(q);
    const proj = { ...readProjection(q), lenient: true };
    const ctx = contextOf(request);
    const page = await store.searchAll(ctx.tenantId, schemaSet, params);
    const docs = new Map<string, ScimDoc>();
    for (const [type, endpoint] of [
      ['User', users],
      ['Group', groups],
    ] as const) {
      const ids = page.items.filter((r) => r.type === type).map((r) => r.id);
      if (ids.length === 0) continue;
      const filter: Filter = { op: 'or', filters: ids.map((id) => ({ op: 'eq', attrPath: 'id', compValue: id })) };
      for (const doc of (await endpoint.list(ctx, { filter, startIndex: 1, count: ids.length, sortOrder: 'ascending' }, proj)).Resources) docs.set(`${type}:${doc.id as string}`, doc);
    }
    // A resource deleted between the two reads is left out of the page.
    const resources = page.items.map((r) => docs.get(`${r.type}:${r.id}`)).filter((d): d is ScimDoc => d !== undefined);
    return listResponse({ totalResults: page.totalResults }, params.startIndex, resources);
  });

  // Bulk (RFC 7644 §3.7).
  app.post('/Bulk', async (request) => bulk.run(contextOf(request), request.body));

  // /Me (RFC 7644 §3.11): the User an API token was issued for (`gatehouse token create --user ID`).
  const meId = async (request: FastifyRequest): Promise<string> => {
    const token = await services.apiTokens.authenticate(DEFAULT_TENANT, bearerToken(request) ?? '');
    if (!token?.userId) throw new GatehouseError('not_found', 'the authenticated subject is not a User: this token was not issued for a user');
    return token.userId;
  };
  app.get('/Me', async (request, reply) => sendResource(request, reply, await users.get(contextOf(request), await meId(request), projection(request))));
  app.put('/Me', async (request, reply) => {
    const id = await meId(request);
    const ctx = contextOf(request);
    return sendResource(request, reply, await writesOf.run(`${ctx.tenantId}/Users/${id}`, () => retryTransient(() => users.replace(ctx, id, request.body, ifMatch(request), projection(request)))));
  });
  app.patch('/Me', async (request, reply) => {
    const id = await meId(request);
    const ctx = contextOf(request);
    return sendResource(request, reply, await writesOf.run(`${ctx.tenantId}/Users/${id}`, () => retryTransient(() => users.patch(ctx, id, request.body, ifMatch(request), projection(request)))));
  });
  app.delete('/Me', async (request, reply) => {
    const id = await meId(request);
    await retryTransient(() => users.delete(contextOf(request), id, ifMatch(request)));
    return reply.code(204).send();
  });

  // Discovery (RFC 7644 §4)
  app.get('/ServiceProviderConfig', async () => serviceProviderConfig(baseUrl, services.config.bodyLimitBytes));
  app.get('/ResourceTypes', async () => {
    const docs = allResourceTypes(baseUrl, schemaSet);
    return listResponse({ totalResults: docs.length }, 1, docs);
  });
  app.get<IdParams>('/ResourceTypes/:id', async (request) => resourceTypeDoc(findResourceType(request.params.id, schemaSet), baseUrl));
  app.get('/Schemas', async () => {
    const docs = allSchemas(baseUrl, schemaSet);
    return listResponse({ totalResults: docs.length }, 1, docs);
  });
  app.get<IdParams>('/Schemas/:id', async (request) => schemaDoc(findSchema(request.params.id, schemaSet), baseUrl));
}
