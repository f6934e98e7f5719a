import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../kernel/secrets.js';
import { newId } from '../kernel/ids.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import type { Executor, StorageKind } from '../storage/database.js';
import { insertRowsThen, type FinalStatement, type RowsInsert } from '../storage/insert-rows.js';
import { deferUntilCommit, transactionMemo } from '../storage/transactions.js';
import type { AuditEventRow, Database } from '../storage/schema.js';
import { canonicalJson } from './canonical.js';

/** prev_hash of the first entry in a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** One event to append. `action` is `noun.verb`, e.g. `user.create`, `signin.failure`. */
export interface AuditEventInput {
  action: string;
  outcome?: 'success' | 'failure';
  target?: { type: string; id: string | null };
  before?: unknown;
  after?: unknown;
  details?: Record<string, unknown>;
}

/** An audit entry as returned by {@link AuditLog.list}. */
export interface AuditEvent {
  seq: number;
  id: string;
  occurredAt: string;
  actor: { type: string; id: string | null };
  action: string;
  outcome: string;
  target: { type: string; id: string | null } | null;
  requestId: string | null;
  sourceIp: string | null;
  before: unknown;
  after: unknown;
  details: unknown;
  hash: string;
}

/** Result of walking the chain. */
export interface AuditVerification {
  ok: boolean;
  /** Entries checked. */
  checked: number;
  /** The first entry found altered or missing, when `ok` is false. */
  firstBad?: { seq: number; id: string | null; reason: 'altered' | 'missing' | 'reordered' | 'truncated' };
}

/** Filters and paging for {@link AuditLog.list}. */
export interface AuditQuery {
  action?: string;
  actorId?: string;
  targetId?: string;
  outcome?: 'success' | 'failure';
  /** ISO 8601 instants, inclusive lower / exclusive upper bound on `occurredAt`. */
  since?: string;
  until?: string;
  /** Return entries with `seq` greater than this (cursor paging). */
  afterSeq?: number;
  /** Page size, 1..1000. */
  limit: number;
}

/** Fields covered by the hash, in the stored (row) form. */
function hashedFields(row: Omit<AuditEventRow, 'hash'>): Record<string, unknown> {
  return {
    tenant_id: row.tenant_id,
    seq: Number(row.seq),
    id: row.id,
    occurred_at: row.occurred_at,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    action: row.action,
    outcome: row.outcome,
    target_type: row.target_type,
    target_id: row.target_id,
    request_id: row.request_id,
    source_ip: row.source_ip,
    before: row.before,
    after: row.after,
    details: row.details,
  };
}

/** SHA-256 over the previous hash and the canonical JSON of the entry's fields. */
export function entryHash(row: Omit<AuditEventRow, 'hash'>): string {
  return sha256Hex(`${row.prev_hash}\n${canonicalJson(hashedFields(row))}`);
}

/** An event before it is chained: every field but its place in the chain. */
type PendingEntry = Omit<AuditEventRow, 'seq' | 'prev_hash' | 'hash'>;
/** Events kept by a shared transaction, newest first. */
interface PendingList {
  entry: PendingEntry;
  next: PendingList | null;
}

/**
 * Stand-ins for `occurred_at` and `seq` in the canonical JSON whose hash PostgreSQL completes
 * ({@link AuditLog.insertWithEvent}): random per process, with a control character JSON escapes.
 */
const OPEN_TIME = `\u0001t${randomBytes(12).toString('hex')}`;
const OPEN_SEQ = `\u0001s${randomBytes(12).toString('hex')}`;

/** Rows per multi-row insert of kept events (17 parameters a row; both backends allow far more). */
const INSERT_CHUNK = 500;

/** The chain's last event as the head row holds it: its seq, its hash and its occurred_at (null for a head written before 0012). */
interface Head {
  seq: number;
  hash: string;
  occurredAt: string | null;
}

/**
 * `entry` as the event after `head` in the chain, stamped `occurredAt` (an ISO 8601 instant taken
 * once the head is held; never before the head's own, should clocks of several servers disagree):
 * the time is given with the seq, so seq order and occurred_at order agree
 * (`GET /api/v1/audit?since=` pages by time).
 */
