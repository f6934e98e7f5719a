/**
 * Authorization models in the OpenFGA JSON form (schema 1.1) and their compiled form.
 *
 * The JSON shapes follow OpenFGA's `AuthorizationModel` (openfga/api `authzmodel.proto`):
 * `type_definitions[].relations[name]` is a `Userset` rewrite and
 * `type_definitions[].metadata.relations[name].directly_related_user_types` lists the type
 * restrictions of direct assignment (`[user, group#member, user:*]`).
 *
 * Compiling resolves every type and relation name to a small integer from {@link Symbols}, so the
 * evaluator works on integers only.
 */
import { GatehouseError } from '../kernel/errors.js';
import { compileConditions, type CompiledCondition } from './conditions.js';
import { Interner } from './interner.js';

/** `this`: direct assignment (tuples written on this object and relation). */
export interface ThisUserset {
  this: Record<string, never>;
}
/** `computedUserset`: another relation of the same object (`define viewer: editor`). */
export interface ComputedUserset {
  computedUserset: { object?: string; relation: string };
}
/** `tupleToUserset`: a relation of the objects related by `tupleset` (`define viewer: viewer from parent`). */
export interface TupleToUserset {
  tupleToUserset: { tupleset: { object?: string; relation: string }; computedUserset: { object?: string; relation: string } };
}
export interface UnionUserset {
  union: { child: Userset[] };
}
export interface IntersectionUserset {
  intersection: { child: Userset[] };
}
/** `base but not subtract`. */
export interface DifferenceUserset {
  difference: { base: Userset; subtract: Userset };
}
/** A relation rewrite (OpenFGA `Userset`). */
export type Userset = ThisUserset | ComputedUserset | TupleToUserset | UnionUserset | IntersectionUserset | DifferenceUserset;

/** One entry of a type restriction: `user`, `group#member` or `user:*`. */
export interface RelationReference {
  type: string;
  relation?: string;
  wildcard?: Record<string, never>;
  condition?: string;
}

export interface TypeDefinition {
  type: string;
  relations?: Record<string, Userset>;
  metadata?: { relations?: Record<string, { directly_related_user_types?: RelationReference[] }> | null } | null;
}

/**
 * A condition parameter type (OpenFGA `ConditionParamTypeRef`): `type_name` is one of
 * `TYPE_NAME_BOOL`, `TYPE_NAME_STRING`, `TYPE_NAME_INT`, `TYPE_NAME_UINT`, `TYPE_NAME_DOUBLE`,
 * `TYPE_NAME_DURATION`, `TYPE_NAME_TIMESTAMP`, `TYPE_NAME_IPADDRESS`, `TYPE_NAME_ANY`,
 * `TYPE_NAME_LIST` and `TYPE_NAME_MAP` (these two with one `generic_types` entry).
 */
export interface ConditionParamTypeRef {
  type_name: string;
  generic_types?: ConditionParamTypeRef[];
}

/** A condition declared in a model (OpenFGA `Condition`): a CEL expression over typed parameters. */
export interface ModelCondition {
  name: string;
  expression: string;
  parameters?: Record<string, ConditionParamTypeRef>;
  metadata?: unknown;
}

/** An authorization model in OpenFGA's JSON form. */
export interface AuthorizationModel {
  id?: string;
  schema_version: string;
  type_definitions: TypeDefinition[];
  /** Conditions by name (the key equals `name`). */
  conditions?: Record<string, ModelCondition>;
}

/** Type and relation names interned to integers, shared by a compiled model and the tuple index. */
export class Symbols {
  /** Object/subject types. */
  readonly types = new Interner();
  /** Relations; id 0 is always '' (a plain subject, not a userset). */
  readonly relations = new Interner();
  constructor() {
    this.relations.intern('');
  }
}

/** Relation id used in a type restriction key for a wildcard (`user:*`). */
export const WILDCARD_REL = 0xfff;
/** Largest number of distinct relation names (relation ids are packed into 12 bits). */
export const MAX_RELATIONS = WILDCARD_REL;

/** Packs a type restriction `type#relation` (relation 0 = plain type, {@link WILDCARD_REL} = `type:*`). */
export function restrictionKey(typeId: number, relId: number): number {
  return typeId * 4096 + relId;
}

/** A compiled rewrite. `kind` codes keep the evaluator a flat switch. */
export type Rewrite =
  | { kind: 'this' }
  | { kind: 'computed'; relation: number }
  | { kind: 'ttu'; tupleset: number; computed: number }
  | { kind: 'union'; children: Rewrite[] }
  | { kind: 'intersection'; children: Rewrite[] }
  | { kind: 'difference'; base: Rewrite; subtract: Rewrite };

