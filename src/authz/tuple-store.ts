import { CompiledQuery, sql } from 'kysely';
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import type { Executor } from '../storage/database.js';
import { isPostgres } from '../storage/insert-rows.js';
import { transactionMemo } from '../storage/transactions.js';
import type { AuthzChangelogTable, ChangelogOperation, TupleRow } from '../storage/schema.js';
import { BUILTIN_STORE_ID, formatTuple, tupleKeyColumns, validateTupleShape, type RelationTuple } from './tuples.js';

/** Options for {@link TupleStore.write}. */
export interface WriteOptions {
  /** What to do when a written tuple already exists: `error` (OpenFGA's rule) or `ignore`. Default `ignore`. */
  onDuplicate?: 'error' | 'ignore';
  /** What to do when a deleted tuple does not exist: `error` or `ignore`. Default `ignore`. */
  onMissing?: 'error' | 'ignore';
}

const NOTIFIED = 'changelog_notified';

/** Most changelog rows {@link TupleStore} appends with its revision in one statement on PostgreSQL (13 parameters a row). */
const FUSED_CHANGELOG_ROWS = 500;
/** The changelog's columns but the revision, in the order of the fused statement's VALUES. */
const CHANGELOG_COLUMNS = ['tenant_id', 'store_id', 'operation', 'object_type', 'object_id', 'relation', 'subject_type', 'subject_id', 'subject_relation', 'condition_name', 'condition_context', 'expires_at', 'created_at'] as const satisfies ReadonlyArray<Exclude<keyof AuthzChangelogTable, 'revision'>>;
/** SQL text of the fused statement by (row count, with NOTIFY). */
const fusedTexts = new Map<string, string>();

/** Tuples per multi-row insert (13 parameters a row; PostgreSQL allows 65,535 parameters a statement, SQLite 32,766). */
const WRITE_CHUNK = 500;

/** A tuple's primary key within a store, as one string. */
function tupleKey(objectType: string, objectId: string, relation: string, subjectType: string, subjectId: string, subjectRelation: string): string {
  return JSON.stringify([objectType, objectId, relation, subjectType, subjectId, subjectRelation]);
}

/** A tuple's columns, as `authz_tuples` and `authz_changelog` both store them. */
function tupleColumns(t: RelationTuple) {
  return {
    ...tupleKeyColumns(t),
    condition_name: t.condition?.name ?? null,
    condition_context: t.condition?.context ? JSON.stringify(t.condition.context) : null,
    expires_at: t.expiresAt ?? null,
  };
}

/** PostgreSQL channel notified (at commit) by every transaction that allocates a changelog revision. */
export const CHANGELOG_CHANNEL = 'gatehouse_changelog';

/** Options of {@link TupleStore}. */
export interface TupleStoreOptions {
  /** Send `NOTIFY gatehouse_changelog` in each writing transaction (PostgreSQL only), so followers wake at commit. */
  notify?: boolean;
}

/** The outcome of a write: the consistency token and what actually changed. */
export interface WriteResult {
  /** Changelog revision of this write (the consistency token); the previous revision if nothing changed. */
  revision: number;
  written: RelationTuple[];
  deleted: RelationTuple[];
}

/** Converts a stored row into a tuple. */
export function rowToTuple(r: Pick<TupleRow, 'object_type' | 'object_id' | 'relation' | 'subject_type' | 'subject_id' | 'subject_relation' | 'condition_name' | 'condition_context' | 'expires_at'>): RelationTuple {
  return {
    objectType: r.object_type,
    objectId: r.object_id,
    relation: r.relation,
    subjectType: r.subject_type,
    subjectId: r.subject_id,
    subjectRelation: r.subject_relation,
    condition: r.condition_name ? { name: r.condition_name, context: r.condition_context ? (JSON.parse(r.condition_context) as Record<string, unknown>) : null } : null,
    expiresAt: r.expires_at,
  };
}

/**
 * Relation tuples and their changelog: the storage half of the authorization engine.
 *
 * Every call runs inside the caller's transaction. Each call that changes anything takes the next
 * changelog revision from the single `authz_revision` row; that row's lock (PostgreSQL) or the
 * serial SQLite transaction makes revisions commit in order, so an index following the changelog
 * by `revision > last` never misses a row.
 */
