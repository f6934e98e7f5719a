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
 *   adds one to the depth; past `maxDepth` (default 25, as OpenFGA) the check fails with
 *   GatehouseError `resolution_too_complex` instead of overflowing the stack.
 *
 * Edges: an edge whose `expiresAt` is at or before `nowMs` grants nothing; an edge carrying a
 * condition grants nothing until conditions are evaluated (issue 3: CEL).
 */
import { GatehouseError } from '../kernel/errors.js';
import type { EdgeMeta, StoreGraph } from './graph.js';
import type { IdSet } from './idset.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';

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
 * Decides whether a conditional edge grants. The first slice has no condition language, so the
 * default denies (deny by default); issue 3 plugs CEL evaluation in here.
 */
export type ConditionEvaluator = (condition: NonNullable<EdgeMeta['condition']>) => boolean;

const denyConditions: ConditionEvaluator = () => false;

/** Evaluates checks. Stateless between calls; one instance serves every store. */
export class Evaluator {
  private readonly maxDepth: number;
  private readonly conditions: ConditionEvaluator;

  constructor(options: { maxDepth?: number; conditions?: ConditionEvaluator } = {}) {
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.conditions = options.conditions ?? denyConditions;
  }

  /**
   * Answers one check. A missing graph (no tuple ever written to the store), an unknown object,
   * type or relation all answer false.
   *
   * @param nowMs - the current instant in epoch milliseconds (from the injected Clock), for expiry.
   * @throws GatehouseError `resolution_too_complex` past the depth limit.
   */
  check(graph: StoreGraph | undefined, model: CompiledModel, q: CheckQuestion, nowMs: number): boolean {
    if (!graph) return false;
    const symbols = model.symbols;
    const relation = symbols.relations.lookup(q.relation);
    const objectNode = graph.lookupNode(q.objectType, q.objectId);
    if (relation < 0 || objectNode < 0) return false;
    const subjectRelation = q.subjectRelation ? symbols.relations.lookup(q.subjectRelation) : 0;
    if (subjectRelation < 0) return false;
    const r = new Resolution(
      graph,
      model,
      graph.lookupNode(q.subjectType, q.subjectId),
      subjectRelation,
      symbols.types.lookup(q.subjectType),
      nowMs,
      this.maxDepth,
      this.conditions,
    );
    return r.visit(objectNode, relation, 0);
  }
}

/** The state of one check: the subject, the clock reading, and the visited set. */
class Resolution {
  private visited = new Set<number>();

  constructor(
    private readonly graph: StoreGraph,
    private readonly model: CompiledModel,
    /** -1 when no tuple names the subject (it may still match a wildcard). */
    private readonly subjectNode: number,
    private readonly subjectRelation: number,
    /** -1 when the type is unknown to every model and tuple. */
    private readonly subjectType: number,
    private readonly nowMs: number,
    private readonly maxDepth: number,
    private readonly conditions: ConditionEvaluator,
  ) {}

  /** Is the subject in `node#relation`? */
  visit(node: number, relation: number, depth: number): boolean {
    if (depth > this.maxDepth) {
      throw new GatehouseError('resolution_too_complex', `the check needed more than ${this.maxDepth} nested rewrites or usersets`, { maxDepth: this.maxDepth });
    }
    const key = node * 4096 + relation;
    if (this.visited.has(key)) return false;
    this.visited.add(key);
    const cr = this.model.relation(this.graph.nodeType[node] as number, relation);
    if (!cr) return false;
    return this.rewrite(node, cr, cr.rewrite, depth);
  }

  private rewrite(node: number, cr: CompiledRelation, rw: Rewrite, depth: number): boolean {
    switch (rw.kind) {
      case 'this':
        return this.direct(node, cr, depth);
      case 'computed':
        return this.visit(node, rw.relation, depth + 1);
      case 'ttu':
        return this.tupleToUserset(node, cr, rw.tupleset, rw.computed, depth);
      case 'union':
        for (const c of rw.children) if (this.rewrite(node, cr, c, depth)) return true;
        return false;
      case 'intersection':
        for (const c of rw.children) if (!this.isolated(node, cr, c, depth)) return false;
        return true;
      case 'difference':
        return this.isolated(node, cr, rw.base, depth) && !this.isolated(node, cr, rw.subtract, depth);
    }
  }

