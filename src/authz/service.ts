/**
 * The authorization decision point of one Gatehouse process: an in-memory {@link TupleIndex}
 * kept current from the changelog, a compiled model per store, and Check.
 *
 * Consistency (ARCHITECTURE.md "The authorization path"):
 * - a check may demand `atLeastRevision` (a consistency token returned by a write); it waits up
 *   to `revisionWaitMs` (default 2 s) for the index, else fails with `revision_timeout`;
 * - within one process, a check also waits for the revisions this process's own TupleStore has
 *   handed out (read-your-writes without a token: deprovision, then deny at once). If such a
 *   revision never appears (its transaction rolled back), the check answers after the wait.
 *
 * Models per store (issue 3): the "api" side stores each model version in `authz_models` and, in
 * the same transaction, appends one `authz_changelog` row with operation `'model'`,
 * `object_type = 'authorization_model'`, `object_id = <model id>`, `store_id`, and the other
 * tuple columns ''. The follower then reads that row of `authz_models` by (tenant_id, id) —
 * column `model` holds the OpenFGA JSON `AuthorizationModel` text, conditions included — compiles
 * it and adds it to the store; the greatest id (ULID) is the store's latest. At build
 * every store's models are loaded.
 * Built-in identity types (user, service_account, group, role, permission, application) are
 * overlaid: in store S their edges also come from the built-in store (docs/authz-engine.md).
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError, isGatehouseError } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { Storage } from '../storage/database.js';
import { BUILTIN_MODEL } from './builtin-model.js';
import { DEFAULT_MAX_DEPTH, Evaluator } from './evaluator.js';
import { expandTree } from './expand.js';
import { explainCheck } from './explain.js';
import { ChangelogFollower } from './follower.js';
import { StoreGraph, type GraphView } from './graph.js';
import { TupleIndex } from './index.js';
import { listObjectNodes } from './list-objects.js';
import { listUserNodes, type NodeFilter } from './list-users.js';
import { WILDCARD_REL, compileModel, restrictionKey, type CompiledModel } from './model.js';
import { ExtendedNodeSpace } from './nodes.js';
import { IDENTITY_TYPES } from './store-models.js';
import type { TupleStore } from './tuple-store.js';
import { BUILTIN_STORE_ID, formatTuple, validateTupleShape, type RelationTuple } from './tuples.js';
import { LayeredView } from './view.js';
import { DecisionLog, type DecisionLogMode } from './decision-log.js';
import {
  MAX_BATCH_CHECKS,
  MAX_CONTEXTUAL_TUPLES,
  MAX_LIST_RESULTS,
  type AuthzEngine,
  type BatchCheckItem,
  type BatchCheckItemResult,
  type CheckRequest,
  type CheckResult,
  type ExpandRequest,
  type ExpandResult,
  type ListObjectsRequest,
  type ListObjectsResult,
  type ListUsersRequest,
  type ListUsersResult,
  type ListedUser,
  type QueryScope,
  type SubjectRef,
  type TupleLastUsed,
} from './contract.js';

export * from './contract.js';

/** Options of {@link AuthzService.start}. */
export interface AuthzServiceOptions {
  storage: Storage;
  clock: Clock;
  logger?: Logger;
  /** The process's TupleStore: its revisions are awaited by checks (read-your-writes in-process). */
  tuples?: TupleStore;
  /** PostgreSQL connection string for LISTEN/NOTIFY wake-ups (usually config.databaseUrl). Ignored on SQLite. */
  listenUrl?: string | null;
  /** Changelog polling period in milliseconds (default 200). */
  pollIntervalMs?: number;
  /** Longest wait for `atLeastRevision`, in milliseconds (default 2000). */
  revisionWaitMs?: number;
  /** Resolution depth limit (default 25). */
  maxDepth?: number;
  /** Decision log (off when absent). */
  decisionLog?: DecisionLog;
}

function requireText(v: unknown, field: string): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > 512) {
    throw new GatehouseError('invalid_input', `${field} must be a non-empty string of at most 512 characters`, { field });
  }
}

