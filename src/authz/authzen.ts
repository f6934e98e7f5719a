/**
 * The OpenID AuthZEN Authorization API 1.0 decision point, transport-free: Access Evaluation
 * (§6), Access Evaluations (§7, default values and `evaluations_semantic`), and the mapping of
 * AuthZEN names to the authorization engine (docs/authzen.md). The searches are in
 * `authzen-search.ts`; HTTP is in `http/routes/authzen.ts`.
 *
 * Mapping, in a customer store (a store with its own model):
 * - `subject.type:subject.id` is the checked user, `resource.type:resource.id` the object,
 *   `action.name` the relation (as OpenFGA's AuthZEN endpoints do);
 * - the CEL condition context is {@link conditionContext}: `subject`, `resource` and `action` are
 *   the entities' `properties` objects (`{}` when absent; passed to a `map<T>` parameter, entries
 *   that do not convert to T are left out), `subject_<name>`, `resource_<name>` and
 *   `action_<name>` each property (OpenFGA's flattening), then the request `context` members,
 *   which win over both.
 * In the built-in store (DOMAIN.md) the first slice's mapping holds: is the subject related by
 * `granted` to `permission:<resource.type>:<action.name>`?
 *
 * An unknown subject, resource type or action is not an error: the decision is false, and it is
 * recorded in the decision log like any other denial (`AuthzEngine.recordDenial`).
 *
 * Consistency: every operation takes an optional `atLeastRevision` (the header
 * `x-gatehouse-at-least-revision`): once the store is resolved, it waits until the engine's index
 * has applied that changelog revision (`revision_timeout` after the engine's limit), then answers.
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../kernel/errors.js';
import { GRANTED_RELATION, PERMISSION_TYPE, permissionObjectId } from './builtin-model.js';
import type { AuthzenStoreDirectory } from './authzen-catalog.js';
import { MAX_BATCH_CHECKS, type AuthzEngine, type CheckItemError, type CheckRequest, type EachCheck, type RequestContext, type SubjectRef } from './service.js';
import { ENTITY_PROPERTIES, type EntityPropertiesMark } from './conditions.js';
import { BUILTIN_STORE_ID } from './tuples.js';

/** AuthZEN 1.0 §5.1 Subject / §5.2 Resource. */
export interface AuthzenEntity {
  type: string;
  id: string;
  properties?: Record<string, unknown>;
}

/** AuthZEN 1.0 §5.3 Action. */
export interface AuthzenAction {
  name: string;
  properties?: Record<string, unknown>;
}

/** AuthZEN 1.0 §6.1 Access Evaluation request (already shape-checked). */
export interface EvaluationRequest {
  subject: AuthzenEntity;
  action: AuthzenAction;
  resource: AuthzenEntity;
  context?: Record<string, unknown>;
}

/** AuthZEN 1.0 §6.2 Access Evaluation response. `context` carries reasons and per-item errors. */
export interface EvaluationResponse {
  decision: boolean;
  context?: Record<string, unknown>;
}

/** `options.evaluations_semantic` (AuthZEN 1.0 §7.1.2). */
export type EvaluationsSemantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

/** A partial entity of one `evaluations` item: missing members fall back to the top-level value. */
export interface PartialEntity {
  type?: string;
  id?: string;
  properties?: Record<string, unknown>;
}

/** One item of `evaluations`, after shape checks; `invalid` is set when the item itself is malformed. */
export interface EvaluationsItem {
  subject?: PartialEntity;
  action?: { name?: string; properties?: Record<string, unknown> };
  resource?: PartialEntity;
  context?: Record<string, unknown>;
  /** Why this item is malformed (it then answers `decision: false` with the error in its context). */
  invalid?: string;
}

/** AuthZEN 1.0 §7.1 Access Evaluations request (top-level members are the defaults). */
export interface EvaluationsRequest {
  subject?: PartialEntity;
  action?: { name?: string; properties?: Record<string, unknown> };
  resource?: PartialEntity;
  context?: Record<string, unknown>;
  evaluations?: EvaluationsItem[];
  semantic?: EvaluationsSemantic;
}

/** AuthZEN 1.0 §7.2: `evaluations` in request order, or a single decision when `evaluations` was absent or empty. */
export type EvaluationsResponse = { evaluations: EvaluationResponse[] } | EvaluationResponse;

/**
 * The CEL condition context of an AuthZEN request (see the module comment): entity property
 * maps, flattened properties, then the request `context` (which wins). The property maps are
 * marked {@link ENTITY_PROPERTIES}: a condition parameter declared `map<T>` that receives one keeps
 * the entries that convert to T (numbers and booleans as their JSON text for `map<string>`) and
 * leaves out the others, so mixed-type properties no rule reads never fail a decision. The
 * flattened `<entity>_<name>` parameters and the request `context` convert strictly, as OpenFGA
 * converts a Check's context.
 */
