/**
 * SCIM 2.0 service provider at /scim/v2 (RFC 7644): a thin adapter over the transport-free
 * endpoints in src/scim/. Callers present an API token with the `scim` scope; changes are
 * recorded with source `scim`. Bodies are `application/scim+json` or `application/json`;
 * answers are `application/scim+json`. Every error in this scope — authentication, body
 * parsing, size, validation, domain — is answered once, here, in the SCIM error schema.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../kernel/config.js';
import type { ApiTokenService } from '../../identity/api-tokens.js';
import type { GroupService, UserService } from '../../identity/types.js';
import { allResourceTypes, allSchemas, findResourceType, findSchema, resourceTypeDoc, schemaDoc, serviceProviderConfig } from '../../scim/discovery.js';
import { toScimError } from '../../scim/errors.js';
import { etagMatches, etagOf, parseEtagCondition } from '../../scim/etag.js';
import { ScimGroupEndpoint } from '../../scim/group-endpoint.js';
import { listResponse } from '../../scim/list.js';
import { ScimUserEndpoint, type ScimResult } from '../../scim/user-endpoint.js';
import { contextOf, requireApiToken } from '../auth.js';
import { classifyError } from '../errors.js';

/** The media type of SCIM messages (RFC 7644 §3.1). */
export const SCIM_MEDIA_TYPE = 'application/scim+json; charset=utf-8';

/** What the SCIM routes need from the composition root. */
export interface ScimRouteServices {
  config: Pick<Config, 'issuer' | 'bodyLimitBytes'>;
  apiTokens: ApiTokenService;
  users: UserService;
  groups: GroupService;
}

const JSON_SYNTAX_CODES = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY']);

type IdParams = { Params: { id: string } };

/** Registers the SCIM routes; mount with `{ prefix: '/scim/v2' }`. */
export async function scimRoutes(app: FastifyInstance, services: ScimRouteServices): Promise<void> {
  const baseUrl = `${services.config.issuer}/scim/v2`;
  const users = new ScimUserEndpoint(services.users, baseUrl);
  const groups = new ScimGroupEndpoint(services.groups, services.users, baseUrl);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/scim+json', 'application/json'],
    { parseAs: 'string', bodyLimit: services.config.bodyLimitBytes },
    app.getDefaultJsonParser('error', 'error'),
  );

  app.setErrorHandler((err, request, reply) => {
    const c = classifyError(err);
    if (c.unexpected) request.log.error({ err }, 'unexpected error in SCIM request');
    const code = (err as { code?: unknown } | null)?.code;
    const syntax = (typeof code === 'string' && JSON_SYNTAX_CODES.has(code)) || err instanceof SyntaxError;
    const { status, body } = toScimError(c, syntax ? 'invalidSyntax' : undefined);
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="scim"');
    return reply.code(status).type(SCIM_MEDIA_TYPE).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toScimError({ status: 404, code: 'not_found', message: `no SCIM endpoint ${request.method} ${request.url.split('?')[0]}`, unexpected: false });
    return reply.code(status).type(SCIM_MEDIA_TYPE).send(body);
  });

  app.addHook('onRequest', requireApiToken(services, 'scim', 'scim'));
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!reply.hasHeader('content-type') || String(reply.getHeader('content-type')).startsWith('application/json')) reply.type(SCIM_MEDIA_TYPE);
    return payload;
  });

  const ifMatch = (request: FastifyRequest) => parseEtagCondition(request.headers['if-match']);

  /** Sends one resource with its ETag; `If-None-Match` on a read answers 304 when unchanged. */
  const sendResource = (request: FastifyRequest, reply: FastifyReply, r: ScimResult, status = 200) => {
    reply.header('etag', etagOf(r.version));
    if (status === 201) reply.header('location', (r.doc.meta as { location: string } | undefined)?.location ?? `${baseUrl}`);
    const inm = request.method === 'GET' ? parseEtagCondition(request.headers['if-none-match']) : undefined;
    if (inm && etagMatches(inm, r.version)) return reply.code(304).send();
    return reply.code(status).type(SCIM_MEDIA_TYPE).send(r.doc);
  };
  const query = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>;

  // Users
  app.post('/Users', async (request, reply) => sendResource(request, reply, await users.create(contextOf(request), request.body), 201));
  app.get('/Users', async (request) => users.list(contextOf(request), query(request)));
  app.get<IdParams>('/Users/:id', async (request, reply) => sendResource(request, reply, await users.get(contextOf(request), request.params.id, query(request))));
  app.put<IdParams>('/Users/:id', async (request, reply) =>
    sendResource(request, reply, await users.replace(contextOf(request), request.params.id, request.body, ifMatch(request))),
  );
  app.patch<IdParams>('/Users/:id', async (request, reply) =>
    sendResource(request, reply, await users.patch(contextOf(request), request.params.id, request.body, ifMatch(request))),
  );
  app.delete<IdParams>('/Users/:id', async (request, reply) => {
    await users.delete(contextOf(request), request.params.id, ifMatch(request));
    return reply.code(204).send();
  });

  // Groups
  app.post('/Groups', async (request, reply) => sendResource(request, reply, await groups.create(contextOf(request), request.body), 201));
  app.get('/Groups', async (request) => groups.list(contextOf(request), query(request)));
  app.get<IdParams>('/Groups/:id', async (request, reply) => sendResource(request, reply, await groups.get(contextOf(request), request.params.id, query(request))));
  app.put<IdParams>('/Groups/:id', async (request, reply) =>
    sendResource(request, reply, await groups.replace(contextOf(request), request.params.id, request.body, ifMatch(request))),
  );
  app.patch<IdParams>('/Groups/:id', async (request, reply) =>
    sendResource(request, reply, await groups.patch(contextOf(request), request.params.id, request.body, ifMatch(request))),
  );
  app.delete<IdParams>('/Groups/:id', async (request, reply) => {
    await groups.delete(contextOf(request), request.params.id, ifMatch(request));
    return reply.code(204).send();
  });

  // Discovery (RFC 7644 §4)
  app.get('/ServiceProviderConfig', async () => serviceProviderConfig(baseUrl));
  app.get('/ResourceTypes', async () => {
    const docs = allResourceTypes(baseUrl);
    return listResponse({ totalResults: docs.length }, 1, docs);
  });
  app.get<IdParams>('/ResourceTypes/:id', async (request) => resourceTypeDoc(findResourceType(request.params.id), baseUrl));
  app.get('/Schemas', async () => {
    const docs = allSchemas(baseUrl);
    return listResponse({ totalResults: docs.length }, 1, docs);
  });
  app.get<IdParams>('/Schemas/:id', async (request) => schemaDoc(findSchema(request.params.id), baseUrl));
}
