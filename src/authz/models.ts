/**
 * Versioned authorization models per store (OpenFGA WriteAuthorizationModel /
 * ReadAuthorizationModel(s)). A model is immutable; its id is a ULID, so the greatest id of a
 * store is the store's latest model. Writing one appends a `model` row to the changelog in the
 * same transaction, which makes every process's index load it (docs/authz-engine.md).
 *
 * The built-in store's model is Gatehouse's base model (DOMAIN.md); it cannot be replaced.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Storage } from '../storage/database.js';
import { BUILTIN_MODEL } from './builtin-model.js';
import { toDsl } from './dsl.js';
import type { AuthorizationModel } from './model.js';
import { decodeToken, encodeToken, newUlid, pageSizeOf, type AuthzStoreService } from './stores.js';
import type { TupleStore } from './tuple-store.js';
import { BUILTIN_STORE_ID } from './tuples.js';
import { fgaInvalid, modelFromDsl, modelFromJson, ModelView } from './validation.js';

/** Id under which the built-in store's base model is shown (it has no stored versions). */
export const BUILTIN_MODEL_ID = 'gatehouse-builtin';

/** A stored model version. */
export interface StoredModel {
  id: string;
  storeId: string;
  model: AuthorizationModel & { id: string };
  /** The DSL source as written, or null when written as JSON. */
  dsl: string | null;
  createdAt: string;
}

/** A resolved model for a request: its id and a view for validation. */
export interface ResolvedModel {
  id: string;
  view: ModelView;
}

function modelNotFound(id: string): GatehouseError {
  return fgaInvalid('authorization_model_not_found', `Authorization Model '${id}' not found`, { resource: 'authorization_model' });
}

