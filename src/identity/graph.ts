/**
 * How identities, groups and roles appear in the built-in authorization store (DOMAIN.md):
 *   group:<gid>#member@user:<uid> | @service_account:<id> | @group:<child>#member
 *   role:<rid>#assignee@user:<uid> | @service_account:<id> | @group:<gid>#member
 *   permission:<resource_type>:<action>#granted@role:<rid>#assignee
 * and the reads the identity services need from it.
 */
import type { TupleStore } from '../authz/tuple-store.js';
import { BUILTIN_STORE_ID, type RelationTuple } from '../authz/tuples.js';
import { DEFAULT_MAX_DEPTH } from '../authz/evaluator.js';
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

/**
 * The most group-in-group levels a nesting may have. A permission check of the built-in model
 * goes `permission#granted` → `role#assignee` → the groups, one resolution step per hop, and the
 * engine refuses more than {@link DEFAULT_MAX_DEPTH} (25) steps; two are taken by the permission and
 * the role, so a chain of up to 23 nesting levels (24 groups) stays answerable.
 */
export const MAX_GROUP_NESTING = DEFAULT_MAX_DEPTH - 2;

/**
 * The longest chain of nesting levels from `groupId`: `up` through the groups that contain it
 * (its ancestors), `down` through the groups it contains. Layer by layer over the built-in
 * store's `group:*#member@group:*#member` tuples (one query per layer); a group can reappear in a
 * later layer, so the number of layers is the longest path. Stops past `limit` levels (then
 * returns `limit + 1`), which also bounds the walk should the data hold a cycle.
 *
 * @returns the number of nesting levels (0: nothing above / below).
 */
export async function nestingHeight(db: Executor, tenantId: string, groupId: string, direction: 'up' | 'down', limit: number): Promise<number> {
  let frontier = [groupId];
  let levels = 0;
  while (frontier.length > 0 && levels <= limit) {
    const q = db
      .selectFrom('authz_tuples')
      .where('tenant_id', '=', tenantId)
      .where('store_id', '=', BUILTIN_STORE_ID)
      .where('object_type', '=', 'group')
      .where('relation', '=', 'member')
      .where('subject_type', '=', 'group')
      .where('subject_relation', '=', 'member');
    const rows =
      direction === 'up'
        ? (await q.select('object_id as id').where('subject_id', 'in', frontier).execute())
        : (await q.select('subject_id as id').where('object_id', 'in', frontier).execute());
    frontier = [...new Set(rows.map((r) => r.id))];
    if (frontier.length > 0) levels++;
  }
  return levels;
}

/**
 * Refuses making group `member` a subgroup of `groupId` when the longest nesting chain through the
 * new edge (ancestors of `groupId`, the edge, subgroups of `member`) would exceed
 * {@link MAX_GROUP_NESTING} levels: checks through it would fail with `resolution_too_complex`.
 * Run inside the membership write's transaction, after the cycle check. A membership that already
 * exists passes (re-adding it changes nothing).
 *
 * @throws GatehouseError `group_nesting_too_deep` with `details`: `group`, `member`, `depth` (the
 *   chain's levels, or `maxDepth + 1` when longer), `maxDepth`.
 */
export async function assertNestingDepth(db: Executor, tenantId: string, groupId: string, memberId: string): Promise<void> {
  const existing = await db
    .selectFrom('authz_tuples')
    .select('object_id')
    .where('tenant_id', '=', tenantId)
    .where('store_id', '=', BUILTIN_STORE_ID)
    .where('object_type', '=', 'group')
    .where('object_id', '=', groupId)
    .where('relation', '=', 'member')
    .where('subject_type', '=', 'group')
    .where('subject_id', '=', memberId)
    .where('subject_relation', '=', 'member')
    .executeTakeFirst();
  if (existing) return;
  const max = MAX_GROUP_NESTING;
  const up = await nestingHeight(db, tenantId, groupId, 'up', max);
  const down = up + 1 > max ? 0 : await nestingHeight(db, tenantId, memberId, 'down', max - up - 1);
  const depth = Math.min(up + 1 + down, max + 1);
  if (depth > max) {
    throw new GatehouseError(
      'group_nesting_too_deep',
      `adding group ${memberId} to group ${groupId} would nest groups more than ${max} levels deep; authorization checks through such a chain cannot be answered`,
      { group: groupId, member: { type: 'group', id: memberId }, depth, maxDepth: max },
    );
  }
}

/** A group row and its direct members (with display names) as the domain's {@link Group}. */
export function groupFromRow(row: GroupRow, members: GroupMember[]): Group {
  return {
    id: row.id,
    displayName: row.display_name,
    externalId: row.external_id,
    description: row.description,
    members,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
    created: row.created_at,
    lastModified: row.updated_at,
    version: Number(row.version),
  };
}
