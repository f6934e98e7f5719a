/**
 * Authorization stores (OpenFGA's term): create, list, get, delete, and the tenant's default
 * store (the one the root AuthZEN endpoints and the CLI use when no store is named).
 *
 * Store ids are ULIDs, as OpenFGA's (the official SDKs refuse any other form); the built-in
 * store keeps the id `gatehouse`. Deleting a store marks it deleted (OpenFGA keeps deleted
 * stores' data too); every operation on a deleted or unknown store fails with `not_found`
 * (`details.openfga` = `store_id_not_found`).
 */
import { monotonicFactory } from 'ulid';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Storage } from '../storage/database.js';
import { BUILTIN_STORE_ID } from './tuples.js';
import type { TupleStore } from './tuple-store.js';
import { fgaInvalid } from './validation.js';

/** The process's ULID source, monotonic (see {@link newUlid}). */
const nextUlid = monotonicFactory();

/**
 * A new ULID (26 characters, Crockford base32: 48-bit millisecond time, then 80 random bits;
 * ulid/spec), the id form of OpenFGA stores and models, made by the `ulid` library. Monotonic
 * within this process, as OpenFGA's own ids (`ulid.Make`): an id of the same millisecond as the
 * previous one (or of an earlier one, when a clock is set back) is that one plus one, so ids
 * written in one millisecond, or at one instant of a fixed clock, still sort in creation order,
 * which the store list and a store's latest model rely on.
 * @param nowMs the time part, in milliseconds since the epoch.
 */
export function newUlid(nowMs: number): string {
  return nextUlid(Math.floor(nowMs));
}

/** An authorization store as OpenFGA's API shows it. */
export interface AuthzStore {
  id: string;
  name: string;
  /** True for the tenant's default store. */
  isDefault: boolean;
  createdAt: string;
  updatedAt: string;
}

/** OpenFGA page size rules: default 50, 1..100. @throws `page_size_invalid`. */
export function pageSizeOf(v: unknown, fallback = 50): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 100) throw fgaInvalid('page_size_invalid', 'page_size must be an integer between 1 and 100', { field: 'page_size' });
  return n;
}

/** Encodes a continuation token (opaque base64url JSON). */
export function encodeToken(v: unknown): string {
  return Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
}

/** Decodes a continuation token. @throws `invalid_continuation_token`. */
export function decodeToken<T>(token: string, check: (v: unknown) => v is T): T {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw fgaInvalid('invalid_continuation_token', 'Invalid continuation token');
  }
  if (!check(v)) throw fgaInvalid('invalid_continuation_token', 'Invalid continuation token');
  return v;
}

function storeNotFound(id: string): GatehouseError {
  return new GatehouseError('not_found', `store '${id}' not found`, { resource: 'store', openfga: 'store_id_not_found' });
}

/** The longest store name, in UTF-16 code units (JavaScript string length), as OpenFGA's 1 to 64 characters. */
export const STORE_NAME_MAX_LENGTH = 64;

/** True for a name {@link AuthzStoreService.create} accepts: a string, not blank, at most {@link STORE_NAME_MAX_LENGTH} long. */
export function isStoreName(name: unknown): boolean {
  return typeof name === 'string' && name.trim().length > 0 && name.length <= STORE_NAME_MAX_LENGTH;
}

