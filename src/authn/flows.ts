/**
 * Short-lived sign-in state in `authn_flows`: a pending second factor, a WebAuthn challenge, a TOTP
 * secret waiting for its first code. Each entry expires, and {@link FlowStore.take} reads and
 * deletes it in one statement (`DELETE … RETURNING`), so a challenge is answered at most once.
 */
import type { Clock } from '../kernel/clock.js';
import type { Storage } from '../storage/database.js';

export class FlowStore {
  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
  ) {}

  /** Stores (or replaces) `data` under `id` for `ttlSeconds`. */
  async put(tenantId: string, id: string, data: Record<string, unknown>, ttlSeconds: number, userId: string | null = null): Promise<void> {
    const row = {
      user_id: userId,
      data: JSON.stringify(data),
      expires_at: new Date(this.clock.now().getTime() + ttlSeconds * 1000).toISOString(),
    };
    await this.storage.db
      .insertInto('authn_flows')
      .values({ tenant_id: tenantId, id, ...row })
      .onConflict((oc) => oc.columns(['tenant_id', 'id']).doUpdateSet(row))
      .execute();
  }

  /** The unexpired entry, or undefined. */
  async get<T extends Record<string, unknown>>(tenantId: string, id: string): Promise<T | undefined> {
    const row = await this.storage.db
      .selectFrom('authn_flows')
      .select('data')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('expires_at', '>', this.clock.now().toISOString())
      .executeTakeFirst();
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  /** Deletes the entry and returns it if it was there and unexpired; atomic (one DELETE … RETURNING). */
  async take<T extends Record<string, unknown>>(tenantId: string, id: string): Promise<T | undefined> {
    const row = await this.storage.db
      .deleteFrom('authn_flows')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .returning(['data', 'expires_at'])
      .executeTakeFirst();
    if (!row || row.expires_at <= this.clock.now().toISOString()) return undefined;
    return JSON.parse(row.data) as T;
  }

  async delete(tenantId: string, id: string): Promise<void> {
    await this.storage.db.deleteFrom('authn_flows').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }
}
