import { z } from 'zod';
import type { ServiceAccount } from '../../../identity/types.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { idParams, optionalText, pageOf, pageQuery, toPage } from './schemas.js';

const serviceAccountSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    owner_user_id: z.string().nullable().meta({ description: 'The user accountable for this machine identity.' }),
    active: z.boolean(),
    status: z.enum(['staged', 'active', 'suspended', 'deprovisioned']),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'ServiceAccount', description: 'A machine identity (API client, workload, automation).' });

const serviceAccountCreateBody = z
  .strictObject({
    name: z.string().trim().min(1).max(256).meta({ description: 'Unique name; compared after Unicode NFC and case folding.' }),
    description: optionalText(1024),
    owner_user_id: z.string().min(1).max(128).meta({ description: 'The owning user (must exist).' }),
  })
  .meta({ id: 'ServiceAccountCreate' });

const serviceAccountOwnerBody = z
  .strictObject({ owner_user_id: z.string().min(1).max(128).meta({ description: 'The new owning user (must be active).' }) })
  .meta({ id: 'ServiceAccountOwner' });

/** Domain service account → admin API representation. */
export function serviceAccountToJson(s: ServiceAccount): z.output<typeof serviceAccountSchema> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    owner_user_id: s.ownerUserId,
    active: s.active,
    status: s.status,
    created_at: s.created,
    updated_at: s.lastModified,
  };
}

/** /service-accounts: list, create, read, delete, activate, deactivate, assign owner. */
export function serviceAccountRoutes(services: AdminApiServices): AdminRoute[] {
  const accounts = services.serviceAccounts;
  const tag = 'service-accounts';
  return [
    defineRoute({
      method: 'get',
      path: '/service-accounts',
      operationId: 'listServiceAccounts',
      summary: 'List service accounts',
      tag,
      query: pageQuery,
      success: { status: 200, description: 'A page of service accounts.', schema: pageOf(serviceAccountSchema, 'ServiceAccountList') },
      handler: async ({ ctx, query }) => toPage(await accounts.list(ctx, { startIndex: query.start_index, count: query.count }), serviceAccountToJson),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts',
      operationId: 'createServiceAccount',
      summary: 'Create a service account',
      tag,
      body: serviceAccountCreateBody,
      problems: [404, 409],
      success: { status: 201, description: 'The created service account.', schema: serviceAccountSchema },
      handler: async ({ ctx, body }) =>
        serviceAccountToJson(await accounts.create(ctx, { name: body.name, description: body.description ?? null, ownerUserId: body.owner_user_id })),
    }),
    defineRoute({
      method: 'get',
      path: '/service-accounts/{id}',
      operationId: 'getServiceAccount',
      summary: 'Read a service account',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The service account.', schema: serviceAccountSchema },
      handler: async ({ ctx, params }) => serviceAccountToJson(await accounts.get(ctx, params.id)),
    }),
    defineRoute({
      method: 'delete',
      path: '/service-accounts/{id}',
      operationId: 'deleteServiceAccount',
      summary: 'Delete a service account',
      description: 'Deprovisions it: its tokens are revoked and its grants leave the live graph.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 204, description: 'Deleted.' },
      handler: async ({ ctx, params }) => accounts.delete(ctx, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts/{id}/deactivate',
      operationId: 'deactivateServiceAccount',
      summary: 'Deactivate (suspend) a service account',
      description: 'Deprovisions: its tokens are revoked and authorization decisions deny. No request body.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The service account, now suspended.', schema: serviceAccountSchema },
      handler: async ({ ctx, params }) => serviceAccountToJson(await accounts.setActive(ctx, params.id, false)),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts/{id}/activate',
      operationId: 'activateServiceAccount',
      summary: 'Activate a service account',
      description: 'No request body. Refused with 409 `owner_not_active` while its owner is not an active user: assign an active owner first (`POST …/owner`).',
      tag,
      params: idParams,
      problems: [404, 409],
      success: { status: 200, description: 'The service account, now active.', schema: serviceAccountSchema },
      handler: async ({ ctx, params }) => serviceAccountToJson(await accounts.setActive(ctx, params.id, true)),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts/{id}/owner',
      operationId: 'setServiceAccountOwner',
      summary: 'Assign a new owner to a service account',
      description: 'The new owner must be an active user (409 `owner_not_active` otherwise). The status does not change: activate afterwards.',
      tag,
      params: idParams,
      body: serviceAccountOwnerBody,
      problems: [404, 409],
      success: { status: 200, description: 'The service account with its new owner.', schema: serviceAccountSchema },
      handler: async ({ ctx, params, body }) => serviceAccountToJson(await accounts.setOwner(ctx, params.id, body.owner_user_id)),
    }),
  ];
}