/** Model versions of stores. */
export class AuthzModelService {
  /** Views of immutable model versions, by id. */
  private readonly views = new Map<string, ModelView>();
  private readonly builtinView = new ModelView(BUILTIN_MODEL);

  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly tuples: TupleStore,
    private readonly stores: AuthzStoreService,
  ) {}

  /**
   * Validates and stores a new model version of `storeId` (DSL text or OpenFGA JSON), and
   * appends its `model` changelog row, in one transaction with the audit event.
   *
   * @returns the new model id (ULID) and the changelog revision (consistency token).
   * @throws GatehouseError `not_found` (`store_id_not_found`); `invalid_input` with
   *   `details.openfga` (`invalid_authorization_model` with `details.problems` carrying 1-based
   *   line and column for DSL, `type_definitions_too_few_items`, ...); `invalid_input` for the
   *   built-in store.
   * @example
   * const { id } = await models.write(ctx, storeId, { dsl: 'model\n  schema 1.1\ntype user\n' });
   */
  async write(ctx: OperationContext, storeId: string, input: { dsl: string } | { json: unknown }): Promise<{ id: string; revision: number }> {
    await this.stores.get(ctx, storeId);
    if (storeId === BUILTIN_STORE_ID) throw fgaInvalid('validation_error', "the built-in store's model is Gatehouse's base model and cannot be replaced; create a store for your model");
    const model = 'dsl' in input ? modelFromDsl(input.dsl) : modelFromJson(input.json);
    const dsl = 'dsl' in input ? input.dsl : null;
    const now = this.clock.now();
    const id = newUlid(now.getTime());
    const revision = await this.storage.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('authz_models')
        .values({ tenant_id: ctx.tenantId, store_id: storeId, id, schema_version: model.schema_version, model: JSON.stringify(model), dsl, created_at: now.toISOString() })
        .execute();
      const rev = await this.tuples.recordModel(trx, ctx, storeId, id);
      await this.audit.append(trx, ctx, {
        action: 'authz_model.write',
        target: { type: 'authz_model', id },
        after: { storeId, types: model.type_definitions.map((t) => t.type), conditions: Object.keys(model.conditions ?? {}) },
      });
      return rev;
    });
    return { id, revision };
  }

  private toStored(r: { id: string; store_id: string; model: string; dsl: string | null; created_at: string }): StoredModel {
    const m = JSON.parse(r.model) as AuthorizationModel;
    return { id: r.id, storeId: r.store_id, model: { id: r.id, ...m }, dsl: r.dsl, createdAt: r.created_at };
  }

  private builtinStored(): StoredModel {
    return { id: BUILTIN_MODEL_ID, storeId: BUILTIN_STORE_ID, model: { id: BUILTIN_MODEL_ID, ...BUILTIN_MODEL }, dsl: null, createdAt: '1970-01-01T00:00:00.000Z' };
  }

  /**
   * One model version of a store.
   * @throws GatehouseError `not_found` (`store_id_not_found`), `invalid_input` (`authorization_model_not_found`).
   */
  async get(ctx: OperationContext, storeId: string, id: string): Promise<StoredModel> {
    await this.stores.get(ctx, storeId);
    if (storeId === BUILTIN_STORE_ID) {
      if (id === BUILTIN_MODEL_ID) return this.builtinStored();
      throw modelNotFound(id);
    }
    const row = await this.storage.db.selectFrom('authz_models').selectAll().where('tenant_id', '=', ctx.tenantId).where('store_id', '=', storeId).where('id', '=', id).executeTakeFirst();
    if (!row) throw modelNotFound(id);
    return this.toStored(row);
  }

  /**
   * Model versions of a store, newest first (OpenFGA ReadAuthorizationModels), paged.
   * @throws GatehouseError `not_found` (`store_id_not_found`), `invalid_input` (`page_size_invalid`, `invalid_continuation_token`).
   */
  async list(ctx: OperationContext, storeId: string, opts: { pageSize?: unknown; continuationToken?: string } = {}): Promise<{ models: StoredModel[]; continuationToken: string }> {
    await this.stores.get(ctx, storeId);
    const size = pageSizeOf(opts.pageSize);
    if (storeId === BUILTIN_STORE_ID) return { models: opts.continuationToken ? [] : [this.builtinStored()], continuationToken: '' };
    let q = this.storage.db.selectFrom('authz_models').selectAll().where('tenant_id', '=', ctx.tenantId).where('store_id', '=', storeId);
    if (opts.continuationToken) {
      const before = decodeToken(opts.continuationToken, (v): v is { m: string } => typeof (v as { m?: unknown })?.m === 'string');
      q = q.where('id', '<', before.m);
    }
    const rows = await q.orderBy('id', 'desc').limit(size + 1).execute();
    const models = rows.slice(0, size).map((r) => this.toStored(r));
    return { models, continuationToken: rows.length > size ? encodeToken({ m: models[models.length - 1]!.id }) : '' };
  }

  /** The latest model of a store, or null when none was written (the built-in store: its base model). */
  async latest(ctx: OperationContext, storeId: string): Promise<StoredModel | null> {
    if (storeId === BUILTIN_STORE_ID) return this.builtinStored();
    const row = await this.storage.db.selectFrom('authz_models').selectAll().where('tenant_id', '=', ctx.tenantId).where('store_id', '=', storeId).orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row ? this.toStored(row) : null;
  }

  /**
   * The model a request runs against: `modelId` when given, else the store's latest.
   * @throws GatehouseError `not_found` (`store_id_not_found`), `invalid_input`
   *   (`authorization_model_not_found`, `latest_authorization_model_not_found`).
   */
  async resolve(ctx: OperationContext, storeId: string, modelId?: string | null): Promise<ResolvedModel> {
    await this.stores.get(ctx, storeId);
    if (storeId === BUILTIN_STORE_ID) {
      if (modelId && modelId !== BUILTIN_MODEL_ID) throw modelNotFound(modelId);
      return { id: BUILTIN_MODEL_ID, view: this.builtinView };
    }
    if (modelId) {
      const cached = this.views.get(`${ctx.tenantId}/${storeId}/${modelId}`);
      if (cached) return { id: modelId, view: cached };
      const m = await this.get(ctx, storeId, modelId);
      return { id: m.id, view: this.cache(ctx, m) };
    }
    const latest = await this.latest(ctx, storeId);
    if (!latest) throw fgaInvalid('latest_authorization_model_not_found', `No authorization models found for store '${storeId}'`);
    return { id: latest.id, view: this.views.get(`${ctx.tenantId}/${storeId}/${latest.id}`) ?? this.cache(ctx, latest) };
  }

  private cache(ctx: OperationContext, m: StoredModel): ModelView {
    const view = new ModelView(m.model);
    if (this.views.size > 1000) this.views.clear();
    this.views.set(`${ctx.tenantId}/${m.storeId}/${m.id}`, view);
    return view;
  }

  /** A model's DSL: the source as written, or rendered from JSON. */
  dslOf(m: StoredModel): string {
    return m.dsl ?? toDsl(m.model);
  }
}
