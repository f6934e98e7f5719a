/**
 * {@link Scopes}: what one authorization request evaluates against — the store's model (latest or
 * named), the graph view (the store's own graph, the built-in identity overlay and the request's
 * contextual tuples), the clock and the request context — and the validation shared by Check,
 * ListObjects, ListUsers and Expand (names, subjects, contextual tuples, type restrictions).
 *
 * Views without contextual tuples are cached per (tenant, store) and rebuilt only when a store's
 * graph object appears (a first tuple), so the check hot path allocates no view.
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import { MAX_CONTEXTUAL_TUPLES, type QueryScope, type SubjectRef } from './contract.js';
import { StoreGraph, type GraphView } from './graph.js';
import type { TupleIndex } from './index.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel } from './model.js';
import { ExtendedNodeSpace } from './nodes.js';
import { BUILTIN_STORE_ID, formatTuple, validateTupleShape, type RelationTuple } from './tuples.js';
import { LayeredView } from './view.js';

/** Throws `invalid_input` unless `v` is a non-empty string of at most 512 characters. */
export function requireText(v: unknown, field: string): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > 512) {
    throw new GatehouseError('invalid_input', `${field} must be a non-empty string of at most 512 characters`, { field });
  }
}

/** What one request evaluates against. */
export interface Scope {
  storeId: string;
  /** null: the store has no model (everything denies, lists are empty). */
  model: CompiledModel | null;
  /** Customer store: unknown types/relations are errors, not denials. */
  strict: boolean;
  view: GraphView | undefined;
  nowMs: number;
  context: Record<string, unknown> | undefined;
}

/** Interned ids of a request's names (see {@link Scopes.resolve}). */
export interface ResolvedIds {
  ot: number;
  rel: number;
  /** -1 when the subject type is unknown (or no subject was given). */
  st: number;
  sr: number;
}

interface CachedView {
  own: StoreGraph | undefined;
  builtin: StoreGraph | undefined;
  view: GraphView | undefined;
}

/** Builds {@link Scope}s and resolves names against the index; one per {@link AuthzService}. */
export class Scopes {
  private readonly views = new Map<string, Map<string, CachedView>>();

  constructor(
    readonly index: TupleIndex,
    readonly builtin: CompiledModel,
    private readonly identityTypes: ReadonlySet<number>,
    private readonly clock: Clock,
  ) {}

  /**
   * The model a request evaluates with: the built-in one, the named version or the latest (null: none).
   * @throws GatehouseError `not_found` for an unknown `authorizationModelId`.
   */
  model(tenantId: string, storeId: string, authorizationModelId: string | undefined): CompiledModel | null {
    if (storeId === BUILTIN_STORE_ID) return this.builtin;
    const models = this.index.models(tenantId, storeId);
    if (authorizationModelId === undefined) return models?.latest ?? null;
    const model = models?.byId.get(authorizationModelId);
    if (!model) {
      throw new GatehouseError('not_found', `authorization model '${authorizationModelId}' does not exist in store '${storeId}'`, {
        resource: 'authorization_model',
        id: authorizationModelId,
      });
    }
    return model;
  }

  /** Throws `invalid_input` unless `context` is absent or a JSON object. */
  static checkContext(context: unknown): void {
    if (context !== undefined && (context === null || typeof context !== 'object' || Array.isArray(context))) {
      throw new GatehouseError('invalid_input', 'context must be a JSON object', { field: 'context' });
    }
  }

  /**
   * The graph of a store read with the identity overlay, without contextual tuples (cached).
   * For the built-in store: its own graph, undefined when it has no tuple yet.
   */
  plainView(tenantId: string, storeId: string): GraphView | undefined {
    const own = this.index.store(tenantId, storeId);
    if (storeId === BUILTIN_STORE_ID) return own;
    const builtin = this.index.store(tenantId, BUILTIN_STORE_ID);
    let byStore = this.views.get(tenantId);
    let c = byStore?.get(storeId);
    if (c !== undefined && c.own === own && c.builtin === builtin) return c.view;
    const view = new LayeredView(this.index.symbols, this.index.space(tenantId), own, builtin, this.identityTypes, undefined);
    c = { own, builtin, view };
    if (!byStore) {
      byStore = new Map();
      this.views.set(tenantId, byStore);
    }
    byStore.set(storeId, c);
    return view;
  }

  /** Forgets the cached view of a store (its graph left the index). */
  forget(tenantId: string, storeId: string): void {
    this.views.get(tenantId)?.delete(storeId);
  }

