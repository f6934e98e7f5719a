/**
 * The service account service: machine identities with an owning user. The owner is kept in
 * `service_accounts.owner_user_id` and as the tuple `service_account:<id>#owner@user:<uid>` in the
 * built-in store. Names are unique (NFC + case-folded) among accounts that are not deprovisioned.
 * Deactivation and deletion deprovision through {@link Deprovisioner}.
 */
import type { Selectable } from 'kysely';
import { BUILTIN_STORE_ID, type RelationTuple } from '../authz/tuples.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { OperationContext } from '../kernel/context.js';
import { isUniqueViolation, type Executor } from '../storage/database.js';
import type { AccountStatus, ServiceAccountsTable } from '../storage/schema.js';
import { assertPrincipalsExist } from './graph.js';
import { optionalText, pageBounds, requiredName, type IdentityDeps } from './shared.js';
import type { ListQuery, Page, ServiceAccount, ServiceAccountInput, ServiceAccountService } from './types.js';

type ServiceAccountRow = Selectable<ServiceAccountsTable>;

function toServiceAccount(r: ServiceAccountRow): ServiceAccount {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    ownerUserId: r.owner_user_id,
    active: r.status === 'active',
    status: r.status,
    created: r.created_at,
    lastModified: r.updated_at,
  };
}

/** `service_account:<id>#owner@user:<uid>`. */
function ownerTuple(id: string, ownerUserId: string): RelationTuple {
  return { objectType: 'service_account', objectId: id, relation: 'owner', subjectType: 'user', subjectId: ownerUserId, subjectRelation: '' };
}