export function conditionContext(req: {
  subject?: { properties?: Record<string, unknown> };
  action?: { properties?: Record<string, unknown> };
  resource?: { properties?: Record<string, unknown> };
  context?: Record<string, unknown>;
}): RequestContext {
  const subject = req.subject?.properties;
  const resource = req.resource?.properties;
  const action = req.action?.properties;
  const out: RequestContext & EntityPropertiesMark = {
    subject: subject ?? {},
    resource: resource ?? {},
    action: action ?? {},
    [ENTITY_PROPERTIES]: { subject, resource, action },
  };
  for (const [prefix, props] of [
    ['subject', req.subject?.properties],
    ['resource', req.resource?.properties],
    ['action', req.action?.properties],
  ] as const) {
    if (props) for (const [k, v] of Object.entries(props)) out[`${prefix}_${k}`] = v;
  }
  if (req.context) Object.assign(out, req.context);
  return out;
}

/**
 * True for errors that mean "this name is not in the model": AuthZEN answers those with `false`, a
 * decision recorded in the decision log as any other denial ({@link AuthzEngine.recordDenial}).
 */
export function isUnknownName(err: unknown): boolean {
  return isGatehouseError(err) && namesUnknown(err);
}

/** {@link isUnknownName} for an error's code and details (a GatehouseError or a batch item's error). */
function namesUnknown(error: { code: ErrorCode; details?: Record<string, unknown> }): boolean {
  if (error.code !== 'invalid_input') return false;
  const reason = (error.details as { reason?: unknown } | undefined)?.reason;
  return reason === 'unknown_type' || reason === 'unknown_relation';
}

/** The error of one evaluation, as AuthZEN §7.2 puts it in the item's `context`. */
function itemError(code: ErrorCode | 'invalid_input', message: string, status = 400): EvaluationResponse {
  return { decision: false, context: { error: { status, code, message } } };
}

/**
 * The AuthZEN decision point of one process over the authorization engine. Stateless apart from
 * the store directory's caches.
 */
export class AuthzenPdp {
  constructor(
    private readonly engine: AuthzEngine,
    readonly stores: AuthzenStoreDirectory,
  ) {}

  /**
   * The engine Check an evaluation maps to in `storeId` (see the module comment).
   */
  toCheck(storeId: string, req: EvaluationRequest): CheckRequest {
    return checkOf(storeId, req.subject.type, req.subject.id, req.action.name, req.resource.type, req.resource.id, req);
  }

  /**
   * Access Evaluation (AuthZEN 1.0 §6) in the store `storeId` names (null: the tenant's default
   * store), from an index at or past `atLeastRevision` (see the module comment).
   * @throws GatehouseError `not_found` (unknown store), `condition_error` (a condition the decision
   *   depends on lacks or mistypes a parameter), `resolution_too_complex`, `revision_timeout`.
   */
  async evaluate(ctx: OperationContext, storeId: string | null, req: EvaluationRequest, atLeastRevision?: number): Promise<EvaluationResponse> {
    return this.evaluateNow(ctx, storeId, req, atLeastRevision);
  }

  /**
   * The store `storeId` names (null: the tenant's default store), once the engine's index has
   * applied `atLeastRevision` (no wait when it is undefined or already applied).
   * @throws GatehouseError `not_found` (unknown store), `revision_timeout`.
   */
  async storeAt(ctx: OperationContext, storeId: string | null, atLeastRevision: number | undefined): Promise<string> {
    const store = await this.stores.resolveStore(ctx.tenantId, storeId);
    if (atLeastRevision !== undefined && atLeastRevision > this.engine.currentRevision()) await this.engine.waitForRevision(atLeastRevision);
    return store;
  }

  /**
   * {@link evaluate} without a promise when the store is known from the cache and the engine need
   * not wait for a revision (the common case: no `atLeastRevision`, or one the index has applied);
   * otherwise {@link evaluate}'s promise. Same answers and errors (thrown here, or rejected).
   */
  evaluateNow(ctx: OperationContext, storeId: string | null, req: EvaluationRequest, atLeastRevision?: number): EvaluationResponse | Promise<EvaluationResponse> {
    if (atLeastRevision !== undefined && atLeastRevision > this.engine.currentRevision()) return this.evaluateAsync(ctx, storeId, req, atLeastRevision);
    const store = this.stores.cachedStore(ctx.tenantId, storeId);
    if (store === undefined) return this.evaluateAsync(ctx, storeId, req);
    const check = this.toCheck(store, req);
    let decision: boolean;
    try {
      const r = this.engine.checkReady(ctx, check);
      if (r === undefined) return this.checkAsync(ctx, store, req);
      decision = r.decision;
    } catch (err) {
      return this.unknownNameDenial(ctx, store, check, err);
    }
    return { decision };
  }

