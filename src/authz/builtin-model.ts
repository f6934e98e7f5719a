/**
 * The base model of each tenant's built-in store (DOMAIN.md "The built-in store"), in OpenFGA's
 * JSON form. Its DSL is:
 *
 * ```
 * model
 *   schema 1.1
 * type user
 * type service_account
 *   relations
 *     define owner: [user]
 * type group
 *   relations
 *     define member: [user, service_account, group#member]
 * type role
 *   relations
 *     define assignee: [user, service_account, group#member]
 * type permission
 *   relations
 *     define granted: [role#assignee]
 * type application
 *   relations
 *     define owner: [user]
 * ```
 *
 * Customer models extend these types; they do not replace them.
 */
import type { AuthorizationModel, RelationReference, TypeDefinition } from './model.js';

function direct(type: string, relation: string, allowed: RelationReference[]): TypeDefinition {
  return {
    type,
    relations: { [relation]: { this: {} } },
    metadata: { relations: { [relation]: { directly_related_user_types: allowed } } },
  };
}

/** The built-in store's model (schema 1.1, JSON form). */
export const BUILTIN_MODEL: AuthorizationModel = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    direct('service_account', 'owner', [{ type: 'user' }]),
    direct('group', 'member', [{ type: 'user' }, { type: 'service_account' }, { type: 'group', relation: 'member' }]),
    direct('role', 'assignee', [{ type: 'user' }, { type: 'service_account' }, { type: 'group', relation: 'member' }]),
    direct('permission', 'granted', [{ type: 'role', relation: 'assignee' }]),
    direct('application', 'owner', [{ type: 'user' }]),
  ],
};

/** Object type of permissions in the built-in store: `permission:<resource_type>:<action>`. */
export const PERMISSION_TYPE = 'permission';
/** The relation that says a subject holds a permission. */
export const GRANTED_RELATION = 'granted';

/** The object id of the permission `resourceType:action` (e.g. `documents:read`). */
export function permissionObjectId(resourceType: string, action: string): string {
  return `${resourceType}:${action}`;
}
