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
 * condition grants only when its CEL condition (declared in the model) evaluates to true with the
 * tuple's stored context over the request context; a condition that cannot be evaluated (missing
 * or wrongly typed parameter, unknown condition) fails the check with `condition_error`.
 */
import { GatehouseError } from '../kernel/errors.js';
import type { GraphView } from './graph.js';
import { idsHas, idsSize, type IdSet } from './idset.js';
import { WILDCARD_REL, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';
import { analyse, type ModelAnalysis } from './model-analysis.js';

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

/** Evaluates checks. Stateless between calls; one instance serves every store. */
export class Evaluator {
  readonly maxDepth: number;

  constructor(options: { maxDepth?: number } = {}) {
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  /**
   * Answers one check. A missing graph (no tuple ever written to the store), an unknown object,
   * type or relation all answer false.
   *
   * @param nowMs - the current instant in epoch milliseconds (from the injected Clock), for expiry.
   * @param context - the request context for CEL conditions.
   * @throws GatehouseError `resolution_too_complex` past the depth limit; `condition_error`.
   */
  check(graph: GraphView | undefined, model: CompiledModel, q: CheckQuestion, nowMs: number, context?: Record<string, unknown>): boolean {
    if (!graph) return false;
    const symbols = model.symbols;
    const relation = symbols.relations.lookup(q.relation);
    const objectNode = graph.lookupNode(q.objectType, q.objectId);
    if (relation < 0 || objectNode < 0) return false;
    const subjectRelation = q.subjectRelation ? symbols.relations.lookup(q.subjectRelation) : 0;
    if (subjectRelation < 0) return false;
    const subjectType = symbols.types.lookup(q.subjectType);
    const r = new Resolution(
      graph,
      model,
      subjectType < 0 ? -1 : graph.lookupNodeOfType(subjectType, q.subjectId),
      subjectRelation,
      subjectType,
      nowMs,
      this.maxDepth,
      context,
    );
    return r.visit(objectNode, relation, 0);
  }

  /**
   * Check with integer ids already resolved (ListObjects / ListUsers verify many candidates).
   * `subjectNode` -1: the subject is named by no tuple.
   */
  checkNodes(graph: GraphView, model: CompiledModel, subjectType: number, subjectNode: number, subjectRelation: number, objectNode: number, relation: number, nowMs: number, context?: Record<string, unknown>): boolean {
    return new Resolution(graph, model, subjectNode, subjectRelation, subjectType, nowMs, this.maxDepth, context).visit(objectNode, relation, 0);
  }
}

/** The state of one check: the subject, the clock reading, and the visited set. */
export class Resolution {
  /** Visited `node#relation` keys: a short array scanned linearly, grown into a Set past 32. */
  private visited: number[] = [];
  private visitedSet: Set<number> | null = null;
  /** Per relation id: the nodes whose (pure) relation holds the subject, with their chain length; null when a condition makes it unusable. */
  private closures: Map<number, Map<number, number> | null> | null = null;
  private analysis: ModelAnalysis | null = null;

  constructor(
    private readonly graph: GraphView,
    private readonly model: CompiledModel,
    /** -1 when no tuple names the subject (it may still match a wildcard). */
    private readonly subjectNode: number,
    private readonly subjectRelation: number,
    /** -1 when the type is unknown to every model and tuple. */
    private readonly subjectType: number,
    private readonly nowMs: number,
    private readonly maxDepth: number,
    private readonly context: Record<string, unknown> | undefined,
  ) {}

  /** Is the subject in `node#relation`? */
  visit(node: number, relation: number, depth: number): boolean {
    if (depth > this.maxDepth) {
      throw new GatehouseError('resolution_too_complex', `the check needed more than ${this.maxDepth} nested rewrites or usersets`, { maxDepth: this.maxDepth });
    }
    if (this.seen(node * 4096 + relation)) return false;
    const cr = this.model.relation(this.graph.typeOf(node), relation);
    if (!cr) return false;
    return this.rewrite(node, cr, cr.rewrite, depth);
  }

  /** Records `key` as visited; true if it already was. */
  private seen(key: number): boolean {
    if (this.visitedSet !== null) {
      if (this.visitedSet.has(key)) return true;
      this.visitedSet.add(key);
      return false;
    }
    const v = this.visited;
    for (let i = 0; i < v.length; i++) if (v[i] === key) return true;
    v.push(key);
    if (v.length > 32) this.visitedSet = new Set(v);
    return false;
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
    const savedSet = this.visitedSet;
    this.visited = [];
    this.visitedSet = null;
    try {
      return this.rewrite(node, cr, rw, depth + 1);
    } finally {
      this.visited = saved;
      this.visitedSet = savedSet;
    }
  }

  /** True if the edge grants now: not expired, and its condition (if any) holds. */
  private usable(node: number, relation: number, subjectRelation: number, subject: number): boolean {
    if (!this.graph.hasMeta(node)) return true;
    const meta = this.graph.edgeMeta(node, relation, subjectRelation, subject);
    if (!meta) return true;
    if (meta.expiresAtMs <= this.nowMs) return false;
    if (meta.condition === null) return true;
    const cond = this.model.conditions.get(meta.condition.name);
    // A tuple naming a condition this model does not declare (written under another model) grants nothing.
    if (!cond) return false;
    return cond.evaluate(meta.condition.context, this.context);
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

  /**
   * Is the subject in `m#usr` for some member `m` of `set` (the usersets assigned to
   * `node#relation`)? First the subject's own direct tuples `x#usr@subject` are intersected with
   * the candidates through the reverse edges (the common case: a user's few roles against a
   * permission's roles); then only candidates whose membership could come from more than direct
   * tuples are expanded. Both steps together give exactly the answer of expanding every candidate.
   */
  private anyUserset(node: number, cr: CompiledRelation, usr: number, set: IdSet, depth: number): boolean {
    const shortcut = depth + 1 <= this.maxDepth;
    if (shortcut && this.subjectNode >= 0) {
      const mine = this.graph.objectsOf(this.subjectNode, this.subjectRelation, usr);
      if (mine !== undefined) {
        const [scan, probe] = idsSize(mine) <= idsSize(set) ? [mine, set] : [set, mine];
        if (typeof scan === 'number') {
          if (idsHas(probe, scan) && this.directMember(node, cr, usr, scan)) return true;
        } else if (Array.isArray(scan)) {
          for (let i = 0; i < scan.length; i++) {
            const x = scan[i] as number;
            if (idsHas(probe, x) && this.directMember(node, cr, usr, x)) return true;
          }
        } else {
          for (const x of scan) if (idsHas(probe, x) && this.directMember(node, cr, usr, x)) return true;
        }
      }
    }
    if (typeof set === 'number') return this.userset(node, cr, usr, set, depth, shortcut);
    if (Array.isArray(set)) {
      for (let i = 0; i < set.length; i++) if (this.userset(node, cr, usr, set[i] as number, depth, shortcut)) return true;
      return false;
    }
    for (const n of set) if (this.userset(node, cr, usr, n, depth, shortcut)) return true;
    return false;
  }

  /** Does the direct tuple `x#usr@subject` (known to exist) put the subject in `node#relation` through `x#usr`? */
  private directMember(node: number, cr: CompiledRelation, usr: number, x: number): boolean {
    const xt = this.graph.typeOf(x);
    if (!cr.directTypes.has(restrictionKey(xt, usr))) return false;
    const xr = this.model.relation(xt, usr);
    if (!xr || !xr.directSufficient || !xr.directTypes.has(restrictionKey(this.subjectType, this.subjectRelation))) return false;
    return this.usable(node, cr.relationId, usr, x) && this.usable(x, usr, this.subjectRelation, this.subjectNode);
  }

  /**
   * Expands one userset member. With `directDone` (the direct tuples were already checked by
   * {@link anyUserset}), a member whose relation is plain `this` with no usersets and no usable
   * wildcard cannot add anything and is skipped without a lookup of its subjects.
   */
  private userset(node: number, cr: CompiledRelation, usr: number, member: number, depth: number, directDone: boolean): boolean {
    const g = this.graph;
    const mt = g.typeOf(member);
    if (!cr.directTypes.has(restrictionKey(mt, usr))) return false;
    if (directDone) {
      const mr = this.model.relation(mt, usr);
      if (!mr) return false;
      if (mr.rewrite.kind === 'this') {
        const row = g.subjectRow(member, usr);
        const wildcard = this.subjectRelation === 0 && this.subjectType >= 0 && g.wildcardNode(this.subjectType) >= 0 && mr.directTypes.has(restrictionKey(this.subjectType, WILDCARD_REL));
        if ((row === undefined || row.length <= 1) && !wildcard) return false;
      }
    }
    if (!this.usable(node, cr.relationId, usr, member)) return false;
    const a = (this.analysis ??= analyse(this.model));
    if (a.pure(mt, usr)) {
      const c = this.closure(usr, a);
      if (c !== null) {
        const d = c.get(member);
        if (d === undefined) return false;
        if (depth + 1 + d > this.maxDepth) {
          throw new GatehouseError('resolution_too_complex', `the check needed more than ${this.maxDepth} nested rewrites or usersets`, { maxDepth: this.maxDepth });
        }
        return true;
      }
    }
    return this.visit(member, usr, depth + 1);
  }

  /**
   * The nodes `x` whose pure relation `usr` holds the subject (Leopard-style, Zanzibar §3.2.4):
   * a breadth-first walk over reverse edges of `usr` from the subject (and its type's wildcard),
   * with type restrictions and expiry applied; the value is the chain length. Computed once per
   * check. Null when an edge on the way carries a condition (then the ordinary expansion runs).
   */
  private closure(usr: number, a: ModelAnalysis): Map<number, number> | null {
    this.closures ??= new Map();
    if (this.closures.has(usr)) return this.closures.get(usr) as Map<number, number> | null;
    const g = this.graph;
    // The wildcard subject `type:*` itself matches under two restrictions: leave it to the expansion.
    if (this.subjectNode >= 0 && this.subjectNode === g.wildcardNode(this.subjectType)) {
      this.closures.set(usr, null);
      return null;
    }
    const found = new Map<number, number>();
    const queue: number[] = [];
    let tainted = false;
    const from = (x: number, xr: number, key: number, dist: number) => {
      const objs = g.objectsOf(x, xr, usr);
      if (objs === undefined) return;
      const each = (o: number) => {
        if (found.has(o)) return;
        const ot = g.typeOf(o);
        if (!a.pure(ot, usr) || !this.model.relation(ot, usr)!.directTypes.has(key)) return;
        if (g.hasMeta(o)) {
          const meta = g.edgeMeta(o, usr, xr, x);
          if (meta) {
            if (meta.expiresAtMs <= this.nowMs) return;
            if (meta.condition) {
              tainted = true;
              return;
            }
          }
        }
        found.set(o, dist);
        queue.push(o);
      };
      if (typeof objs === 'number') each(objs);
      else for (const o of objs) each(o);
    };
    if (this.subjectNode >= 0) from(this.subjectNode, this.subjectRelation, restrictionKey(this.subjectType, this.subjectRelation), 0);
    if (this.subjectRelation === 0 && this.subjectType >= 0) {
      const w = g.wildcardNode(this.subjectType);
      if (w >= 0 && w !== this.subjectNode) from(w, 0, restrictionKey(this.subjectType, WILDCARD_REL), 0);
    }
    for (let i = 0; i < queue.length && !tainted; i++) {
      const o = queue[i] as number;
      from(o, usr, restrictionKey(g.typeOf(o), usr), (found.get(o) as number) + 1);
    }
    const result = tainted ? null : found;
    this.closures.set(usr, result);
    return result;
  }

  private tupleToUserset(node: number, cr: CompiledRelation, tupleset: number, computed: number, depth: number): boolean {
    const g = this.graph;
    const ts = this.model.relation(cr.typeId, tupleset);
    if (!ts) return false;
    const parents = g.subjects(node, tupleset, 0);
    if (parents === undefined) return false;
    const one = (p: number): boolean => {
      const pt = g.typeOf(p);
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
