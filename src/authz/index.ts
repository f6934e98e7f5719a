/**
 * The process's in-memory authorization index: one {@link StoreGraph} per (tenant, store), the
 * set of disabled subjects per tenant, and the changelog revision the whole index reflects.
 *
 * It is filled by {@link ChangelogFollower} (build from `authz_tuples`, then `authz_changelog`
 * rows in revision order) and read by the evaluator. Checks never touch the database.
 */
import { StoreGraph } from './graph.js';
import { Symbols, type CompiledModel } from './model.js';
import { NodeSpace } from './nodes.js';
import type { RelationTuple } from './tuples.js';
import type { ChangelogOperation } from '../storage/schema.js';

/** One change to apply, as read from `authz_changelog`. */
export interface IndexChange {
  tenantId: string;
  storeId: string;
  operation: ChangelogOperation;
  tuple: RelationTuple;
  /** For operation `model`: the compiled model named by `tuple.objectId` (undefined: it failed to load; ignored). */
  model?: CompiledModel;
}

/** The model versions of one store the index knows. */
export interface StoreModels {
  /** The newest model (greatest id), or null. */
  latest: CompiledModel | null;
  byId: Map<string, CompiledModel>;
}

interface TenantState {
  /** Node ids shared by every store of the tenant (identity overlay). */
  space: NodeSpace;
  stores: Map<string, StoreGraph>;
  models: Map<string, StoreModels>;
  /** Subjects whose decisions deny (not active): type → ids. */
  disabled: Map<string, Set<string>>;
  /** Deleted stores: their tuples and models left the index; later writes to them are ignored. */
  dropped: Set<string>;
}

/** Tuples of every store of every tenant, plus disabled subjects, at {@link TupleIndex.revision}. */
export class TupleIndex {
  /** Type and relation ids shared by every store graph and compiled model of this index. */
  readonly symbols = new Symbols();
  private readonly tenants = new Map<string, TenantState>();
  /** The changelog revision every change up to which has been applied. */
  revision = 0;

  private tenant(tenantId: string): TenantState {
    let t = this.tenants.get(tenantId);
    if (!t) {
      t = { space: new NodeSpace(this.symbols), stores: new Map(), models: new Map(), disabled: new Map(), dropped: new Set() };
      this.tenants.set(tenantId, t);
    }
    return t;
  }

  /** The graph of a store, or undefined if no tuple was ever written to it. */
  store(tenantId: string, storeId: string): StoreGraph | undefined {
    return this.tenants.get(tenantId)?.stores.get(storeId);
  }

  /** Adds a tuple to a store's graph (created if new); ignored for a dropped store. */
  writeTuple(tenantId: string, storeId: string, tuple: RelationTuple): void {
    if (this.tenants.get(tenantId)?.dropped.has(storeId)) return;
    this.storeForWrite(tenantId, storeId).write(tuple);
  }

  /** The graph of a store, created empty if new. */
  storeForWrite(tenantId: string, storeId: string): StoreGraph {
    const t = this.tenant(tenantId);
    let g = t.stores.get(storeId);
    if (!g) {
      g = new StoreGraph(this.symbols, t.space);
      t.stores.set(storeId, g);
    }
    return g;
  }

  /** The tenant's node space (created if new). */
  space(tenantId: string): NodeSpace {
    return this.tenant(tenantId).space;
  }

  /** The models of a store, or undefined when none was loaded. */
  models(tenantId: string, storeId: string): StoreModels | undefined {
    return this.tenants.get(tenantId)?.models.get(storeId);
  }

  /**
   * Drops a deleted store: its graph (its nodes are freed where no other store names them) and
   * its models. Writes that follow for it are ignored.
   */
  dropStore(tenantId: string, storeId: string): void {
    const t = this.tenant(tenantId);
    t.dropped.add(storeId);
    t.stores.get(storeId)?.clear();
    t.stores.delete(storeId);
    t.models.delete(storeId);
  }

  /** Adds a model version to a store; the one with the greatest id becomes the latest. */
  addModel(tenantId: string, storeId: string, model: CompiledModel): void {
    const t = this.tenant(tenantId);
    if (t.dropped.has(storeId)) return;
    let m = t.models.get(storeId);
    if (!m) {
      m = { latest: null, byId: new Map() };
      t.models.set(storeId, m);
    }
    m.byId.set(model.id, model);
    if (!m.latest || model.id >= m.latest.id) m.latest = model;
  }

  /** True if `type:id` is marked not active in the tenant (its decisions deny). */
  isDisabled(tenantId: string, type: string, id: string): boolean {
    const t = this.tenants.get(tenantId);
    if (t === undefined || t.disabled.size === 0) return false;
    const ids = t.disabled.get(type);
    return ids !== undefined && ids.has(id);
  }

  /** Marks a subject disabled or enabled. */
  setDisabled(tenantId: string, type: string, id: string, disabled: boolean): void {
    if (disabled) {
      const byType = this.tenant(tenantId).disabled;
      let ids = byType.get(type);
      if (!ids) {
        ids = new Set();
        byType.set(type, ids);
      }
      ids.add(id);
      return;
    }
    const byType = this.tenants.get(tenantId)?.disabled;
    const ids = byType?.get(type);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) byType!.delete(type);
  }

  /**
   * Applies the changes of one revision. Deletes are applied before writes, as
   * {@link TupleStore.write} performs them, so a tuple deleted and re-written in one revision
   * (for example with a new expiry) stays.
   */
  applyRevision(revision: number, changes: IndexChange[]): void {
    for (const c of changes) {
      if (c.operation === 'delete') this.store(c.tenantId, c.storeId)?.delete(c.tuple);
    }
    for (const c of changes) {
      switch (c.operation) {
        case 'write':
          this.writeTuple(c.tenantId, c.storeId, c.tuple);
          break;
        case 'drop_store':
          this.dropStore(c.tenantId, c.storeId);
          break;
        case 'disable':
          this.setDisabled(c.tenantId, c.tuple.subjectType, c.tuple.subjectId, true);
          break;
        case 'enable':
          this.setDisabled(c.tenantId, c.tuple.subjectType, c.tuple.subjectId, false);
          break;
        case 'model':
          if (c.model) this.addModel(c.tenantId, c.storeId, c.model);
          break;
        default:
          break;
      }
    }
    if (revision > this.revision) this.revision = revision;
  }

  /** Packs every store graph's adjacency (after a build). */
  compact(): void {
    for (const t of this.tenants.values()) for (const g of t.stores.values()) g.compact();
  }

  /** Live tuples across every store (for statistics). */
  get tupleCount(): number {
    let n = 0;
    for (const t of this.tenants.values()) for (const g of t.stores.values()) n += g.tupleCount;
    return n;
  }
}
