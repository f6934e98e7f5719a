/**
 * What the AuthZEN decision point needs to know about stores, read from the database and cached
 * per process: which store a tenant marked default (`gatehouse authz store default`), whether a
 * named store exists, and which relations a type defines in a store's model (the actions an
 * Action Search tries).
 *
 * Caching: store lookups for `storeTtlMs` (default 1000 ms), so a change of the default store or
 * a deleted store is seen by every replica within that time (at once in the process that made it,
 * through {@link AuthzenCatalog.forget}); a model's relations forever, keyed by model id (models
 * are immutable once written).
 */
import type { Storage } from '../storage/database.js';
import { GatehouseError } from '../kernel/errors.js';
import type { AuthorizationModel } from './model.js';
import { BUILTIN_MODEL } from './builtin-model.js';
import { BUILTIN_STORE_ID } from './tuples.js';

/** The lookups of {@link AuthzenCatalog}, as an interface so tests and other stores can provide them. */
export interface AuthzenStoreDirectory {
  /**
   * The store `storeId` names, or the tenant's default store when `storeId` is null.
   * @throws GatehouseError `not_found` (details `{ resource: 'store' }`) when a named store does not exist or was deleted.
   */
  resolveStore(tenantId: string, storeId: string | null): Promise<string>;
  /**
   * {@link resolveStore}'s answer when it is known without reading the database (cached and
   * fresh, or the built-in store named); undefined otherwise (ask {@link resolveStore}, which also
   * raises `not_found`).
   */
  cachedStore(tenantId: string, storeId: string | null): string | undefined;
  /**
   * The relations `type` defines in the model `modelId` of the store (the store's latest when null),
   * in model order; an empty list when the type is unknown or the store has no model.
   */
  typeRelations(tenantId: string, storeId: string, type: string, modelId: string | null): Promise<string[]>;
}

interface Cached<T> {
  value: T;
  untilMs: number;
}

/** {@link AuthzenStoreDirectory} over the `authz_stores` and `authz_models` tables. */
export class AuthzenCatalog implements AuthzenStoreDirectory {
  private readonly defaults = new Map<string, Cached<string>>();
  private readonly stores = new Map<string, Cached<boolean>>();
  private readonly relations = new Map<string, Map<string, string[]>>();
  private readonly storeTtlMs: number;

  constructor(
    private readonly storage: Storage,
    options: { storeTtlMs?: number } = {},
  ) {
    this.storeTtlMs = options.storeTtlMs ?? 1000;
  }

  /**
   * Drops what is cached about `storeId` and the tenant's default store, after a change made in
   * this process (a store deleted or marked default), so the next lookup reads the database.
   */
  forget(tenantId: string, storeId: string): void {
    this.stores.delete(`${tenantId}\u0000${storeId}`);
    this.defaults.delete(tenantId);
  }

  cachedStore(tenantId: string, storeId: string | null): string | undefined {
    if (storeId === BUILTIN_STORE_ID) return storeId;
    const now = Date.now();
    if (storeId === null) {
      const hit = this.defaults.get(tenantId);
      return hit && hit.untilMs > now ? hit.value : undefined;
    }
    const hit = this.stores.get(`${tenantId}\u0000${storeId}`);
    return hit && hit.untilMs > now && hit.value ? storeId : undefined;
  }

  async resolveStore(tenantId: string, storeId: string | null): Promise<string> {
    const now = Date.now();
    if (storeId === null) {
      const hit = this.defaults.get(tenantId);
      if (hit && hit.untilMs > now) return hit.value;
      const row = await this.storage.db
        .selectFrom('authz_stores')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('is_default', '=', 1)
        .where('deleted_at', 'is', null)
        .orderBy('updated_at', 'desc')
        .executeTakeFirst();
      const id = row?.id ?? BUILTIN_STORE_ID;
      this.defaults.set(tenantId, { value: id, untilMs: now + this.storeTtlMs });
      return id;
    }
    if (storeId === BUILTIN_STORE_ID) return storeId;
    const key = `${tenantId}\u0000${storeId}`;
    let hit = this.stores.get(key);
    if (!hit || hit.untilMs <= now) {
      const row = await this.storage.db
        .selectFrom('authz_stores')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', storeId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      hit = { value: row !== undefined, untilMs: now + this.storeTtlMs };
      this.stores.set(key, hit);
    }
    if (!hit.value) throw new GatehouseError('not_found', `store '${storeId}' does not exist`, { resource: 'store', storeId });
    return storeId;
  }

  async typeRelations(tenantId: string, storeId: string, type: string, modelId: string | null): Promise<string[]> {
    let model: AuthorizationModel | null;
    let cacheKey: string;
    if (storeId === BUILTIN_STORE_ID) {
      model = BUILTIN_MODEL;
      cacheKey = `builtin`;
    } else {
      let q = this.storage.db.selectFrom('authz_models').select(['id', 'model']).where('tenant_id', '=', tenantId).where('store_id', '=', storeId);
      if (modelId) {
        const cached = this.relations.get(`${tenantId}\u0000${modelId}`);
        if (cached) return cached.get(type) ?? [];
        q = q.where('id', '=', modelId);
      }
      const row = await q.orderBy('id', 'desc').limit(1).executeTakeFirst();
      if (!row) return [];
      cacheKey = `${tenantId}\u0000${row.id}`;
      const cached = this.relations.get(cacheKey);
      if (cached) return cached.get(type) ?? [];
      model = JSON.parse(row.model) as AuthorizationModel;
    }
    let byType = this.relations.get(cacheKey);
    if (!byType) {
      byType = new Map();
      for (const td of model.type_definitions ?? []) byType.set(td.type, Object.keys(td.relations ?? {}));
      this.relations.set(cacheKey, byType);
    }
    return byType.get(type) ?? [];
  }
}
