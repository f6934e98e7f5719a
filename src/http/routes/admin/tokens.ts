import { z } from 'zod';
import { API_SCOPES, type ApiToken } from '../../../identity/types.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { idParams } from './schemas.js';

const tokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(API_SCOPES)),
    user_id: z.string().nullable().meta({ description: 'The user the token acts for (SCIM `/Me`), or null.' }),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    last_used_at: z.string().nullable().meta({ description: 'Last use, at minute granularity.' }),
    revoked_at: z.string().nullable(),
  })
  .meta({ id: 'ApiToken', description: 'An API bearer token (never the secret itself: only its SHA-256 is stored).' });

const tokenWithSecretSchema = z
  .object({ token: z.string().meta({ description: 'The bearer token. Shown once; store it now.' }), api_token: tokenSchema })
  .meta({ id: 'ApiTokenSecret' });

const tokenCreateBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    scopes: z.array(z.enum(API_SCOPES)).min(1).meta({ description: 'scim (SCIM provisioning clients), admin, authz.' }),
    expires_in_days: z.number().int().min(1).max(3650).optional().meta({ description: 'Lifetime in days; no expiry when omitted.' }),
    user_id: z.string().min(1).max(128).optional().meta({ description: 'The user the token acts for (SCIM `/Me`).' }),
  })
  .meta({ id: 'ApiTokenCreate' });

/** Domain API token → admin API representation. */
export function apiTokenToJson(t: ApiToken): z.output<typeof tokenSchema> {
  return { id: t.id, name: t.name, scopes: t.scopes, user_id: t.userId, created_at: t.created, expires_at: t.expiresAt, last_used_at: t.lastUsedAt, revoked_at: t.revokedAt };
}

/** /api-tokens: list, create, rotate, revoke (e.g. the bearer tokens of SCIM provisioning clients). */
export function apiTokenRoutes(services: AdminApiServices): AdminRoute[] {
  const tokens = services.apiTokens;
  const tag = 'api-tokens';
  return [
    defineRoute({
      method: 'get',
      path: '/api-tokens',
      operationId: 'listApiTokens',
      summary: 'List API tokens',
      tag,
      success: { status: 200, description: 'Every API token of the tenant, oldest first (never the secrets).', schema: z.object({ items: z.array(tokenSchema) }).meta({ id: 'ApiTokenList' }) },
      handler: async ({ ctx }) => ({ items: (await tokens.list(ctx)).map(apiTokenToJson) }),
    }),
    defineRoute({
      method: 'post',
      path: '/api-tokens',
      operationId: 'createApiToken',
      summary: 'Create an API token',
      tag,
      body: tokenCreateBody,
      problems: [404],
      noStore: true,
      success: { status: 201, description: 'The token, shown once.', schema: tokenWithSecretSchema },
      handler: async ({ ctx, body }) => {
        const c = await tokens.create(ctx, { name: body.name, scopes: body.scopes, ...(body.expires_in_days ? { expiresInDays: body.expires_in_days } : {}), ...(body.user_id ? { userId: body.user_id } : {}) });
        return { token: c.token, api_token: apiTokenToJson(c.apiToken) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api-tokens/{id}/rotate',
      operationId: 'rotateApiToken',
      summary: 'Rotate an API token',
      description: 'Replaces the secret under the same id, scopes and expiry; the previous secret stops working at once. No request body.',
      tag,
      params: idParams,
      problems: [404],
      noStore: true,
      success: { status: 200, description: 'The new token, shown once.', schema: tokenWithSecretSchema },
      handler: async ({ ctx, params }) => {
        const r = await tokens.rotate(ctx, params.id);
        return { token: r.token, api_token: apiTokenToJson(r.apiToken) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api-tokens/{id}',
      operationId: 'revokeApiToken',
      summary: 'Revoke an API token',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 204, description: 'Revoked; the token stops working at once.' },
      handler: async ({ ctx, params }) => tokens.revoke(ctx, params.id),
    }),
  ];
}
