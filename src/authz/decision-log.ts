/**
 * The decision log: which decisions were made (mode `off`, `sampled`, `full`) and, for each tuple
 * on the granting path of an allowed decision, when it was last used (`authz_tuple_usage`, read by
 * governance: access reviews, unused-grant reports).
 *
 * Off the hot path: {@link DecisionLog.record} only queues in memory; a timer (default every
 * second) writes the queue in one transaction — decisions as batched inserts, last-used times as
 * batched upserts keeping the latest instant. A full queue (10,000 decisions) drops further log rows
 * (counted in `dropped`) but never last-used updates, which are merged per tuple.
 */
import { sql } from 'kysely';
import type { OperationContext } from '../kernel/context.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import { newId } from '../kernel/ids.js';
import type { Storage } from '../storage/database.js';
import type { CheckRequest, Explanation, SubjectRef } from './contract.js';
import { formatTuple, parseTuple, tupleKeyColumns, type RelationTuple } from './tuples.js';

/** How much the decision log records. */
export type DecisionLogMode = 'off' | 'sampled' | 'full';

/** Options of {@link DecisionLog}. */
export interface DecisionLogOptions {
  storage: Storage;
  clock: Clock;
  logger?: Logger;
  mode: DecisionLogMode;
  /** Fraction of decisions logged in `sampled` mode, 0..1 (default 0.01). */
  sampleRate?: number;
  /** Flush period in milliseconds (default 1000). */
  flushIntervalMs?: number;
  /** Random source in [0, 1) (tests inject one). */
  random?: () => number;
}

interface PendingDecision {
  tenant_id: string;
  id: string;
  store_id: string;
  decided_at: string;
  request_id: string | null;
  subject: string;
  relation: string;
  object: string;
  decision: number;
  revision: number;
  explanation: string | null;
}

const MAX_QUEUE = 10_000;

/** Queues decisions and last-used times; writes them in batches. */
export class DecisionLog {
  private decisions: PendingDecision[] = [];
  /** `tenant|store|tuple` → latest ISO instant. */
  private usage = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Decisions dropped because the queue was full. */
  dropped = 0;
  readonly mode: DecisionLogMode;
  private readonly rate: number;
  private readonly random: () => number;

  constructor(private readonly options: DecisionLogOptions) {
    this.mode = options.mode;
    this.rate = Math.min(1, Math.max(0, options.sampleRate ?? 0.01));
    this.random = options.random ?? Math.random;
    if (this.mode !== 'off') {
      this.timer = setInterval(() => void this.flush().catch((err: unknown) => options.logger?.warn({ err }, 'authz decision log: flush failed')), options.flushIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Whether this decision is logged (decided once per decision, before evaluation's explain). */
  sample(): boolean {
    if (this.mode === 'full') return true;
    if (this.mode === 'sampled') return this.random() < this.rate;
    return false;
  }

  /**
   * Queues one decision: the question `req` asked in `storeId` (its subject, relation and object),
   * the answer, the index's changelog `revision` it was decided at. For an allowed decision,
   * `explanation` (the granting path) marks each tuple on it as used now.
   */
  record(ctx: OperationContext, storeId: string, req: Pick<CheckRequest, 'subject' | 'relation' | 'object'>, decision: boolean, revision: number, explanation: Explanation | null): void {
    const now = this.options.clock.now().toISOString();
    if (this.decisions.length < MAX_QUEUE) {
      this.decisions.push({
        tenant_id: ctx.tenantId,
        id: newId(),
        store_id: storeId,
        decided_at: now,
        request_id: ctx.requestId ?? null,
        subject: `${req.subject.type}:${req.subject.id}${req.subject.relation ? `#${req.subject.relation}` : ''}`,
        relation: req.relation,
        object: `${req.object.type}:${req.object.id}`,
        decision: decision ? 1 : 0,
        revision,
        explanation: explanation ? JSON.stringify(explanation) : null,
      });
    } else this.dropped++;
    if (decision && explanation) {
      for (const step of explanation.path) {
        if (step.tuple && !step.contextual) this.usage.set(`${ctx.tenantId}|${storeId}|${step.tuple}`, now);
      }
    }
  }

  /** Writes everything queued, in one transaction. Concurrent calls share one run. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.decisions.length === 0 && this.usage.size === 0) return;
    const decisions = this.decisions;
    const usage = this.usage;
    this.decisions = [];
    this.usage = new Map();
    this.flushing = this.options.storage.db
      .transaction()
      .execute(async (trx) => {
        for (let i = 0; i < decisions.length; i += 500) await trx.insertInto('authz_decision_log').values(decisions.slice(i, i + 500)).execute();
        const rows = [...usage].map(([k, at]) => {
          const [tenant, store, text] = k.split('|') as [string, string, string];
          return { tenant_id: tenant, store_id: store, ...tupleKeyColumns(parseTuple(text)), last_used_at: at };
        });
        for (let i = 0; i < rows.length; i += 500) {
          await trx
            .insertInto('authz_tuple_usage')
            .values(rows.slice(i, i + 500))
            .onConflict((oc) =>
              oc
                .columns(['tenant_id', 'store_id', 'object_type', 'object_id', 'relation', 'subject_type', 'subject_id', 'subject_relation'])
                // Never backwards: several processes (replicas, serve workers) flush their own queues.
                .doUpdateSet({ last_used_at: sql<string>`case when excluded.last_used_at > authz_tuple_usage.last_used_at then excluded.last_used_at else authz_tuple_usage.last_used_at end` }),
            )
            .execute();
        }
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** When `tuple` last granted an allowed, logged decision (null if never). Flushes first. */
  async lastUsed(tenantId: string, storeId: string, tuple: RelationTuple): Promise<string | null> {
    await this.flush();
    const row = await this.options.storage.db
      .selectFrom('authz_tuple_usage')
      .select('last_used_at')
      .where('tenant_id', '=', tenantId)
      .where('store_id', '=', storeId)
      .where('object_type', '=', tuple.objectType)
      .where('object_id', '=', tuple.objectId)
      .where('relation', '=', tuple.relation)
      .where('subject_type', '=', tuple.subjectType)
      .where('subject_id', '=', tuple.subjectId)
      .where('subject_relation', '=', tuple.subjectRelation)
      .executeTakeFirst();
    return row?.last_used_at ?? null;
  }

  /** Last-used instants of every tuple naming `subject`, keyed by {@link formatTuple}. Flushes first. */
  async lastUsedFor(tenantId: string, storeId: string, subject: SubjectRef): Promise<Map<string, string>> {
    await this.flush();
    const rows = await this.options.storage.db
      .selectFrom('authz_tuple_usage')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('store_id', '=', storeId)
      .where('subject_type', '=', subject.type)
      .where('subject_id', '=', subject.id)
      .where('subject_relation', '=', subject.relation ?? '')
      .execute();
    const out = new Map<string, string>();
    for (const r of rows) {
      const t: RelationTuple = { objectType: r.object_type, objectId: r.object_id, relation: r.relation, subjectType: r.subject_type, subjectId: r.subject_id, subjectRelation: r.subject_relation };
      out.set(formatTuple(t), r.last_used_at);
    }
    return out;
  }

  /** Stops the timer and writes what is queued. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch((err: unknown) => this.options.logger?.warn({ err }, 'authz decision log: final flush failed'));
  }
}
