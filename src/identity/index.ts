/**
 * Builds the identity domain's services from the shared infrastructure (used by `gatehouse.ts`).
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { TupleStore } from '../authz/tuple-store.js';
import type { Clock } from '../kernel/clock.js';
import { Deprovisioner, type ApiTokenCache } from '../lifecycle/deprovision.js';
import type { Storage } from '../storage/database.js';
import { ApplicationServiceImpl } from './applications.js';
import { GroupServiceImpl } from './groups.js';
import { RoleServiceImpl } from './roles.js';
import { ServiceAccountServiceImpl } from './service-accounts.js';
import type { IdentityDeps } from './shared.js';
import { UserServiceImpl } from './users.js';

/** The identity services, as wired into `Services`. */
export interface IdentityServices {
  users: UserServiceImpl;
  groups: GroupServiceImpl;
  roles: RoleServiceImpl;
  serviceAccounts: ServiceAccountServiceImpl;
  applications: ApplicationServiceImpl;
  deprovisioner: Deprovisioner;
}

/** Creates every identity service over one storage, audit log, tuple store and clock (and the API-token cache to evict from on deprovisioning). */
export function createIdentityServices(base: { storage: Storage; audit: AuditLog; tuples: TupleStore; clock: Clock; apiTokens?: ApiTokenCache }): IdentityServices {
  const deprovisioner = new Deprovisioner(base.tuples, base.audit, base.clock, base.storage.kind, base.apiTokens);
  const deps: IdentityDeps = { ...base, deprovisioner };
  return {
    users: new UserServiceImpl(deps),
    groups: new GroupServiceImpl(deps),
    roles: new RoleServiceImpl(deps),
    serviceAccounts: new ServiceAccountServiceImpl(deps),
    applications: new ApplicationServiceImpl(deps),
    deprovisioner,
  };
}
