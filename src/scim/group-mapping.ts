/**
 * Maps between Gatehouse groups and SCIM Group resources (RFC 7643 §4.2).
 *
 * SCIM knows two member types, `User` and `Group`. Gatehouse groups may also hold service
 * accounts; those are not shown to SCIM clients and are kept when a SCIM client replaces the
 * member list (the route adds them back), so provisioning never drops machine identities it
 * cannot see.
 */
import type { Group, GroupInput, GroupMemberRef } from '../identity/types.js';
import { scimInvalid } from './errors.js';
import { readResource, type ScimDoc } from './resource.js';
import { customExtensionsFromScim, customExtensionsToScim } from './extensions.js';
import { GROUP_RESOURCE, GROUP_SCHEMA, type ResourceTypeDef } from './schemas.js';
import { etagOf } from './etag.js';

/** A member as a SCIM client names it: `value` (the id) and, optionally, `type` `User` or `Group`. */
export interface ScimMemberRef {
  value: string;
  type?: 'user' | 'group';
}

const SCIM_TYPE = { user: 'User', group: 'Group' } as const;
const ENDPOINT = { user: 'Users', group: 'Groups' } as const;

/** A group as a SCIM Group resource. `baseUrl` is the SCIM base URL (no trailing slash); `rt` brings configured extensions. */
export function groupToScim(group: Group, baseUrl: string, rt: ResourceTypeDef = GROUP_RESOURCE): ScimDoc {
  const custom = customExtensionsToScim(group.extra, rt);
  const members = group.members
    .filter((m): m is typeof m & { type: 'user' | 'group' } => m.type === 'user' || m.type === 'group')
    .map((m) => ({
      value: m.id,
      $ref: `${baseUrl}/${ENDPOINT[m.type]}/${m.id}`,
      type: SCIM_TYPE[m.type],
      ...(m.display !== null ? { display: m.display } : {}),
    }));
  return {
    schemas: [GROUP_SCHEMA, ...Object.keys(custom)],
    id: group.id,
    ...(group.externalId !== null ? { externalId: group.externalId } : {}),
    displayName: group.displayName,
    members,
    ...custom,
    meta: {
      resourceType: 'Group',
      created: group.created,
      lastModified: group.lastModified,
      location: `${baseUrl}/Groups/${group.id}`,
      version: etagOf(group.version),
    },
  };
}

/**
 * Reads a SCIM member entry's `value` and `type` (case-insensitive `User` / `Group`; absent
 * means "find out by id").
 * @throws GatehouseError `invalid_input` scimType `invalidValue` for a missing value or unknown type.
 */
export function readMemberRef(m: Record<string, unknown>, where = 'members'): ScimMemberRef {
  if (typeof m.value !== 'string' || !m.value.trim()) throw scimInvalid('invalidValue', `"${where}.value" is required`, { attribute: 'members.value' });
  const ref: ScimMemberRef = { value: m.value.trim() };
  if (m.type !== undefined && m.type !== null) {
    const t = typeof m.type === 'string' ? m.type.toLowerCase() : '';
    if (t !== 'user' && t !== 'group') throw scimInvalid('invalidValue', `"${where}.type" must be "User" or "Group"`, { attribute: 'members.type' });
    ref.type = t;
  }
  return ref;
}

/** What a SCIM Group representation asks for: the attributes, and the members still to be resolved to typed refs. */
export interface ScimGroupInput {
  displayName: string;
  externalId: string | null;
  members: ScimMemberRef[];
  /** Configured extensions, keyed by URN. */
  extra: Record<string, unknown>;
}

/**
 * Reads a SCIM Group representation (POST, PUT, or a PATCHed document). Duplicate member
 * values collapse to one.
 * @throws GatehouseError `invalid_input` with a SCIM scimType.
 */
export function groupInputFromScim(body: unknown, opts: { requireSchemas: boolean }, rt: ResourceTypeDef = GROUP_RESOURCE): ScimGroupInput {
  const doc = readResource(body, rt, opts);
  const seen = new Set<string>();
  const members: ScimMemberRef[] = [];
  for (const m of (doc.members ?? []) as Array<Record<string, unknown>>) {
    const ref = readMemberRef(m);
    if (seen.has(ref.value)) continue;
    seen.add(ref.value);
    members.push(ref);
  }
  return {
    displayName: doc.displayName as string,
    externalId: typeof doc.externalId === 'string' ? doc.externalId : null,
    members,
    extra: customExtensionsFromScim(doc, rt),
  };
}

/** Builds the service input once members are resolved to typed refs. */
export function toGroupInput(input: ScimGroupInput, members: GroupMemberRef[], description: string | null): GroupInput {
  return { displayName: input.displayName, externalId: input.externalId, description, members, extra: input.extra };
}