/** One relation of one type, compiled. */
export interface CompiledRelation {
  typeId: number;
  relationId: number;
  name: string;
  rewrite: Rewrite;
  /** Allowed direct subjects as {@link restrictionKey}s; empty when the relation has no `this`. */
  directTypes: Set<number>;
  /** Tuples naming a condition are only admitted where the restriction names it (issue 3 evaluates conditions). */
  conditions: Set<string>;
  /** True when a direct tuple alone proves membership: the rewrite is `this` or a union with a `this` child. */
  directSufficient: boolean;
  /** {@link directTypes} as an array: a linear scan of these few keys beats hashing on the check path. */
  directKeys: readonly number[];
  /**
   * The subject relations of the userset restrictions (`group#member` → member), distinct and
   * ascending: the only subject relations whose edges can grant through `this`.
   */
  usersetRelations: readonly number[];
}

/** The distinct userset relations (not 0, not {@link WILDCARD_REL}) of restriction keys, ascending. */
function usersetRelationsOf(keys: Iterable<number>): number[] {
  const out = new Set<number>();
  for (const k of keys) {
    const rel = k % 4096;
    if (rel !== 0 && rel !== WILDCARD_REL) out.add(rel);
  }
  return [...out].sort((a, b) => a - b);
}

/** True if the restriction key `key` ({@link restrictionKey}) is allowed by `cr`'s type restrictions. */
export function allows(cr: CompiledRelation, key: number): boolean {
  const k = cr.directKeys;
  for (let i = 0; i < k.length; i++) if (k[i] === key) return true;
  return false;
}

/** A model ready for evaluation: `relation(typeId, relationId)` in O(1). */
export class CompiledModel {
  /** [typeId][relationId] → relation. */
  private readonly table: Array<Array<CompiledRelation | undefined> | undefined> = [];
  readonly typeIds = new Set<number>();
  /** The model's CEL conditions by name. */
  conditions: Map<string, CompiledCondition> = new Map();
  /** Caches of derived tables (ListObjects' reverse rewrites), keyed by their module. */
  readonly derived = new Map<string, unknown>();

  constructor(
    readonly source: AuthorizationModel,
    readonly symbols: Symbols,
  ) {}

  /** The model id (`source.id`), or '' for an unnamed model. */
  get id(): string {
    return this.source.id ?? '';
  }

  /** Every compiled relation. */
  *relations(): IterableIterator<CompiledRelation> {
    for (const row of this.table) if (row) for (const r of row) if (r) yield r;
  }

  /** True if the model defines the type. */
  hasType(typeId: number): boolean {
    return this.typeIds.has(typeId);
  }

  /** The compiled relation, or undefined when the type does not define it. */
  relation(typeId: number, relationId: number): CompiledRelation | undefined {
    return this.table[typeId]?.[relationId];
  }

  /** @internal used by {@link compileModel}. */
  put(r: CompiledRelation): void {
    let row = this.table[r.typeId];
    if (!row) {
      row = [];
      this.table[r.typeId] = row;
    }
    row[r.relationId] = r;
  }
}

const invalid = (message: string, details?: Record<string, unknown>) => new GatehouseError('invalid_input', message, details);

/**
 * Validates and compiles an OpenFGA JSON model (schema 1.1).
 *
 * Checked: schema version 1.1, unique type names, every relation a rewrite references exists on
 * its type, every type restriction names a defined type (and relation), a `tupleToUserset`
 * tupleset is a directly assignable relation of the same type.
 *
 * @throws GatehouseError `invalid_input` naming the type and relation at fault.
 */