  private async evaluateAsync(ctx: OperationContext, storeId: string | null, req: EvaluationRequest, atLeastRevision?: number): Promise<EvaluationResponse> {
    return this.checkAsync(ctx, await this.storeAt(ctx, storeId, atLeastRevision), req);
  }

  private async checkAsync(ctx: OperationContext, store: string, req: EvaluationRequest): Promise<EvaluationResponse> {
    const check = this.toCheck(store, req);
    try {
      const { decision } = await this.engine.check(ctx, check);
      return { decision };
    } catch (err) {
      return this.unknownNameDenial(ctx, store, check, err);
    }
  }

  /**
   * The answer to a check of `store` that threw `err`: when a name is not in the model
   * ({@link isUnknownName}), `decision: false`, recorded in the decision log when it draws it.
   * @throws `err` itself otherwise.
   */
  private unknownNameDenial(ctx: OperationContext, store: string, check: EachCheck, err: unknown): EvaluationResponse {
    if (!isUnknownName(err)) throw err;
    this.engine.recordDenial(ctx, store, check);
    return DENY;
  }

  /**
   * Access Evaluations (AuthZEN 1.0 §7): each item's `subject`, `action`, `resource` and `context`
   * replace the top-level defaults as whole objects, except that a required member (`type`, `id`,
   * `name`) the item's object lacks is taken from the top-level object (certification scenario
   * C.3.2.7). A malformed or failing item answers `decision: false` with `context.error`; the
   * others are unaffected. Without items, the request is a single Access Evaluation. Every item is
   * decided from an index at or past `atLeastRevision` (see the module comment).
   *
   * @throws GatehouseError `invalid_input` (no items and no complete top-level request; more than
   *   {@link MAX_BATCH_CHECKS} items), `not_found` (unknown store), `revision_timeout`.
   */
  async evaluations(ctx: OperationContext, storeId: string | null, req: EvaluationsRequest, atLeastRevision?: number): Promise<EvaluationsResponse> {
    const items = req.evaluations ?? [];
    if (items.length === 0) {
      const single = complete(req.subject, req.action, req.resource);
      if (typeof single === 'string') throw new GatehouseError('invalid_input', single);
      return this.evaluate(ctx, storeId, { ...single, ...(req.context ? { context: req.context } : {}) }, atLeastRevision);
    }
    if (items.length > MAX_BATCH_CHECKS) {
      throw new GatehouseError('invalid_input', `at most ${MAX_BATCH_CHECKS} evaluations per request`, { max: MAX_BATCH_CHECKS, got: items.length });
    }
    const store = await this.storeAt(ctx, storeId, atLeastRevision);
    const results: Array<EvaluationResponse | undefined> = new Array(items.length);
    const checks: EachCheck[] = [];
    /** checks[k] is the check of evaluations[at[k]]. */
    const at: number[] = [];
    // One subject object for every item that names no subject: the engine resolves it once.
    const ds = req.subject;
    const defaultSubject: SubjectRef | undefined = ds?.type && ds.id ? { type: ds.type, id: ds.id } : undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as EvaluationsItem;
      const check = item.invalid ?? itemCheck(store, req, item, defaultSubject);
      if (typeof check === 'string') results[i] = itemError('invalid_input', check);
      else {
        checks.push(check);
        at.push(i);
      }
    }
    const semantic = req.semantic ?? 'execute_all';
    if (semantic === 'execute_all') {
      const answers = checks.length > 0 ? await this.engine.checkEach(ctx, store, checks) : [];
      for (let k = 0; k < answers.length; k++) {
        const a = answers[k] as boolean | CheckItemError;
        if (a === true) results[at[k] as number] = ALLOW;
        else if (a === false) results[at[k] as number] = DENY;
        else if (namesUnknown(a)) {
          this.engine.recordDenial(ctx, store, checks[k] as EachCheck);
          results[at[k] as number] = DENY;
        } else results[at[k] as number] = itemAnswer(a);
      }
      for (let i = 0; i < results.length; i++) if (!results[i]) results[i] = itemError('internal', 'no answer', 500);
      return { evaluations: results as EvaluationResponse[] };
    }
    // Short-circuit semantics: in order, stop at the first deny (or error) / the first permit.
    const byIndex = new Map(at.map((i, k) => [i, checks[k] as EachCheck]));
    const out: EvaluationResponse[] = [];
    for (let i = 0; i < items.length; i++) {
      let r = results[i];
      const check = byIndex.get(i);
      if (!r && check) {
        try {
          r = (await this.engine.check(ctx, { storeId: store, ...check })).decision ? ALLOW : DENY;
        } catch (err) {
          if (isUnknownName(err)) r = this.unknownNameDenial(ctx, store, check, err);
          else if (isGatehouseError(err) && err.status < 500) r = itemError(err.code, err.message, 400);
          else throw err;
        }
      }
      const res = r ?? itemError('internal', 'no answer', 500);
      const stop = semantic === 'deny_on_first_deny' ? !res.decision : res.decision;
      if (stop) {
        out.push({ ...res, context: { ...(res.context ?? {}), reason: semantic } });
        break;
      }
      out.push(res);
    }
    return { evaluations: out };
  }

}