function chained(entry: PendingEntry, head: Head, occurredAt: string): AuditEventRow {
  const at = head.occurredAt !== null && head.occurredAt > occurredAt ? head.occurredAt : occurredAt;
  const row: Omit<AuditEventRow, 'hash'> = { ...entry, occurred_at: at, seq: Number(head.seq) + 1, prev_hash: head.hash };
  return { ...row, hash: entryHash(row) };
}

/** The UPDATE that makes `head` the chain head of `tenantId`. */
function moveHead(tenantId: string, head: Head): FinalStatement {
  return {
    key: 'audit_head_move',
    sqlOf: (p) => `update "audit_head" set "seq" = ${p(0)}, "hash" = ${p(1)}, "occurred_at" = ${p(2)} where "tenant_id" = ${p(3)}`,
    params: [head.seq, head.hash, head.occurredAt, tenantId],
  };
}

/** The head after `row`. */
function headOf(row: AuditEventRow): Head {
  return { seq: Number(row.seq), hash: row.hash, occurredAt: row.occurred_at };
}

function toJsonText(v: unknown): string | null {
  return v === undefined || v === null ? null : canonicalJson(v);
}

/**
 * The append-only, SHA-256 hash-chained audit log (one chain per tenant).
 *
 * Appends run inside the caller's transaction, so an event is stored exactly when its change is.
 * On PostgreSQL the chain head row is locked (`FOR UPDATE`) so concurrent appends serialise;
 * SQLite transactions are already serial. A transaction opened with `storage.db.transaction()`
 * or shared ({@link runSharedTransaction}) chains its events at commit, one head lock and one
 * insert for all (see {@link AuditLog.append}); in a transaction opened otherwise the head is read
 * at the first append and then kept in memory ({@link transactionMemo}).
 */
export class AuditLog {
  constructor(
    private readonly kind: StorageKind,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends one event inside `trx` (which must be a transaction for the chain to stay consistent).
   *
   * In a transaction opened with `storage.db.transaction()`, or a shared one
   * ({@link runSharedTransaction}: SCIM Bulk, grouped single requests), the event is kept in the
   * transaction's memo (so a rolled-back savepoint drops it) and the events are chained and
   * stored just before commit, in append order, by {@link AuditLog.flushPending}: the chain head
   * is read and locked there, as the transaction's last statements (the head lock is the last
   * lock every writer takes), so on PostgreSQL concurrent writers wait for it only during the
   * commit; the last insert and the head's move are one statement.
   */
  async append(trx: Executor, ctx: OperationContext, event: AuditEventInput): Promise<void> {
    const tenantId = ctx.tenantId;
    const entry = this.pendingEntry(ctx, event);
    const pendingKey = `audit_pending:${tenantId}`;
    if (deferUntilCommit(trx, pendingKey, () => this.flushPending(trx, tenantId, pendingKey))) {
      // An immutable list, newest first: the memo restores the value it had before a rolled-back savepoint.
      const memo = transactionMemo(trx);
      memo.set(pendingKey, { entry, next: (memo.get(pendingKey) as PendingList | undefined) ?? null } satisfies PendingList);
      return;
    }
    const memo = transactionMemo(trx);
    const memoKey = `audit_head:${tenantId}`;
    // The head read (and, on PostgreSQL, locked) earlier in this transaction is still the head:
    // only this transaction can have moved it since.
    const head = (memo.get(memoKey) as Head | undefined) ?? (await this.readHead(trx, tenantId));
    const row = chained(entry, head, this.clock.now().toISOString());
    await insertRowsThen(trx, [{ table: 'audit_events', rows: [row] }], moveHead(tenantId, headOf(row)));
    memo.set(memoKey, headOf(row));
  }

