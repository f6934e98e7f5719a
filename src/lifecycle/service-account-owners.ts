/**
 * What happens to the service accounts a user owns when the user is deactivated or deleted
 * (config `serviceAccountOwnerLeaverPolicy`):
 *
 * - `disable`: each active owned service account is suspended and deprovisioned at once (its
 *   tokens deleted, decisions deny), so no machine keeps acting for someone who left;
 * - `handover`: ownership moves to the leaver's manager (`users.manager_id`) when that manager is
 *   an active user; otherwise the service account is disabled as above.
 *
 * Runs inside the user's deprovisioning transaction (a {@link UserDeprovisionHook}); every change
 * is audited there. Reactivating the user does not reactivate the service accounts.
 */
import { BUILTIN_STORE_ID, type RelationTuple } from '../authz/tuples.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { TupleStore } from '../authz/tuple-store.js';
import type { Clock } from '../kernel/clock.js';
import type { Deprovisioner, UserDeprovisionHook } from './deprovision.js';

export type OwnerLeaverPolicy = 'disable' | 'handover';

function ownerTuple(id: string, ownerUserId: string): RelationTuple {
  return { objectType: 'service_account', objectId: id, relation: 'owner', subjectType: 'user', subjectId: ownerUserId, subjectRelation: '' };
}

/** Builds the hook; register it with `deprovisioner.addUserHook(...)`. */
export function ownedServiceAccountsHook(deps: {
  policy: OwnerLeaverPolicy;
  deprovisioner: Deprovisioner;
  tuples: TupleStore;
  audit: AuditLog;
  clock: Clock;
}): UserDeprovisionHook {
  return async (trx, ctx, userId) => {
    const owned = await trx
      .selectFrom('service_accounts')
      .select(['id', 'status', 'version'])
      .where('tenant_id', '=', ctx.tenantId)
      .where('owner_user_id', '=', userId)
      .where('status', '<>', 'deprovisioned')
      .execute();
    if (owned.length === 0) return;
    let heir: string | null = null;
    if (deps.policy === 'handover') {
      const manager = await trx
        .selectFrom('users as u')
        .innerJoin('users as m', (j) => j.onRef('m.tenant_id', '=', 'u.tenant_id').onRef('m.id', '=', 'u.manager_id'))
        .select(['m.id as id', 'm.status as status'])
        .where('u.tenant_id', '=', ctx.tenantId)
        .where('u.id', '=', userId)
        .executeTakeFirst();
      if (manager && manager.status === 'active' && manager.id !== userId) heir = manager.id;
    }
    const now = deps.clock.now().toISOString();
    for (const sa of owned) {
      const target = { type: 'service_account' as const, id: sa.id };
      if (heir) {
        await trx.updateTable('service_accounts').set({ owner_user_id: heir, updated_at: now, version: Number(sa.version) + 1 }).where('tenant_id', '=', ctx.tenantId).where('id', '=', sa.id).execute();
        await deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { deletes: [ownerTuple(sa.id, userId)], writes: [ownerTuple(sa.id, heir)] });
        await deps.audit.append(trx, ctx, { action: 'service_account.owner_handover', target, before: { ownerUserId: userId }, after: { ownerUserId: heir }, details: { reason: 'owner_deprovisioned' } });
        continue;
      }
      if (sa.status !== 'active') continue;
      await trx.updateTable('service_accounts').set({ status: 'suspended', updated_at: now, version: Number(sa.version) + 1 }).where('tenant_id', '=', ctx.tenantId).where('id', '=', sa.id).execute();
      await deps.deprovisioner.deprovisionIdentity(trx, ctx, target, 'suspend');
      await deps.audit.append(trx, ctx, { action: 'service_account.suspend', target, before: { status: 'active' }, after: { status: 'suspended' }, details: { reason: 'owner_deprovisioned', ownerUserId: userId } });
    }
  };
}
