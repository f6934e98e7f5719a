/**
 * The role service. A role is a named set of permissions (`resource_type:action`), assigned to
 * users, service accounts or groups. Both are relation tuples in the built-in store:
 *   permission:<resource_type>:<action>#granted@role:<rid>#assignee
 *   role:<rid>#assignee@user:<uid> | @service_account:<id> | @group:<gid>#member  (optional expiry)
 * so "is user U granted permission P" is one walk of the graph (DOMAIN.md, AuthZEN first slice).
 */
import { BUILTIN_STORE_ID, type RelationTuple } from '../authz/tuples.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { OperationContext } from '../kernel/context.js';
import { isUniqueViolation, type Executor } from '../storage/database.js';
import type { Selectable } from 'kysely';
import type { RolesTable } from '../storage/schema.js';
import { assertPrincipalsExist, checkRefs, refOfSubject, subjectOf } from './graph.js';
import { lockAuthorizationGraph, optionalText, pageBounds, requiredName, type IdentityDeps } from './shared.js';
import type { ListQuery, Page, Permission, Role, RoleAssignment, RoleInput, RolePrincipal, RoleService } from './types.js';

type RoleRow = Selectable<RolesTable>;

/** `resource_type:action`, each part a letter or `_` then letters, digits, `_`, `.`, `-` (1..100 characters). */
export const PERMISSION_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,99}:[A-Za-z_][A-Za-z0-9_.-]{0,99}$/;

/** Most permissions one role may carry. */
export const MAX_PERMISSIONS = 1000;

/**
 * Checks permission strings (`documents:read`); removes exact duplicates and sorts them.
 * Permissions are case-sensitive, as AuthZEN resource types and action names are.
 * @throws GatehouseError `invalid_input` with `details.field` and `details.value`.
 */
export function checkPermissions(value: unknown): Permission[] {
  if (!Array.isArray(value)) throw new GatehouseError('invalid_input', 'permissions must be an array of strings', { field: 'permissions' });
  if (value.length > MAX_PERMISSIONS) throw new GatehouseError('invalid_input', `at most ${MAX_PERMISSIONS} permissions`, { field: 'permissions', max: MAX_PERMISSIONS });
  for (const [i, p] of value.entries()) {
    if (typeof p !== 'string' || !PERMISSION_RE.test(p)) {
      throw new GatehouseError('invalid_input', `permissions[${i}] must be of the form resource_type:action, e.g. documents:read`, { field: `permissions[${i}]`, value: p });
    }
  }
  return [...new Set(value as string[])].sort();
}

/** `permission:<perm>#granted@role:<rid>#assignee`. */
export function permissionTuple(roleId: string, permission: Permission): RelationTuple {
  return { objectType: 'permission', objectId: permission, relation: 'granted', subjectType: 'role', subjectId: roleId, subjectRelation: 'assignee' };
}

/** `role:<rid>#assignee@<principal>`. */
export function assignmentTuple(roleId: string, principal: RolePrincipal, expiresAt: string | null = null): RelationTuple {
  return { objectType: 'role', objectId: roleId, relation: 'assignee', ...subjectOf(principal), expiresAt };
}

/** Parses an optional expiry; it must be an ISO 8601 instant after `now`. Returns the stored form. */
function checkExpiry(value: unknown, now: Date): string | null {
  if (value === undefined || value === null) return null;
  const ms = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new GatehouseError('invalid_input', 'expiresAt must be an ISO 8601 instant', { field: 'expiresAt' });
  if (ms <= now.getTime()) throw new GatehouseError('invalid_input', 'expiresAt must be in the future', { field: 'expiresAt' });
  return new Date(ms).toISOString();
}

/** {@link RoleService} on the `roles` table and the built-in tuple store. */
export class RoleServiceImpl implements RoleService {
  constructor(private readonly deps: IdentityDeps) {}

