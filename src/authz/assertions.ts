/**
 * OpenFGA assertions (openfga/api `openfga_service.proto` WriteAssertions / ReadAssertions): per
 * store and authorization model, a list of checks with their expected result, kept with the model
 * so that tools (`fga model test`, the SDKs) can store and read a model's tests. A write replaces
 * the whole list of that model; Gatehouse does not evaluate them (`gatehouse authz test` does).
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import type { Storage } from '../storage/database.js';
import type { AuthzModelService } from './models.js';
import { fgaInvalid, keyText, parseFgaObject, parseFgaUser, tupleFromKey, type FgaTupleKey } from './validation.js';

/** Most assertions per model (OpenFGA's `WriteAssertionsRequest.assertions` limit). */
export const MAX_ASSERTIONS = 100;
/** Most contextual tuples per assertion (OpenFGA's limit). */
export const MAX_ASSERTION_CONTEXTUAL = 100;

/** One OpenFGA `Assertion`, in OpenFGA's JSON field names. */
export interface FgaAssertion {
  tuple_key: { object: string; relation: string; user: string };
  expectation: boolean;
  contextual_tuples: FgaTupleKey[];
  /** The request context for conditions; absent when none was given. */
  context?: Record<string, unknown>;
}

/** Stores and reads the assertions of authorization models. */
export class AuthzAssertionService {
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly models: AuthzModelService,
  ) {}

  /**
   * Replaces the assertions of one model (OpenFGA WriteAssertions), in one transaction with its
   * audit event. Each assertion is validated against the model as OpenFGA does: the tuple key's
   * object type and relation and the user's type exist; contextual tuples are valid writes.
   *
   * @throws GatehouseError `not_found` (`store_id_not_found`); `invalid_input` with
   *   `details.openfga`: `authorization_model_not_found`, `assertions_too_many_items` (more than
   *   100), `exceeded_entity_limit` (more than 100 contextual tuples), `validation_error`,
   *   `type_not_found`, `relation_not_found`, `invalid_tuple`.
   */
  async write(ctx: OperationContext, storeId: string, modelId: string, assertions: FgaAssertion[]): Promise<void> {
    const model = await this.models.resolve(ctx, storeId, modelId || null);
    if (assertions.length > MAX_ASSERTIONS) {
      throw fgaInvalid('assertions_too_many_items', `invalid WriteAssertionsRequest.Assertions: value must contain no more than ${MAX_ASSERTIONS} item(s)`, { max: MAX_ASSERTIONS });
    }
    for (const a of assertions) {
      const object = parseFgaObject(a.tuple_key.object);
      const user = parseFgaUser(a.tuple_key.user);
      if (!/^[^:#@\s]{1,50}$/.test(a.tuple_key.relation)) throw fgaInvalid('validation_error', `invalid 'relation' field format: '${a.tuple_key.relation}'`, { field: 'relation' });
      model.view.requireRelation(object.type, a.tuple_key.relation);
      model.view.requireSubject(user.type, user.relation);
      if (a.contextual_tuples.length > MAX_ASSERTION_CONTEXTUAL) {
        throw fgaInvalid('exceeded_entity_limit', `The number of contextual tuples exceeds the allowed limit of ${MAX_ASSERTION_CONTEXTUAL}`);
      }
      for (const k of a.contextual_tuples) model.view.validateTuple(tupleFromKey(k), keyText(k));
    }
    const now = this.clock.now().toISOString();
    await this.storage.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('authz_assertions').where('tenant_id', '=', ctx.tenantId).where('store_id', '=', storeId).where('model_id', '=', model.id).execute();
      await trx
        .insertInto('authz_assertions')
        .values({ tenant_id: ctx.tenantId, store_id: storeId, model_id: model.id, assertions: JSON.stringify(assertions), updated_at: now })
        .execute();
      await this.audit.append(trx, ctx, { action: 'authz_assertions.write', target: { type: 'authz_model', id: model.id }, after: { storeId, count: assertions.length } });
    });
  }

  /**
   * The assertions of one model (OpenFGA ReadAssertions); empty when none were written.
   * @throws GatehouseError `not_found` (`store_id_not_found`); `invalid_input` (`authorization_model_not_found`).
   */
  async read(ctx: OperationContext, storeId: string, modelId: string): Promise<{ modelId: string; assertions: FgaAssertion[] }> {
    const model = await this.models.resolve(ctx, storeId, modelId || null);
    const row = await this.storage.db
      .selectFrom('authz_assertions')
      .select('assertions')
      .where('tenant_id', '=', ctx.tenantId)
      .where('store_id', '=', storeId)
      .where('model_id', '=', model.id)
      .executeTakeFirst();
    return { modelId: model.id, assertions: row ? (JSON.parse(row.assertions) as FgaAssertion[]) : [] };
  }
}
