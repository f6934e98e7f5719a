/**
 * Compiling a store's stored model (`authz_models.model`, OpenFGA JSON) for the index.
 *
 * Gatehouse's identity types (user, service_account, group, role, permission, application) are
 * visible in every store of a tenant: a customer model that does not define one of them gets the
 * built-in definition (builtin-model.ts), and in evaluation the edges of objects of those types
 * also come from the built-in store (the overlay, view.ts). A customer model that defines such a
 * type keeps its own definition (its relations are evaluated over both stores' tuples).
 */
import { BUILTIN_MODEL } from './builtin-model.js';
import { compileModel, type AuthorizationModel, type CompiledModel, type Symbols } from './model.js';

/** Names of Gatehouse's identity types (the built-in model's types). */
export const IDENTITY_TYPES: readonly string[] = BUILTIN_MODEL.type_definitions.map((t) => t.type);

/** The model with built-in definitions added for identity types it does not define. */
export function withIdentityTypes(model: AuthorizationModel): AuthorizationModel {
  const defined = new Set(model.type_definitions.map((t) => t.type));
  const missing = BUILTIN_MODEL.type_definitions.filter((t) => !defined.has(t.type));
  if (missing.length === 0) return model;
  return { ...model, type_definitions: [...model.type_definitions, ...missing] };
}

/**
 * Parses and compiles one stored model version.
 * @throws GatehouseError `invalid_input` when the JSON or the model is invalid; SyntaxError for bad JSON.
 */
export function compileStoredModel(id: string, json: string, symbols: Symbols): CompiledModel {
  const parsed = JSON.parse(json) as AuthorizationModel;
  return compileModel(withIdentityTypes({ ...parsed, id }), symbols);
}
