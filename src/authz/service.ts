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
 * columns `id`, `tenant_id`, `store_id`, `model_json` (the OpenFGA JSON `AuthorizationModel`
 * text, conditions included), `created_at` — compiles it and makes it the store's latest. At build
 * every store's models are loaded. A store's latest model is the one with the greatest revision.
 * Built-in identity types (user, service_account, group, role, permission, application) are
 * overlaid: in store S their edges also come from the built-in store (docs/authz-engine.md).
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError, type ErrorCode } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { Storage } from '../storage/database.js';
import { BUILTIN_MODEL } from './builtin-model.js';
import { DEFAULT_MAX_DEPTH, Evaluator } from './evaluator.js';
import { ChangelogFollower } from './follower.js';
import { TupleIndex } from './index.js';
import { compileModel, type CompiledModel } from './model.js';
import type { TupleStore } from './tuple-store.js';
import { BUILTIN_STORE_ID, type RelationTuple } from './tuples.js';

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
}

/** `type:id`, with `relation` only for a userset subject such as `group:eng#member`. */
export interface SubjectRef {
  type: string;
  id: string;
  relation?: string;
}

/** An object `type:id`. */
export interface ObjectRef {
  type: string;
  id: string;
}

/**
 * Request context for CEL conditions (OpenFGA `context`): a JSON object whose keys are condition
 * parameter names. Values are checked against the parameter's declared type at decision time;
 * a missing or wrongly typed parameter fails the request with `condition_error` (never a silent deny).
 */
export type RequestContext = Record<string, unknown>;

/**
 * Options every read of the engine takes (OpenFGA: store_id, authorization_model_id,
 * contextual_tuples, context, consistency).
 */
export interface QueryScope {
  /** Default: the tenant's built-in store `gatehouse`. */
  storeId?: string;
  /** A model version of the store; default the store's latest. Unknown id: `not_found` with details `{ resource: 'authorization_model' }`. */
  authorizationModelId?: string;
  /** CEL condition context (merged over each tuple's stored condition context; the tuple's values win, as OpenFGA). */
  context?: RequestContext;
  /**
   * Tuples that count for this request only, as if written (OpenFGA contextual_tuples). At most
   * {@link MAX_CONTEXTUAL_TUPLES}; each is shape-checked (`invalid_input`). May carry a condition.
   */
  contextualTuples?: RelationTuple[];
  /** Consistency token: answer only from an index at or past this changelog revision (waits up to 2 s, then `revision_timeout`). */
  atLeastRevision?: number;
}

/** Largest number of contextual tuples per request (OpenFGA's limit). */
export const MAX_CONTEXTUAL_TUPLES = 100;
/** Largest number of checks in one {@link AuthzService.batchCheck} call. */
export const MAX_BATCH_CHECKS = 1000;

/** A Check request (OpenFGA Check / Zanzibar check): is `subject` related to `object` by `relation`? */
export interface CheckRequest extends QueryScope {
  subject: SubjectRef;
  relation: string;
  object: ObjectRef;
  /** Return an {@link Explanation} (why allowed / why denied). Slower; off the hot path. */
  explain?: boolean;
}

/** A decision and the changelog revision it was made at. */
export interface CheckResult {
  decision: boolean;
  revision: number;
  /** Present only when the request asked for `explain`. */
  explanation?: Explanation;
}

/**
 * One step of an explanation path, from the checked `object#relation` down to the subject.
 * `kind`: `direct` (a tuple names the subject), `wildcard` (a `type:*` tuple), `userset`
 * (a tuple `object#relation@x#r`, continue in `x#r`), `computed` (rewrite `define a: b`),
 * `ttu` (a tuple `object#tupleset@parent`, continue in `parent#computed`), `intersection`,
 * `difference` (base held and subtract did not).
 */
