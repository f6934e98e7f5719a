/**
 * Validation of authorization models and of relation tuples against a model, with OpenFGA's
 * error codes (openfga/api `errors_ignore.proto` ErrorCode; openfga `pkg/server/errors`).
 *
 * Every error is a GatehouseError `invalid_input` whose `details.openfga` names the OpenFGA code
 * (`type_not_found`, `relation_not_found`, `invalid_tuple`, `validation_error`,
 * `invalid_authorization_model` ...); the OpenFGA HTTP edge answers with that code, other edges
 * with `invalid_input`.
 *
 * Gatehouse's own identity types (`user`, `service_account`, `group`, `role`, `permission`,
 * `application`; DOMAIN.md "The built-in store") may be referenced by a customer model without
 * being declared: the missing ones (and the built-in types they reference) are added from the
 * base model, so `define viewer: [user, group#member]` works in a model that declares only
 * `document`. Types the model declares itself are kept as written.
 */
import syntaxTransformer from '@openfga/syntax-transformer';
import { GatehouseError } from '../kernel/errors.js';
import { BUILTIN_MODEL } from './builtin-model.js';
import { invalidModel, parseDsl, validateJsonModel, type ModelProblem } from './dsl.js';
import { checkDslNesting, checkRewrites, type MAX_REWRITE_DEPTH } from './model-shape.js';
import { compileModel, Symbols, type AuthorizationModel, type ConditionParamTypeRef, type RelationReference, type TypeDefinition } from './model.js';
import { parameterTypeMismatch } from './conditions.js';
import type { RelationTuple } from './tuples.js';

const { validator } = syntaxTransformer;

/** An `invalid_input` error carrying the OpenFGA error code in `details.openfga`. */
export function fgaInvalid(openfga: string, message: string, details: Record<string, unknown> = {}): GatehouseError {
  return new GatehouseError('invalid_input', message, { ...details, openfga });
}

/** Names of Gatehouse's built-in identity types. */
export const BUILTIN_TYPE_NAMES: ReadonlySet<string> = new Set(BUILTIN_MODEL.type_definitions.map((t) => t.type));

/** Built-in types a built-in type references (transitively), itself included. */
function builtinClosure(names: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const stack = [...names];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (out.has(name) || !BUILTIN_TYPE_NAMES.has(name)) continue;
    out.add(name);
    const td = BUILTIN_MODEL.type_definitions.find((t) => t.type === name);
    for (const r of Object.values(td?.metadata?.relations ?? {})) for (const ref of r.directly_related_user_types ?? []) stack.push(ref.type);
  }
  return out;
}

/** The built-in type names an invalid-type validation error complains about, or null if other errors exist. */
function missingBuiltins(err: unknown, declared: Set<string>): Set<string> | null {
  const list = (err as { errors?: Array<{ metadata?: { errorType?: string; symbol?: string } }> })?.errors;
  if (!Array.isArray(list)) return null;
  const names = new Set<string>();
  for (const e of list) {
    const sym = e.metadata?.symbol ?? '';
    if (e.metadata?.errorType === 'invalid-type' && BUILTIN_TYPE_NAMES.has(sym) && !declared.has(sym)) names.add(sym);
  }
  return names.size > 0 ? names : null;
}

const BUILTIN_DSL: Record<string, string> = {
  user: 'type user',
  service_account: 'type service_account\n  relations\n    define owner: [user]',
  group: 'type group\n  relations\n    define member: [user, service_account, group#member]',
  role: 'type role\n  relations\n    define assignee: [user, service_account, group#member]',
  permission: 'type permission\n  relations\n    define granted: [role#assignee]',
  application: 'type application\n  relations\n    define owner: [user]',
};

function declaredInDsl(dsl: string): Set<string> {
  return new Set([...dsl.matchAll(/^\s*type\s+([A-Za-z0-9_-]+)/gm)].map((m) => m[1]!));
}