  /**
   * On PostgreSQL, outside any transaction: inserts `rows` and appends `event` as ONE statement
   * (one round trip, atomic and committed on its own, as a transaction of its own would be). The
   * statement locks the chain head, chains the event after it — PostgreSQL computes the hash,
   * SHA-256 over the same text as {@link entryHash}: the canonical JSON is made here with its
   * `occurred_at` and `seq` left open — stores it and moves the head. `occurred_at` is the time
   * read now, or the head's if that is later (seq and occurred_at orders agree).
   *
   * @returns false, having done nothing, when this cannot be done so (SQLite, `db` a transaction,
   *   an event whose text holds the placeholders): the caller uses a transaction instead.
   * @throws the driver's error (e.g. a unique violation of one of `rows`); nothing is stored.
   */
  async insertWithEvent(db: Executor, ctx: OperationContext, rows: ReadonlyArray<RowsInsert<keyof Database & string>>, event: AuditEventInput): Promise<boolean> {
    if (this.kind !== 'postgres' || db.isTransaction) return false;
    const entry = this.pendingEntry(ctx, event);
    const open = { ...hashedFields({ ...entry, seq: 0, prev_hash: '' }), occurred_at: OPEN_TIME, seq: OPEN_SEQ };
    const [pre, rest, ...more] = canonicalJson(open).split(JSON.stringify(OPEN_TIME));
    const [mid, post, ...more2] = (rest ?? '').split(JSON.stringify(OPEN_SEQ));
    if (rest === undefined || more.length > 0 || post === undefined || more2.length > 0) return false;
    const e = entry;
    const final: FinalStatement = {
      key: 'audit_chain_one',
      params: [e.tenant_id, e.occurred_at, e.id, e.actor_type, e.actor_id, e.action, e.outcome, e.target_type, e.target_id, e.request_id, e.source_ip, e.before, e.after, e.details, `${pre}"`, `"${mid}`, post],
      withsOf: (p) => [
        `"h" as (select "seq", "hash", "occurred_at" from "audit_head" where "tenant_id" = ${p(0)}::text for update)`,
        `"e" as (select "seq" + 1 as "seq", "hash" as "prev_hash", greatest(${p(1)}::text collate "C", "occurred_at" collate "C") as "occurred_at" from "h")`,
        // Joined to one row so that a missing head gives a NULL seq (a not-null violation), never no event.
        `"c" as (insert into "audit_events" ("tenant_id", "seq", "id", "occurred_at", "actor_type", "actor_id", "action", "outcome", "target_type", "target_id", "request_id", "source_ip", "before", "after", "details", "prev_hash", "hash") ` +
          `select ${p(0)}::text, "e"."seq", ${p(2)}::text, "e"."occurred_at", ${p(3)}::text, ${p(4)}::text, ${p(5)}::text, ${p(6)}::text, ${p(7)}::text, ${p(8)}::text, ${p(9)}::text, ${p(10)}::text, ${p(11)}::text, ${p(12)}::text, ${p(13)}::text, "e"."prev_hash", ` +
          `encode(sha256(convert_to("e"."prev_hash" || chr(10) || ${p(14)}::text || "e"."occurred_at" || ${p(15)}::text || "e"."seq"::text || ${p(16)}::text, 'UTF8')), 'hex') ` +
          `from (select 1) as "one" left join "e" on true returning "seq", "hash", "occurred_at")`,
      ],
      sqlOf: (p) => `update "audit_head" set "seq" = "c"."seq", "hash" = "c"."hash", "occurred_at" = "c"."occurred_at" from "c" where "audit_head"."tenant_id" = ${p(0)}::text`,
    };
    try {
      await insertRowsThen(db, rows, final);
    } catch (err) {
      const e = err as { code?: string; table?: string };
      // No head yet for this tenant: create it (genesis) and run the statement again.
      if (e.code !== '23502' || e.table !== 'audit_events') throw err;
      await this.readHead(db, ctx.tenantId);
      await insertRowsThen(db, rows, final);
    }
    return true;
  }

  /** An event before it is chained: its fields from `ctx` and `event`, stamped now. */
  private pendingEntry(ctx: OperationContext, event: AuditEventInput): PendingEntry {
    return {
      tenant_id: ctx.tenantId,
      id: newId(),
      occurred_at: this.clock.now().toISOString(),
      actor_type: ctx.actor.type,
      actor_id: ctx.actor.id,
      action: event.action,
      outcome: event.outcome ?? 'success',
      target_type: event.target?.type ?? null,
      target_id: event.target?.id ?? null,
      request_id: ctx.requestId ?? null,
      source_ip: ctx.sourceIp ?? null,
      before: toJsonText(event.before),
      after: toJsonText(event.after),
      details: toJsonText(event.details),
    };
  }