/** What one request evaluates against. */
interface Scope {
  storeId: string;
  /** null: the store has no model (everything denies, lists are empty). */
  model: CompiledModel | null;
  /** Customer store: unknown types/relations are errors, not denials. */
  strict: boolean;
  view: GraphView | undefined;
  nowMs: number;
  context: Record<string, unknown> | undefined;
}

/**
 * Decides Check, ListObjects, ListUsers and Expand from the in-memory index. Build with
 * {@link AuthzService.start}; stop with {@link AuthzService.close}.
 */
export class AuthzService implements AuthzEngine {
  private readonly index = new TupleIndex();
  private readonly follower: ChangelogFollower;
  private readonly evaluator: Evaluator;
  private readonly builtin: CompiledModel;
  private readonly identityTypes: Set<number>;
  private readonly clock: Clock;
  private readonly revisionWaitMs: number;
  private readonly maxDepth: number;
  private readonly decisionLog: DecisionLog | undefined;
  private localRevision = 0;
  private unsubscribe: (() => void) | null = null;

  private constructor(private readonly options: AuthzServiceOptions) {
    this.clock = options.clock;
    this.revisionWaitMs = options.revisionWaitMs ?? 2000;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.evaluator = new Evaluator({ maxDepth: this.maxDepth });
    this.builtin = compileModel(BUILTIN_MODEL, this.index.symbols);
    this.identityTypes = new Set(IDENTITY_TYPES.map((t) => this.index.symbols.types.intern(t)));
    this.decisionLog = options.decisionLog;
    this.follower = new ChangelogFollower({
      storage: options.storage,
      index: this.index,
      logger: options.logger,
      pollIntervalMs: options.pollIntervalMs,
      listenUrl: options.listenUrl,
    });
  }

  /**
   * Builds the index from the database (one snapshot) and starts following the changelog.
   * @throws whatever the database raises while loading.
   */
  static async start(options: AuthzServiceOptions): Promise<AuthzService> {
    const s = new AuthzService(options);
    if (options.tuples) s.unsubscribe = options.tuples.onRevision((r) => s.noteLocalRevision(r));
    const started = Date.now();
    await s.follower.build();
    options.logger?.info({ revision: s.index.revision, tuples: s.index.tupleCount, ms: Date.now() - started }, 'authz index built');
    s.follower.start();
    return s;
  }

  private noteLocalRevision(revision: number): void {
    if (revision > this.localRevision) this.localRevision = revision;
  }

  /** The changelog revision the index reflects. */
  currentRevision(): number {
    return this.index.revision;
  }

  /** Live tuples in the index (all stores). */
  get tupleCount(): number {
    return this.index.tupleCount;
  }

  latestModelId(tenantId: string, storeId: string): string | null {
    if (storeId === BUILTIN_STORE_ID) return null;
    return this.index.models(tenantId, storeId)?.latest?.id ?? null;
  }

  /**
   * Waits until the index has applied `revision`.
   * @throws GatehouseError `revision_timeout` after `timeoutMs` (default: the service's revisionWaitMs).
   */
  async waitForRevision(revision: number, timeoutMs = this.revisionWaitMs): Promise<void> {
    if (!(await this.follower.waitFor(revision, timeoutMs))) {
      throw new GatehouseError('revision_timeout', `the authorization index has not reached revision ${revision} (at ${this.index.revision})`, {
        requested: revision,
        current: this.index.revision,
      });
    }
  }

  /** Applies every committed changelog row now. @returns the revision reached. */
  async refresh(): Promise<number> {
    await this.follower.catchUp();
    return this.index.revision;
  }