  /** Evaluates an operand of intersection/difference as its own reachability question. */
  private isolated(node: number, cr: CompiledRelation, rw: Rewrite, depth: number): boolean {
    const saved = this.visited;
    this.visited = new Set();
    try {
      return this.rewrite(node, cr, rw, depth + 1);
    } finally {
      this.visited = saved;
    }
  }

  /** True if the edge grants now: not expired, and its condition (if any) holds. */
  private usable(node: number, relation: number, subjectRelation: number, subject: number): boolean {
    if (!this.graph.hasMeta(node)) return true;
    const meta = this.graph.edgeMeta(node, relation, subjectRelation, subject);
    if (!meta) return true;
    if (meta.expiresAtMs <= this.nowMs) return false;
    return meta.condition === null || this.conditions(meta.condition);
  }

  private direct(node: number, cr: CompiledRelation, depth: number): boolean {
    const g = this.graph;
    const rel = cr.relationId;
    const s = this.subjectNode;
    const sr = this.subjectRelation;
    // The subject itself, directly.
    if (s >= 0 && cr.directTypes.has(restrictionKey(this.subjectType, sr)) && g.has(node, rel, sr, s) && this.usable(node, rel, sr, s)) return true;
    // A wildcard `type:*` for the subject's type.
    if (sr === 0 && this.subjectType >= 0 && cr.directTypes.has(restrictionKey(this.subjectType, WILDCARD_REL))) {
      const w = g.wildcardNode(this.subjectType);
      if (w >= 0 && g.has(node, rel, 0, w) && this.usable(node, rel, 0, w)) return true;
    }
    // Usersets `type:id#relation` assigned here.
    const row = g.subjectRow(node, rel);
    if (!row) return false;
    for (let usr = 1; usr < row.length; usr++) {
      const set = row[usr];
      if (set !== undefined && this.anyUserset(node, cr, usr, set, depth)) return true;
    }
    return false;
  }

  private anyUserset(node: number, cr: CompiledRelation, usr: number, set: IdSet, depth: number): boolean {
    if (typeof set === 'number') return this.userset(node, cr, usr, set, depth);
    if (Array.isArray(set)) {
      for (let i = 0; i < set.length; i++) if (this.userset(node, cr, usr, set[i] as number, depth)) return true;
      return false;
    }
    for (const n of set) if (this.userset(node, cr, usr, n, depth)) return true;
    return false;
  }

  private userset(node: number, cr: CompiledRelation, usr: number, member: number, depth: number): boolean {
    if (!cr.directTypes.has(restrictionKey(this.graph.nodeType[member] as number, usr))) return false;
    if (!this.usable(node, cr.relationId, usr, member)) return false;
    return this.visit(member, usr, depth + 1);
  }

  private tupleToUserset(node: number, cr: CompiledRelation, tupleset: number, computed: number, depth: number): boolean {
    const g = this.graph;
    const ts = this.model.relation(cr.typeId, tupleset);
    if (!ts) return false;
    const parents = g.subjects(node, tupleset, 0);
    if (parents === undefined) return false;
    const one = (p: number): boolean => {
      const pt = g.nodeType[p] as number;
      if (!ts.directTypes.has(restrictionKey(pt, 0)) || !this.model.relation(pt, computed)) return false;
      return this.usable(node, tupleset, 0, p) && this.visit(p, computed, depth + 1);
    };
    if (typeof parents === 'number') return one(parents);
    if (Array.isArray(parents)) {
      for (let i = 0; i < parents.length; i++) if (one(parents[i] as number)) return true;
      return false;
    }
    for (const p of parents) if (one(p)) return true;
    return false;
  }
}