  /** @throws GatehouseError `invalid_input`, `conflict` (details.attribute `name`). */
  async create(ctx: OperationContext, input: RoleInput): Promise<Role> {
    if (typeof input !== 'object' || input === null) throw new GatehouseError('invalid_input', 'a role must be an object', { field: '' });
    const name = requiredName('name', input.name, 200);
    const description = optionalText('description', input.description);
    const permissions = checkPermissions(input.permissions ?? []);
    const id = newId();
    const now = this.deps.clock.now().toISOString();
    return this.deps.storage.db.transaction().execute(async (trx) => {
      try {
        await trx.insertInto('roles').values({ tenant_id: ctx.tenantId, id, name, name_norm: normalizeIdentifier(name), description, created_at: now, updated_at: now, version: 1 }).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new GatehouseError('conflict', 'a role with this name exists', { attribute: 'name' }, { cause: err });
        throw err;
      }
      const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { writes: permissions.map((p) => permissionTuple(id, p)) });
      const after = await this.load(trx, ctx.tenantId, id);
      await this.deps.audit.append(trx, ctx, { action: 'role.create', target: { type: 'role', id }, after, details: { source: ctx.source ?? null, revision: res.revision } });
      return after;
    });
  }

  /** @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, id: string): Promise<Role> {
    return this.load(this.deps.storage.db, ctx.tenantId, id);
  }

  /** Roles ordered by name. @throws GatehouseError `invalid_input` for bad paging. */
  async list(ctx: OperationContext, page: ListQuery): Promise<Page<Role>> {
    const { offset, limit, startIndex } = pageBounds(page);
    const db = this.deps.storage.db;
    const q = db.selectFrom('roles').where('tenant_id', '=', ctx.tenantId);
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = limit === 0 ? [] : await q.selectAll().orderBy('name_norm').orderBy('id').limit(limit).offset(offset).execute();
    const items: Role[] = [];
    for (const r of rows) items.push(await this.toRole(db, r));
    return { totalResults: Number(total.n), startIndex, items };
  }

  /** Deletes the role, its permissions and its assignments (all recorded in the changelog). @throws GatehouseError `not_found`. */
  async delete(ctx: OperationContext, id: string): Promise<void> {
    await this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      const before = await this.load(trx, ctx.tenantId, id, true);
      const { deleted, revision } = await this.deps.tuples.deleteTouching(trx, ctx, 'role', id);
      await trx.deleteFrom('roles').where('tenant_id', '=', ctx.tenantId).where('id', '=', id).execute();
      await this.deps.audit.append(trx, ctx, { action: 'role.delete', target: { type: 'role', id }, before, details: { source: ctx.source ?? null, tuplesDeleted: deleted.length, revision } });
    });
  }

  /** Makes the role's permissions exactly `permissions`. @throws GatehouseError `not_found`, `invalid_input`. */
  async setPermissions(ctx: OperationContext, id: string, permissions: Permission[]): Promise<Role> {
    const wanted = checkPermissions(permissions);
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      const row = await this.row(trx, ctx.tenantId, id, true);
      const before = await this.toRole(trx, row);
      const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, {
        deletes: before.permissions.filter((p) => !wanted.includes(p)).map((p) => permissionTuple(id, p)),
        writes: wanted.filter((p) => !before.permissions.includes(p)).map((p) => permissionTuple(id, p)),
      });
      if (res.written.length + res.deleted.length === 0) return before;
      await trx
        .updateTable('roles')
        .set({ updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      const after = await this.load(trx, ctx.tenantId, id);
      await this.deps.audit.append(trx, ctx, { action: 'role.update', target: { type: 'role', id }, before, after, details: { source: ctx.source ?? null, revision: res.revision } });
      return after;
    });
  }

  /**
   * Assigns the role to a user, service account or group (every member, nesting included).
   * Assigning again changes only the expiry.
   * @param opts.expiresAt - ISO 8601 instant in the future after which the assignment stops counting; null for none.
   * @throws GatehouseError `not_found` (role or principal), `invalid_input`.
   */
  async assign(ctx: OperationContext, roleId: string, principal: RolePrincipal, opts: { expiresAt?: string | null } = {}): Promise<RoleAssignment> {
    const [p] = checkRefs('principal', [principal]) as [RolePrincipal];
    const expiresAt = checkExpiry(opts.expiresAt, this.deps.clock.now());
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      await this.row(trx, ctx.tenantId, roleId, true);
      await assertPrincipalsExist(trx, ctx.tenantId, [p]);
      const tuple = assignmentTuple(roleId, p, expiresAt);
      const existing = await this.deps.tuples.read(trx, ctx.tenantId, BUILTIN_STORE_ID, { objectType: 'role', objectId: roleId, relation: 'assignee', ...subjectOf(p) });
      const assignment: RoleAssignment = { roleId, principal: p, expiresAt };
      if (existing.length > 0 && (existing[0]?.expiresAt ?? null) === expiresAt) return assignment;
      const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { deletes: existing, writes: [tuple] });
      await this.deps.audit.append(trx, ctx, {
        action: 'role.assign',
        target: { type: 'role', id: roleId },
        details: { role: roleId, principal: p, expiresAt, replaced: existing.length > 0, source: ctx.source ?? null, revision: res.revision },
      });
      return assignment;
    });
  }

  /** Removes an assignment; a no-op when there is none. @throws GatehouseError `not_found` (role), `invalid_input`. */
  async unassign(ctx: OperationContext, roleId: string, principal: RolePrincipal): Promise<void> {
    const [p] = checkRefs('principal', [principal]) as [RolePrincipal];
    await this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      await this.row(trx, ctx.tenantId, roleId, true);
      const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { deletes: [assignmentTuple(roleId, p)] });
      if (res.deleted.length === 0) return;
      await this.deps.audit.append(trx, ctx, {
        action: 'role.unassign',
        target: { type: 'role', id: roleId },
        details: { role: roleId, principal: p, source: ctx.source ?? null, revision: res.revision },
      });
    });
  }

  /** Direct assignments of the role (expired ones included, with their `expiresAt`). @throws GatehouseError `not_found`. */
  async listAssignments(ctx: OperationContext, roleId: string): Promise<RoleAssignment[]> {
    const db = this.deps.storage.db;
    await this.row(db, ctx.tenantId, roleId);
    const tuples = await this.deps.tuples.read(db, ctx.tenantId, BUILTIN_STORE_ID, { objectType: 'role', objectId: roleId, relation: 'assignee' });
    const out: RoleAssignment[] = [];
    for (const t of tuples) {
      const principal = refOfSubject(t);
      if (principal) out.push({ roleId, principal, expiresAt: t.expiresAt ?? null });
    }
    return out;
  }

  // --- internals ---

  private async row(db: Executor, tenantId: string, id: string, lock = false): Promise<RoleRow> {
    let q = db.selectFrom('roles').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
    if (lock && this.deps.storage.kind === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', 'no such role', { resource: 'role', id });
    return row;
  }

  private async load(db: Executor, tenantId: string, id: string, lock = false): Promise<Role> {
    return this.toRole(db, await this.row(db, tenantId, id, lock));
  }

  private async toRole(db: Executor, row: RoleRow): Promise<Role> {
    const tuples = await this.deps.tuples.read(db, row.tenant_id, BUILTIN_STORE_ID, {
      objectType: 'permission',
      relation: 'granted',
      subjectType: 'role',
      subjectId: row.id,
      subjectRelation: 'assignee',
    });
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      permissions: tuples.map((t) => t.objectId).sort(),
      created: row.created_at,
      lastModified: row.updated_at,
    };
  }
}
