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
import { explainCheck } from './explain.js';
import { ChangelogFollower } from './follower.js';
import { TupleIndex } from './index.js';
import { compileModel, type CompiledModel } from './model.js';
import { AuthzQueries } from './queries.js';
import { Scopes, requireText, type ResolvedIds } from './scope.js';
import { IDENTITY_TYPES } from './store-models.js';
import type { TupleStore } from './tuple-store.js';
import { BUILTIN_STORE_ID, type RelationTuple } from './tuples.js';
import { DecisionLog, type DecisionLogMode } from './decision-log.js';
import {
  MAX_BATCH_CHECKS,
  type AuthzEngine,
  type BatchCheckItem,
  type BatchCheckItemResult,
  type CheckItemError,
  type CheckRequest,
  type EachCheck,
  type CheckResult,
  type ExpandRequest,
  type ExpandResult,
  type ListObjectsRequest,
  type ListObjectsResult,
  type ListUsersRequest,
  type ListUsersResult,
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

/**
 * Decides Check, ListObjects, ListUsers and Expand from the in-memory index. Build with
 * {@link AuthzService.start}; stop with {@link AuthzService.close}.
 */
export class AuthzService implements AuthzEngine {
  private readonly index = new TupleIndex();
  private readonly follower: ChangelogFollower;
  private readonly evaluator: Evaluator;
  private readonly scopes: Scopes;
  private readonly queries: AuthzQueries;
  private readonly clock: Clock;
  private readonly revisionWaitMs: number;
  private readonly maxDepth: number;
  private readonly decisionLog: DecisionLog | undefined;
  /** Scratch ids of the check fast path (checks are synchronous). */
  private readonly ids: ResolvedIds = { ot: -1, rel: -1, st: -1, sr: 0 };
  private localRevision = 0;
  private unsubscribe: (() => void) | null = null;

  private constructor(private readonly options: AuthzServiceOptions) {
    this.clock = options.clock;
    this.revisionWaitMs = options.revisionWaitMs ?? 2000;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.evaluator = new Evaluator({ maxDepth: this.maxDepth });
    const builtin: CompiledModel = compileModel(BUILTIN_MODEL, this.index.symbols);
    const identityTypes = new Set(IDENTITY_TYPES.map((t) => this.index.symbols.types.intern(t)));
    this.scopes = new Scopes(this.index, builtin, identityTypes, this.clock);
    this.decisionLog = options.decisionLog;
    this.queries = new AuthzQueries(this.scopes, this.evaluator, options.storage, this.decisionLog);
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
   * {@link check}'s answer when it would not wait (no `atLeastRevision` beyond the index, no write
   * of this process still to apply): {@link checkNow}'s; undefined when {@link check} must wait.
   * Lets a caller answer without a promise in the common case.
   * @throws GatehouseError as {@link check}, except `revision_timeout`.
   */
  checkReady(ctx: OperationContext, req: CheckRequest): CheckResult | undefined {
    const wanted = req.atLeastRevision;
    if (wanted !== undefined || this.localRevision > this.index.revision) return undefined;
    return this.checkNow(ctx, req);
  }

  /**
   * Check against the index as it is now, without waiting (the in-process hot path).
   *
   * The common case — no contextual tuples, no explanation, the decision not logged (log off, or
   * not drawn by the sample) — resolves names to ids once, reads the store's cached view and runs
   * the pooled evaluator, reading the clock only if an edge with an expiry or condition is met:
   * nothing is allocated but the result. Otherwise the general path builds a per-request view.
   * Both give the same decisions and errors.
   * @throws GatehouseError as {@link check}, except `revision_timeout`.
   */
  checkNow(ctx: OperationContext, req: CheckRequest): CheckResult {
    Scopes.validateSubject(req.subject);
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    const revision = this.index.revision;
    const log = this.decisionLog;
    const logged = log !== undefined && log.mode !== 'off' && log.sample();
    const ct = req.contextualTuples;
    if (!logged && !req.explain && (ct === undefined || (Array.isArray(ct) && ct.length === 0))) return { decision: this.fastCheck(ctx, req), revision };
    return this.generalCheck(ctx, req, revision, logged);
  }

  /** The decision of {@link checkNow}'s common case. */
  private fastCheck(ctx: OperationContext, req: CheckRequest): boolean {
    const storeId = req.storeId ?? BUILTIN_STORE_ID;
    requireText(storeId, 'storeId');
    const model = this.scopes.model(ctx.tenantId, storeId, req.authorizationModelId);
    Scopes.checkContext(req.context);
    if (!model) return false;
    const ids = this.ids;
    const known = this.scopes.resolveInto(ids, storeId !== BUILTIN_STORE_ID, model, req.object.type, req.relation, req.subject);
    if (this.scopes.isDisabled(ctx, req.subject) || !known) return false;
    const view = this.scopes.plainView(ctx.tenantId, storeId);
    if (!view) return false;
    const objectNode = view.lookupNodeOfType(ids.ot, req.object.id);
    if (objectNode < 0) return false;
    const subjectNode = ids.st < 0 ? -1 : view.lookupNodeOfType(ids.st, req.subject.id);
    return this.evaluator.checkNodes(view, model, ids.st, subjectNode, ids.sr, objectNode, ids.rel, this.clock, req.context);
  }

  /** {@link checkNow} with contextual tuples, an explanation or a logged decision. */
  private generalCheck(ctx: OperationContext, req: CheckRequest, revision: number, logged: boolean): CheckResult {
    const sc = this.scopes.scope(ctx, req);
    // A denial decided before evaluation (no model, a subject not active, nothing relates them) is a decision too: logged when drawn.
    const deny = (summary: string): CheckResult => {
      if (logged) this.decisionLog!.record(ctx, sc.storeId, req, false, revision, null);
      return req.explain ? { decision: false, revision, explanation: { decision: false, path: [], summary } } : { decision: false, revision };
    };
    const model = sc.model;
    if (!model) return deny(`denied: store '${sc.storeId}' has no authorization model`);
    const ids = this.scopes.resolve(sc, model, req.object.type, req.relation, req.subject);
    if (this.scopes.isDisabled(ctx, req.subject)) return deny('denied: the subject is not active');
    if (!ids || !sc.view) return deny('denied: no tuple or rewrite relates the subject to the object');
    const view = sc.view;
    const objectNode = view.lookupNodeOfType(ids.ot, req.object.id);
    const subjectNode = ids.st < 0 ? -1 : view.lookupNodeOfType(ids.st, req.subject.id);
    const decision = objectNode >= 0 && this.evaluator.checkNodes(view, model, ids.st, subjectNode, ids.sr, objectNode, ids.rel, sc.nowMs, sc.context);
    const result: CheckResult = { decision, revision };
    if (req.explain || (logged && decision)) {
      const explanation = explainCheck(this.evaluator, view, model, { type: ids.st, node: subjectNode, relation: ids.sr }, objectNode, ids.rel, sc.nowMs, sc.context);
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
   * {@link AuthzEngine.checkEach}. With the decision log off, each check takes {@link fastCheck}'s
   * steps, in its order and with its errors, but what repeats is done once: the store's model and
   * view per call; the subject's validation, disabled test and node per run of checks sharing one
   * `subject` object; the type and relation ids per run sharing the subject, object type and
   * relation. With the log on (decisions are sampled and recorded one by one) or an invalid store
   * id, each check is {@link checkNow}'s.
   * @throws GatehouseError `invalid_input` when more than {@link MAX_BATCH_CHECKS} checks.
   */
  async checkEach(ctx: OperationContext, storeId: string, checks: readonly EachCheck[]): Promise<Array<boolean | CheckItemError>> {
    if (!Array.isArray(checks) || checks.length > MAX_BATCH_CHECKS) {
      throw new GatehouseError('invalid_input', `a batch holds at most ${MAX_BATCH_CHECKS} checks`, { field: 'checks', max: MAX_BATCH_CHECKS });
    }
    await this.settle(undefined);
    const out = new Array<boolean | CheckItemError>(checks.length);
    const log = this.decisionLog;
    if ((log !== undefined && log.mode !== 'off') || typeof storeId !== 'string' || storeId.length === 0 || storeId.length > 512) {
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i] as EachCheck;
        try {
          out[i] = this.checkNow(ctx, { storeId, subject: c.subject, relation: c.relation, object: c.object, ...(c.context !== undefined ? { context: c.context } : {}) }).decision;
        } catch (err) {
          out[i] = asItemError(err);
        }
      }
      return out;
    }
    const model = this.scopes.model(ctx.tenantId, storeId, undefined);
    const view = model ? this.scopes.plainView(ctx.tenantId, storeId) : undefined;
    const strict = storeId !== BUILTIN_STORE_ID;
    const ids = this.ids;
    // The run's subject (validation error, disabled) and its resolved ids (error, known, node).
    let subject: SubjectRef | undefined;
    let subjectError: CheckItemError | undefined;
    let disabled = false;
    let objectType: string | undefined;
    let relation: string | undefined;
    let resolveError: CheckItemError | undefined;
    let known = false;
    let ot = -1;
    let rel = -1;
    let st = -1;
    let sr = 0;
    let subjectNode = -1;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i] as EachCheck;
      try {
        if (c.subject !== subject || i === 0) {
          subject = c.subject;
          subjectError = undefined;
          objectType = undefined;
          try {
            Scopes.validateSubject(subject);
          } catch (err) {
            subjectError = asItemError(err);
          }
          disabled = subjectError === undefined && this.scopes.isDisabled(ctx, subject);
        }
        if (subjectError) {
          out[i] = subjectError;
          continue;
        }
        requireText(c.relation, 'relation');
        requireText(c.object?.type, 'object.type');
        requireText(c.object.id, 'object.id');
        Scopes.checkContext(c.context);
        if (!model) {
          out[i] = false;
          continue;
        }
        if (c.object.type !== objectType || c.relation !== relation) {
          objectType = c.object.type;
          relation = c.relation;
          resolveError = undefined;
          try {
            known = this.scopes.resolveInto(ids, strict, model, objectType, relation, subject);
          } catch (err) {
            resolveError = asItemError(err);
          }
          ({ ot, rel, st, sr } = ids);
          subjectNode = known && view && st >= 0 ? view.lookupNodeOfType(st, subject.id) : -1;
        }
        if (resolveError) {
          out[i] = resolveError;
          continue;
        }
        if (disabled || !known || !view) {
          out[i] = false;
          continue;
        }
        const objectNode = view.lookupNodeOfType(ot, c.object.id);
        out[i] = objectNode >= 0 && this.evaluator.checkNodes(view, model, st, subjectNode, sr, objectNode, rel, this.clock, c.context);
      } catch (err) {
        out[i] = asItemError(err);
      }
    }
    return out;
  }

  /**
   * {@link AuthzEngine.recordDenial}: queues `check` in `storeId` as a denial (decision false, no
   * granting path, the index's current revision) when the decision log draws it — always in `full`
   * mode, with the sample rate's chance in `sampled` mode (a draw of its own: the failed check's
   * draw is not kept) — and does nothing when the log is off. `check`'s names are the ones the
   * failed check validated (non-empty, within the length limits). Allocates nothing when the
   * decision is not logged.
   *
   * For AuthZEN, whose answer to a name the store's model does not define is `decision: false`
   * (docs/authzen.md), while OpenFGA's Check answers that 400 and logs nothing.
   * @example
   * try { decision = authz.checkNow(ctx, req).decision; }
   * catch (err) { if (!isUnknownName(err)) throw err; authz.recordDenial(ctx, storeId, req); decision = false; }
   */
  recordDenial(ctx: OperationContext, storeId: string, check: EachCheck): void {
    const log = this.decisionLog;
    if (log === undefined || log.mode === 'off' || !log.sample()) return;
    log.record(ctx, storeId, check, false, this.index.revision, null);
  }

  /**
   * ListObjects: exactly the objects of `objectType` for which Check is true (`type:id`, sorted).
   * An object whose Check would fail with `resolution_too_complex` (depth limit) is not listed.
   * @throws GatehouseError as {@link check}, except `resolution_too_complex`.
   */
  async listObjects(ctx: OperationContext, req: ListObjectsRequest): Promise<ListObjectsResult> {
    await this.settle(req.atLeastRevision);
    return this.queries.listObjects(ctx, req);
  }

  /**
   * ListUsers: the subjects of the filters' types for which Check is true (OpenFGA shape, sorted).
   * A subject whose Check would fail with `resolution_too_complex` (depth limit) is not listed.
   * @throws GatehouseError as {@link check}, except `resolution_too_complex`; `invalid_input` for
   *   0 or more than 10 filters.
   */
  async listUsers(ctx: OperationContext, req: ListUsersRequest): Promise<ListUsersResult> {
    await this.settle(req.atLeastRevision);
    return this.queries.listUsers(ctx, req);
  }

  /**
   * Expand: one level of the userset tree of `object#relation` (OpenFGA Expand).
   * @throws GatehouseError `invalid_input` (unknown type or relation), `not_found` (model id).
   */
  async expand(ctx: OperationContext, req: ExpandRequest): Promise<ExpandResult> {
    await this.settle(req.atLeastRevision);
    return this.queries.expand(ctx, req);
  }

  /** Governance: when each tuple granting `subject` (directly named) was last used by an allowed decision. */
  grantsLastUsed(ctx: OperationContext, req: { storeId?: string; subject: SubjectRef }): Promise<TupleLastUsed[]> {
    return this.queries.grantsLastUsed(ctx, req);
  }

  /** Governance: when one tuple was last used by an allowed decision (null if never recorded). */
  tupleLastUsed(ctx: OperationContext, req: { storeId?: string; tuple: RelationTuple }): Promise<string | null> {
    return this.queries.tupleLastUsed(ctx, req);
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

/** A GatehouseError as a batch item's error. @throws `err` itself when it is not a GatehouseError. */
function asItemError(err: unknown): CheckItemError {
  if (!isGatehouseError(err)) throw err;
  return { code: err.code, message: err.message, details: err.details };
}
