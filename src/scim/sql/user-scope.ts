/**
 * SCIM User attributes in SQL (table `users` as `u`): which column, table or JSON member holds
 * each attribute of RFC 7643 §4.1 / §4.3 and of configured extensions. userName and email
 * addresses compare on their stored NFC + case-folded form (indexed); `emails` live in
 * `user_emails`; `groups` is computed from the membership tuples (direct and nested); the other
 * multi-valued attributes and configured extensions live in `users.extra` (JSON).
 */
import { sql } from 'kysely';
import { BUILTIN_STORE_ID } from '../../authz/tuples.js';
import { ENTERPRISE_USER_SCHEMA, USER_SCHEMA, type AttributeDef, type ResourceTypeDef } from '../schemas.js';
import { scimInvalid } from '../errors.js';
import type { AttrRef, ElementScope, RowScope, Target } from './filter-sql.js';
import { customSchemaRows, extraDoc, jsonAttributeTarget } from './json-multi.js';
import type { Sql, SqlDialect, ValueExpr } from './values.js';

const CORE_COLUMNS: Record<string, string> = {
  userName: 'user_name_norm',
  externalId: 'external_id',
  id: 'id',
  displayName: 'display_name',
  nickName: 'nick_name',
  title: 'title',
  userType: 'user_type',
  preferredLanguage: 'preferred_language',
  locale: 'locale',
  timezone: 'timezone',
};
const NAME_COLUMNS: Record<string, string> = {
  formatted: 'formatted_name',
  familyName: 'family_name',
  givenName: 'given_name',
  middleName: 'middle_name',
  honorificPrefix: 'honorific_prefix',
  honorificSuffix: 'honorific_suffix',
};
const ENTERPRISE_COLUMNS: Record<string, string> = {
  employeeNumber: 'employee_number',
  costCenter: 'cost_center',
  organization: 'organization',
  division: 'division',
  department: 'department',
};
const EMAIL_COLUMNS: Record<string, string> = { value: 'value_norm', type: 'type', display: 'display' };

function notFilterable(label: string): never {
  throw scimInvalid('invalidFilter', `"${label}" cannot be used in a filter`);
}

const col = (c: string) => sql.ref(`u.${c}`);

/** The SCIM User resource over `users as u` for one tenant. */
export class UserRowScope implements RowScope {
  constructor(
    readonly dialect: SqlDialect,
    readonly rt: ResourceTypeDef,
    private readonly tenantId: string,
  ) {}

  /** `u.extra` as a JSON document (jsonb on PostgreSQL). */
  private extra(): Sql {
    return extraDoc(this.dialect, 'u');
  }

  target(ref: AttrRef): Target {
    const d = this.dialect;
    const { def, label } = ref;
    if (ref.schema === ENTERPRISE_USER_SCHEMA) {
      const c = ENTERPRISE_COLUMNS[def.name];
      if (c) return { kind: 'value', value: d.text(def, col(c)) };
      // manager: only its value (the manager's id) is stored.
      return { kind: 'complex', def, sub: (s, l) => (s.name === 'value' ? d.text(s, col('manager_id'), 'exact') : notFilterable(l)) };
    }
    if (ref.schema !== null) return this.jsonTarget(def, [ref.schema, def.name]);
    const c = CORE_COLUMNS[def.name];
    if (c) return { kind: 'value', value: d.text(def, col(c), def.name === 'userName' ? 'norm' : undefined) };
    switch (def.name) {
      case 'active':
        return { kind: 'value', value: { kind: 'bool', def, isTrue: sql`(u.status = 'active')` } };
      case 'name':
        return { kind: 'complex', def, sub: (s) => d.text(s, col(NAME_COLUMNS[s.name]!)) };
      case 'meta':
        return {
          kind: 'complex',
          def,
          sub: (s, l): ValueExpr => {
            if (s.name === 'created') return d.text(s, col('created_at'), 'exact');
            if (s.name === 'lastModified') return d.text(s, col('updated_at'), 'exact');
            if (s.name === 'resourceType') return { kind: 'const', def: s, value: 'User' };
            return notFilterable(l);
          },
        };
      case 'schemas':
        return this.schemas(def);
      case 'emails':
        return this.emails(def);
      case 'groups':
        return this.groups(def, label);
      default:
        // profileUrl, phoneNumbers, ims, photos, addresses, entitlements, roles, x509Certificates: kept in `extra`.
        return this.jsonTarget(def, [def.name]);
    }
  }

  private jsonTarget(def: AttributeDef, path: string[]): Target {
    return jsonAttributeTarget(this.dialect, def, this.extra(), path);
  }

