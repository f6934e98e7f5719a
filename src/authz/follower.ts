/**
 * Fills a {@link TupleIndex} from the database and keeps it current.
 *
 * - {@link ChangelogFollower.build}: in one consistent snapshot (PostgreSQL REPEATABLE READ; an
 *   SQLite read transaction), reads the revision counter, every live tuple (keyset-paged) except
 *   those of deleted stores, and the users and service accounts whose status is not `active`
 *   (disabled subjects).
 * - A `drop_store` row (a store was deleted) drops that store's graph and models.
 * - Then it follows `authz_changelog`: rows with `revision >` the applied revision, in revision
 *   order, a whole revision at a time. It polls (default every 200 ms) and, on PostgreSQL, also
 *   wakes on `LISTEN gatehouse_changelog` (TupleStore sends `NOTIFY` inside each writing
 *   transaction, so it arrives at commit).
 *
 * Revisions commit in order (the `authz_revision` row lock serialises writers), so reading
 * `revision > last` never skips a row that commits later with a smaller revision.
 */
import { PgListener } from '../storage/pg-listener.js';
import { sql } from 'kysely';
import type { Logger } from '../kernel/logger.js';
import type { Storage, Executor } from '../storage/database.js';
import type { AuthzChangelogTable } from '../storage/schema.js';
import { rowToTuple, CHANGELOG_CHANNEL } from './tuple-store.js';
import { compileStoredModel } from './store-models.js';
import type { CompiledModel } from './model.js';
import type { IndexChange, TupleIndex } from './index.js';

/** Options of {@link ChangelogFollower}. */
export interface FollowerOptions {
  storage: Storage;
  index: TupleIndex;
  logger?: Logger;
  /** Polling period in milliseconds (default 200). */
  pollIntervalMs?: number;
  /** PostgreSQL connection string to LISTEN on; null/undefined: polling only. */
  listenUrl?: string | null;
  /** Rows read per query while building and following (default 5000). */
  batchRows?: number;
}

interface Waiter {
  revision: number;
  /** Settles the wait: true once the revision is applied, false when the follower closes. */
  done: (reached: boolean) => void;
}

const TUPLE_KEY = ['tenant_id', 'store_id', 'object_type', 'object_id', 'relation', 'subject_type', 'subject_id', 'subject_relation'] as const;

/** Builds the index and follows the changelog. */
export class ChangelogFollower {
  private readonly storage: Storage;
  private readonly index: TupleIndex;
  private readonly logger: Logger | undefined;
  private readonly pollIntervalMs: number;
  private readonly batchRows: number;
  private readonly listenUrl: string | null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private closed = false;
  private waiters: Waiter[] = [];
  private listener: PgListener | null = null;

  constructor(options: FollowerOptions) {
    this.storage = options.storage;
    this.index = options.index;
    this.logger = options.logger;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.batchRows = options.batchRows ?? 5000;
    this.listenUrl = options.storage.kind === 'postgres' ? (options.listenUrl ?? null) : null;
  }

  /** Loads the index from the database (one snapshot). Call once, before {@link start}. */
  async build(): Promise<void> {
    // Bigger pages while building: fewer keyset queries over the primary key.
    const buildRows = Math.max(this.batchRows, 50_000);
    const load = async (trx: Executor) => {
      const rev = await trx.selectFrom('authz_revision').select('revision').where('id', '=', 1).executeTakeFirstOrThrow();
      // Deleted stores keep their rows in the database but not in the index.
      for (const d of await trx.selectFrom('authz_stores').select(['tenant_id', 'id']).where('deleted_at', 'is not', null).execute()) this.index.dropStore(d.tenant_id, d.id);
      let after: string[] | null = null;
      for (;;) {
        // Only the columns a tuple needs (not `source`, `created_at`): fewer values per row to materialise.
        let q = trx.selectFrom('authz_tuples').select([...TUPLE_KEY, 'condition_name', 'condition_context', 'expires_at']);
        if (after) {
          const a = after;
          q = q.where(sql<boolean>`(${sql.join(TUPLE_KEY.map((c) => sql.ref(c)))}) > (${sql.join(a)})`);
        }
        for (const c of TUPLE_KEY) q = q.orderBy(c);
        const rows = await q.limit(buildRows).execute();
        for (const r of rows) this.index.writeTuple(r.tenant_id, r.store_id, rowToTuple(r));
        const last = rows[rows.length - 1];
        if (!last || rows.length < buildRows) break;
        after = TUPLE_KEY.map((c) => last[c]);
      }
      const models = await trx.selectFrom('authz_models').select(['tenant_id', 'store_id', 'id', 'model']).orderBy('id').execute();
      for (const m of models) {
        const compiled = this.compile(m.id, m.model);
        if (compiled) this.index.addModel(m.tenant_id, m.store_id, compiled);
      }
      for (const table of ['users', 'service_accounts'] as const) {
        const type = table === 'users' ? 'user' : 'service_account';
        const rows = await trx.selectFrom(table).select(['tenant_id', 'id']).where('status', '<>', 'active').execute();
        for (const r of rows) this.index.setDisabled(r.tenant_id, type, r.id, true);
      }
      this.index.revision = Number(rev.revision);
      this.index.compact();
    };
    if (this.storage.kind === 'postgres') await this.storage.db.transaction().setIsolationLevel('repeatable read').execute(load);
    // A read-only (deferred) transaction: one WAL snapshot, no write lock held while the index is built.
    else await this.storage.db.transaction().setAccessMode('read only').execute(load);
  }

