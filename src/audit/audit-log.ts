import { sha256Hex } from '../kernel/secrets.js';
import { newId } from '../kernel/ids.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import type { Executor, StorageKind } from '../storage/database.js';
import { insertRowsThen, type FinalStatement } from '../storage/insert-rows.js';
import { deferUntilCommit, transactionMemo } from '../storage/transactions.js';
import type { AuditEventRow } from '../storage/schema.js';
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

/** Rows per multi-row insert of kept events (17 parameters a row; both backends allow far more). */
const INSERT_CHUNK = 500;

/**
 * `entry` as the event after `head` in the chain, stamped `occurredAt` (an ISO 8601 instant taken
 * once the head is held): the time is given with the seq, so seq order and occurred_at order agree
 * (`GET /api/v1/audit?since=` pages by time).
 */
function chained(entry: PendingEntry, head: { seq: number; hash: string }, occurredAt: string): AuditEventRow {
  const row: Omit<AuditEventRow, 'hash'> = { ...entry, occurred_at: occurredAt, seq: Number(head.seq) + 1, prev_hash: head.hash };
  return { ...row, hash: entryHash(row) };
}

/** The UPDATE that makes `head` the chain head of `tenantId`. */
function moveHead(tenantId: string, head: { seq: number; hash: string }): FinalStatement {
  return { key: 'audit_head_move', sqlOf: (p) => `update "audit_head" set "seq" = ${p(0)}, "hash" = ${p(1)} where "tenant_id" = ${p(2)}`, params: [head.seq, head.hash, tenantId] };
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
    const entry: PendingEntry = {
      tenant_id: tenantId,
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
    const head = (memo.get(memoKey) as { seq: number; hash: string } | undefined) ?? (await this.readHead(trx, tenantId));
    const row = chained(entry, head, this.clock.now().toISOString());
    await insertRowsThen(trx, [{ table: 'audit_events', rows: [row] }], moveHead(tenantId, { seq: Number(row.seq), hash: row.hash }));
    memo.set(memoKey, { seq: Number(row.seq), hash: row.hash });
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
      head = { seq: Number(row.seq), hash: row.hash };
      return row;
    });
    // The last chunk and the head's move in one statement (one round trip on PostgreSQL).
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      await insertRowsThen(trx, [{ table: 'audit_events', rows: chunk }], i + INSERT_CHUNK >= rows.length ? moveHead(tenantId, head) : undefined);
    }
  }

  /** The chain head of `tenantId` (created at genesis if missing), locked on PostgreSQL until the transaction ends. */
  private async readHead(trx: Executor, tenantId: string): Promise<{ seq: number; hash: string }> {
    const select = () => {
      let q = trx.selectFrom('audit_head').select(['seq', 'hash']).where('tenant_id', '=', tenantId);
      if (this.kind === 'postgres') q = q.forUpdate();
      return q.executeTakeFirst();
    };
    const head = await select();
    if (head) return { seq: Number(head.seq), hash: head.hash };
    await trx
      .insertInto('audit_head')
      .values({ tenant_id: tenantId, seq: 0, hash: GENESIS_HASH })
      .onConflict((oc) => oc.column('tenant_id').doNothing())
      .execute();
    const created = await select();
    if (!created) throw new Error(`audit head of tenant ${tenantId} could not be created`);
    return { seq: Number(created.seq), hash: created.hash };
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