/**
 * Parses and validates a DSL model, adding undeclared built-in types it references. Parentheses
 * of a relation nested past {@link MAX_REWRITE_DEPTH} are refused before the text is parsed.
 * @throws GatehouseError `invalid_input` (`details.openfga` = `invalid_authorization_model`, `details.problems` with 1-based line/column).
 */
export function modelFromDsl(dsl: string): AuthorizationModel {
  if (typeof dsl === 'string') checkDslNesting(dsl);
  let source = dsl;
  try {
    validator.validateDSL(dsl);
  } catch (err) {
    const declared = declaredInDsl(dsl);
    const missing = missingBuiltins(err, declared);
    if (missing) {
      const add = [...builtinClosure(missing)].filter((n) => !declared.has(n));
      // Appended after the text, so positions of the author's lines stay valid.
      source = `${dsl.replace(/\s*$/, '')}\n\n${add.map((n) => BUILTIN_DSL[n]).join('\n\n')}\n`;
    }
  }
  const model = parseDsl(source);
  checkRewrites(model.type_definitions);
  return checkCompiles(model, dsl);
}

/**
 * Validates a model in OpenFGA's JSON form (as `WriteAuthorizationModel` receives it), adding
 * undeclared built-in types it references.
 * @returns the model as stored: `schema_version`, `type_definitions`, `conditions` (no `id`).
 * @throws GatehouseError `invalid_input` with an OpenFGA code: `type_definitions_too_few_items`
 *   (an empty array), `cannot_allow_duplicate_types_in_one_request`, `invalid_authorization_model`
 *   (also for an empty rewrite, a union or intersection without children, rewrites nested past
 *   {@link MAX_REWRITE_DEPTH}), `validation_error` (JSON of the wrong shape, a rewrite setting two
 *   members of OpenFGA's `Userset` oneof; `details.path` names where).
 */
export function modelFromJson(input: unknown): AuthorizationModel {
  const m = input as Partial<AuthorizationModel> | null;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw fgaInvalid('validation_error', 'the model must be a JSON object');
  if (m.schema_version !== '1.1') {
    throw fgaInvalid(m.schema_version === '1.0' ? 'unsupported_schema_version' : 'invalid_authorization_model', `unsupported schema_version '${String(m.schema_version)}' (expected 1.1)`);
  }
  if (!Array.isArray(m.type_definitions)) throw fgaInvalid('validation_error', 'type_definitions must be an array of type definitions', { path: 'type_definitions' });
  if (m.type_definitions.length === 0) throw fgaInvalid('type_definitions_too_few_items', 'type_definitions must contain at least one type');
  const seen = new Set<string>();
  for (const td of m.type_definitions) {
    if (!td || typeof td !== 'object' || typeof td.type !== 'string' || !/^[^:#@\s]{1,254}$/.test(td.type)) {
      throw fgaInvalid('type_invalid_pattern', `invalid type name ${JSON.stringify((td as TypeDefinition | null)?.type)}`);
    }
    if (seen.has(td.type)) throw fgaInvalid('cannot_allow_duplicate_types_in_one_request', `type '${td.type}' is defined more than once`, { type: td.type });
    seen.add(td.type);
  }
  // Before any recursive walk over the rewrites (the transformer's validator, the compiler).
  checkRewrites(m.type_definitions);
  if (m.conditions !== undefined && (m.conditions === null || typeof m.conditions !== 'object' || Array.isArray(m.conditions))) {
    throw fgaInvalid('validation_error', 'conditions must be an object keyed by condition name');
  }
  let model: AuthorizationModel = { schema_version: '1.1', type_definitions: m.type_definitions, ...(m.conditions && Object.keys(m.conditions).length > 0 ? { conditions: m.conditions } : {}) };
  try {
    validateJsonModel(model);
  } catch (err) {
    const names = builtinTypeRefs(model, seen);
    if (names.size === 0) throw err;
    const add = [...builtinClosure(names)].filter((n) => !seen.has(n));
    model = { ...model, type_definitions: [...model.type_definitions, ...BUILTIN_MODEL.type_definitions.filter((t) => add.includes(t.type))] };
    validateJsonModel(model);
  }
  return checkCompiles(model);
}

/** Built-in type names referenced by type restrictions but not declared. */
function builtinTypeRefs(model: AuthorizationModel, declared: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const td of model.type_definitions) {
    for (const r of Object.values(td.metadata?.relations ?? {})) {
      for (const ref of r?.directly_related_user_types ?? []) if (BUILTIN_TYPE_NAMES.has(ref.type) && !declared.has(ref.type)) out.add(ref.type);
    }
  }
  return out;
}