export class TupleStore {
  private readonly revisionListeners = new Set<(revision: number) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly options: TupleStoreOptions = {},
  ) {}

  /**
   * Registers `fn`, called with every revision this process allocates, inside the writing
   * transaction (before commit). The authorization index uses it for read-your-writes within a
   * process. @returns a function that unregisters it.
   */
  onRevision(fn: (revision: number) => void): () => void {
    this.revisionListeners.add(fn);
    return () => void this.revisionListeners.delete(fn);
  }

  /** Allocates the next revision (locks the counter row until the transaction ends). */
  private async nextRevision(trx: Executor): Promise<number> {
    const row = await trx
      .updateTable('authz_revision')
      .set((eb) => ({ revision: eb('revision', '+', 1) }))
      .where('id', '=', 1)
      .returning('revision')
      .executeTakeFirstOrThrow();
    const revision = Number(row.revision);
    // Delivered by PostgreSQL only when (and if) the transaction commits; once per transaction is
    // enough (the memo forgets it if the savepoint that sent it is rolled back).
    const memo = transactionMemo(trx);
    if (this.options.notify && !memo.has(NOTIFIED)) {
      await sql`NOTIFY ${sql.raw(CHANGELOG_CHANNEL)}`.execute(trx);
      memo.set(NOTIFIED, true);
    }
    for (const fn of this.revisionListeners) fn(revision);
    return revision;
  }

  /**
   * On PostgreSQL, for at most {@link FUSED_CHANGELOG_ROWS} changes: allocates the next revision,
   * appends the changes under it (and sends the transaction's NOTIFY, as `pg_notify`, when due)
   * in ONE statement, as {@link nextRevision} and the inserts would in three.
   * @returns the revision, or null (nothing done) elsewhere.
   */
  private async appendChangelogPg(trx: Executor, ctx: OperationContext, storeId: string, changes: Array<{ op: ChangelogOperation; t: RelationTuple }>, now: string): Promise<number | null> {
    if (changes.length > FUSED_CHANGELOG_ROWS || !isPostgres(trx)) return null;
    const memo = transactionMemo(trx);
    const notify = this.options.notify === true && !memo.has(NOTIFIED);
    const rows = changes.map((c) => this.changelogRow(ctx, storeId, 0, c.op, c.t, now));
    const key = `${rows.length}|${notify}`;
    let text = fusedTexts.get(key);
    if (text === undefined) {
      const cols = CHANGELOG_COLUMNS.map((c) => `"${c}"`).join(', ');
      let n = 1;
      const values = rows.map(() => `(${CHANGELOG_COLUMNS.map(() => `$${n++}`).join(', ')})`).join(', ');
      text =
        `with "r" as (update "authz_revision" set "revision" = "revision" + 1 where "id" = 1 returning "revision")` +
        (notify ? `, "n" as (select pg_notify('${CHANGELOG_CHANNEL}', ''))` : '') +
        ` insert into "authz_changelog" ("revision", ${cols}) select "r"."revision", "v".* from "r"${notify ? ' cross join "n"' : ''} cross join (values ${values}) as "v" (${cols}) returning "revision"`;
      fusedTexts.set(key, text);
    }
    const params = rows.flatMap((r) => CHANGELOG_COLUMNS.map((c) => r[c] ?? null));
    const res = await trx.executeQuery<{ revision: number }>(CompiledQuery.raw(text, params));
    if (res.rows.length === 0) throw new Error('authz_revision has no row 1');
    const revision = Number(res.rows[0]!.revision);
    if (notify) memo.set(NOTIFIED, true);
    for (const fn of this.revisionListeners) fn(revision);
    return revision;
  }

  /** The latest committed revision visible to `db`. */
  async currentRevision(db: Executor): Promise<number> {
    const row = await db.selectFrom('authz_revision').select('revision').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(row.revision);
  }

  private changelogRow(ctx: OperationContext, storeId: string, revision: number, op: ChangelogOperation, t: RelationTuple, now: string): AuthzChangelogTable {
    return {
      tenant_id: ctx.tenantId,
      revision,
      store_id: storeId,
      operation: op,
      ...tupleColumns(t),
      created_at: now,
    };
  }

  /**
   * Writes and deletes tuples in `storeId` inside `trx`, appending each change to the changelog.
   *
   * @throws GatehouseError `invalid_input` for a malformed tuple; `conflict` for an existing tuple
   *   when `onDuplicate` is `error`; `not_found` for a missing tuple when `onMissing` is `error`.
   */
  async write(
    trx: Executor,
    ctx: OperationContext,
    storeId: string,
    change: { writes?: RelationTuple[]; deletes?: RelationTuple[] },
    options: WriteOptions = {},
  ): Promise<WriteResult> {
    const writes = change.writes ?? [];
    const deletes = change.deletes ?? [];
    for (const t of [...writes, ...deletes]) validateTupleShape(t);
    const now = this.clock.now().toISOString();
    const written: RelationTuple[] = [];
    const deleted: RelationTuple[] = [];
    for (const t of deletes) {
      const res = await this.keyed(trx.deleteFrom('authz_tuples'), ctx.tenantId, storeId, t).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) {
        if (options.onMissing === 'error') throw new GatehouseError('not_found', `tuple ${formatTuple(t)} does not exist`, { tuple: formatTuple(t) });
      } else deleted.push(t);
    }
    // The writes as multi-row inserts (one statement per chunk): the returned keys tell which
    // were new; a tuple that exists (or repeats an earlier one of this call) is skipped, as one by one.
    for (let i = 0; i < writes.length; i += WRITE_CHUNK) {
      const chunk = writes.slice(i, i + WRITE_CHUNK);
      const inserted = await trx
        .insertInto('authz_tuples')
        .values(
          chunk.map((t) => ({
            tenant_id: ctx.tenantId,
            store_id: storeId,
            ...tupleColumns(t),
            source: ctx.source ?? 'admin',
            created_at: now,
          })),
        )
        .onConflict((oc) => oc.doNothing())
        .returning(['object_type', 'object_id', 'relation', 'subject_type', 'subject_id', 'subject_relation'])
        .execute();
      const isNew = new Set(inserted.map((r) => tupleKey(r.object_type, r.object_id, r.relation, r.subject_type, r.subject_id, r.subject_relation)));
      for (const t of chunk) {
        // Deleting the key keeps a tuple repeated within the call from counting twice.
        if (isNew.delete(tupleKey(t.objectType, t.objectId, t.relation, t.subjectType, t.subjectId, t.subjectRelation))) written.push(t);
        else if (options.onDuplicate === 'error') throw new GatehouseError('conflict', `tuple ${formatTuple(t)} already exists`, { tuple: formatTuple(t) });
      }
    }
    if (written.length === 0 && deleted.length === 0) return { revision: await this.currentRevision(trx), written, deleted };
    const changes = [...deleted.map((t) => ({ op: 'delete' as const, t })), ...written.map((t) => ({ op: 'write' as const, t }))];
    const fused = await this.appendChangelogPg(trx, ctx, storeId, changes, now);
    if (fused !== null) return { revision: fused, written, deleted };
    const revision = await this.nextRevision(trx);
    const rows = changes.map((c) => this.changelogRow(ctx, storeId, revision, c.op, c.t, now));
    for (let i = 0; i < rows.length; i += 500) await trx.insertInto('authz_changelog').values(rows.slice(i, i + 500)).execute();
    return { revision, written, deleted };
  }

  // Narrow a delete/select to one tuple's primary key.
  private keyed<Q extends { where: (...args: never[]) => Q }>(q: Q, tenantId: string, storeId: string, t: RelationTuple): Q {
    const w = q.where as unknown as (col: string, op: string, v: string) => Q;
    let r = w.call(q, 'tenant_id', '=', tenantId);
    const steps: Array<[string, string]> = [
      ['store_id', storeId],
      ['object_type', t.objectType],
      ['object_id', t.objectId],
      ['relation', t.relation],
      ['subject_type', t.subjectType],
      ['subject_id', t.subjectId],
      ['subject_relation', t.subjectRelation],
    ];
    for (const [c, v] of steps) r = (r.where as unknown as (col: string, op: string, v: string) => Q).call(r, c, '=', v);
    return r;
  }

  /**
   * Marks a subject (user or service account) as not active (`enabled=false`) or active again.
   * Decisions for a disabled subject deny at once, while its grants stay recorded for reviews.
   * @returns the changelog revision.
   */
  async setSubjectEnabled(trx: Executor, ctx: OperationContext, subject: { type: string; id: string }, enabled: boolean): Promise<number> {
    const revision = await this.nextRevision(trx);
    const now = this.clock.now().toISOString();
    const t: RelationTuple = { objectType: subject.type, objectId: subject.id, relation: 'status', subjectType: subject.type, subjectId: subject.id, subjectRelation: '' };
    await trx.insertInto('authz_changelog').values(this.changelogRow(ctx, BUILTIN_STORE_ID, revision, enabled ? 'enable' : 'disable', t, now)).execute();
    return revision;
  }

  /**
   * Appends a `model` changelog row (object `authorization_model:<modelId>`) for a new
   * authorization model of `storeId`, so every process's index loads it, inside `trx`.
   * @returns the changelog revision.
   */
  async recordModel(trx: Executor, ctx: OperationContext, storeId: string, modelId: string): Promise<number> {
    const revision = await this.nextRevision(trx);
    const t: RelationTuple = { objectType: 'authorization_model', objectId: modelId, relation: '', subjectType: '', subjectId: '', subjectRelation: '' };
    await trx.insertInto('authz_changelog').values(this.changelogRow(ctx, storeId, revision, 'model', t, this.clock.now().toISOString())).execute();
    return revision;
  }

  /**
   * Appends a `drop_store` changelog row for a deleted store, so every process's index drops the
   * store's tuples and models (they stay in the database, as OpenFGA keeps a deleted store's data),
   * inside `trx`.
   * @returns the changelog revision.
   */
  async recordStoreDeleted(trx: Executor, ctx: OperationContext, storeId: string): Promise<number> {
    const revision = await this.nextRevision(trx);
    const t: RelationTuple = { objectType: 'store', objectId: storeId, relation: '', subjectType: '', subjectId: '', subjectRelation: '' };
    await trx.insertInto('authz_changelog').values(this.changelogRow(ctx, storeId, revision, 'drop_store', t, this.clock.now().toISOString())).execute();
    return revision;
  }

  /**
   * Deletes every tuple in which `type:id` is the object or the subject, in every store of the
   * tenant (deprovisioning, deleting a group or role).
   * @returns the deleted tuples with their store, and the revision.
   */
  async deleteTouching(trx: Executor, ctx: OperationContext, type: string, id: string): Promise<{ revision: number; deleted: Array<RelationTuple & { storeId: string }> }> {
    const rows = await trx
      .selectFrom('authz_tuples')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where((eb) => eb.or([eb.and([eb('object_type', '=', type), eb('object_id', '=', id)]), eb.and([eb('subject_type', '=', type), eb('subject_id', '=', id)])]))
      .execute();
    if (rows.length === 0) return { revision: await this.currentRevision(trx), deleted: [] };
    const byStore = new Map<string, RelationTuple[]>();
    for (const r of rows) {
      const list = byStore.get(r.store_id) ?? [];
      list.push(rowToTuple(r));
      byStore.set(r.store_id, list);
    }
    let revision = 0;
    const deleted: Array<RelationTuple & { storeId: string }> = [];
    for (const [storeId, tuples] of byStore) {
      const res = await this.write(trx, ctx, storeId, { deletes: tuples });
      revision = res.revision;
      deleted.push(...res.deleted.map((t) => ({ ...t, storeId })));
    }
    return { revision, deleted };
  }

  /** Reads tuples of a store matching the given fields (all optional but the store). */
  async read(
    db: Executor,
    tenantId: string,
    storeId: string,
    filter: Partial<Pick<RelationTuple, 'objectType' | 'objectId' | 'relation' | 'subjectType' | 'subjectId' | 'subjectRelation'>>,
  ): Promise<RelationTuple[]> {
    let q = db.selectFrom('authz_tuples').selectAll().where('tenant_id', '=', tenantId).where('store_id', '=', storeId);
    if (filter.objectType !== undefined) q = q.where('object_type', '=', filter.objectType);
    if (filter.objectId !== undefined) q = q.where('object_id', '=', filter.objectId);
    if (filter.relation !== undefined) q = q.where('relation', '=', filter.relation);
    if (filter.subjectType !== undefined) q = q.where('subject_type', '=', filter.subjectType);
    if (filter.subjectId !== undefined) q = q.where('subject_id', '=', filter.subjectId);
    if (filter.subjectRelation !== undefined) q = q.where('subject_relation', '=', filter.subjectRelation);
    const rows = await q.orderBy('object_type').orderBy('object_id').orderBy('relation').orderBy('subject_type').orderBy('subject_id').execute();
    return rows.map(rowToTuple);
  }
}