/** A batch item's error (other than an unknown name) as its AuthZEN evaluation response. */
function itemAnswer(error: CheckItemError): EvaluationResponse {
  const status = error.code === 'revision_timeout' ? 503 : error.code === 'internal' ? 500 : 400;
  return itemError(error.code, error.message, status);
}

/** The shared answers without context (never mutated: the short-circuit path copies before adding a reason). */
const ALLOW: EvaluationResponse = Object.freeze({ decision: true });
const DENY: EvaluationResponse = Object.freeze({ decision: false });

/**
 * The engine Check of one evaluation in `storeId` (see the module comment); `props` carries the
 * properties and context the CEL condition context is built from (customer stores only).
 */
function checkOf(
  storeId: string,
  subjectType: string,
  subjectId: string,
  action: string,
  resourceType: string,
  resourceId: string,
  props: Parameters<typeof conditionContext>[0],
): CheckRequest {
  if (storeId === BUILTIN_STORE_ID) {
    return { subject: { type: subjectType, id: subjectId }, relation: GRANTED_RELATION, object: { type: PERMISSION_TYPE, id: permissionObjectId(resourceType, action) } };
  }
  return { storeId, subject: { type: subjectType, id: subjectId }, relation: action, object: { type: resourceType, id: resourceId }, context: conditionContext(props) };
}

/**
 * The check of one `evaluations` item with the top-level defaults of `req`, or why the item is
 * incomplete. An item's `subject`, `action`, `resource` and `context` replace the defaults as whole
 * objects, except that a required member (`type`, `id`, `name`) the item's object lacks is taken
 * from the top-level object (certification scenario C.3.2.7); no merged copies are made. An item
 * without a subject checks `defaultSubject` (the top-level subject's `type` and `id`, one object
 * shared by the batch).
 */
function itemCheck(storeId: string, req: EvaluationsRequest, item: EvaluationsItem, defaultSubject: SubjectRef | undefined): EachCheck | string {
  const is = item.subject;
  const ia = item.action;
  const ir = item.resource;
  if (!is && !req.subject) return 'subject is required';
  if (!ia && !req.action) return 'action is required';
  if (!ir && !req.resource) return 'resource is required';
  const subjectType = is?.type ?? req.subject?.type;
  const subjectId = is?.id ?? req.subject?.id;
  const name = ia?.name ?? req.action?.name;
  const resourceType = ir?.type ?? req.resource?.type;
  const resourceId = ir?.id ?? req.resource?.id;
  if (!subjectType || !subjectId) return 'subject.type and subject.id are required';
  if (!name) return 'action.name is required';
  if (!resourceType || !resourceId) return 'resource.type and resource.id are required';
  const subject = !is && defaultSubject ? defaultSubject : { type: subjectType, id: subjectId };
  if (storeId === BUILTIN_STORE_ID) return { subject, relation: GRANTED_RELATION, object: { type: PERMISSION_TYPE, id: permissionObjectId(resourceType, name) } };
  const context = conditionContext({ subject: is ?? req.subject, action: ia ?? req.action, resource: ir ?? req.resource, context: item.context ?? req.context });
  return { subject, relation: name, object: { type: resourceType, id: resourceId }, context };
}

/** A complete evaluation from possibly partial parts, or the reason it is incomplete. */
function complete(
  subject: PartialEntity | undefined,
  action: { name?: string; properties?: Record<string, unknown> } | undefined,
  resource: PartialEntity | undefined,
): EvaluationRequest | string {
  if (!subject) return 'subject is required';
  if (!action) return 'action is required';
  if (!resource) return 'resource is required';
  if (!subject.type || !subject.id) return 'subject.type and subject.id are required';
  if (!action.name) return 'action.name is required';
  if (!resource.type || !resource.id) return 'resource.type and resource.id are required';
  return {
    subject: { type: subject.type, id: subject.id, ...(subject.properties ? { properties: subject.properties } : {}) },
    action: { name: action.name, ...(action.properties ? { properties: action.properties } : {}) },
    resource: { type: resource.type, id: resource.id, ...(resource.properties ? { properties: resource.properties } : {}) },
  };
}
