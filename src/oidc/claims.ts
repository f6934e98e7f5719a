/**
 * The `groups` and `roles` claims, released when the client asks for the `groups` / `roles`
 * scope (or the claims by name through the `claims` parameter, OIDC Core §5.5).
 *
 * Read from the live tuples of the built-in authorization store (DOMAIN.md "The built-in store"):
 * - groups: every group the user is a member of, directly or through nested groups
 *   (`group:<g>#member@user:<u>`, `group:<parent>#member@group:<child>#member`);
 * - roles: every role assigned to the user or to one of those groups
 *   (`role:<r>#assignee@user:<u>` | `@group:<g>#member`), unexpired.
 * Values are display names (groups: displayName, roles: name), sorted.
 */
import { BUILTIN_STORE_ID } from '../authz/tuples.js';
import type { Clock } from '../kernel/clock.js';
import type { Storage } from '../storage/database.js';

/** Deepest group nesting followed (the authorization engine's resolution limit). */
const MAX_NESTING_DEPTH = 25;

/** Scope → claims it releases. */
export const GROUP_ROLE_CLAIMS_BY_SCOPE = { groups: ['groups'], roles: ['roles'] } as const;

/** Computes the groups and roles claims of a user. */
export class GroupRoleClaims {
  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly tenantId: string,
  ) {}

  private live() {
    const now = this.clock.now().toISOString();
    return this.storage.db
      .selectFrom('authz_tuples')
      .where('tenant_id', '=', this.tenantId)
      .where('store_id', '=', BUILTIN_STORE_ID)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
  }

  /** Ids of every group `userId` belongs to, directly or through nesting. */
  async groupIds(userId: string): Promise<string[]> {
    const direct = await this.live()
      .select('object_id')
      .where('object_type', '=', 'group')
      .where('relation', '=', 'member')
      .where('subject_type', '=', 'user')
      .where('subject_id', '=', userId)
      .execute();
    const seen = new Set(direct.map((r) => r.object_id));
    let frontier = [...seen];
    for (let depth = 0; frontier.length > 0 && depth < MAX_NESTING_DEPTH; depth++) {
      const parents = await this.live()
        .select('object_id')
        .where('object_type', '=', 'group')
        .where('relation', '=', 'member')
        .where('subject_type', '=', 'group')
        .where('subject_relation', '=', 'member')
        .where('subject_id', 'in', frontier)
        .execute();
      frontier = parents.map((p) => p.object_id).filter((id) => !seen.has(id));
      for (const id of frontier) seen.add(id);
    }
    return [...seen];
  }

  /** `{ groups, roles }` as display names, sorted. */
  async claimsFor(userId: string, want: { groups: boolean; roles: boolean }): Promise<{ groups?: string[]; roles?: string[] }> {
    const out: { groups?: string[]; roles?: string[] } = {};
    if (!want.groups && !want.roles) return out;
    const groupIds = await this.groupIds(userId);
    if (want.groups) {
      const rows = groupIds.length
        ? await this.storage.db.selectFrom('groups').select('display_name').where('tenant_id', '=', this.tenantId).where('id', 'in', groupIds).execute()
        : [];
      out.groups = rows.map((r) => r.display_name).sort();
    }
    if (want.roles) {
      const assigned = await this.live()
        .select('object_id')
        .where('object_type', '=', 'role')
        .where('relation', '=', 'assignee')
        .where((eb) =>
          eb.or([
            eb.and([eb('subject_type', '=', 'user'), eb('subject_id', '=', userId)]),
            ...(groupIds.length ? [eb.and([eb('subject_type', '=', 'group'), eb('subject_relation', '=', 'member'), eb('subject_id', 'in', groupIds)])] : []),
          ]),
        )
        .execute();
      const roleIds = [...new Set(assigned.map((r) => r.object_id))];
      const rows = roleIds.length ? await this.storage.db.selectFrom('roles').select('name').where('tenant_id', '=', this.tenantId).where('id', 'in', roleIds).execute() : [];
      out.roles = rows.map((r) => r.name).sort();
    }
    return out;
  }
}