/**
 * Compiles the model with the engine's compiler (which also type-checks CEL conditions). A
 * condition error is placed in the DSL text when there is one: the engine reports positions
 * relative to the expression.
 */
function checkCompiles(model: AuthorizationModel, dsl?: string): AuthorizationModel {
  try {
    compileModel(model, new Symbols());
  } catch (err) {
    if (!(err instanceof GatehouseError)) throw err;
    const problem: ModelProblem = { message: err.message };
    const condition = err.details?.condition;
    const expression = typeof condition === 'string' ? (model.conditions as Record<string, { expression?: string }> | undefined)?.[condition]?.expression : undefined;
    if (dsl && typeof condition === 'string' && expression) {
      const header = dsl.search(new RegExp(`^\\s*condition\\s+${condition}\\s*\\(`, 'm'));
      const start = header >= 0 ? dsl.indexOf(expression, header) : -1;
      if (start >= 0) {
        const relLine = typeof err.details?.line === 'number' ? err.details.line : 1;
        const relColumn = typeof err.details?.column === 'number' ? err.details.column : 1;
        const before = dsl.slice(0, start);
        const line = before.split('\n').length + relLine - 1;
        problem.line = line;
        problem.column = relLine === 1 ? start - before.lastIndexOf('\n') + relColumn - 1 : relColumn;
      }
    }
    throw invalidModel([problem]);
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// Tuples and query keys against a model.

/** A model indexed for validation: types → relations → type restrictions; conditions. */
export class ModelView {
  private readonly types = new Map<string, TypeDefinition>();

  constructor(readonly model: AuthorizationModel) {
    for (const td of model.type_definitions) this.types.set(td.type, td);
  }

  hasType(type: string): boolean {
    return this.types.has(type);
  }

  hasRelation(type: string, relation: string): boolean {
    return Boolean(this.types.get(type)?.relations?.[relation]);
  }

  /** The type restrictions of `type#relation` (empty when not directly assignable). */
  restrictions(type: string, relation: string): RelationReference[] {
    return this.types.get(type)?.metadata?.relations?.[relation]?.directly_related_user_types ?? [];
  }

  /** The typed parameters of a condition, or undefined when the model does not define it. */
  conditionParams(name: string): Record<string, ConditionParamTypeRef> | undefined {
    const c = (this.model.conditions as Record<string, { parameters?: Record<string, ConditionParamTypeRef> }> | undefined)?.[name];
    return c ? (c.parameters ?? {}) : undefined;
  }

  /**
   * Checks that `object` type exists and defines `relation` (a Check / ListObjects / Expand key).
   * @throws `type_not_found`, `relation_not_found`.
   */
  requireRelation(type: string, relation: string): void {
    if (!this.hasType(type)) throw fgaInvalid('type_not_found', `type '${type}' not found`, { type });
    if (!this.hasRelation(type, relation)) throw fgaInvalid('relation_not_found', `relation '${type}#${relation}' not found`, { type, relation });
  }

  /**
   * Checks a subject of a query: its type exists and, for a userset, the relation exists.
   * @throws `type_not_found`, `relation_not_found`.
   */
  requireSubject(type: string, relation: string): void {
    if (!this.hasType(type)) throw fgaInvalid('type_not_found', `type '${type}' not found`, { type });
    if (relation && !this.hasRelation(type, relation)) throw fgaInvalid('relation_not_found', `relation '${type}#${relation}' not found`, { type, relation });
  }

  /**
   * Validates a tuple for Write (or as a contextual tuple) as OpenFGA does: types and relations
   * exist, the relation is directly assignable, the subject matches a type restriction (plain,
   * `type:*` or `type#relation`), and its condition is the one that restriction names, with
   * context keys that are parameters of the condition and values that convert to their types.
   *
   * @throws `type_not_found`, `relation_not_found`, `invalid_tuple` (type restriction),
   *   `validation_error` (condition problems).
   */
  validateTuple(t: RelationTuple, tupleText: string): void {
    this.requireRelation(t.objectType, t.relation);
    this.requireSubject(t.subjectType, t.subjectRelation);
    const allowed = this.restrictions(t.objectType, t.relation);
    const wildcard = t.subjectId === '*' && !t.subjectRelation;
    const matching = allowed.filter((r) =>
      r.type === t.subjectType && (t.subjectRelation ? r.relation === t.subjectRelation : wildcard ? Boolean(r.wildcard) : !r.relation && !r.wildcard),
    );
    if (matching.length === 0) {
      const shown = `${t.subjectType}${wildcard ? ':*' : t.subjectRelation ? `#${t.subjectRelation}` : ''}`;
      throw fgaInvalid('invalid_tuple', `Invalid tuple '${tupleText}'. Reason: type '${shown}' is not an allowed type restriction for '${t.objectType}#${t.relation}'`, {
        tuple: tupleText,
      });
    }
    const condition = t.condition?.name;
    if (condition) {
      const params = this.conditionParams(condition);
      if (!params) throw fgaInvalid('validation_error', `Invalid tuple '${tupleText}'. Reason: undefined condition '${condition}'`, { tuple: tupleText });
      if (!matching.some((r) => r.condition === condition)) {
        throw fgaInvalid('validation_error', `Invalid tuple '${tupleText}'. Reason: condition '${condition}' is not allowed for '${t.objectType}#${t.relation}' with this subject type`, { tuple: tupleText });
      }
      for (const [key, value] of Object.entries(t.condition?.context ?? {})) {
        const type = Object.hasOwn(params, key) ? params[key] : undefined;
        if (!type) throw fgaInvalid('validation_error', `Invalid tuple '${tupleText}'. Reason: '${key}' is not a parameter of condition '${condition}'`, { tuple: tupleText });
        // OpenFGA converts each stored value to its parameter's type on Write and refuses one that does not convert.
        const expected = parameterTypeMismatch(value, type);
        if (expected !== null) {
          throw fgaInvalid('validation_error', `Invalid tuple '${tupleText}'. Reason: failed to convert context parameter '${key}' of condition '${condition}' to ${expected}`, {
            tuple: tupleText,
            parameter: key,
            expected,
          });
        }
      }
    } else if (!matching.some((r) => !r.condition)) {
      throw fgaInvalid('validation_error', `Invalid tuple '${tupleText}'. Reason: the type restriction requires a condition`, { tuple: tupleText });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// OpenFGA string forms.

const MAX_FIELD = 512;

/**
 * Parses an OpenFGA `object` string `type:id`.
 * @throws `validation_error` (`invalid 'object' field format`).
 */
export function parseFgaObject(s: unknown, field = 'object'): { type: string; id: string } {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_FIELD) throw fgaInvalid('validation_error', `invalid '${field}' field format`, { field });
  const i = s.indexOf(':');
  const type = s.slice(0, i);
  const id = s.slice(i + 1);
  if (i <= 0 || !id || /[\s#@]/.test(type) || /[\s]/.test(id) || id.includes('#') || id.includes('@')) {
    throw fgaInvalid('validation_error', `invalid '${field}' field format: '${s}'`, { field, value: s });
  }
  return { type, id };
}

/**
 * Parses the object of a query (Check, BatchCheck, Expand): an OpenFGA `object` string that is not
 * a typed wildcard (`doc:*`), as OpenFGA's ValidateObject requires.
 * @throws `validation_error` (malformed, or a wildcard: `details.field` = `object`).
 */
export function parseQueryObject(s: unknown): { type: string; id: string } {
  const o = parseFgaObject(s);
  if (o.id === '*') throw fgaInvalid('validation_error', `invalid 'object' field format: the 'object' field cannot reference a typed wildcard ('${o.type}:*')`, { field: 'object', value: s });
  return o;
}

/**
 * Parses an OpenFGA `user` string: `type:id`, `type:*` or `type:id#relation`.
 * @throws `validation_error` (`invalid 'user' field format`).
 */
export function parseFgaUser(s: unknown, field = 'user'): { type: string; id: string; relation: string } {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_FIELD) throw fgaInvalid('validation_error', `invalid '${field}' field format`, { field });
  const hash = s.indexOf('#');
  const base = hash >= 0 ? s.slice(0, hash) : s;
  const relation = hash >= 0 ? s.slice(hash + 1) : '';
  if (hash >= 0 && (!relation || /[\s#@:]/.test(relation))) throw fgaInvalid('validation_error', `invalid '${field}' field format: '${s}'`, { field, value: s });
  const o = parseFgaObject(base, field);
  if (o.id === '*' && relation) throw fgaInvalid('validation_error', `invalid '${field}' field format: '${s}'`, { field, value: s });
  return { ...o, relation };
}

/** An OpenFGA tuple key as it appears in requests and responses. */
export interface FgaTupleKey {
  user: string;
  relation: string;
  object: string;
  condition?: { name: string; context?: Record<string, unknown> };
}

/**
 * Converts an OpenFGA tuple key into a Gatehouse tuple (shape only; use {@link ModelView.validateTuple} for the model).
 * @throws `validation_error` for malformed user/object/relation, `invalid_tuple` for a wildcard object.
 */
export function tupleFromKey(k: FgaTupleKey): RelationTuple {
  if (!k || typeof k !== 'object') throw fgaInvalid('tuple_key_value_not_specified', 'a tuple key is required');
  const obj = parseFgaObject(k.object);
  if (obj.id === '*') throw fgaInvalid('invalid_tuple', `Invalid tuple '${keyText(k)}'. Reason: the 'object' field cannot contain wildcards`);
  const user = parseFgaUser(k.user);
  if (typeof k.relation !== 'string' || !/^[^:#@\s]{1,50}$/.test(k.relation)) throw fgaInvalid('validation_error', `invalid 'relation' field format: '${String(k.relation)}'`, { field: 'relation' });
  const t: RelationTuple = {
    objectType: obj.type,
    objectId: obj.id,
    relation: k.relation,
    subjectType: user.type,
    subjectId: user.id,
    subjectRelation: user.relation,
  };
  if (k.condition !== undefined && k.condition !== null) {
    if (typeof k.condition !== 'object' || typeof k.condition.name !== 'string' || !k.condition.name) {
      throw fgaInvalid('validation_error', `Invalid tuple '${keyText(k)}'. Reason: a condition needs a name`);
    }
    const context = k.condition.context;
    if (context !== undefined && context !== null && (typeof context !== 'object' || Array.isArray(context))) {
      throw fgaInvalid('validation_error', `Invalid tuple '${keyText(k)}'. Reason: condition context must be an object`);
    }
    t.condition = { name: k.condition.name, context: context ?? null };
  }
  return t;
}

/** The tuple key as OpenFGA writes it in messages: `object#relation@user`. */
export function keyText(k: { user: string; relation: string; object: string }): string {
  return `${k.object}#${k.relation}@${k.user}`;
}

/** A Gatehouse tuple as an OpenFGA tuple key (condition included when present). */
export function keyFromTuple(t: RelationTuple): FgaTupleKey {
  const key: FgaTupleKey = {
    user: `${t.subjectType}:${t.subjectId}${t.subjectRelation ? `#${t.subjectRelation}` : ''}`,
    relation: t.relation,
    object: `${t.objectType}:${t.objectId}`,
  };
  if (t.condition?.name) key.condition = { name: t.condition.name, ...(t.condition.context ? { context: t.condition.context } : {}) };
  return key;
}