  private compile(id: string, json: string): CompiledModel | undefined {
    try {
      return compileStoredModel(id, json, this.index.symbols);
    } catch (err) {
      this.logger?.error({ err, modelId: id }, 'authz: a stored authorization model does not compile; ignored');
      return undefined;
    }
  }

  /** Loads the models named by `model` changelog rows. */
  private async loadModels(rows: AuthzChangelogTable[]): Promise<Map<string, CompiledModel>> {
    const out = new Map<string, CompiledModel>();
    const wanted = rows.filter((r) => r.operation === 'model');
    for (const r of wanted) {
      const m = await this.storage.db
        .selectFrom('authz_models')
        .select(['id', 'model'])
        .where('tenant_id', '=', r.tenant_id)
        .where('id', '=', r.object_id)
        .executeTakeFirst();
      const compiled = m ? this.compile(m.id, m.model) : undefined;
      if (compiled) out.set(`${r.tenant_id}|${r.object_id}`, compiled);
    }
    return out;
  }

  /** Starts polling and (PostgreSQL) listening. */
  start(): void {
    if (this.closed) return;
    this.schedule();
    if (this.listenUrl) {
      this.listener = new PgListener({ url: this.listenUrl, channel: CHANGELOG_CHANNEL, label: 'authz changelog', logger: this.logger, onNotify: () => this.kick() });
      this.listener.start();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.catchUp()
        .catch((err: unknown) => this.logger?.warn({ err }, 'authz changelog: catch-up failed; retrying'))
        .finally(() => this.schedule());
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  /** Asks for a catch-up now (a NOTIFY arrived, or a check waits for a revision). */
  kick(): void {
    if (this.closed) return;
    this.catchUp().catch((err: unknown) => this.logger?.warn({ err }, 'authz changelog: catch-up failed; retrying'));
  }

  /**
   * Applies every committed changelog row not yet applied. Concurrent calls share one run (and
   * ask it to go round once more, so a row committed meanwhile is not missed).
   * @returns when the index has reached at least the revision committed when the call was made.
   */
  catchUp(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.rerun = false;
          await this.pull();
        } while (this.rerun && !this.closed);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async pull(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const rows = await this.storage.db
        .selectFrom('authz_changelog')
        .selectAll()
        .where('revision', '>', this.index.revision)
        .orderBy('revision')
        .limit(this.batchRows)
        .execute();
      if (rows.length === 0) return;
      let usable = rows;
      const full = rows.length === this.batchRows;
      if (full) {
        const lastRev = Number(rows[rows.length - 1]!.revision);
        if (Number(rows[0]!.revision) === lastRev) {
          // One revision larger than a batch: read it whole.
          usable = await this.storage.db.selectFrom('authz_changelog').selectAll().where('revision', '=', lastRev).execute();
        } else {
          // The last revision may be cut off by the limit; take it next round.
          usable = rows.filter((r) => Number(r.revision) !== lastRev);
        }
      }
      this.apply(usable, await this.loadModels(usable));
      if (!full) return;
    }
  }

  private apply(rows: AuthzChangelogTable[], models: Map<string, CompiledModel>): void {
    let i = 0;
    while (i < rows.length) {
      const revision = Number(rows[i]!.revision);
      const changes: IndexChange[] = [];
      while (i < rows.length && Number(rows[i]!.revision) === revision) {
        const r = rows[i]!;
        changes.push({
          tenantId: r.tenant_id,
          storeId: r.store_id,
          operation: r.operation,
          tuple: rowToTuple(r),
          model: r.operation === 'model' ? models.get(`${r.tenant_id}|${r.object_id}`) : undefined,
        });
        i++;
      }
      this.index.applyRevision(revision, changes);
    }
    this.release();
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    const rev = this.index.revision;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.revision <= rev) w.done(true);
      else still.push(w);
    }
    this.waiters = still;
  }

  /**
   * Resolves true once the index has applied `revision`, or false after `timeoutMs`.
   * Triggers a catch-up at once rather than waiting for the next poll.
   */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.index.revision >= revision) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter: Waiter = {
        revision,
        done: (reached) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      this.waiters.push(waiter);
      this.kick();
    });
  }

  /** Stops polling and listening; waits for a catch-up in flight. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const l = this.listener;
    this.listener = null;
    if (l) await l.close();
    if (this.running) await this.running.catch(() => undefined);
    for (const w of this.waiters) w.done(false);
    this.waiters = [];
  }
}
