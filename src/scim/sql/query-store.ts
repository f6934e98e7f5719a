/**
 * The SCIM read side on storage (RFC 7644 §3.4.2): filtered, sorted, paged lists of Users and
 * Groups answered in SQL (the filter translated by {@link filterToSql}; the total counted only
 * when the page does not tell it), and the `groups` attribute of users computed for a whole page at
 * once. Read-only: every change still goes through the identity services.
 */
import { CompiledQuery, sql } from 'kysely';
import { BUILTIN_STORE_ID } from '../../authz/tuples.js';
import { displayNames, groupFromRow, refOfSubject } from '../../identity/graph.js';
import { loadEmails, toUser } from '../../identity/user-records.js';
import type { Group, GroupMember, GroupMemberRef, User } from '../../identity/types.js';
import type { Executor, Storage } from '../../storage/database.js';
import type { GroupRow, UserRow } from '../../storage/schema.js';
import type { Filter } from '../filter-parser.js';
import { isGatehouseError } from '../../kernel/errors.js';
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

  /** The users of `tenantId` (not deprovisioned) that match `q.filter`, as a query to select from. */
  private userBase(tenantId: string, scope: RowScope, q: ScimListQuery) {
    const where = q.filter ? filterToSql(q.filter, scope) : sql`1 = 1`;
    // `'deprovisioned'` is a literal so SQLite can use the partial unique index on userName.
    return this.storage.db
      .selectFrom('users as u')
      .where('u.tenant_id', '=', tenantId)
      .where(sql<boolean>`u.status <> 'deprovisioned'`)
      .where(sql<boolean>`${where}`);
  }

  /**
   * Users (not deprovisioned) matching the query. Default order: oldest first.
   * @throws GatehouseError `invalid_input` (invalidFilter for the filter, invalidValue for sortBy).
   */
  async listUsers(tenantId: string, rt: ResourceTypeDef, q: ScimListQuery): Promise<ScimPage<User>> {
    const scope = new UserRowScope(this.dialect, rt, tenantId);
    const page = await this.page<UserRow>(this.userBase(tenantId, scope, q), scope, q);
    const emails = await loadEmails(this.storage.db, tenantId, page.items.map((r) => r.id));
    return { totalResults: page.totalResults, items: page.items.map((r) => toUser(r, emails.get(r.id) ?? [])) };
  }

  /**
   * The database's plan for the page query of {@link listUsers} (SQLite `EXPLAIN QUERY PLAN`
   * details, PostgreSQL `EXPLAIN` lines), for tests and the benchmark to check that indexes are used.
   * @throws GatehouseError `invalid_input` as listUsers does.
   */
  async explainUsers(tenantId: string, rt: ResourceTypeDef, q: ScimListQuery): Promise<string[]> {
    const scope = new UserRowScope(this.dialect, rt, tenantId);
    const query = this.pageQuery(this.userBase(tenantId, scope, q), scope, q);
    const c = query.compile();
    if (this.dialect.kind === 'sqlite') {
      const r = await this.storage.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${c.sql}`, [...c.parameters]));
      return r.rows.map((x) => x.detail);
    }
    const r = await this.storage.db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${c.sql}`, [...c.parameters]));
    return r.rows.map((x) => x['QUERY PLAN']);
  }

  /**
   * Groups matching the query, with their members. Default order: oldest first.
   * @throws GatehouseError `invalid_input` (invalidFilter, invalidValue).
   */
  async listGroups(tenantId: string, rt: ResourceTypeDef, q: ScimListQuery): Promise<ScimPage<Group>> {
    const scope = new GroupRowScope(this.dialect, rt, tenantId);
    const where = q.filter ? filterToSql(q.filter, scope) : sql`1 = 1`;
    const base = this.storage.db.selectFrom('groups as g').where('g.tenant_id', '=', tenantId).where(sql<boolean>`${where}`);
    const page = await this.page<GroupRow>(base, scope, q);
    return { totalResults: page.totalResults, items: await this.toGroups(tenantId, page.items) };
  }

  /**
   * A search across Users and Groups (RFC 7644 §3.4.3, `POST /.search`): one ordered, paged list
   * of both. With `sortBy`, by that attribute (case-folded unless caseExact, unassigned last in
   * both orders; a type without the attribute has it unassigned); without, Users then Groups.
   * Ties: oldest first, then Users before Groups, then id. An attribute one type lacks is
   * unassigned for that type (its comparisons and `pr` are false), so `emails co "x" or
   * displayName sw "x"` finds both types.
   * @returns the page as typed ids, in order, and the total over both types.
   * @throws GatehouseError `invalid_input`: invalidFilter when an attribute of the filter is known to neither type,
   *   invalidValue when neither has the sortBy attribute.
   */
  async searchAll(tenantId: string, types: { user: ResourceTypeDef; group: ResourceTypeDef }, q: ScimListQuery): Promise<ScimPage<{ type: 'User' | 'Group'; id: string }>> {
    const scopes = [new UserRowScope(this.dialect, types.user, tenantId), new GroupRowScope(this.dialect, types.group, tenantId)];
    const attempt = <T>(f: () => T, scimType: string): T | Error => {
      try {
        return f();
      } catch (err) {
        if (isGatehouseError(err, 'invalid_input') && err.details?.scimType === scimType) return err;
        throw err;
      }
    };
    // An attribute one type lacks is unassigned there (false); one that no type has is invalidFilter.
    const lacking = scopes.map(() => new Map<string, unknown>());
    const wheres = scopes.map((sc, i) => (q.filter ? filterToSql(q.filter, sc, false, lacking[i]) : sql`1 = 1`));
    for (const [name, err] of lacking[0]!) if (lacking.every((m) => m.has(name))) throw err;
    const keys = scopes.map((sc) => (q.sortBy ? attempt(() => sortKey(q.sortBy!, sc), 'invalidValue') : null));
    if (q.sortBy && keys.every((k) => k instanceof Error)) throw keys[0];
    const db = this.storage.db;
    const arms = scopes.flatMap((sc, i) => {
      const where = wheres[i]!;
      const key = keys[i] instanceof Error || keys[i] === null ? sql`null` : (keys[i] as Sql);
      return i === 0
        ? [sql`select 0 as t, u.id as id, ${key} as k, u.created_at as c from users as u where u.tenant_id = ${tenantId} and u.status <> 'deprovisioned' and ${where}`]
        : [sql`select 1 as t, g.id as id, ${key} as k, g.created_at as c from groups as g where g.tenant_id = ${tenantId} and ${where}`];
    });
    const all = sql`(${sql.join(arms, sql` union all `)}) as x`;
    const count = async () => Number((await sql<{ n: number | string }>`select count(*) as n from ${all}`.execute(db)).rows[0]!.n);
    if (q.count === 0) return { totalResults: await count(), items: [] };
    const dir = sql.raw(q.sortOrder === 'descending' ? 'desc' : 'asc');
    const order = q.sortBy ? sql`(case when x.k is null then 1 else 0 end), x.k ${dir}, x.c, x.t, x.id` : sql`x.t, x.c, x.id`;
    const rows = (await sql<{ t: number | string; id: string }>`select x.t, x.id from ${all} order by ${order} limit ${q.count} offset ${q.startIndex - 1}`.execute(db)).rows;
    const items = rows.map((r) => ({ type: Number(r.t) === 0 ? ('User' as const) : ('Group' as const), id: r.id }));
    return { totalResults: await totalOf(items.length, q, count), items };
  }

  /** The page query: `base` sorted (sortBy, then oldest first) and paged. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private pageQuery(base: any, scope: RowScope, q: ScimListQuery): any {
    const alias = scope.rt.id === 'User' ? 'u' : 'g';
    let query = base.selectAll(alias);
    if (q.sortBy) {
      const k = sortKey(q.sortBy, scope);
      // Unassigned values sort last in both orders.
      query = query.orderBy(sql`(case when ${k} is null then 1 else 0 end)`).orderBy(sql`${k} ${sql.raw(q.sortOrder === 'descending' ? 'desc' : 'asc')}`);
    }
    // SQLite plans without statistics: given an index in this order it walks every row of the tenant
    // testing the filter rather than sorting a selective filter's few matches. `+` (no index) makes it
    // sort the matches; an unselective filter's full page needs count(*) over all matches anyway.
    const order = (col: string) => (q.filter && this.dialect.kind === 'sqlite' ? sql`+${sql.ref(`${alias}.${col}`)}` : sql.ref(`${alias}.${col}`));
    return query.orderBy(order('created_at')).orderBy(order('id')).limit(q.count).offset(q.startIndex - 1);
  }

  /** The page, and the total (see {@link totalOf}). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async page<R>(base: any, scope: RowScope, q: ScimListQuery): Promise<{ totalResults: number; items: R[] }> {
    const count = async () => Number((await base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);
    if (q.count === 0) return { totalResults: await count(), items: [] };
    const items = (await this.pageQuery(base, scope, q).execute()) as R[];
    return { totalResults: await totalOf(items.length, q, count), items };
  }

  /**
   * The groups each user belongs to: `direct` members of the group, or `indirect` through nested
   * groups (a group reached both ways is direct). Ordered by displayName.
   */
  async groupsOfUsers(tenantId: string, userIds: string[]): Promise<Map<string, UserGroupRef[]>> {
    const out = new Map<string, UserGroupRef[]>();
    if (userIds.length === 0) return out;
    const s = BUILTIN_STORE_ID;
    // Walk up from the users through the subject index. SQLite plans without statistics: left to
    // itself it scans every group-membership tuple through the primary key (14 ms a page at 50,000
    // memberships), so the index is named and `cross join` fixes the join order (SQLite's rule;
    // PostgreSQL plans a cross join with a WHERE like an inner join).
    const bySubject = sql.raw(this.dialect.kind === 'sqlite' ? 'indexed by authz_tuples_subject_ix' : '');
    const res = await sql<{ user_id: string; group_id: string; direct: number | string; display_name: string }>`
      with recursive up(user_id, group_id, direct) as (
        select subject_id, object_id, 1 from authz_tuples ${bySubject}
          where tenant_id = ${tenantId} and store_id = ${s} and object_type = 'group' and relation = 'member'
            and subject_type = 'user' and subject_id in (${sql.join(userIds)})
        union
        select up.user_id, t.object_id, 0 from up cross join authz_tuples as t ${bySubject} where t.tenant_id = ${tenantId} and t.store_id = ${s}
          and t.object_type = 'group' and t.relation = 'member' and t.subject_type = 'group' and t.subject_id = up.group_id)
      select up.user_id, up.group_id, max(up.direct) as direct, g.display_name from up
        cross join groups as g where g.tenant_id = ${tenantId} and g.id = up.group_id
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

/**
 * The total of a paged query without counting when the page tells it: a page shorter than
 * `count` that is not empty ends the result set, so the total is `startIndex - 1 + rows` (the
 * offset skipped that many existing rows). Only a full page, or an empty one past the start,
 * needs `count()` (a second statement; `count(*) over ()` would make every query, however
 * selective its first page, produce and sort all of its rows).
 */
async function totalOf(rows: number, q: ScimListQuery, count: () => Promise<number>): Promise<number> {
  if (rows > 0 && rows < q.count) return q.startIndex - 1 + rows;
  if (rows === 0 && q.startIndex === 1) return 0;
  return count();
}
