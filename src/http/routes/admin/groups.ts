import { z } from 'zod';
import type { Group } from '../../../identity/types.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { idParams, optionalText, pageOf, pageQueryShape, toPage } from './schemas.js';

const memberType = z.enum(['user', 'service_account', 'group']).meta({ description: 'A user, a service account, or a group (nesting: its members are members).' });

const memberRef = z
  .strictObject({ type: memberType, id: z.string().min(1).max(128) })
  .meta({ id: 'GroupMemberRef', description: 'A direct member of a group.' });

const groupSchema = z
  .object({
    id: z.string(),
    display_name: z.string(),
    external_id: z.string().nullable(),
    description: z.string().nullable(),
    members: z.array(
      z.object({
        type: memberType,
        id: z.string(),
        display: z.string().nullable().meta({ description: "The member's userName, service account name or group display_name." }),
      }),
    ),
    created_at: z.string(),
    updated_at: z.string(),
    version: z.number().int(),
  })
  .meta({ id: 'Group', description: 'A group and its direct members.' });

const displayName = z.string().trim().min(1).max(256).meta({ description: 'Unique name; compared after Unicode NFC and case folding.' });

const groupCreateBody = z
  .strictObject({
    display_name: displayName,
    external_id: optionalText(256),
    description: optionalText(1024),
    members: z.array(memberRef).max(1000).optional().meta({ description: 'Initial direct members.' }),
  })
  .meta({ id: 'GroupCreate' });

const groupUpdateBody = z
  .strictObject({ display_name: displayName.optional(), external_id: optionalText(256), description: optionalText(1024) })
  .meta({ id: 'GroupUpdate', description: 'Members present are set (`null` clears); members are changed through /members.' });

const listQuery = z.strictObject({
  ...pageQueryShape,
  display_name: z.string().min(1).max(256).optional().meta({ description: 'Only the group with this display_name (case-insensitive).' }),
  external_id: z.string().min(1).max(256).optional().meta({ description: 'Only groups with this externalId (exact).' }),
});

const memberParams = z.strictObject({
  id: idParams.shape.id,
  type: memberType,
  member_id: z.string().min(1).max(128).meta({ description: "The member's id." }),
});

/** Domain group → admin API representation. */
export function groupToJson(g: Group): z.output<typeof groupSchema> {
  return {
    id: g.id,
    display_name: g.displayName,
    external_id: g.externalId,
    description: g.description,
    members: g.members.map((m) => ({ type: m.type, id: m.id, display: m.display })),
    created_at: g.created,
    updated_at: g.lastModified,
    version: g.version,
  };
}

/** /groups: list, create, read, update, delete; /groups/{id}/members: add, remove. */
export function groupRoutes(services: AdminApiServices): AdminRoute[] {
  const { groups } = services;
  const tag = 'groups';
  return [
    defineRoute({
      method: 'get',
      path: '/groups',
      operationId: 'listGroups',
      summary: 'List groups',
      tag,
      query: listQuery,
      success: { status: 200, description: 'A page of groups.', schema: pageOf(groupSchema, 'GroupList') },
      handler: async ({ ctx, query }) => {
        const filter = { ...(query.display_name ? { displayName: query.display_name } : {}), ...(query.external_id ? { externalId: query.external_id } : {}) };
        return toPage(await groups.list(ctx, filter, { startIndex: query.start_index, count: query.count }), groupToJson);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/groups',
      operationId: 'createGroup',
      summary: 'Create a group',
      tag,
      body: groupCreateBody,
      problems: [404, 409],
      success: { status: 201, description: 'The created group.', schema: groupSchema },
      handler: async ({ ctx, body }) =>
        groupToJson(
          await groups.create(ctx, {
            displayName: body.display_name,
            externalId: body.external_id ?? null,
            description: body.description ?? null,
            members: body.members ?? [],
          }),
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/groups/{id}',
      operationId: 'getGroup',
      summary: 'Read a group',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The group.', schema: groupSchema },
      handler: async ({ ctx, params }) => groupToJson(await groups.get(ctx, params.id)),
    }),
    defineRoute({
      method: 'patch',
      path: '/groups/{id}',
      operationId: 'updateGroup',
      summary: 'Rename a group or change its description or externalId',
      tag,
      params: idParams,
      body: groupUpdateBody,
      problems: [404, 409],
      success: { status: 200, description: 'The updated group.', schema: groupSchema },
      handler: async ({ ctx, params, body }) => {
        const changes: { displayName?: string; externalId?: string | null; description?: string | null } = {};
        if (body.display_name !== undefined) changes.displayName = body.display_name;
        if (body.external_id !== undefined) changes.externalId = body.external_id;
        if (body.description !== undefined) changes.description = body.description;
        return groupToJson(await groups.update(ctx, params.id, changes));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/groups/{id}',
      operationId: 'deleteGroup',
      summary: 'Delete a group',
      description: 'Its memberships and the role assignments made to it leave the live graph.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 204, description: 'Deleted.' },
      handler: async ({ ctx, params }) => groups.delete(ctx, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/groups/{id}/members',
      operationId: 'addGroupMember',
      summary: 'Add a member to a group',
      description: 'Adding an existing member changes nothing. Adding a group that contains this one (directly or through nesting) answers 409 `invariant_violation`.',
      tag,
      params: idParams,
      body: memberRef,
      problems: [404, 409],
      success: { status: 200, description: 'The group with its members.', schema: groupSchema },
      handler: async ({ ctx, params, body }) => groupToJson(await groups.addMembers(ctx, params.id, [{ type: body.type, id: body.id }])),
    }),
    defineRoute({
      method: 'delete',
      path: '/groups/{id}/members/{type}/{member_id}',
      operationId: 'removeGroupMember',
      summary: 'Remove a member from a group',
      description: 'Removing a non-member changes nothing.',
      tag,
      params: memberParams,
      problems: [404],
      success: { status: 204, description: 'Removed.' },
      handler: async ({ ctx, params }) => {
        await groups.removeMembers(ctx, params.id, [{ type: params.type, id: params.member_id }]);
      },
    }),
  ];
}
