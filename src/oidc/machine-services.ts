/**
 * Wires machine identities into Gatehouse (called once from the composition root): the
 * credential service (API keys minted by the OpenID Provider) and the owner-leaver policy hook
 * on deprovisioning.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { TupleStore } from '../authz/tuple-store.js';
import { CredentialService } from '../identity/credentials.js';
import type { Clock } from '../kernel/clock.js';
import type { Config } from '../kernel/config.js';
import type { Deprovisioner } from '../lifecycle/deprovision.js';
import { ownedServiceAccountsHook } from '../lifecycle/service-account-owners.js';
import type { Storage } from '../storage/database.js';
import type { OidcService } from './provider.js';

/** Builds `credentials` and registers the owned-service-accounts hook on the deprovisioner. */
export function createMachineServices(s: {
  config: Config;
  storage: Storage;
  audit: AuditLog;
  clock: Clock;
  tuples: TupleStore;
  oidc: OidcService;
  deprovisioner: Deprovisioner;
}): { credentials: CredentialService } {
  s.deprovisioner.addUserHook(
    ownedServiceAccountsHook({ policy: s.config.serviceAccountOwnerLeaverPolicy, deprovisioner: s.deprovisioner, tuples: s.tuples, audit: s.audit, clock: s.clock }),
  );
  return {
    credentials: new CredentialService({
      storage: s.storage,
      audit: s.audit,
      clock: s.clock,
      maxLifetimeDays: s.config.credentialMaxLifetimeDays,
      issueApiKey: s.oidc.issueApiKey,
    }),
  };
}