  /** `schemas`: the core URN, the enterprise URN when any enterprise attribute is set, and each configured extension present in `extra`. */
  private schemas(def: AttributeDef): Target {
    const d = this.dialect;
    const enterprise = sql`(${sql.join(['employee_number', 'cost_center', 'organization', 'division', 'department', 'manager_id'].map((c) => sql`${col(c)} is not null`), sql` or `)})`;
    const custom = customSchemaRows(d, this.rt.customExtensions ?? [], this.extra());
    const el: ElementScope = { value: () => d.text(def, sql.ref('sch.s'), 'ascii') };
    return {
      kind: 'multi',
      def,
      exists: (cond) =>
        sql`exists (select 1 from (select cast(${USER_SCHEMA} as text) as s union all select cast(${ENTERPRISE_USER_SCHEMA} as text) as s where ${enterprise} ${custom}) as sch where ${cond(el)})`,
    };
  }

  /**
   * `emails` in `user_emails as e`; `value` compares on the indexed normalised address. A `co` /
   * `sw` / `ew` of 3 or more characters on `value` that every matching element must satisfy
   * (see elementFilter in filter-sql.ts) makes the trigram index of 0004_scim drive the element
   * scan: on SQLite the FTS5 table's rowids, with `+e.tenant_id` so that the planner (which has
   * no statistics) does not prefer walking the tenant's whole index; on PostgreSQL the pg_trgm
   * GIN index in an InitPlan (`ctid = any(array(…))`), which no stale or missing statistics can
   * turn into a scan of the tenant's addresses. The exact comparison is always rechecked.
   */
  private emails(def: AttributeDef): Target {
    const d = this.dialect;
    return {
      kind: 'multi',
      def,
      exists: (cond) => {
        let driven = false;
        const el: ElementScope = {
          value: (sub, l) => {
            if (!sub) return notFilterable(l);
            if (sub.name === 'primary') return { kind: 'bool', def: sub, isTrue: sql`(e.is_primary = 1)` };
            const c = EMAIL_COLUMNS[sub.name];
            if (!c) return notFilterable(l);
            const v = d.text(sub, sql.ref(`e.${c}`), sub.name === 'value' ? 'norm' : undefined);
            if (sub.name === 'value' && v.kind === 'text') {
              v.substringIndex = (needle) => {
                driven = true;
                return d.kind === 'sqlite'
                  ? sql`e.rowid in (select rowid from user_emails_trgm where user_emails_trgm match ${`"${needle.replace(/"/g, '""')}"`})`
                  : sql`e.ctid = any(array(select x.ctid from user_emails as x where ${d.contains(sql.ref('x.value_norm'), needle)}))`;
              };
            }
            return v;
          },
        };
        const c = cond(el);
        const tenant = driven && d.kind === 'sqlite' ? sql`+e.tenant_id` : sql`e.tenant_id`;
        return sql`u.id in (select e.user_id from user_emails as e where ${tenant} = ${this.tenantId} and ${c})`;
      },
      sortValue: () =>
        d.binary(sql`(select e.value_norm from user_emails as e where e.tenant_id = u.tenant_id and e.user_id = u.id order by e.is_primary desc, e.position limit 1)`),
    };
  }

  /**
   * `groups`: the groups whose members the user is, directly or through nested groups. The
   * condition selects groups; their members are found downwards through the nesting tuples.
   */
  private groups(def: AttributeDef, label: string): Target {
    const d = this.dialect;
    const el: ElementScope = {
      value: (sub, l) => {
        if (sub?.name === 'value') return d.text(sub, sql.ref('gg.id'), 'exact');
        if (sub?.name === 'display') return d.text(sub, sql.ref('gg.display_name_norm'), 'norm');
        return notFilterable(l ?? label);
      },
    };
    const t = this.tenantId;
    const s = BUILTIN_STORE_ID;
    return {
      kind: 'multi',
      def,
      exists: (cond) => sql`u.id in (
        with recursive sel(group_id) as (select gg.id from groups as gg where gg.tenant_id = ${t} and ${cond(el)}),
        down(group_id) as (
          select group_id from sel
          union
          select n.subject_id from down join authz_tuples as n on n.tenant_id = ${t} and n.store_id = ${s} and n.object_type = 'group'
            and n.object_id = down.group_id and n.relation = 'member' and n.subject_type = 'group')
        select m.subject_id from down join authz_tuples as m on m.tenant_id = ${t} and m.store_id = ${s} and m.object_type = 'group'
          and m.object_id = down.group_id and m.relation = 'member' and m.subject_type = 'user')`,
    };
  }
}
