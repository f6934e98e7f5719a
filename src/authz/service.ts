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
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { Storage } from '../storage/database.js';
import { BUILTIN_MODEL } from './builtin-model.js';
import { DEFAULT_MAX_DEPTH, Evaluator } from './evaluator.js';
import { ChangelogFollower } from './follower.js';
import { TupleIndex } from './index.js';
import { compileModel, type CompiledModel } from './model.js';
import type { TupleStore } from './tuple-store.js';
import { BUILTIN_STORE_ID } from './tuples.js';

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

/** A Check request (OpenFGA Check / Zanzibar check). */
export interface CheckRequest {
  /** Default: the tenant's built-in store `gatehouse`. */
  storeId?: string;
  subject: SubjectRef;
  relation: string;
  object: { type: string; id: string };
  /** Consistency token: answer only from an index at or past this changelog revision. */
  atLeastRevision?: number;
}

/** A decision and the changelog revision it was made at. */
export interface CheckResult {
  decision: boolean;
  revision: number;
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
export class AuthzService {
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
