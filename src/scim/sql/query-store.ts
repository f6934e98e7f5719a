/**
 * The SCIM read side on storage (RFC 7644 §3.4.2): filtered, sorted, paged lists of Users and
 * Groups answered by one SQL query each (the filter translated by {@link filterToSql}, the total
 * from `count(*) over ()`), and the `groups` attribute of users computed for a whole page at
 * once. Read-only: every change still goes through the identity services.
 */
import { sql } from 'kysely';
import { BUILTIN_STORE_ID } from '../../authz/tuples.js';
import { displayNames, groupFromRow, refOfSubject } from '../../identity/graph.js';
import { loadEmails, toUser } from '../../identity/user-records.js';
import type { Group, GroupMember, GroupMemberRef, User } from '../../identity/types.js';
import type { Executor, Storage } from '../../storage/database.js';
import type { GroupRow, UserRow } from '../../storage/schema.js';
import type { Filter } from '../filter-parser.js';
import type { ResourceTypeDef } from '../schemas.js';
import { filterToSql, sortKey, type RowScope } from './filter-sql.js';
import { GroupRowScope } from './group-scope.js';
import { UserRowScope } from './user-scope.js';
import { SqlDialect, type Sql } from './values.js';

/** A list request after parsing (RFC 7644 §3.4.2.2-§3.4.2.4). */
export interface ScimListQuery {
  filter?: Filter;
  sortBy?: string;
  sortOrder: 'ascending' | 'descending';
  /** 1-based. */
  startIndex: number;
  /** 0..maxResults. */
  count: number;
}

export interface ScimPage<T> {
  totalResults: number;
  items: T[];
}

/** A group a user belongs to (the User `groups` attribute, RFC 7643 §4.1.2). */
export interface UserGroupRef {
  id: string;
  displayName: string;
  type: 'direct' | 'indirect';
}

const key = (m: GroupMemberRef) => `${m.type}:${m.id}`;

/** Lists SCIM resources straight from storage. */
export class ScimQueryStore {
  private readonly dialect: SqlDialect;

  constructor(private readonly storage: Storage) {
    this.dialect = new SqlDialect(storage.kind);
  }

  /** The SQL condition of `filter` on Users (exposed for tests and the benchmark's plan checks). */
  userCondition(tenantId: string, rt: ResourceTypeDef, filter: Filter): Sql {
    return filterToSql(filter, new UserRowScope(this.dialect, rt, tenantId));
  }

  /**
   * Users (not deprovisioned) matching the query. Default order: oldest first.
   * @throws GatehouseError `invalid_input` (invalidFilter for the filter, invalidValue for sortBy).
   */
  async listUsers(tenantId: string, rt: ResourceTypeDef, q: ScimListQuery): Promise<ScimPage<User>> {
    const scope = new UserRowScope(this.dialect, rt, tenantId);
    const where = q.filter ? filterToSql(q.filter, scope) : sql`1 = 1`;
    const db = this.storage.db;
    // `'deprovisioned'` is a literal so SQLite can use the partial unique index on userName.
    const base = db
      .selectFrom('users as u')
      .where('u.tenant_id', '=', tenantId)
      .where(sql<boolean>`u.status <> 'deprovisioned'`)
      .where(sql<boolean>`${where}`);
    const page = await this.page<UserRow>(base, scope, q, sql.ref('u.created_at'), sql.ref('u.id'));
    const emails = await loadEmails(db, tenantId, page.items.map((r) => r.id));
    return { totalResults: page.totalResults, items: page.items.map((r) => toUser(r, emails.get(r.id) ?? [])) };
  }

  /**
   * Groups matching the query, with their members. Default order: oldest first.
   * @throws GatehouseError `invalid_input` (invalidFilter, invalidValue).
   */
  async listGroups(tenantId: string, rt: ResourceTypeDef, q: ScimListQuery): Promise<ScimPage<Group>> {
    const scope = new GroupRowScope(this.dialect, rt, tenantId);
    const where = q.filter ? filterToSql(q.filter, scope) : sql`1 = 1`;
    const base = this.storage.db.selectFrom('groups as g').where('g.tenant_id', '=', tenantId).where(sql<boolean>`${where}`);
    const page = await this.page<GroupRow>(base, scope, q, sql.ref('g.created_at'), sql.ref('g.id'));
    return { totalResults: page.totalResults, items: await this.toGroups(tenantId, page.items) };
  }