export function compileModel(model: AuthorizationModel, symbols: Symbols): CompiledModel {
  if (model.schema_version !== '1.1') throw invalid(`unsupported schema_version '${model.schema_version}' (expected 1.1)`);
  if (!Array.isArray(model.type_definitions)) throw invalid('type_definitions must be an array');
  const byName = new Map<string, TypeDefinition>();
  for (const td of model.type_definitions) {
    if (!td || typeof td.type !== 'string' || !td.type) throw invalid('every type definition needs a type name');
    if (byName.has(td.type)) throw invalid(`type '${td.type}' is defined twice`, { type: td.type });
    byName.set(td.type, td);
  }
  const compiled = new CompiledModel(model, symbols);
  compiled.conditions = compileConditions(model.conditions);
  for (const td of byName.values()) {
    const typeId = symbols.types.intern(td.type);
    compiled.typeIds.add(typeId);
    const relations = td.relations ?? {};
    for (const [name, rewrite] of Object.entries(relations)) {
      if (!name) throw invalid(`type '${td.type}' has a relation with an empty name`, { type: td.type });
      const where = { type: td.type, relation: name };
      const restrictions = td.metadata?.relations?.[name]?.directly_related_user_types ?? [];
      const directTypes = new Set<number>();
      const conditions = new Set<string>();
      for (const ref of restrictions) {
        const target = byName.get(ref.type);
        if (!target) throw invalid(`${td.type}#${name}: type restriction names unknown type '${ref.type}'`, where);
        let relId = 0;
        if (ref.wildcard) {
          if (ref.relation) throw invalid(`${td.type}#${name}: a wildcard restriction cannot name a relation`, where);
          relId = WILDCARD_REL;
        } else if (ref.relation) {
          if (!target.relations?.[ref.relation]) throw invalid(`${td.type}#${name}: type restriction names unknown relation '${ref.type}#${ref.relation}'`, where);
          relId = internRelation(symbols, ref.relation);
        }
        directTypes.add(restrictionKey(symbols.types.intern(ref.type), relId));
        if (ref.condition) {
          if (!compiled.conditions.has(ref.condition)) throw invalid(`${td.type}#${name}: type restriction names undefined condition '${ref.condition}'`, where);
          conditions.add(ref.condition);
        }
      }
      const relationId = internRelation(symbols, name);
      const rw = compileRewrite(rewrite, td, name, symbols, byName);
      if (usesThis(rw) && directTypes.size === 0) throw invalid(`${td.type}#${name}: direct assignment needs at least one type restriction`, where);
      const directSufficient = rw.kind === 'this' || (rw.kind === 'union' && rw.children.some((c) => c.kind === 'this'));
      compiled.put({ typeId, relationId, name, rewrite: rw, directTypes, conditions, directSufficient, directKeys: [...directTypes], usersetRelations: usersetRelationsOf(directTypes) });
    }
  }
  return compiled;
}

function internRelation(symbols: Symbols, name: string): number {
  const id = symbols.relations.intern(name);
  if (id >= MAX_RELATIONS) throw invalid(`too many distinct relation names (at most ${MAX_RELATIONS - 1})`);
  return id;
}

function usesThis(r: Rewrite): boolean {
  switch (r.kind) {
    case 'this':
      return true;
    case 'union':
    case 'intersection':
      return r.children.some(usesThis);
    case 'difference':
      return usesThis(r.base) || usesThis(r.subtract);
    default:
      return false;
  }
}

function compileRewrite(u: Userset, td: TypeDefinition, relation: string, symbols: Symbols, byName: Map<string, TypeDefinition>): Rewrite {
  const at = `${td.type}#${relation}`;
  const where = { type: td.type, relation };
  if (!u || typeof u !== 'object') throw invalid(`${at}: a rewrite must be an object`, where);
  const own = (rel: string) => {
    if (!td.relations?.[rel]) throw invalid(`${at}: references undefined relation '${td.type}#${rel}'`, where);
    return internRelation(symbols, rel);
  };
  if ('this' in u) return { kind: 'this' };
  if ('computedUserset' in u) return { kind: 'computed', relation: own(u.computedUserset.relation) };
  if ('tupleToUserset' in u) {
    const ts = u.tupleToUserset.tupleset.relation;
    const tupleset = own(ts);
    const parents = td.metadata?.relations?.[ts]?.directly_related_user_types ?? [];
    if (parents.length === 0) throw invalid(`${at}: tupleset '${ts}' must be directly assignable`, where);
    const cu = u.tupleToUserset.computedUserset.relation;
    // OpenFGA requires the computed relation on at least one of the tupleset's types.
    if (!parents.some((p) => !p.relation && !p.wildcard && byName.get(p.type)?.relations?.[cu])) {
      throw invalid(`${at}: '${cu} from ${ts}': no type allowed in '${ts}' defines '${cu}'`, where);
    }
    return { kind: 'ttu', tupleset, computed: internRelation(symbols, cu) };
  }
  if ('union' in u) return { kind: 'union', children: children(u.union.child) };
  if ('intersection' in u) return { kind: 'intersection', children: children(u.intersection.child) };
  if ('difference' in u) {
    return {
      kind: 'difference',
      base: compileRewrite(u.difference.base, td, relation, symbols, byName),
      subtract: compileRewrite(u.difference.subtract, td, relation, symbols, byName),
    };
  }
  throw invalid(`${at}: unknown rewrite ${JSON.stringify(Object.keys(u))}`, where);

  function children(list: Userset[]): Rewrite[] {
    if (!Array.isArray(list) || list.length === 0) throw invalid(`${at}: union and intersection need at least one child`, where);
    return list.map((c) => compileRewrite(c, td, relation, symbols, byName));
  }
}