/** {@link ServiceAccountService} on the `service_accounts` table. */
export class ServiceAccountServiceImpl implements ServiceAccountService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Creates an active service account owned by an existing user.
   * @throws GatehouseError `invalid_input`, `not_found` (owner), `conflict` (details.attribute `name`).
   */
  async create(ctx: OperationContext, input: ServiceAccountInput): Promise<ServiceAccount> {
    if (typeof input !== 'object' || input === null) throw new GatehouseError('invalid_input', 'a service account must be an object', { field: '' });
    const name = requiredName('name', input.name, 200);
    const description = optionalText('description', input.description);
    if (typeof input.ownerUserId !== 'string' || input.ownerUserId === '') throw new GatehouseError('invalid_input', 'ownerUserId is required', { field: 'ownerUserId' });
    const owner = input.ownerUserId;
    const id = newId();
    const now = this.deps.clock.now().toISOString();
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await assertPrincipalsExist(trx, ctx.tenantId, [{ type: 'user', id: owner }]);
      try {
        await trx
          .insertInto('service_accounts')
          .values({ tenant_id: ctx.tenantId, id, name, name_norm: normalizeIdentifier(name), description, owner_user_id: owner, status: 'active', created_at: now, updated_at: now, version: 1 })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new GatehouseError('conflict', 'a service account with this name exists', { attribute: 'name' }, { cause: err });
        throw err;
      }
      await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { writes: [ownerTuple(id, owner)] });
      const after = toServiceAccount(await this.row(trx, ctx.tenantId, id));
      await this.deps.audit.append(trx, ctx, { action: 'service_account.create', target: { type: 'service_account', id }, after, details: { source: ctx.source ?? null } });
      return after;
    });
  }

  /** @throws GatehouseError `not_found` (also for deleted accounts). */
  async get(ctx: OperationContext, id: string): Promise<ServiceAccount> {
    return toServiceAccount(await this.row(this.deps.storage.db, ctx.tenantId, id));
  }

  /** Accounts that are not deleted, ordered by name. @throws GatehouseError `invalid_input` for bad paging. */
  async list(ctx: OperationContext, page: ListQuery): Promise<Page<ServiceAccount>> {
    const { offset, limit, startIndex } = pageBounds(page);
    const q = this.deps.storage.db.selectFrom('service_accounts').where('tenant_id', '=', ctx.tenantId).where('status', '<>', 'deprovisioned');
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = limit === 0 ? [] : await q.selectAll().orderBy('name_norm').orderBy('id').limit(limit).offset(offset).execute();
    return { totalResults: Number(total.n), startIndex, items: rows.map(toServiceAccount) };
  }

  /**
   * Activates or suspends. Suspension deprovisions (tokens deleted, decisions deny) but keeps grants.
   * Setting the current state is a no-op. Activation needs an active owner (or none), the same
   * rule as the OpenID Provider's (src/oidc/machines.ts), so decisions and client credentials agree:
   * a service account suspended because its owner left is activated only after
   * {@link setOwner} gives it an active owner.
   * @throws GatehouseError `not_found`; `owner_not_active` (activation while the owner is not an
   *   active user; details `ownerUserId`, `ownerStatus`).
   */
  async setActive(ctx: OperationContext, id: string, active: boolean): Promise<ServiceAccount> {
    return this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      const status: AccountStatus = active ? 'active' : 'suspended';
      if (row.status === status) return toServiceAccount(row);
      if (active && row.owner_user_id !== null) {
        const ownerStatus = await this.ownerStatus(trx, ctx.tenantId, row.owner_user_id);
        if (ownerStatus !== 'active') {
          throw new GatehouseError(
            'owner_not_active',
            `the owner ${row.owner_user_id} of service account ${id} is not an active user; assign an active owner first (POST /api/v1/service-accounts/${id}/owner)`,
            { ownerUserId: row.owner_user_id, ownerStatus },
          );
        }
      }
      await trx
        .updateTable('service_accounts')
        .set({ status, updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      const ref = { type: 'service_account' as const, id };
      if (active) await this.deps.deprovisioner.reactivateIdentity(trx, ctx, ref);
      else await this.deps.deprovisioner.deprovisionIdentity(trx, ctx, ref, 'suspend');
      const after = toServiceAccount(await this.row(trx, ctx.tenantId, id));
      await this.deps.audit.append(trx, ctx, {
        action: active ? 'service_account.activate' : 'service_account.suspend',
        target: { type: 'service_account', id },
        before: { status: row.status },
        after: { status },
        details: { source: ctx.source ?? null },
      });
      return after;
    });
  }

  /**
   * Deletes: deprovisions (grants removed from the live graph, tokens deleted) and keeps the row
   * with status `deprovisioned` for audit; the name becomes free. @throws GatehouseError `not_found`.
   */
  async delete(ctx: OperationContext, id: string): Promise<void> {
    await this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      await trx
        .updateTable('service_accounts')
        .set({ status: 'deprovisioned', updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      await this.deps.deprovisioner.deprovisionIdentity(trx, ctx, { type: 'service_account', id }, 'delete');
      await this.deps.audit.append(trx, ctx, { action: 'service_account.delete', target: { type: 'service_account', id }, before: toServiceAccount(row), details: { source: ctx.source ?? null } });
    });
  }

  /**
   * Makes `ownerUserId` the owner (column and `owner` tuple, the previous owner's tuple removed),
   * audited `service_account.owner_change`. Does not change the status: activate afterwards.
   * @throws GatehouseError `not_found` (service account or user); `owner_not_active` (the user is
   *   not active; details `ownerUserId`, `ownerStatus`); `invalid_input` (empty id).
   */
  async setOwner(ctx: OperationContext, id: string, ownerUserId: string): Promise<ServiceAccount> {
    if (typeof ownerUserId !== 'string' || ownerUserId === '') throw new GatehouseError('invalid_input', 'ownerUserId is required', { field: 'ownerUserId' });
    return this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      const ownerStatus = await this.ownerStatus(trx, ctx.tenantId, ownerUserId);
      if (ownerStatus === null) throw new GatehouseError('not_found', 'no such user', { resource: 'user', id: ownerUserId });
      if (ownerStatus !== 'active') throw new GatehouseError('owner_not_active', `user ${ownerUserId} is not active and cannot own a service account`, { ownerUserId, ownerStatus });
      if (row.owner_user_id === ownerUserId) return toServiceAccount(row);
      await trx
        .updateTable('service_accounts')
        .set({ owner_user_id: ownerUserId, updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      const deletes = row.owner_user_id === null ? [] : [ownerTuple(id, row.owner_user_id)];
      await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { deletes, writes: [ownerTuple(id, ownerUserId)] });
      await this.deps.audit.append(trx, ctx, {
        action: 'service_account.owner_change',
        target: { type: 'service_account', id },
        before: { ownerUserId: row.owner_user_id },
        after: { ownerUserId },
        details: { source: ctx.source ?? null },
      });
      return toServiceAccount(await this.row(trx, ctx.tenantId, id));
    });
  }

  /**
   * The status of user `userId` (null: no such user), read with a share lock on PostgreSQL so a
   * concurrent deactivation of that user waits for this transaction (and its owner-leaver hook
   * then sees the change made here).
   */
  private async ownerStatus(trx: Executor, tenantId: string, userId: string): Promise<AccountStatus | null> {
    let q = trx.selectFrom('users').select('status').where('tenant_id', '=', tenantId).where('id', '=', userId);
    if (this.deps.storage.kind === 'postgres') q = q.forShare();
    return (await q.executeTakeFirst())?.status ?? null;
  }

  private async row(db: Executor, tenantId: string, id: string, lock = false): Promise<ServiceAccountRow> {
    let q = db.selectFrom('service_accounts').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).where('status', '<>', 'deprovisioned');
    if (lock && this.deps.storage.kind === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', 'no such service account', { resource: 'service_account', id });
    return row;
  }
}