  /** One query for the page and the total; a second only when the page is empty but rows may exist. */
  private async page<R>(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    base: any,
    scope: RowScope,
    q: ScimListQuery,
    created: Sql,
    id: Sql,
  ): Promise<{ totalResults: number; items: R[] }> {
    const alias = scope.rt.id === 'User' ? 'u' : 'g';
    if (q.count === 0) {
      const r = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return { totalResults: Number(r.n), items: [] };
    }
    let query = base.selectAll(alias).select(sql<number>`count(*) over ()`.as('gh_total'));
    if (q.sortBy) {
      const k = sortKey(q.sortBy, scope);
      // Unassigned values sort last in both orders.
      query = query.orderBy(sql`(case when ${k} is null then 1 else 0 end)`).orderBy(sql`${k} ${sql.raw(q.sortOrder === 'descending' ? 'desc' : 'asc')}`);
    }
    query = query.orderBy(created).orderBy(id).limit(q.count).offset(q.startIndex - 1);
    const rows = (await query.execute()) as Array<R & { gh_total: number | string }>;
    if (rows.length === 0) {
      if (q.startIndex === 1) return { totalResults: 0, items: [] };
      const r = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return { totalResults: Number(r.n), items: [] };
    }
    const totalResults = Number(rows[0]!.gh_total);
    return { totalResults, items: rows.map(({ gh_total: _t, ...r }) => r as unknown as R) };
  }

  /**
   * The groups each user belongs to: `direct` members of the group, or `indirect` through nested
   * groups (a group reached both ways is direct). Ordered by displayName.
   */
  async groupsOfUsers(tenantId: string, userIds: string[]): Promise<Map<string, UserGroupRef[]>> {
    const out = new Map<string, UserGroupRef[]>();
    if (userIds.length === 0) return out;
    const s = BUILTIN_STORE_ID;
    const res = await sql<{ user_id: string; group_id: string; direct: number | string; display_name: string }>`
      with recursive up(user_id, group_id, direct) as (
        select subject_id, object_id, 1 from authz_tuples
          where tenant_id = ${tenantId} and store_id = ${s} and object_type = 'group' and relation = 'member'
            and subject_type = 'user' and subject_id in (${sql.join(userIds)})
        union
        select up.user_id, t.object_id, 0 from up join authz_tuples as t on t.tenant_id = ${tenantId} and t.store_id = ${s}
          and t.object_type = 'group' and t.relation = 'member' and t.subject_type = 'group' and t.subject_id = up.group_id)
      select up.user_id, up.group_id, max(up.direct) as direct, g.display_name from up
        join groups as g on g.tenant_id = ${tenantId} and g.id = up.group_id
        group by up.user_id, up.group_id, g.display_name, g.display_name_norm
        order by g.display_name_norm, up.group_id`.execute(this.storage.db);
    for (const r of res.rows) {
      const list = out.get(r.user_id) ?? [];
      list.push({ id: r.group_id, displayName: r.display_name, type: Number(r.direct) === 1 ? 'direct' : 'indirect' });
      out.set(r.user_id, list);
    }
    return out;
  }

  private async toGroups(tenantId: string, rows: GroupRow[]): Promise<Group[]> {
    if (rows.length === 0) return [];
    const db = this.storage.db;
    const tuples = await db
      .selectFrom('authz_tuples')
      .select(['object_id', 'subject_type', 'subject_id', 'subject_relation'])
      .where('tenant_id', '=', tenantId)
      .where('store_id', '=', BUILTIN_STORE_ID)
      .where('object_type', '=', 'group')
      .where('relation', '=', 'member')
      .where(
        'object_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('object_id')
      .orderBy('subject_type')
      .orderBy('subject_id')
      .execute();
    const refsByGroup = new Map<string, GroupMemberRef[]>();
    for (const t of tuples) {
      const ref = refOfSubject({ objectType: 'group', objectId: t.object_id, relation: 'member', subjectType: t.subject_type, subjectId: t.subject_id, subjectRelation: t.subject_relation });
      if (!ref) continue;
      const list = refsByGroup.get(t.object_id) ?? [];
      list.push(ref);
      refsByGroup.set(t.object_id, list);
    }
    const names = await displayNames(db, tenantId, [...refsByGroup.values()].flat());
    return rows.map((row) => {
      const members: GroupMember[] = (refsByGroup.get(row.id) ?? []).map((r) => ({ ...r, display: names.get(key(r)) ?? null }));
      return groupFromRow(row, members);
    });
  }

}