  /** Chains and stores the events a shared transaction kept for `tenantId`, then moves the head (one lock, few statements). */
  private async flushPending(trx: Executor, tenantId: string, pendingKey: string): Promise<void> {
    const entries: PendingEntry[] = [];
    for (let l = transactionMemo(trx).get(pendingKey) as PendingList | null | undefined; l; l = l.next) entries.push(l.entry);
    if (entries.length === 0) return;
    entries.reverse();
    let head = await this.readHead(trx, tenantId);
    // Stamped now, with their seqs: an event kept since a step early in the transaction is not
    // dated before events another transaction chained (and committed) in the meantime.
    const occurredAt = this.clock.now().toISOString();
    const rows = entries.map((e) => {
      const row = chained(e, head, occurredAt);
      head = headOf(row);
      return row;
    });
    // The last chunk and the head's move in one statement (one round trip on PostgreSQL).
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      await insertRowsThen(trx, [{ table: 'audit_events', rows: chunk }], i + INSERT_CHUNK >= rows.length ? moveHead(tenantId, head) : undefined);
    }
  }

  /** The chain head of `tenantId` (created at genesis if missing), locked on PostgreSQL until the transaction ends. */
  private async readHead(trx: Executor, tenantId: string): Promise<Head> {
    const select = () => {
      let q = trx.selectFrom('audit_head').select(['seq', 'hash', 'occurred_at']).where('tenant_id', '=', tenantId);
      if (this.kind === 'postgres') q = q.forUpdate();
      return q.executeTakeFirst();
    };
    const head = await select();
    if (head) return { seq: Number(head.seq), hash: head.hash, occurredAt: head.occurred_at };
    await trx
      .insertInto('audit_head')
      .values({ tenant_id: tenantId, seq: 0, hash: GENESIS_HASH })
      .onConflict((oc) => oc.column('tenant_id').doNothing())
      .execute();
    const created = await select();
    if (!created) throw new Error(`audit head of tenant ${tenantId} could not be created`);
    return { seq: Number(created.seq), hash: created.hash, occurredAt: created.occurred_at };
  }

  /** Lists entries, oldest first, with filters and cursor paging. */
  async list(db: Executor, tenantId: string, query: AuditQuery): Promise<AuditEvent[]> {
    let q = db.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId);
    if (query.action) q = q.where('action', '=', query.action);
    if (query.actorId) q = q.where('actor_id', '=', query.actorId);
    if (query.targetId) q = q.where('target_id', '=', query.targetId);
    if (query.outcome) q = q.where('outcome', '=', query.outcome);
    if (query.since) q = q.where('occurred_at', '>=', query.since);
    if (query.until) q = q.where('occurred_at', '<', query.until);
    if (query.afterSeq !== undefined) q = q.where('seq', '>', query.afterSeq);
    const rows = await q.orderBy('seq', 'asc').limit(query.limit).execute();
    return rows.map(toAuditEvent);
  }

  /**
   * Walks a tenant's chain from the first entry and reports the first entry that was altered,
   * removed or reordered, or a chain cut short at its end.
   */
  async verify(db: Executor, tenantId: string, pageSize = 1000): Promise<AuditVerification> {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let checked = 0;
    for (;;) {
      const rows = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('seq', '>=', expectedSeq)
        .orderBy('seq', 'asc')
        .limit(pageSize)
        .execute();
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== expectedSeq) return { ok: false, checked, firstBad: { seq: expectedSeq, id: null, reason: 'missing' } };
        if (row.prev_hash !== prevHash) return { ok: false, checked, firstBad: { seq, id: row.id, reason: seq === 1 ? 'altered' : 'reordered' } };
        if (entryHash(row) !== row.hash) return { ok: false, checked, firstBad: { seq, id: row.id, reason: 'altered' } };
        prevHash = row.hash;
        expectedSeq = seq + 1;
        checked++;
      }
      if (rows.length < pageSize) break;
    }
    const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst();
    if (head && (Number(head.seq) !== expectedSeq - 1 || head.hash !== prevHash)) {
      return { ok: false, checked, firstBad: { seq: expectedSeq, id: null, reason: 'truncated' } };
    }
    return { ok: true, checked };
  }
}

function parseJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toAuditEvent(row: AuditEventRow): AuditEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    occurredAt: row.occurred_at,
    actor: { type: row.actor_type, id: row.actor_id },
    action: row.action,
    outcome: row.outcome,
    target: row.target_type ? { type: row.target_type, id: row.target_id } : null,
    requestId: row.request_id,
    sourceIp: row.source_ip,
    before: parseJson(row.before),
    after: parseJson(row.after),
    details: parseJson(row.details),
    hash: row.hash,
  };
}
