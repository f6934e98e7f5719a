/**
 * How identities, groups and roles appear in the built-in authorization store (DOMAIN.md):
 *   group:<gid>#member@user:<uid> | @service_account:<id> | @group:<child>#member
 *   role:<rid>#assignee@user:<uid> | @service_account:<id> | @group:<gid>#member
 *   permission:<resource_type>:<action>#granted@role:<rid>#assignee
 * and the reads the identity services need from it.
 */
import type { TupleStore } from '../authz/tuple-store.js';
import { BUILTIN_STORE_ID, type RelationTuple } from '../authz/tuples.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Executor } from '../storage/database.js';
import type { GroupRow } from '../storage/schema.js';
import type { Group, GroupMember, GroupMemberRef } from './types.js';

/** The identity types a group can hold and a role can be assigned to. */
export const PRINCIPAL_TYPES = ['user', 'service_account', 'group'] as const;

/** The subject part of a tuple naming `ref`: a group stands for its members (`group:<id>#member`). */
export function subjectOf(ref: GroupMemberRef): Pick<RelationTuple, 'subjectType' | 'subjectId' | 'subjectRelation'> {
  return { subjectType: ref.type, subjectId: ref.id, subjectRelation: ref.type === 'group' ? 'member' : '' };
}

/** The reference named by a tuple's subject, or null when it is not a principal of the built-in model. */
export function refOfSubject(t: RelationTuple): GroupMemberRef | null {
  if (t.subjectType === 'group' && t.subjectRelation === 'member') return { type: 'group', id: t.subjectId };
  if ((t.subjectType === 'user' || t.subjectType === 'service_account') && t.subjectRelation === '') return { type: t.subjectType, id: t.subjectId };
  return null;
}

/** `group:<groupId>#member@<member>`. */
export function membershipTuple(groupId: string, member: GroupMemberRef): RelationTuple {
  return { objectType: 'group', objectId: groupId, relation: 'member', ...subjectOf(member) };
}

/**
 * Checks the shape of member / principal references given by a caller.
 * @throws GatehouseError `invalid_input` with `details.field`.
 */
export function checkRefs(field: string, refs: unknown): GroupMemberRef[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) throw new GatehouseError('invalid_input', `${field} must be an array`, { field });
  const seen = new Set<string>();
  const out: GroupMemberRef[] = [];
  refs.forEach((r: unknown, i) => {
    const ref = r as Partial<GroupMemberRef> | null;
    if (!ref || typeof ref !== 'object' || !(PRINCIPAL_TYPES as readonly unknown[]).includes(ref.type)) {
      throw new GatehouseError('invalid_input', `${field}[${i}].type must be one of ${PRINCIPAL_TYPES.join(', ')}`, { field: `${field}[${i}].type` });
    }
    if (typeof ref.id !== 'string' || ref.id === '' || ref.id.length > 256) {
      throw new GatehouseError('invalid_input', `${field}[${i}].id must be a non-empty string`, { field: `${field}[${i}].id` });
    }
    const key = `${ref.type}:${ref.id}`;
    if (!seen.has(key)) out.push({ type: ref.type as GroupMemberRef['type'], id: ref.id });
    seen.add(key);
  });
  return out;
}

/**
 * Makes sure each reference names an existing user or service account (not deprovisioned) or group.
 * @throws GatehouseError `not_found` with `details.resource` and `details.id` of the first missing one.
 */
export async function assertPrincipalsExist(db: Executor, tenantId: string, refs: GroupMemberRef[]): Promise<void> {
  for (const type of PRINCIPAL_TYPES) {
    const ids = [...new Set(refs.filter((r) => r.type === type).map((r) => r.id))];
    if (ids.length === 0) continue;
    const found = await existingPrincipalIds(db, tenantId, type, ids);
    const missing = ids.find((id) => !found.has(id));
    if (missing !== undefined) throw new GatehouseError('not_found', `no such ${type.replace('_', ' ')} ${missing}`, { resource: type, id: missing });
  }
}

/** Which of `ids` name an existing `type`: a user or service account that is not deprovisioned, or a group. One query. */
export async function existingPrincipalIds(db: Executor, tenantId: string, type: GroupMemberRef['type'], ids: string[]): Promise<Set<string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Set();
  if (type === 'group') {
    return new Set((await db.selectFrom('groups').select('id').where('tenant_id', '=', tenantId).where('id', 'in', unique).execute()).map((r) => r.id));
  }
  const table = type === 'user' ? 'users' : 'service_accounts';
  return new Set(
    (await db.selectFrom(table).select('id').where('tenant_id', '=', tenantId).where('id', 'in', unique).where('status', '<>', 'deprovisioned').execute()).map((r) => r.id),
  );
}

/** Display names for references: userName, service account name, group displayName. Key `type:id`. */
export async function displayNames(db: Executor, tenantId: string, refs: GroupMemberRef[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ids = (type: GroupMemberRef['type']) => [...new Set(refs.filter((r) => r.type === type).map((r) => r.id))];
  const users = ids('user');
  if (users.length) {
    for (const r of await db.selectFrom('users').select(['id', 'user_name']).where('tenant_id', '=', tenantId).where('id', 'in', users).execute()) out.set(`user:${r.id}`, r.user_name);
  }
  const sas = ids('service_account');
  if (sas.length) {
    for (const r of await db.selectFrom('service_accounts').select(['id', 'name']).where('tenant_id', '=', tenantId).where('id', 'in', sas).execute()) out.set(`service_account:${r.id}`, r.name);
  }
  const groups = ids('group');
  if (groups.length) {
    for (const r of await db.selectFrom('groups').select(['id', 'display_name']).where('tenant_id', '=', tenantId).where('id', 'in', groups).execute()) out.set(`group:${r.id}`, r.display_name);
  }
  return out;
}

/**
 * Ids of the groups `ref` belongs to, directly or through nesting (breadth-first over
 * `group:*#member` tuples; stops on a cycle should one exist).
 */
export async function ancestorGroupIds(db: Executor, tuples: TupleStore, tenantId: string, ref: GroupMemberRef): Promise<string[]> {
  const seen = new Set<string>();
  let frontier: GroupMemberRef[] = [ref];
  while (frontier.length > 0) {
    const next: GroupMemberRef[] = [];
    for (const m of frontier) {
      const rows = await tuples.read(db, tenantId, BUILTIN_STORE_ID, { objectType: 'group', relation: 'member', ...subjectOf(m) });
      for (const t of rows) {
        if (!seen.has(t.objectId)) {
          seen.add(t.objectId);
          next.push({ type: 'group', id: t.objectId });
        }
      }
    }
    frontier = next;
  }
  return [...seen];
}

/** A group row and its direct members (with display names) as the domain's {@link Group}. */
export function groupFromRow(row: GroupRow, members: GroupMember[]): Group {
  return {
    id: row.id,
    displayName: row.display_name,
    externalId: row.external_id,
    description: row.description,
    members,
    created: row.created_at,
    lastModified: row.updated_at,
    version: Number(row.version),
  };
}
