/**
 * Request pieces shared by the OpenFGA query routes (check, batch-check, list-objects,
 * list-users, expand): the tuple-key and contextual-tuple schemas, the model the request runs
 * against, and the consistency preference.
 */
import { z } from 'zod';
import type { Services } from '../../../gatehouse.js';
import type { OperationContext } from '../../../kernel/context.js';
import type { ResolvedModel } from '../../../authz/models.js';
import { BUILTIN_STORE_ID, type RelationTuple } from '../../../authz/tuples.js';
import { fgaInvalid, keyText, tupleFromKey, type FgaTupleKey } from '../../../authz/validation.js';
import { BUILTIN_MODEL_ID } from '../../../authz/models.js';
import { atLeastRevisionOf } from '../../consistency.js';

/** Largest number of contextual tuples in one request (OpenFGA's limit). */
export const MAX_CONTEXTUAL = 100;

/** OpenFGA `TupleKey` (condition optional). */
export const tupleKeySchema = z.object({
  user: z.string(),
  relation: z.string(),
  object: z.string(),
  condition: z.object({ name: z.string(), context: z.record(z.string(), z.unknown()).nullish() }).nullish(),
});

/** OpenFGA `ContextualTupleKeys`. */
export const contextualSchema = z.object({ tuple_keys: z.array(tupleKeySchema).default([]) }).nullish();

/** OpenFGA `ConsistencyPreference`. */
export const consistencySchema = z.enum(['UNSPECIFIED', 'MINIMIZE_LATENCY', 'HIGHER_CONSISTENCY']).nullish();

/** A JSON object (`context`). */
export const contextSchema = z.record(z.string(), z.unknown()).nullish();

/**
 * OpenFGA's pattern for store and authorization model ids, a ULID in Crockford base32 (openfga/api
 * `openfga/v1/openfga_service.proto`, the `validate.rules` of every `store_id` and
 * `authorization_model_id`). A malformed id is a `validation_error` (400), as in OpenFGA; a
 * well-formed unknown one is `store_id_not_found` (404) or `authorization_model_not_found` (400).
 */
const ULID_PATTERN = /^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$/;
const NOT_ULID = `value does not match regex pattern "${ULID_PATTERN.source}"`;

/** A `store_id`: a ULID, or the id of Gatehouse's built-in store. */
export const storeIdSchema = z.string().refine((id) => id === BUILTIN_STORE_ID || ULID_PATTERN.test(id), NOT_ULID);

/** The path parameters of every route under `/stores/{store_id}`. */
export const storeParams = z.object({ store_id: storeIdSchema });

/** An `authorization_model_id` that must be given: a ULID, or the id of the built-in store's base model. */
export const requiredModelIdSchema = z.string().refine((id) => id === BUILTIN_MODEL_ID || ULID_PATTERN.test(id), NOT_ULID);

/** `authorization_model_id` in a request body: empty or absent means the latest. */
export const modelIdSchema = z.union([z.literal(''), requiredModelIdSchema]).nullish();

/** What an engine call needs besides its own question. */
export interface Scope {
  storeId: string;
  model: ResolvedModel;
  /** For the engine: undefined for the built-in store (its base model). */
  authorizationModelId: string | undefined;
  atLeastRevision: number | undefined;
}

/**
 * Resolves the store and model of a request and the revision it must see.
 * `HIGHER_CONSISTENCY` makes the check wait until the index has every committed change
 * (read-your-writes); the Gatehouse header `x-gatehouse-at-least-revision` ({@link atLeastRevisionOf})
 * until it has that revision.
 * @throws GatehouseError `store_id_not_found`, `authorization_model_not_found`, `latest_authorization_model_not_found`,
 *   `validation_error` (a malformed header).
 */
export async function resolveScope(
  services: Services,
  ctx: OperationContext,
  storeId: string,
  body: { authorization_model_id?: string | null; consistency?: string | null },
  headers: Record<string, unknown>,
): Promise<Scope> {
  const model = await services.authzModels.resolve(ctx, storeId, body.authorization_model_id || undefined);
  let atLeastRevision = atLeastRevisionOf(headers);
  if (body.consistency === 'HIGHER_CONSISTENCY') {
    const current = await services.tuples.currentRevision(services.storage.db);
    atLeastRevision = Math.max(atLeastRevision ?? 0, current);
  }
  return {
    storeId,
    model,
    authorizationModelId: storeId === BUILTIN_STORE_ID || model.id === BUILTIN_MODEL_ID ? undefined : model.id,
    atLeastRevision,
  };
}

/**
 * Parses and validates contextual tuples against the request's model.
 * @throws `exceeded_entity_limit`, `duplicate_contextual_tuple`, and the tuple codes of {@link ModelView.validateTuple}.
 */
export function contextualTuples(scope: Scope, keys: Array<z.infer<typeof tupleKeySchema>> | undefined | null): RelationTuple[] {
  const list = keys ?? [];
  if (list.length > MAX_CONTEXTUAL) throw fgaInvalid('exceeded_entity_limit', `The number of contextual tuples exceeds the allowed limit of ${MAX_CONTEXTUAL}`);
  const seen = new Set<string>();
  return list.map((k) => {
    const text = keyText(k);
    if (seen.has(text)) throw fgaInvalid('duplicate_contextual_tuple', `duplicate contextual tuple in request: ${text}`);
    seen.add(text);
    const t = tupleFromKey(k as FgaTupleKey);
    scope.model.view.validateTuple(t, text);
    return t;
  });
}
