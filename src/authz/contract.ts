/**
 * The public contract of the authorization engine (types); implemented by {@link AuthzService}
 * in service.ts, which re-exports everything here.
 */
import type { OperationContext } from '../kernel/context.js';
import type { ErrorCode } from '../kernel/errors.js';
import type { RelationTuple } from './tuples.js';

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

/**
 * One check of {@link AuthzEngine.checkEach}: a {@link CheckRequest} without the members the call
 * gives once (store) or does not take (model id, revision, contextual tuples, explanation).
 */
export interface EachCheck {
  subject: SubjectRef;
  relation: string;
  object: ObjectRef;
  context?: RequestContext;
}

/** The error of one check of a batch (its GatehouseError's code, message and details). */
export type CheckItemError = NonNullable<BatchCheckItemResult['error']>;

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
  /** {@link check}'s answer when it would not wait for a revision (no promise); undefined when it would. */
  checkReady(ctx: OperationContext, req: CheckRequest): CheckResult | undefined;
  /** Each check is independent: one failing check gives that item an `error`, the others still answer. Results in input order. */
  batchCheck(ctx: OperationContext, checks: BatchCheckItem[]): Promise<BatchCheckItemResult[]>;
  /**
   * Checks in the store `storeId`, each failing alone, in input order: `true`/`false`, or the
   * error of that check, exactly as {@link AuthzEngine.batchCheck} answers `{ storeId, ...check }`,
   * without correlation ids or result objects. Consecutive checks that share one `subject` object
   * (the AuthZEN batch's default subject) resolve it once. Waits for this process's own writes.
   */
  checkEach(ctx: OperationContext, storeId: string, checks: readonly EachCheck[]): Promise<Array<boolean | CheckItemError>>;
  /**
   * Records in the decision log a denial its caller decided from a check's error: AuthZEN answers
   * `decision: false` where the check failed because a name is not in the store's model (reason
   * `unknown_type` / `unknown_relation`). Logged, when the log draws it, like any other denial.
   */
  recordDenial(ctx: OperationContext, storeId: string, check: EachCheck): void;
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
  /**
   * Waits until the index has applied `revision` (at once when it has).
   * @throws GatehouseError `revision_timeout` when it has not within the engine's wait limit (default 2 s).
   */
  waitForRevision(revision: number): Promise<void>;
}