  /** The model and graph view a request evaluates against. */
  scope(ctx: OperationContext, s: QueryScope): Scope {
    const storeId = s.storeId ?? BUILTIN_STORE_ID;
    requireText(storeId, 'storeId');
    const model = this.model(ctx.tenantId, storeId, s.authorizationModelId);
    const strict = storeId !== BUILTIN_STORE_ID;
    Scopes.checkContext(s.context);
    const ct = s.contextualTuples ?? [];
    if (!Array.isArray(ct) || ct.length > MAX_CONTEXTUAL_TUPLES) {
      throw new GatehouseError('invalid_input', `contextualTuples must be an array of at most ${MAX_CONTEXTUAL_TUPLES} tuples`, { field: 'contextualTuples', max: MAX_CONTEXTUAL_TUPLES });
    }
    let view: GraphView | undefined;
    if (ct.length === 0) view = this.plainView(ctx.tenantId, storeId);
    else {
      const space = this.index.space(ctx.tenantId);
      const ext = new ExtendedNodeSpace(space);
      const contextual = new StoreGraph(this.index.symbols, ext);
      for (const t of ct) {
        this.validateTuple(model, t);
        contextual.write(t);
      }
      const own = this.index.store(ctx.tenantId, storeId);
      const builtinGraph = strict ? this.index.store(ctx.tenantId, BUILTIN_STORE_ID) : undefined;
      view = new LayeredView(this.index.symbols, ext, own, builtinGraph, this.identityTypes, contextual);
    }
    return { storeId, model, strict, view, nowMs: this.clock.now().getTime(), context: s.context };
  }

  /** A contextual tuple must fit the model's type restrictions (OpenFGA rejects it otherwise). */
  private validateTuple(model: CompiledModel | null, t: RelationTuple): void {
    validateTupleShape(t);
    const bad = (why: string) => new GatehouseError('invalid_input', `contextual tuple ${formatTuple(t)}: ${why}`, { field: 'contextualTuples', tuple: formatTuple(t) });
    if (!model) throw bad('the store has no authorization model');
    const sym = this.index.symbols;
    const ot = sym.types.lookup(t.objectType);
    const r = sym.relations.lookup(t.relation);
    const cr = ot >= 0 && r >= 0 ? model.relation(ot, r) : undefined;
    if (!cr) throw bad(`relation '${t.objectType}#${t.relation}' is not defined`);
    const st = sym.types.lookup(t.subjectType);
    const sr = t.subjectRelation ? sym.relations.lookup(t.subjectRelation) : 0;
    const key = st < 0 || sr < 0 ? -1 : t.subjectId === '*' && !t.subjectRelation ? restrictionKey(st, WILDCARD_REL) : restrictionKey(st, sr);
    if (!cr.directTypes.has(key)) throw bad("the subject is not allowed by the relation's type restrictions");
    if (t.condition && !cr.conditions.has(t.condition.name)) throw bad(`condition '${t.condition.name}' is not allowed on this relation`);
  }

  /**
   * Resolves names to ids into `out`; unknown names throw in a customer store (`strict`) and give
   * false (deny) in the built-in one.
   * @throws GatehouseError `invalid_input` with reason `unknown_type` / `unknown_relation`.
   */
  resolveInto(out: ResolvedIds, strict: boolean, model: CompiledModel, objectType: string, relation: string, subject?: SubjectRef): boolean {
    const sym = this.index.symbols;
    const ot = sym.types.lookup(objectType);
    const rel = sym.relations.lookup(relation);
    const st = subject ? sym.types.lookup(subject.type) : -1;
    const sr = subject?.relation ? sym.relations.lookup(subject.relation) : 0;
    if (strict) {
      if (ot < 0 || !model.hasType(ot)) throw new GatehouseError('invalid_input', `type '${objectType}' is not defined in the authorization model`, { reason: 'unknown_type', type: objectType });
      if (rel < 0 || !model.relation(ot, rel)) throw new GatehouseError('invalid_input', `relation '${objectType}#${relation}' is not defined in the authorization model`, { reason: 'unknown_relation', type: objectType, relation });
      if (subject) {
        if (st < 0 || !model.hasType(st)) throw new GatehouseError('invalid_input', `type '${subject.type}' is not defined in the authorization model`, { reason: 'unknown_type', type: subject.type });
        if (subject.relation && (sr < 0 || !model.relation(st, sr))) {
          throw new GatehouseError('invalid_input', `relation '${subject.type}#${subject.relation}' is not defined in the authorization model`, { reason: 'unknown_relation', type: subject.type, relation: subject.relation });
        }
      }
    }
    if (ot < 0 || rel < 0 || sr < 0 || !model.relation(ot, rel)) return false;
    out.ot = ot;
    out.rel = rel;
    out.st = st;
    out.sr = sr;
    return true;
  }

  /** {@link resolveInto} returning a new object, or null. */
  resolve(sc: Scope, model: CompiledModel, objectType: string, relation: string, subject?: SubjectRef): ResolvedIds | null {
    const out: ResolvedIds = { ot: -1, rel: -1, st: -1, sr: 0 };
    return this.resolveInto(out, sc.strict, model, objectType, relation, subject) ? out : null;
  }

  /** Validates a subject reference's names. @throws GatehouseError `invalid_input`. */
  static validateSubject(subject: SubjectRef | undefined): void {
    requireText(subject?.type, 'subject.type');
    requireText(subject?.id, 'subject.id');
    if (subject?.relation !== undefined && subject.relation !== '') requireText(subject.relation, 'subject.relation');
  }

  /** A directly named, not active user or service account (its decisions deny). */
  isDisabled(ctx: OperationContext, subject: SubjectRef): boolean {
    return !subject.relation && this.index.isDisabled(ctx.tenantId, subject.type, subject.id);
  }
}
