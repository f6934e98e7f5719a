/**
 * SCIM Group attributes in SQL (table `groups` as `g`). displayName compares on its stored NFC +
 * case-folded form (indexed); `members` are the membership tuples of the built-in store
 * (`group:<id>#member@user:<uid>` / `@group:<child>#member`), as SCIM shows them: users and
 * groups only, never service accounts.
 */
import { sql } from 'kysely';
import { BUILTIN_STORE_ID } from '../../authz/tuples.js';
import { scimInvalid } from '../errors.js';
import { GROUP_SCHEMA, type AttributeDef, type ResourceTypeDef } from '../schemas.js';
import type { AttrRef, ElementScope, RowScope, Target } from './filter-sql.js';
import { customSchemaRows, extraDoc, jsonAttributeTarget } from './json-multi.js';
import type { SqlDialect, ValueExpr } from './values.js';

function notFilterable(label: string): never {
  throw scimInvalid('invalidFilter', `"${label}" cannot be used in a filter`);
}

/** The SCIM Group resource over `groups as g` for one tenant. */
export class GroupRowScope implements RowScope {
  constructor(
    readonly dialect: SqlDialect,
    readonly rt: ResourceTypeDef,
    private readonly tenantId: string,
  ) {}

  target(ref: AttrRef): Target {
    const d = this.dialect;
    const { def, label } = ref;
    // Configured extensions live in `g.extra` under their URN.
    if (ref.schema !== null) return jsonAttributeTarget(d, def, extraDoc(d, 'g'), [ref.schema, def.name]);
    switch (def.name) {
      case 'displayName':
        return { kind: 'value', value: d.text(def, sql.ref('g.display_name_norm'), 'norm') };
      case 'externalId':
        return { kind: 'value', value: d.text(def, sql.ref('g.external_id')) };
      case 'id':
        return { kind: 'value', value: d.text(def, sql.ref('g.id')) };
      case 'meta':
        return {
          kind: 'complex',
          def,
          sub: (s, l): ValueExpr => {
            if (s.name === 'created') return d.text(s, sql.ref('g.created_at'), 'exact');
            if (s.name === 'lastModified') return d.text(s, sql.ref('g.updated_at'), 'exact');
            if (s.name === 'resourceType') return { kind: 'const', def: s, value: 'Group' };
            return notFilterable(l);
          },
        };
      case 'schemas':
        return {
          kind: 'multi',
          def,
          exists: (cond) =>
            sql`exists (select 1 from (select cast(${GROUP_SCHEMA} as text) as s ${customSchemaRows(d, this.rt.customExtensions ?? [], extraDoc(d, 'g'))}) as sch where ${cond({ value: () => d.text(def, sql.ref('sch.s'), 'ascii') })})`,
        };
      case 'members':
        return this.members(def);
      default:
        return notFilterable(label);
    }
  }

  private members(def: AttributeDef): Target {
    const d = this.dialect;
    const el: ElementScope = {
      value: (sub, l) => {
        switch (sub?.name) {
          case 'value':
            return d.text(sub, sql.ref('t.subject_id'), 'exact');
          case 'type':
            return d.text(sub, sql`(case when t.subject_type = 'user' then 'User' else 'Group' end)`, 'ascii');
          case 'display':
            return d.text(
              sub,
              sql`(case when t.subject_type = 'user'
                then (select uu.user_name_norm from users as uu where uu.tenant_id = t.tenant_id and uu.id = t.subject_id)
                else (select mg.display_name_norm from groups as mg where mg.tenant_id = t.tenant_id and mg.id = t.subject_id) end)`,
              'norm',
            );
          default:
            return notFilterable(l);
        }
      },
    };
    return {
      kind: 'multi',
      def,
      exists: (cond) => sql`g.id in (select t.object_id from authz_tuples as t where t.tenant_id = ${this.tenantId} and t.store_id = ${BUILTIN_STORE_ID}
        and t.object_type = 'group' and t.relation = 'member' and t.subject_type in ('user', 'group') and ${cond(el)})`,
    };
  }
}