  /** Waits for `atLeastRevision` and for this process's own writes (read-your-writes). */
  private async settle(wanted: number | undefined): Promise<void> {
    if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 0)) {
      throw new GatehouseError('invalid_input', 'atLeastRevision must be a non-negative integer', { field: 'atLeastRevision' });
    }
    if (wanted !== undefined && wanted > this.index.revision) await this.waitForRevision(wanted);
    const local = this.localRevision;
    if (local > this.index.revision && !(await this.follower.waitFor(local, this.revisionWaitMs))) {
      // That revision's transaction did not commit (or not yet): stop waiting for it.
      if (this.localRevision === local) this.localRevision = this.index.revision;
    }
  }

  /** The model and graph view a request evaluates against. */
  private scope(ctx: OperationContext, s: QueryScope): Scope {
    const storeId = s.storeId ?? BUILTIN_STORE_ID;
    requireText(storeId, 'storeId');
    let model: CompiledModel | null;
    let strict = false;
    if (storeId === BUILTIN_STORE_ID) {
      model = this.builtin;
    } else {
      strict = true;
      const models = this.index.models(ctx.tenantId, storeId);
      if (s.authorizationModelId !== undefined) {
        model = models?.byId.get(s.authorizationModelId) ?? null;
        if (!model) {
          throw new GatehouseError('not_found', `authorization model '${s.authorizationModelId}' does not exist in store '${storeId}'`, {
            resource: 'authorization_model',
            id: s.authorizationModelId,
          });
        }
      } else model = models?.latest ?? null;
    }
    if (s.context !== undefined && (s.context === null || typeof s.context !== 'object' || Array.isArray(s.context))) {
      throw new GatehouseError('invalid_input', 'context must be a JSON object', { field: 'context' });
    }
    const ct = s.contextualTuples ?? [];
    if (!Array.isArray(ct) || ct.length > MAX_CONTEXTUAL_TUPLES) {
      throw new GatehouseError('invalid_input', `contextualTuples must be an array of at most ${MAX_CONTEXTUAL_TUPLES} tuples`, { field: 'contextualTuples', max: MAX_CONTEXTUAL_TUPLES });
    }
    const own = this.index.store(ctx.tenantId, storeId);
    const builtinGraph = storeId === BUILTIN_STORE_ID ? undefined : this.index.store(ctx.tenantId, BUILTIN_STORE_ID);
    let view: GraphView | undefined;
    if (ct.length === 0 && storeId === BUILTIN_STORE_ID) view = own;
    else {
      const space = this.index.space(ctx.tenantId);
      let contextual: StoreGraph | undefined;
      let viewSpace: ExtendedNodeSpace | typeof space = space;
      if (ct.length > 0) {
        const ext = new ExtendedNodeSpace(space);
        contextual = new StoreGraph(this.index.symbols, ext);
        viewSpace = ext;
        for (const t of ct) {
          this.validateTuple(model, t);
          contextual.write(t);
        }
      }
      view = new LayeredView(this.index.symbols, viewSpace, own, builtinGraph, this.identityTypes, contextual);
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
    if (!cr.directTypes.has(key)) throw bad('the subject is not allowed by the relation\'s type restrictions');
    if (t.condition && !cr.conditions.has(t.condition.name)) throw bad(`condition '${t.condition.name}' is not allowed on this relation`);
  }

  /** Resolves names to ids; unknown names throw in a customer store and yield null (deny) in the built-in one. */
  private resolve(sc: Scope, model: CompiledModel, objectType: string, relation: string, subject?: SubjectRef) {
    const sym = this.index.symbols;
    const ot = sym.types.lookup(objectType);
    const rel = sym.relations.lookup(relation);
    const st = subject ? sym.types.lookup(subject.type) : -1;
    const sr = subject?.relation ? sym.relations.lookup(subject.relation) : 0;
    if (sc.strict) {
      if (ot < 0 || !model.hasType(ot)) throw new GatehouseError('invalid_input', `type '${objectType}' is not defined in the authorization model`, { reason: 'unknown_type', type: objectType });
      if (rel < 0 || !model.relation(ot, rel)) throw new GatehouseError('invalid_input', `relation '${objectType}#${relation}' is not defined in the authorization model`, { reason: 'unknown_relation', type: objectType, relation });
      if (subject) {
        if (st < 0 || !model.hasType(st)) throw new GatehouseError('invalid_input', `type '${subject.type}' is not defined in the authorization model`, { reason: 'unknown_type', type: subject.type });
        if (subject.relation && (sr < 0 || !model.relation(st, sr))) {
          throw new GatehouseError('invalid_input', `relation '${subject.type}#${subject.relation}' is not defined in the authorization model`, { reason: 'unknown_relation', type: subject.type, relation: subject.relation });
        }
      }
    }
    if (ot < 0 || rel < 0 || sr < 0 || !model.relation(ot, rel)) return null;
    return { ot, rel, st, sr };
  }

  private validateSubject(subject: SubjectRef | undefined): void {
    requireText(subject?.type, 'subject.type');
    requireText(subject?.id, 'subject.id');
    if (subject?.relation !== undefined && subject.relation !== '') requireText(subject.relation, 'subject.relation');
  }

  private isDisabled(ctx: OperationContext, subject: SubjectRef): boolean {
    return !subject.relation && this.index.isDisabled(ctx.tenantId, subject.type, subject.id);
  }

  /**
   * Answers a Check: is `subject` related to `object` by `relation` in the store?
   * A disabled (not active) user or service account is always denied; expired tuples grant nothing.
   *
   * @throws GatehouseError `invalid_input` (empty or oversize names, bad revision, unknown type or
   *   relation in a customer store, bad contextual tuple), `not_found` (authorizationModelId),
   *   `condition_error`, `revision_timeout` (atLeastRevision not reached in time),
   *   `resolution_too_complex` (depth limit).
   * @example
   * await authz.check(ctx, { subject: { type: 'user', id: uid }, relation: 'granted', object: { type: 'permission', id: 'documents:read' } });
   */
  async check(ctx: OperationContext, req: CheckRequest): Promise<CheckResult> {
    await this.settle(req.atLeastRevision);
    return this.checkNow(ctx, req);
  }

  /**
   * Check against the index as it is now, without waiting (the in-process hot path).
   * @throws GatehouseError as {@link check}, except `revision_timeout`.
   */
  checkNow(ctx: OperationContext, req: CheckRequest): CheckResult {
    this.validateSubject(req.subject);
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    const revision = this.index.revision;
    if (
      (req.storeId === undefined || req.storeId === BUILTIN_STORE_ID) &&
      req.authorizationModelId === undefined &&
      (req.contextualTuples === undefined || req.contextualTuples.length === 0) &&
      !req.explain &&
      (this.decisionLog === undefined || this.decisionLog.mode === 'off')
    ) {
      // The hot path (built-in store, no extras): straight to the evaluator.
      if (req.context !== undefined && (req.context === null || typeof req.context !== 'object' || Array.isArray(req.context))) {
        throw new GatehouseError('invalid_input', 'context must be a JSON object', { field: 'context' });
      }
      if (!req.subject.relation && this.index.isDisabled(ctx.tenantId, req.subject.type, req.subject.id)) return { decision: false, revision };
      const graph = this.index.store(ctx.tenantId, BUILTIN_STORE_ID);
      const decision = this.evaluator.check(
        graph,
        this.builtin,
        {
          subjectType: req.subject.type,
          subjectId: req.subject.id,
          subjectRelation: req.subject.relation ?? '',
          relation: req.relation,
          objectType: req.object.type,
          objectId: req.object.id,
        },
        this.clock.now().getTime(),
        req.context,
      );
      return { decision, revision };
    }
    const sc = this.scope(ctx, req);
    const deny = (summary: string): CheckResult => (req.explain ? { decision: false, revision, explanation: { decision: false, path: [], summary } } : { decision: false, revision });
    const model = sc.model;
    if (!model) return deny(`denied: store '${sc.storeId}' has no authorization model`);
    const ids = this.resolve(sc, model, req.object.type, req.relation, req.subject);
    if (this.isDisabled(ctx, req.subject)) return deny('denied: the subject is not active');
    if (!ids || !sc.view) return deny('denied: no tuple or rewrite relates the subject to the object');
    const decision = this.evaluator.check(
      sc.view,
      model,
      {
        subjectType: req.subject.type,
        subjectId: req.subject.id,
        subjectRelation: req.subject.relation ?? '',
        relation: req.relation,
        objectType: req.object.type,
        objectId: req.object.id,
      },
      sc.nowMs,
      sc.context,
    );
    const result: CheckResult = { decision, revision };
    const logged = this.decisionLog !== undefined && this.decisionLog.mode !== 'off' && this.decisionLog.sample();
    if (req.explain || (logged && decision)) {
      const view = sc.view;
      const subjectNode = ids.st < 0 ? -1 : view.lookupNodeOfType(ids.st, req.subject.id);
      const objectNode = view.lookupNode(req.object.type, req.object.id);
      const explanation = explainCheck(view, model, { type: ids.st, node: subjectNode, relation: ids.sr }, objectNode, ids.rel, sc.nowMs, sc.context, this.maxDepth);
      if (req.explain) result.explanation = { ...explanation, decision };
      if (logged) this.decisionLog!.record(ctx, sc.storeId, req, decision, revision, decision ? explanation : null);
    } else if (logged) this.decisionLog!.record(ctx, sc.storeId, req, decision, revision, null);
    return result;
  }

  /**
   * Runs many checks; each item fails alone (its `error`), results in input order. Waits once for
   * the greatest `atLeastRevision` of the items.
   * @throws GatehouseError `invalid_input` when more than {@link MAX_BATCH_CHECKS} items.
   */
  async batchCheck(ctx: OperationContext, checks: BatchCheckItem[]): Promise<BatchCheckItemResult[]> {
    if (!Array.isArray(checks) || checks.length > MAX_BATCH_CHECKS) {
      throw new GatehouseError('invalid_input', `a batch holds at most ${MAX_BATCH_CHECKS} checks`, { field: 'checks', max: MAX_BATCH_CHECKS });
    }
    let wanted: number | undefined;
    for (const c of checks) if (c.atLeastRevision !== undefined && (wanted === undefined || c.atLeastRevision > wanted)) wanted = c.atLeastRevision;
    await this.settle(wanted);
    return checks.map((c) => {
      try {
        const r = this.checkNow(ctx, c);
        const out: BatchCheckItemResult = { correlationId: c.correlationId, decision: r.decision };
        if (r.explanation) out.explanation = r.explanation;
        return out;
      } catch (err) {
        if (!isGatehouseError(err)) throw err;
        return { correlationId: c.correlationId, error: { code: err.code, message: err.message, details: err.details } };
      }
    });
  }

  /**
   * ListObjects: exactly the objects of `objectType` for which Check is true (`type:id`, sorted).
   * @throws GatehouseError as {@link check}.
   */
  async listObjects(ctx: OperationContext, req: ListObjectsRequest): Promise<ListObjectsResult> {
    await this.settle(req.atLeastRevision);
    this.validateSubject(req.subject);
    requireText(req.relation, 'relation');
    requireText(req.objectType, 'objectType');
    const limit = this.limit(req.limit);
    const revision = this.index.revision;
    const sc = this.scope(ctx, req);
    if (!sc.model) return { objects: [], revision };
    const ids = this.resolve(sc, sc.model, req.objectType, req.relation, req.subject);
    if (!ids || !sc.view || ids.st < 0 || this.isDisabled(ctx, req.subject)) return { objects: [], revision };
    const view = sc.view;
    const nodes = listObjectNodes(
      this.evaluator,
      view,
      sc.model,
      { subjectType: ids.st, subjectNode: view.lookupNodeOfType(ids.st, req.subject.id), subjectRelation: ids.sr, objectType: ids.ot, relation: ids.rel },
      sc.nowMs,
      sc.context,
      limit,
    );
    const objects = nodes.map((n) => `${req.objectType}:${view.describe(n).id}`).sort();
    return { objects, revision };
  }

  /**
   * ListUsers: the subjects of the filters' types for which Check is true (OpenFGA shape, sorted).
   * @throws GatehouseError as {@link check}; `invalid_input` for 0 or more than 10 filters.
   */
  async listUsers(ctx: OperationContext, req: ListUsersRequest): Promise<ListUsersResult> {
    await this.settle(req.atLeastRevision);
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    if (!Array.isArray(req.userFilters) || req.userFilters.length === 0 || req.userFilters.length > 10) {
      throw new GatehouseError('invalid_input', 'userFilters must hold 1 to 10 filters', { field: 'userFilters' });
    }
    for (const f of req.userFilters) {
      requireText(f?.type, 'userFilters.type');
      if (f.relation !== undefined && f.relation !== '') requireText(f.relation, 'userFilters.relation');
    }
    const revision = this.index.revision;
    const sc = this.scope(ctx, req);
    if (!sc.model) return { users: [], revision };
    const model = sc.model;
    const ids = this.resolve(sc, model, req.object.type, req.relation);
    const sym = this.index.symbols;
    const filters: NodeFilter[] = [];
    for (const f of req.userFilters) {
      const t = sym.types.lookup(f.type);
      const r = f.relation ? sym.relations.lookup(f.relation) : 0;
      if (sc.strict && (t < 0 || !model.hasType(t))) throw new GatehouseError('invalid_input', `type '${f.type}' is not defined in the authorization model`, { reason: 'unknown_type', type: f.type });
      if (sc.strict && f.relation && (r < 0 || !model.relation(t, r))) {
        throw new GatehouseError('invalid_input', `relation '${f.type}#${f.relation}' is not defined in the authorization model`, { reason: 'unknown_relation', type: f.type, relation: f.relation });
      }
      if (t >= 0 && r >= 0) filters.push({ type: t, relation: r });
    }
    const view = sc.view;
    const objectNode = view ? view.lookupNode(req.object.type, req.object.id) : -1;
    if (!ids || !view || objectNode < 0 || filters.length === 0) return { users: [], revision };
    const disabled = (n: number) => {
      const d = view.describe(n);
      return this.index.isDisabled(ctx.tenantId, d.type, d.id);
    };
    const nodes = listUserNodes(this.evaluator, view, model, objectNode, ids.rel, filters, sc.nowMs, sc.context, MAX_LIST_RESULTS, disabled);
    const users: ListedUser[] = nodes.map(({ node, subjectRelation }) => {
      const d = view.describe(node);
      if (subjectRelation !== 0) return { userset: { type: d.type, id: d.id, relation: sym.relations.name(subjectRelation) } };
      if (d.id === '*') return { wildcard: { type: d.type } };
      return { object: { type: d.type, id: d.id } };
    });
    const rank = (u: ListedUser) => ('object' in u ? `0${u.object.type}:${u.object.id}` : 'userset' in u ? `1${u.userset.type}:${u.userset.id}#${u.userset.relation}` : `2${u.wildcard.type}`);
    users.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
    return { users, revision };
  }

  /**
   * Expand: one level of the userset tree of `object#relation` (OpenFGA Expand).
   * @throws GatehouseError `invalid_input` (unknown type or relation), `not_found` (model id).
   */
  async expand(ctx: OperationContext, req: ExpandRequest): Promise<ExpandResult> {
    await this.settle(req.atLeastRevision);
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    const revision = this.index.revision;
    const sc = this.scope(ctx, req);
    const name = `${req.object.type}:${req.object.id}#${req.relation}`;
    if (!sc.model) return { tree: { root: { name, leaf: { users: { users: [] } } } }, revision };
    const ids = this.resolve({ ...sc, strict: true }, sc.model, req.object.type, req.relation);
    const cr = ids ? sc.model.relation(ids.ot, ids.rel) : undefined;
    if (!cr) return { tree: { root: { name, leaf: { users: { users: [] } } } }, revision };
    const node = sc.view ? sc.view.lookupNode(req.object.type, req.object.id) : -1;
    const view = sc.view ?? new StoreGraph(this.index.symbols, this.index.space(ctx.tenantId));
    return { tree: { root: expandTree(view, sc.model, req.object.type, req.object.id, node, cr, sc.nowMs) }, revision };
  }

  private limit(n: number | undefined): number {
    if (n === undefined) return MAX_LIST_RESULTS;
    if (!Number.isSafeInteger(n) || n < 1) throw new GatehouseError('invalid_input', 'limit must be a positive integer', { field: 'limit' });
    return Math.min(n, MAX_LIST_RESULTS);
  }

  /** Governance: when each tuple granting `subject` (directly named) was last used by an allowed decision. */
  async grantsLastUsed(ctx: OperationContext, req: { storeId?: string; subject: SubjectRef }): Promise<TupleLastUsed[]> {
    this.validateSubject(req.subject);
    const storeId = req.storeId ?? BUILTIN_STORE_ID;
    const tuples = await this.options.storage.db
      .selectFrom('authz_tuples')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('store_id', '=', storeId)
      .where('subject_type', '=', req.subject.type)
      .where('subject_id', '=', req.subject.id)
      .where('subject_relation', '=', req.subject.relation ?? '')
      .execute();
    const used = this.decisionLog ? await this.decisionLog.lastUsedFor(ctx.tenantId, storeId, req.subject) : new Map<string, string>();
    return tuples
      .map((r) => {
        const tuple: RelationTuple = {
          objectType: r.object_type,
          objectId: r.object_id,
          relation: r.relation,
          subjectType: r.subject_type,
          subjectId: r.subject_id,
          subjectRelation: r.subject_relation,
          expiresAt: r.expires_at,
          condition: r.condition_name ? { name: r.condition_name, context: r.condition_context ? (JSON.parse(r.condition_context) as Record<string, unknown>) : null } : null,
        };
        return { storeId, tuple, lastUsedAt: used.get(formatTuple(tuple)) ?? null };
      })
      .sort((a, b) => (formatTuple(a.tuple) < formatTuple(b.tuple) ? -1 : 1));
  }

  /** Governance: when one tuple was last used by an allowed decision (null if never recorded). */
  async tupleLastUsed(ctx: OperationContext, req: { storeId?: string; tuple: RelationTuple }): Promise<string | null> {
    validateTupleShape(req.tuple);
    if (!this.decisionLog) return null;
    return this.decisionLog.lastUsed(ctx.tenantId, req.storeId ?? BUILTIN_STORE_ID, req.tuple);
  }

  /** Stops following the changelog and flushes the decision log. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.follower.close();
    await this.decisionLog?.close();
  }
}

/**
 * Starts the process's {@link AuthzService} from the composition root's services: LISTEN on
 * `config.databaseUrl` (PostgreSQL), in-process read-your-writes through `tuples`, and close
 * registered with `onClose`.
 */
export async function startAuthz(services: {
  storage: Storage;
  clock: Clock;
  logger: Logger;
  tuples: TupleStore;
  config: { databaseUrl: string; authzDecisionLog?: DecisionLogMode; authzDecisionLogSampleRate?: number };
  onClose(fn: () => Promise<void> | void): void;
}): Promise<AuthzService> {
  const mode = services.config.authzDecisionLog ?? 'off';
  const decisionLog =
    mode === 'off'
      ? undefined
      : new DecisionLog({ storage: services.storage, clock: services.clock, logger: services.logger, mode, sampleRate: services.config.authzDecisionLogSampleRate });
  const authz = await AuthzService.start({
    storage: services.storage,
    clock: services.clock,
    logger: services.logger,
    tuples: services.tuples,
    listenUrl: services.storage.kind === 'postgres' ? services.config.databaseUrl : null,
    decisionLog,
  });
  services.onClose(() => authz.close());
  return authz;
}
