import { z } from 'zod';
import type { Role, RoleAssignment } from '../../../identity/types.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { idParams, instant, optionalText, pageOf, pageQuery, toPage } from './schemas.js';

const permission = z
  .string()
  .max(256)
  .regex(/^[A-Za-z0-9_.\-/]+:[A-Za-z0-9_.\-/*]+$/, 'must be resource_type:action, e.g. documents:read')
  .meta({ description: 'A permission `resource_type:action`, e.g. `documents:read`.', example: 'documents:read' });

const permissions = z.array(permission).max(1000);

const roleSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    permissions: z.array(z.string()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Role', description: 'A named set of permissions.' });

const roleCreateBody = z
  .strictObject({
    name: z.string().trim().min(1).max(256).meta({ description: 'Unique name; compared after Unicode NFC and case folding.' }),
    description: optionalText(1024),
    permissions,
  })
  .meta({ id: 'RoleCreate' });

const permissionsBody = z.strictObject({ permissions }).meta({ id: 'RolePermissions', description: "The role's permissions become exactly these." });

const principalType = z.enum(['user', 'service_account', 'group']).meta({ description: 'A user, a service account, or every member of a group (nested groups count).' });

const principal = z.strictObject({ type: principalType, id: z.string().min(1).max(128) }).meta({ id: 'RolePrincipal' });

const assignmentBody = z
  .strictObject({
    principal,
    expires_at: instant.nullable().optional().meta({ description: 'When the assignment stops counting (RFC 3339); absent or null: never.' }),
  })
  .meta({ id: 'RoleAssignmentCreate', description: 'Assigning again replaces `expires_at`.' });

const assignmentSchema = z
  .object({
    role_id: z.string(),
    principal: z.object({ type: principalType, id: z.string() }),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'RoleAssignment' });

const assignmentParams = z.strictObject({
  id: idParams.shape.id,
  type: principalType,
  principal_id: z.string().min(1).max(128).meta({ description: "The principal's id." }),
});

function roleToJson(r: Role): z.output<typeof roleSchema> {
  return { id: r.id, name: r.name, description: r.description, permissions: r.permissions, created_at: r.created, updated_at: r.lastModified };
}

function assignmentToJson(a: RoleAssignment): z.output<typeof assignmentSchema> {
  return { role_id: a.roleId, principal: { type: a.principal.type, id: a.principal.id }, expires_at: a.expiresAt };
}

/** /roles: list, create, read, delete, set permissions; /roles/{id}/assignments: assign, list, unassign. */
export function roleRoutes(services: AdminApiServices): AdminRoute[] {
  const { roles } = services;
  const tag = 'roles';
  return [
    defineRoute({
      method: 'get',
      path: '/roles',
      operationId: 'listRoles',
      summary: 'List roles',
      tag,
      query: pageQuery,
      success: { status: 200, description: 'A page of roles.', schema: pageOf(roleSchema, 'RoleList') },
      handler: async ({ ctx, query }) => toPage(await roles.list(ctx, { startIndex: query.start_index, count: query.count }), roleToJson),
    }),
    defineRoute({
      method: 'post',
      path: '/roles',
      operationId: 'createRole',
      summary: 'Create a role with permissions',
      tag,
      body: roleCreateBody,
      problems: [409],
      success: { status: 201, description: 'The created role.', schema: roleSchema },
      handler: async ({ ctx, body }) =>
        roleToJson(await roles.create(ctx, { name: body.name, description: body.description ?? null, permissions: body.permissions })),
    }),
    defineRoute({
      method: 'get',
      path: '/roles/{id}',
      operationId: 'getRole',
      summary: 'Read a role',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The role.', schema: roleSchema },
      handler: async ({ ctx, params }) => roleToJson(await roles.get(ctx, params.id)),
    }),
    defineRoute({
      method: 'delete',
      path: '/roles/{id}',
      operationId: 'deleteRole',
      summary: 'Delete a role',
      description: 'Its permissions and every assignment leave the live graph.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 204, description: 'Deleted.' },
      handler: async ({ ctx, params }) => roles.delete(ctx, params.id),
    }),
    defineRoute({
      method: 'put',
      path: '/roles/{id}/permissions',
      operationId: 'setRolePermissions',
      summary: "Replace a role's permissions",
      tag,
      params: idParams,
      body: permissionsBody,
      problems: [404],
      success: { status: 200, description: 'The role with its new permissions.', schema: roleSchema },
      handler: async ({ ctx, params, body }) => roleToJson(await roles.setPermissions(ctx, params.id, body.permissions)),
    }),
    defineRoute({
      method: 'post',
      path: '/roles/{id}/assignments',
      operationId: 'assignRole',
      summary: 'Assign a role to a user, service account or group',
      tag,
      params: idParams,
      body: assignmentBody,
      problems: [404],
      success: { status: 201, description: 'The assignment.', schema: assignmentSchema },
      handler: async ({ ctx, params, body }) =>
        assignmentToJson(
          await roles.assign(ctx, params.id, { type: body.principal.type, id: body.principal.id }, { expiresAt: body.expires_at ? new Date(body.expires_at).toISOString() : null }),
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/roles/{id}/assignments',
      operationId: 'listRoleAssignments',
      summary: "List a role's direct assignments",
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The assignments.', schema: z.object({ items: z.array(assignmentSchema) }).meta({ id: 'RoleAssignmentList' }) },
      handler: async ({ ctx, params }) => ({ items: (await roles.listAssignments(ctx, params.id)).map(assignmentToJson) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/roles/{id}/assignments/{type}/{principal_id}',
      operationId: 'unassignRole',
      summary: 'Remove a role assignment',
      description: 'Removing an assignment that does not exist changes nothing.',
      tag,
      params: assignmentParams,
      problems: [404],
      success: { status: 204, description: 'Removed.' },
      handler: async ({ ctx, params }) => roles.unassign(ctx, params.id, { type: params.type, id: params.principal_id }),
    }),
  ];
}
