/** The default tenant (ARCHITECTURE.md: every row carries tenant_id). */
export const DEFAULT_TENANT = 'default';

/** Who is acting. */
export interface Actor {
  /** `user` (signed-in person), `api_token` (bearer token), `service_account`, `cli` (local operator), `system` (jobs), `anonymous`. */
  type: 'user' | 'api_token' | 'service_account' | 'cli' | 'system' | 'anonymous';
  id: string | null;
}

/**
 * What every service call carries: the tenant, the actor, and the request it came from.
 * Audit events are written from it.
 */
export interface OperationContext {
  tenantId: string;
  actor: Actor;
  requestId?: string | null;
  sourceIp?: string | null;
  /** Where the change came from, recorded as a grant's source: rule, request, admin, import, scim. */
  source?: 'rule' | 'request' | 'admin' | 'import' | 'scim';
}

/** A context for local operator commands (the CLI). */
export function cliContext(tenantId = DEFAULT_TENANT): OperationContext {
  return { tenantId, actor: { type: 'cli', id: process.env.USER ?? null }, source: 'admin' };
}

/** A context for Gatehouse's own background work. */
export function systemContext(tenantId = DEFAULT_TENANT): OperationContext {
  return { tenantId, actor: { type: 'system', id: null }, source: 'admin' };
}