export interface ExplainStep {
  kind: 'direct' | 'wildcard' | 'userset' | 'computed' | 'ttu' | 'intersection' | 'difference';
  /** `type:id#relation` being resolved at this step. */
  at: string;
  /** The tuple used, in Zanzibar notation (`doc:1#viewer@user:ann`), for tuple steps. */
  tuple?: string;
  /** True when the tuple came from the request's contextual tuples. */
  contextual?: boolean;
  /** Name of the condition the tuple carried (it evaluated to true). */
  condition?: string;
}

/** Why a check was allowed or denied. */
export interface Explanation {
  decision: boolean;
  /** Allowed: one granting path (first step is the checked object#relation). Denied: empty. */
  path: ExplainStep[];
  /** Human-readable one-line summary (not for branching). */
  summary: string;
  /**
   * Denied: the `object#relation`s that were examined and did not hold (bounded to 50), plus
   * tuples that exist but did not count (`expired`, `condition false`).
   */
  denied?: Array<{ at: string; reason: string }>;
}

/** One entry of {@link AuthzService.batchCheck}: a check with the caller's correlation id. */
export interface BatchCheckItem extends CheckRequest {
  /** Echoed in the result (OpenFGA correlation_id; AuthZEN: the evaluation's index as a string). */
  correlationId: string;
}

/** One result of a batch: a decision, or the error of that check alone (others are unaffected). */
export interface BatchCheckItemResult {
  correlationId: string;
  decision?: boolean;
  error?: { code: ErrorCode; message: string; details?: Record<string, unknown> };
  explanation?: Explanation;
}

/** OpenFGA ListObjects. */
export interface ListObjectsRequest extends QueryScope {
  subject: SubjectRef;
  relation: string;
  objectType: string;
  /** Stop after this many objects (default and max {@link MAX_LIST_RESULTS}). */
  limit?: number;
}

/** Largest number of results of ListObjects / ListUsers. */
export const MAX_LIST_RESULTS = 100_000;

/** Exactly the objects of `objectType` for which Check is true, as `type:id`, sorted. */
export interface ListObjectsResult {
  objects: string[];
  revision: number;
}

/** A filter of ListUsers: plain subjects of `type`, or usersets `type#relation`. */
export interface UserTypeFilter {
  type: string;
  relation?: string;
}

/** OpenFGA ListUsers. */
export interface ListUsersRequest extends QueryScope {
  object: ObjectRef;
  relation: string;
  /** OpenFGA allows exactly one filter; Gatehouse accepts 1..10 and returns the union. */
  userFilters: UserTypeFilter[];
}

/** A ListUsers result entry, in OpenFGA's JSON shape: exactly one of the three keys. */
export type ListedUser =
  | { object: { type: string; id: string } }
  | { userset: { type: string; id: string; relation: string } }
  | { wildcard: { type: string } };

/**
 * The users for which Check is true, sorted (objects, then usersets, then wildcards). A
 * `wildcard` entry means Check is true for the wildcard subject `type:*` (every subject of the
 * type, including ones no tuple names); with an exclusion some concrete subjects may still be
 * denied; they are then simply not listed.
 */
export interface ListUsersResult {
  users: ListedUser[];
  revision: number;
}

/** OpenFGA Expand: one level of the userset tree of `object#relation`. */
export interface ExpandRequest extends Omit<QueryScope, 'context'> {
  relation: string;
  object: ObjectRef;
}

/** OpenFGA `UsersetTree.Node`: `name` is `type:id#relation`; exactly one of leaf/union/intersection/difference. */
export interface UsersetTreeNode {
  name: string;
  leaf?: {
    /** Direct subjects, as `type:id`, `type:*` or `type:id#relation`. */
    users?: { users: string[] };
    /** A computed relation of the same object: `type:id#relation`. */
    computed?: { userset: string };
    /** `tupleset` is `type:id#tupleset`; each computed entry is `parent:id#relation`. */
    tupleToUserset?: { tupleset: string; computed: Array<{ userset: string }> };
  };
  union?: { nodes: UsersetTreeNode[] };
  intersection?: { nodes: UsersetTreeNode[] };
  difference?: { base: UsersetTreeNode; subtract: UsersetTreeNode };
}

