/**
 * Check evaluation (Zanzibar §2.4.4, OpenFGA Check semantics) over a {@link StoreGraph} and a
 * {@link CompiledModel}: is `subject` related to `object` by `relation`?
 *
 * Rewrites: `this` (direct tuples, filtered by the relation's type restrictions, including
 * wildcards `user:*` and usersets `group#member`), `computedUserset`, `tupleToUserset`, `union`,
 * `intersection` and `difference`.
 *
 * Termination and limits:
 * - Cycles in the data terminate: within one reachability question (a union of paths) each
 *   `object#relation` is expanded at most once, which is exact for unions (a path either exists
 *   or it does not). Each operand of `intersection` / `difference` is its own question with its
 *   own visited set, so a cycle through those operators ends at the depth limit instead.
 * - Every hop to another `object#relation` (computed relation, tuple-to-userset, userset)
 *   adds one to the depth; past `maxDepth` (default 25, as OpenFGA) that path is "unknown",
 *   three-valued like a condition error below, and the check fails with GatehouseError
 *   `resolution_too_complex` (instead of overflowing the stack) only when the answer depends on it.
 *   A check that would fail so runs again in a depth-aware mode (a node reached at a smaller
 *   depth than before is expanded again), so a path within the limit is found whatever path
 *   reached its nodes first; checks that pass the limit nowhere never take it.
 *
 * Edges: an edge whose `expiresAt` is at or before `nowMs` grants nothing; an edge carrying a
 * condition grants only when its CEL condition (declared in the model) evaluates to true with the
 * tuple's stored context over the request context; a condition that cannot be evaluated (missing
 * or wrongly typed parameter) makes its path "unknown": the check fails with `condition_error`
 * only when the answer depends on it (OpenFGA's rule: a granting branch of a union wins, a false
 * operand of an intersection or a false base / true subtracted part of an exclusion denies).
 */
import type { GraphView } from './graph.js';
import type { CompiledModel, CompiledRelation, Rewrite } from './model.js';
import { ChainMemo } from './chain-memo.js';
import { Resolution, type Now } from './resolution.js';

export type { Now } from './resolution.js';

/** Default resolution depth limit (OpenFGA's default). */
export const DEFAULT_MAX_DEPTH = 25;

/** A check question in string form. `subjectRelation` is '' (or absent) unless the subject is a userset. */
export interface CheckQuestion {
  subjectType: string;
  subjectId: string;
  subjectRelation?: string;
  relation: string;
  objectType: string;
  objectId: string;
}

/**
 * Evaluates checks. One instance serves every store; between calls it keeps only scratch space
 * (one pooled {@link Resolution}), so a check allocates nothing in the common case.
 */
export class Evaluator {
  readonly maxDepth: number;
  private spare: Resolution | null = null;
  /** The value of the last {@link GraphView.touch} (kept so the reads are not dropped). */
  private touched = 0;
  /** Flattened parent chains, kept across checks (per view, dropped when the view changes). */
  private readonly chains = new ChainMemo();

  constructor(options: { maxDepth?: number } = {}) {
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  /**
   * Answers one check. A missing graph (no tuple ever written to the store), an unknown object,
   * type or relation all answer false.
   *
   * @param now - the current instant in epoch milliseconds, or the injected Clock (read lazily), for expiry.
   * @param context - the request context for CEL conditions.
   * @throws GatehouseError `resolution_too_complex` past the depth limit; `condition_error`.
   */
  check(graph: GraphView | undefined, model: CompiledModel, q: CheckQuestion, now: Now, context?: Record<string, unknown>): boolean {
    if (!graph) return false;
    const symbols = model.symbols;
    const relation = symbols.relations.lookup(q.relation);
    const objectNode = graph.lookupNode(q.objectType, q.objectId);
    if (relation < 0 || objectNode < 0) return false;
    const subjectRelation = q.subjectRelation ? symbols.relations.lookup(q.subjectRelation) : 0;
    if (subjectRelation < 0) return false;
    const subjectType = symbols.types.lookup(q.subjectType);
    return this.checkNodes(graph, model, subjectType, subjectType < 0 ? -1 : graph.lookupNodeOfType(subjectType, q.subjectId), subjectRelation, objectNode, relation, now, context);
  }

  /**
   * Explain's question (explain.ts): is the subject in `node` through `part`, a part of the rewrite
   * of `cr` (the relation of `node`'s type), reached at `depth` of a check? Asked as a question of
   * its own (a fresh visited set, the depth-aware re-run when the limit is met) — what the check
   * itself answers there — so a path that Explain follows part by part is one Check grants by.
   * `part` null: the relation itself (`node#relation` reached at `depth`, as the check visits it).
   * @throws GatehouseError `resolution_too_complex`, `condition_error`, as {@link checkNodes}.
   */
  holds(graph: GraphView, model: CompiledModel, subjectType: number, subjectNode: number, subjectRelation: number, node: number, cr: CompiledRelation, part: Rewrite | null, depth: number, now: Now, context?: Record<string, unknown>): boolean {
    const r = new Resolution(this.maxDepth, this.chains);
    const ask = () => (part === null ? r.visit(node, cr.relationId, depth) : r.part(node, cr, part, depth));
    r.reset(graph, model, subjectNode, subjectRelation, subjectType, now, context);
    try {
      if (ask()) return true;
      if (r.pending !== null && r.pending.code === 'resolution_too_complex') {
        r.reset(graph, model, subjectNode, subjectRelation, subjectType, now, context);
        r.depthAware();
        if (ask()) return true;
      }
      if (r.pending !== null) throw r.pending;
      return false;
    } finally {
      r.release();
    }
  }

  /**
   * Check with integer ids already resolved (the service's fast path; ListObjects / ListUsers
   * verify many candidates). `subjectNode` -1: the subject is named by no tuple; `subjectType` -1:
   * the type is unknown.
   */
  checkNodes(graph: GraphView, model: CompiledModel, subjectType: number, subjectNode: number, subjectRelation: number, objectNode: number, relation: number, now: Now, context?: Record<string, unknown>): boolean {
    // Reentrancy-safe pooling: a nested check (none today) would simply allocate its own.
    const r = this.spare ?? new Resolution(this.maxDepth, this.chains);
    this.spare = null;
    try {
      r.reset(graph, model, subjectNode, subjectRelation, subjectType, now, context);
      // The object's and the subject's blocks are the check's first reads and usually miss the
      // cache: reading them here, where neither depends on the other, overlaps the two misses.
      this.touched = graph.touch(objectNode, subjectNode);
      if (r.visit(objectNode, relation, 0)) return true;
      // The depth limit met with no answer: the visited set may have cut a shorter path (a node
      // first reached by a path whose rest passed the limit is not expanded again). Only then,
      // the check runs again expanding a node reached at a smaller depth again.
      if (r.pending !== null && r.pending.code === 'resolution_too_complex') {
        r.reset(graph, model, subjectNode, subjectRelation, subjectType, now, context);
        r.depthAware();
        if (r.visit(objectNode, relation, 0)) return true;
      }
      // No path grants: a condition error met on the way decides (error, not a silent deny).
      if (r.pending !== null) throw r.pending;
      return false;
    } finally {
      r.release();
      this.spare = r;
    }
  }
}
