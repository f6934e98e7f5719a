import { z } from 'zod';
import type { Application } from '../../../identity/types.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { pageOf, pageQuery, toPage } from './schemas.js';

const authMethod = z.enum(['client_secret_basic', 'none']).meta({ description: '`client_secret_basic` for confidential clients, `none` for public ones. PKCE is required for both.' });

const applicationShape = {
  id: z.string().meta({ description: 'The application id; equal to `client_id`.' }),
  client_id: z.string().meta({ description: 'The OAuth 2.0 client_id.' }),
  name: z.string(),
  redirect_uris: z.array(z.string()),
  token_endpoint_auth_method: authMethod,
  public: z.boolean(),
  created_at: z.string(),
};

const applicationSchema = z.object(applicationShape).meta({ id: 'Application', description: 'An OpenID Connect client application.' });

const createdApplicationSchema = z
  .object({
    ...applicationShape,
    client_secret: z.string().nullable().meta({ description: 'The client secret, shown once; null for public clients.' }),
  })
  .meta({ id: 'CreatedApplication' });

const redirectUri = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .meta({ description: 'An absolute http(s) redirect URI without a fragment (RFC 6749 §3.1.2).', example: 'https://app.example.com/callback' });

const applicationCreateBody = z
  .strictObject({
    name: z.string().trim().min(1).max(256),
    redirect_uris: z.array(redirectUri).min(1).max(50),
    public: z.boolean().default(false).meta({ description: 'A public client (no secret; e.g. a single-page or native app).' }),
  })
  .meta({ id: 'ApplicationCreate' });

const clientIdParams = z.strictObject({ id: z.string().min(1).max(128).meta({ description: 'The client_id.' }) });

/** Domain application → admin API representation. */
export function applicationToJson(a: Application): z.output<typeof applicationSchema> {
  return {
    id: a.id,
    client_id: a.id,
    name: a.name,
    redirect_uris: a.redirectUris,
    token_endpoint_auth_method: a.tokenEndpointAuthMethod,
    public: a.public,
    created_at: a.created,
  };
}

/** /applications: OIDC clients: list, create (secret shown once), read, delete. */
export function applicationRoutes(services: AdminApiServices): AdminRoute[] {
  const { applications } = services;
  const tag = 'applications';
  return [
    defineRoute({
      method: 'get',
      path: '/applications',
      operationId: 'listApplications',
      summary: 'List OIDC client applications',
      tag,
      query: pageQuery,
      success: { status: 200, description: 'A page of applications (never their secrets).', schema: pageOf(applicationSchema, 'ApplicationList') },
      handler: async ({ ctx, query }) => toPage(await applications.list(ctx, { startIndex: query.start_index, count: query.count }), applicationToJson),
    }),
    defineRoute({
      method: 'post',
      path: '/applications',
      operationId: 'createApplication',
      summary: 'Register an OIDC client application',
      description: 'Confidential clients authenticate with `client_secret_basic`; the secret is returned once and only its SHA-256 is stored.',
      tag,
      body: applicationCreateBody,
      noStore: true,
      success: { status: 201, description: 'The application and its secret (shown once).', schema: createdApplicationSchema },
      handler: async ({ ctx, body }) => {
        const created = await applications.create(ctx, { name: body.name, redirectUris: body.redirect_uris, public: body.public });
        return { ...applicationToJson(created.application), client_secret: created.client_secret };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/applications/{id}',
      operationId: 'getApplication',
      summary: 'Read an OIDC client application',
      tag,
      params: clientIdParams,
      problems: [404],
      success: { status: 200, description: 'The application.', schema: applicationSchema },
      handler: async ({ ctx, params }) => applicationToJson(await applications.get(ctx, params.id)),
    }),
    defineRoute({
      method: 'delete',
      path: '/applications/{id}',
      operationId: 'deleteApplication',
      summary: 'Delete an OIDC client application',
      tag,
      params: clientIdParams,
      problems: [404],
      success: { status: 204, description: 'Deleted.' },
      handler: async ({ ctx, params }) => applications.delete(ctx, params.id),
    }),
  ];
}