/** OpenFGA ExpandResponse `{ tree: { root } }`. */
export interface ExpandResult {
  tree: { root: UsersetTreeNode };
  revision: number;
}

/** When a granting tuple was last used by an allowed decision (decision log). */
export interface TupleLastUsed {
  storeId: string;
  tuple: RelationTuple;
  /** ISO 8601 instant, or null if never recorded (logging off, or not used since logging began). */
  lastUsedAt: string | null;
}

/**
 * The engine's public contract (the OpenFGA routes, AuthZEN routes and CLI program against it).
 *
 * Errors (GatehouseError codes): `invalid_input` (malformed names, unknown type or relation in a
 * store's model — details `{ reason: 'unknown_type' | 'unknown_relation' }`, too many contextual
 * tuples, batch too large), `not_found` (`authorizationModelId` unknown — details
 * `{ resource: 'authorization_model' }`), `condition_error` (missing or wrongly typed condition
 * parameter, CEL evaluation failure), `resolution_too_complex` (depth limit), `revision_timeout`.
 * A store with no model answers every check false and lists nothing (the HTTP layer decides
 * whether that is `latest_authorization_model_not_found`; see {@link AuthzEngine.latestModelId}).
 */
export interface AuthzEngine {
  check(ctx: OperationContext, req: CheckRequest): Promise<CheckResult>;
  /** Each check is independent: one failing check gives that item an `error`, the others still answer. Results in input order. */
  batchCheck(ctx: OperationContext, checks: BatchCheckItem[]): Promise<BatchCheckItemResult[]>;
  listObjects(ctx: OperationContext, req: ListObjectsRequest): Promise<ListObjectsResult>;
  listUsers(ctx: OperationContext, req: ListUsersRequest): Promise<ListUsersResult>;
  expand(ctx: OperationContext, req: ExpandRequest): Promise<ExpandResult>;
  /** The id of the store's latest model as the index knows it (null: none; the built-in store: null, it uses the base model). */
  latestModelId(tenantId: string, storeId: string): string | null;
  /** Governance: when each tuple granting `subject` (in the store, default built-in) was last used. */
  grantsLastUsed(ctx: OperationContext, req: { storeId?: string; subject: SubjectRef }): Promise<TupleLastUsed[]>;
  /** Governance: when one tuple was last used (null if never recorded). */
  tupleLastUsed(ctx: OperationContext, req: { storeId?: string; tuple: RelationTuple }): Promise<string | null>;
  /** The changelog revision the index reflects. */
  currentRevision(): number;
}

function requireText(v: unknown, field: string): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > 512) {
    throw new GatehouseError('invalid_input', `${field} must be a non-empty string of at most 512 characters`, { field });
  }
}

/**
 * Decides Check questions from the in-memory index. Build with {@link AuthzService.start};
 * stop with {@link AuthzService.close}.
 */
export class AuthzService implements AuthzEngine {
  private readonly index = new TupleIndex();
  private readonly follower: ChangelogFollower;
  private readonly evaluator: Evaluator;
  private readonly builtin: CompiledModel;
  private readonly clock: Clock;
  private readonly revisionWaitMs: number;
  private localRevision = 0;
  private unsubscribe: (() => void) | null = null;

  private constructor(private readonly options: AuthzServiceOptions) {
    this.clock = options.clock;
    this.revisionWaitMs = options.revisionWaitMs ?? 2000;
    this.evaluator = new Evaluator({ maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH });
    this.builtin = compileModel(BUILTIN_MODEL, this.index.symbols);
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

  /** The compiled model of a store. The first slice serves the built-in model for every store (issue 3: per-store models). */
  private modelFor(_tenantId: string, _storeId: string): CompiledModel {
    return this.builtin;
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

  /**
   * Answers a Check: is `subject` related to `object` by `relation` in the store?
   * A disabled (not active) user or service account is always denied; expired tuples grant nothing.
   *
   * @throws GatehouseError `invalid_input` (empty or oversize names, bad revision),
   *   `revision_timeout` (atLeastRevision not reached in time), `resolution_too_complex` (depth limit).
   * @example
   * await authz.check(ctx, { subject: { type: 'user', id: uid }, relation: 'granted', object: { type: 'permission', id: 'documents:read' } });
   */
  async check(ctx: OperationContext, req: CheckRequest): Promise<CheckResult> {
    const wanted = req.atLeastRevision;
    if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 0)) {
      throw new GatehouseError('invalid_input', 'atLeastRevision must be a non-negative integer', { field: 'atLeastRevision' });
    }
    if (wanted !== undefined && wanted > this.index.revision) await this.waitForRevision(wanted);
    const local = this.localRevision;
    if (local > this.index.revision && !(await this.follower.waitFor(local, this.revisionWaitMs))) {
      // That revision's transaction did not commit (or not yet): stop waiting for it.
      if (this.localRevision === local) this.localRevision = this.index.revision;
    }
    return this.checkNow(ctx, req);
  }