/** Stores of a tenant. Every change runs in one transaction with its audit event. */
export class AuthzStoreService {
  /**
   * @param tuples - when given, deleting a store appends its `drop_store` changelog row, so the
   *   authorization index lets go of the store's tuples and models.
   */
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly tuples?: TupleStore,
  ) {}

  private readonly changeListeners = new Set<(tenantId: string, storeId: string) => void>();

  /**
   * Calls `listener(tenantId, storeId)` after each committed delete of a store or change of the
   * default store made through this service (this process), so per-process caches of stores (the
   * AuthZEN catalog) drop their entry at once; other processes rely on their caches' TTL.
   * @returns a function that removes the listener.
   */
  onStoreChange(listener: (tenantId: string, storeId: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private storeChanged(tenantId: string, storeId: string): void {
    for (const listener of this.changeListeners) listener(tenantId, storeId);
  }

  private toStore(r: { id: string; name: string; is_default: number; created_at: string; updated_at: string }): AuthzStore {
    return { id: r.id, name: r.name, isDefault: r.is_default === 1, createdAt: r.created_at, updatedAt: r.updated_at };
  }

  /**
   * Creates a store (OpenFGA CreateStore).
   * @throws GatehouseError `invalid_input` (`validation_error`) for an empty or oversize name (1..64 characters).
   */
  async create(ctx: OperationContext, name: string): Promise<AuthzStore> {
    if (!isStoreName(name)) {
      throw fgaInvalid('validation_error', `name must be a string of 1 to ${STORE_NAME_MAX_LENGTH} characters`, { field: 'name' });
    }
    const now = this.clock.now();
    const row = { tenant_id: ctx.tenantId, id: newUlid(now.getTime()), name, is_default: 0, created_at: now.toISOString(), updated_at: now.toISOString(), deleted_at: null };
    await this.storage.db.transaction().execute(async (trx) => {
      await trx.insertInto('authz_stores').values(row).execute();
      await this.audit.append(trx, ctx, { action: 'authz_store.create', target: { type: 'authz_store', id: row.id }, after: { id: row.id, name } });
    });
    return this.toStore(row);
  }

  /**
   * A live store. @throws GatehouseError `not_found` (`store_id_not_found`).
   */
  async get(ctx: OperationContext, id: string): Promise<AuthzStore> {
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw storeNotFound(String(id));
    const row = await this.storage.db
      .selectFrom('authz_stores')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) throw storeNotFound(id);
    return this.toStore(row);
  }

  /**
   * Live stores, by id (OpenFGA ListStores), paged.
   * @param opts.pageSize 1..100 (default 50); `name` filters by exact name.
   * @throws GatehouseError `invalid_input` (`page_size_invalid`, `invalid_continuation_token`).
   */
  async list(ctx: OperationContext, opts: { pageSize?: unknown; continuationToken?: string; name?: string } = {}): Promise<{ stores: AuthzStore[]; continuationToken: string }> {
    const size = pageSizeOf(opts.pageSize);
    let q = this.storage.db.selectFrom('authz_stores').selectAll().where('tenant_id', '=', ctx.tenantId).where('deleted_at', 'is', null);
    if (opts.name) q = q.where('name', '=', opts.name);
    if (opts.continuationToken) {
      const after = decodeToken(opts.continuationToken, (v): v is { s: string } => typeof (v as { s?: unknown })?.s === 'string');
      q = q.where('id', '>', after.s);
    }
    const rows = await q.orderBy('id').limit(size + 1).execute();
    const page = rows.slice(0, size).map((r) => this.toStore(r));
    return { stores: page, continuationToken: rows.length > size ? encodeToken({ s: page[page.length - 1]!.id }) : '' };
  }

  /**
   * Marks a store deleted (OpenFGA DeleteStore); its tuples and models leave the authorization
   * index (a `drop_store` changelog row). The built-in store cannot be deleted.
   * @throws GatehouseError `not_found` (`store_id_not_found`), `forbidden` for the built-in store (HTTP 403).
   */
  async delete(ctx: OperationContext, id: string): Promise<void> {
    const store = await this.get(ctx, id);
    if (store.id === BUILTIN_STORE_ID) throw new GatehouseError('forbidden', 'the built-in store cannot be deleted');
    const now = this.clock.now().toISOString();
    await this.storage.db.transaction().execute(async (trx) => {
      await trx.updateTable('authz_stores').set({ deleted_at: now, updated_at: now, is_default: 0 }).where('tenant_id', '=', ctx.tenantId).where('id', '=', id).execute();
      if (store.isDefault) {
        await trx.updateTable('authz_stores').set({ is_default: 1 }).where('tenant_id', '=', ctx.tenantId).where('id', '=', BUILTIN_STORE_ID).execute();
      }
      await this.tuples?.recordStoreDeleted(trx, ctx, id);
      await this.audit.append(trx, ctx, { action: 'authz_store.delete', target: { type: 'authz_store', id }, before: { id, name: store.name } });
    });
    this.storeChanged(ctx.tenantId, id);
  }

  /**
   * Makes `id` the tenant's default store (the one root `/access/v1/*` and the CLI use).
   * @throws GatehouseError `not_found` (`store_id_not_found`).
   */
  async setDefault(ctx: OperationContext, id: string): Promise<AuthzStore> {
    const store = await this.get(ctx, id);
    const now = this.clock.now().toISOString();
    await this.storage.db.transaction().execute(async (trx) => {
      await trx.updateTable('authz_stores').set({ is_default: 0 }).where('tenant_id', '=', ctx.tenantId).where('is_default', '=', 1).execute();
      await trx.updateTable('authz_stores').set({ is_default: 1, updated_at: now }).where('tenant_id', '=', ctx.tenantId).where('id', '=', id).execute();
      await this.audit.append(trx, ctx, { action: 'authz_store.set_default', target: { type: 'authz_store', id }, after: { id, name: store.name } });
    });
    this.storeChanged(ctx.tenantId, id);
    return { ...store, isDefault: true, updatedAt: now };
  }

  /** The id of the tenant's default store (the built-in store unless another was marked). */
  async defaultStoreId(ctx: OperationContext): Promise<string> {
    const row = await this.storage.db
      .selectFrom('authz_stores')
      .select('id')
      .where('tenant_id', '=', ctx.tenantId)
      .where('is_default', '=', 1)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row?.id ?? BUILTIN_STORE_ID;
  }
}