  /**
   * Check against the index as it is now, without waiting (the in-process hot path).
   * @throws GatehouseError `invalid_input`, `resolution_too_complex`.
   */
  checkNow(ctx: OperationContext, req: CheckRequest): CheckResult {
    requireText(req.subject?.type, 'subject.type');
    requireText(req.subject?.id, 'subject.id');
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    const revision = this.index.revision;
    const storeId = req.storeId ?? BUILTIN_STORE_ID;
    if (!req.subject.relation && this.index.isDisabled(ctx.tenantId, req.subject.type, req.subject.id)) return { decision: false, revision };
    const decision = this.evaluator.check(
      this.index.store(ctx.tenantId, storeId),
      this.modelFor(ctx.tenantId, storeId),
      {
        subjectType: req.subject.type,
        subjectId: req.subject.id,
        subjectRelation: req.subject.relation ?? '',
        relation: req.relation,
        objectType: req.object.type,
        objectId: req.object.id,
      },
      this.clock.now().getTime(),
    );
    return { decision, revision };
  }

  /**
   * Runs many checks; each item fails alone (its `error`), results in input order.
   * @throws GatehouseError `invalid_input` when more than {@link MAX_BATCH_CHECKS} items.
   */
  async batchCheck(_ctx: OperationContext, _checks: BatchCheckItem[]): Promise<BatchCheckItemResult[]> {
    throw new GatehouseError('internal', 'batchCheck: not implemented yet');
  }

  /** ListObjects: exactly the objects of `objectType` for which Check is true. */
  async listObjects(_ctx: OperationContext, _req: ListObjectsRequest): Promise<ListObjectsResult> {
    throw new GatehouseError('internal', 'listObjects: not implemented yet');
  }

  /** ListUsers: exactly the users (of the filters' types) for which Check is true. */
  async listUsers(_ctx: OperationContext, _req: ListUsersRequest): Promise<ListUsersResult> {
    throw new GatehouseError('internal', 'listUsers: not implemented yet');
  }

  /** Expand: one level of the userset tree of `object#relation` (OpenFGA Expand). */
  async expand(_ctx: OperationContext, _req: ExpandRequest): Promise<ExpandResult> {
    throw new GatehouseError('internal', 'expand: not implemented yet');
  }

  latestModelId(_tenantId: string, _storeId: string): string | null {
    return null;
  }

  async grantsLastUsed(_ctx: OperationContext, _req: { storeId?: string; subject: SubjectRef }): Promise<TupleLastUsed[]> {
    return [];
  }

  async tupleLastUsed(_ctx: OperationContext, _req: { storeId?: string; tuple: RelationTuple }): Promise<string | null> {
    return null;
  }

  /** Stops following the changelog. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.follower.close();
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
  config: { databaseUrl: string };
  onClose(fn: () => Promise<void> | void): void;
}): Promise<AuthzService> {
  const authz = await AuthzService.start({
    storage: services.storage,
    clock: services.clock,
    logger: services.logger,
    tuples: services.tuples,
    listenUrl: services.storage.kind === 'postgres' ? services.config.databaseUrl : null,
  });
  services.onClose(() => authz.close());
  return authz;
}
