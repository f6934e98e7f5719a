/**
 * The state of one check (see evaluator.ts for the semantics): the rewrite walk, the visited sets,
 * the subject's membership closures and OpenFGA's three-valued handling of condition errors.
 */
import { GatehouseError, isGatehouseError } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import type { GraphView } from './graph.js';
import { idsHas, idsSize, type IdSet } from './idset.js';
import { WILDCARD_REL, allows, restrictionKey, type CompiledModel, type CompiledRelation, type Rewrite } from './model.js';
import { analyse, type ModelAnalysis } from './model-analysis.js';
import { SubjectClosures, type ClosureSlot } from './closure.js';
import { CHAIN_HEAD, CHAIN_LEN, CHAIN_NODES, CHAIN_PAIRS, type ChainMemo } from './chain-memo.js';

/** An instant in epoch milliseconds, or a clock read only when an edge with an expiry or condition is met. */
export type Now = number | Clock;

/** A three-valued answer of an intersection / exclusion operand. */
type Tri = 0 | 1 | 2;
const FALSE: Tri = 0;
const TRUE: Tri = 1;
const UNKNOWN: Tri = 2;

/** The `visitedSet` of a depth-aware check (never read: {@link Resolution.visitedDepth} is). */
const DEPTH_AWARE: Set<number> = new Set();

function tooComplex(maxDepth: number): GatehouseError {
  return new GatehouseError('resolution_too_complex', `the check needed more than ${maxDepth} nested rewrites or usersets`, { maxDepth });
}

/**
 * The state of one check: the subject, the clock reading, the visited set and the subject's
 * closures. Pooled by {@link Evaluator} ({@link reset} / {@link release}); its arrays are reused.
 */
export class Resolution {
  /** Visited `node#relation` keys: `visited[0 .. visitedLen-1]` scanned linearly, grown into a Set past 32. */
  private visited: number[] = [];
  private visitedLen = 0;
  private visitedSet: Set<number> | null = null;
  /** Spare visited arrays for the operands of intersection / exclusion. */
  private readonly visitedPool: number[][] = [];
  /** The userset candidates {@link closureUserset} reads (it calls nothing that reads another). */
  private readonly candidates: number[] = [];
  /** The parents of a tuple-to-userset, one array per depth ({@link tupleToUserset}). */
  private readonly parents: number[][] = [];
  /** Per userset relation met: the nodes whose (pure) relation holds the subject. */
  private readonly closures = new SubjectClosures();
  private analysisOf: CompiledModel | null = null;
  private analysis: ModelAnalysis | null = null;
  // The check's question (read by SubjectClosures, closure.ts).
  graph!: GraphView;
  model!: CompiledModel;
  /** -1 when no tuple names the subject (it may still match a wildcard). */
  subjectNode = -1;
  subjectRelation = 0;
  /** -1 when the type is unknown to every model and tuple. */
  subjectType = -1;
  /**
   * The type restriction a tuple naming the subject must pass ({@link restrictionKey}): `type`,
   * `type#relation`, or `type:*` when the subject is its type's wildcard (a stored `user:*` tuple
   * is admitted by a `user:*` restriction only, never by `user`); -1 when the type is unknown.
   */
  subjectKey = -1;
  private nowMs = NaN;
  private clock: Clock | null = null;
  private context: Record<string, unknown> | undefined;
  /**
   * The first condition error (or depth-limit error) met in the current reachability question. OpenFGA's three-valued
   * rule: a path that errors counts as "unknown", so a union is true if any branch is true and an
   * error only when none is; an intersection is false if any operand is false; an exclusion is
   * false if its base is false or its subtracted part true — whatever the order of the branches.
   */
  pending: GatehouseError | null = null;
  /** The error of the last {@link isolated} operand that answered "unknown". */
  private operandError: GatehouseError | null = null;
  /**
   * Depth-aware mode (set by the evaluator after {@link reset}, only to re-run a check that would
   * fail with `resolution_too_complex`): a visited `node#relation` is expanded again when reached
   * at a smaller depth, so a path within the limit is found even when a longer path (whose rest
   * passed the limit) reached the same node first. Keys and the least depth they were expanded at.
   */
  private visitedDepth: Map<number, number> | null = null;

  constructor(
    private readonly maxDepth: number,
    /** Flattened parent chains kept across checks (null: always expand). */
    private readonly chains: ChainMemo | null = null,
  ) {}

  /** Prepares for one check. */
  reset(graph: GraphView, model: CompiledModel, subjectNode: number, subjectRelation: number, subjectType: number, now: Now, context: Record<string, unknown> | undefined): void {
    this.graph = graph;
    if (this.analysisOf !== model) {
      this.analysisOf = null;
      this.analysis = null;
    }
    this.model = model;
    this.subjectNode = subjectNode;
    this.subjectRelation = subjectRelation;
    this.subjectType = subjectType;
    this.subjectKey = subjectType < 0 ? -1 : restrictionKey(subjectType, subjectRelation === 0 && subjectNode >= 0 && graph.wildcardNode(subjectType) === subjectNode ? WILDCARD_REL : subjectRelation);
    if (typeof now === 'number') {
      this.nowMs = now;
      this.clock = null;
    } else {
      this.nowMs = NaN;
      this.clock = now;
    }
    this.context = context;
    this.pending = null;
    this.operandError = null;
    this.visitedLen = 0;
    this.visitedSet = null;
    this.visitedDepth = null;
    this.closures.reset();
  }

  /** Switches this check to depth-aware visiting (see {@link visitedDepth}); call after {@link reset}. */
  depthAware(): void {
    this.visitedDepth = new Map();
    // Routes {@link seen} past its linear scan to the branch that reads visitedDepth.
    this.visitedSet = DEPTH_AWARE;
  }

  /** Drops references to request data after a check. */
  release(): void {
    this.context = undefined;
    this.pending = null;
    this.operandError = null;
    this.clock = null;
    this.visitedSet = null;
    this.visitedDepth = null;
  }

  /** The check's instant (the clock is read once, on first need). */
  now(): number {
    if (this.clock !== null) {
      this.nowMs = this.clock.now().getTime();
      this.clock = null;
    }
    return this.nowMs;
  }

  /** The model's analysis (pure relations, chain shapes), computed once per model. */
  analyse(): ModelAnalysis {
    if (this.analysis === null || this.analysisOf !== this.model) {
      this.analysis = analyse(this.model);
      this.analysisOf = this.model;
    }
    return this.analysis;
  }

  /** Is the subject in `node#relation`? */
  visit(node: number, relation: number, depth: number): boolean {
    // Past the limit this path is "unknown", like a condition error: another branch may still
    // decide (OpenFGA's three-valued rule); the check fails with the error only when none does.
    if (depth > this.maxDepth) return this.defer(tooComplex(this.maxDepth));
    if (this.seen(node * 4096 + relation, depth)) return false;
    const cr = this.model.relation(this.graph.typeOf(node), relation);
    if (!cr) return false;
    if (this.chains !== null) {
      const tupleset = this.analyse().chain(cr.typeId, relation);
      if (tupleset >= 0) {
        const v = this.chain(node, cr, tupleset, depth);
        if (v >= 0) return v === 1;
      }
    }
    return this.rewrite(node, cr, cr.rewrite, depth);
  }

  /** Is the subject in `node` through `rw`, a part of the rewrite of `cr`, at `depth`? (Evaluator.holds, for explain.) */
  part(node: number, cr: CompiledRelation, rw: Rewrite, depth: number): boolean {
    return this.rewrite(node, cr, rw, depth);
  }

  /**
   * `node#relation` for a self-recursive parent chain (`[user, team#member] or viewer from
   * parent`) from its flattened form ({@link ChainMemo}): the subject, its type's wildcard or a
   * userset in the subject's closure among the direct edges of the node and all its ancestors.
   * Taken only when that is exactly what the expansion would answer — no edge of the chain with
   * an expiry or a condition (the memo refuses those), every userset candidate of a pure relation
   * with a usable closure, no chain or closure that could pass the depth limit (so no error is
   * possible) — else -1 and the chain is expanded. A false answer marks the chain's nodes
   * visited, as the expansion would have.
   * @returns 1 true, 0 false, -1 not applicable.
   */
  private chain(node: number, cr: CompiledRelation, tupleset: number, depth: number): number {
    const g = this.graph;
    const e = (this.chains as ChainMemo).entry(g, this.model, node, cr, tupleset);
    const len = e[CHAIN_LEN] as number;
    if (len === 0 || depth + len - 1 > this.maxDepth) return -1;
    const n = CHAIN_HEAD + 2 * (e[CHAIN_PAIRS] as number);
    const usrs = cr.usersetRelations;
    let found = false;
    // Usersets first: every candidate must be decidable from a closure, whatever else grants.
    for (let i = CHAIN_HEAD; i < n; i += 2) {
      const usr = e[i] as number;
      if (usr === 0) continue;
      let named = false;
      for (let j = 0; j < usrs.length; j++) if (usrs[j] === usr) named = true;
      if (!named) continue;
      const m = e[i + 1] as number;
      const mt = g.typeOf(m);
      if (!allows(cr, restrictionKey(mt, usr))) continue;
      if (!this.analyse().pure(mt, usr)) return -1;
      const c = this.closures.get(this, usr);
      if (c === null || depth + len + c.maxDist > this.maxDepth) return -1;
      if (!found && c.has(m)) found = true;
    }
    if (!found) {
      const s = this.subjectNode;
      const sr = this.subjectRelation;
      if (s >= 0 && allows(cr, this.subjectKey)) {
        for (let i = CHAIN_HEAD; i < n; i += 2) {
          if (e[i + 1] === s && e[i] === sr) {
            found = true;
            break;
          }
        }
      }
      if (!found && sr === 0 && this.subjectType >= 0 && allows(cr, restrictionKey(this.subjectType, WILDCARD_REL))) {
        const w = g.wildcardNode(this.subjectType);
        if (w >= 0 && w !== s) {
          for (let i = CHAIN_HEAD; i < n; i += 2) {
            if (e[i + 1] === w && e[i] === 0) {
              found = true;
              break;
            }
          }
        }
      }
    }
    if (found) return 1;
    const rel = cr.relationId;
    const end = n + (e[CHAIN_NODES] as number);
    // Nothing under a chain taken here can pass the limit: no depth-aware revisit is needed (depth 0).
    for (let i = n + 1; i < end; i++) this.seen((e[i] as number) * 4096 + rel, 0);
    return 0;
  }

  /** Depth-aware {@link seen}: true if `key` was already expanded at `depth` or less; else records `depth`. */
  private seenAt(key: number, depth: number): boolean {
    const m = this.visitedDepth as Map<number, number>;
    const d = m.get(key);
    if (d !== undefined && d <= depth) return true;
    m.set(key, depth);
    return false;
  }

  /**
   * Records `key` as visited; true if it already was (in depth-aware mode: at `depth` or less).
   * The common case, 32 keys or fewer scanned linearly, reads nothing else.
   */
  private seen(key: number, depth: number): boolean {
    if (this.visitedSet !== null) {
      if (this.visitedDepth !== null) return this.seenAt(key, depth);
      if (this.visitedSet.has(key)) return true;
      this.visitedSet.add(key);
      return false;
    }
    const v = this.visited;
    const n = this.visitedLen;
    for (let i = 0; i < n; i++) if (v[i] === key) return true;
    if (n < v.length) v[n] = key;
    else v.push(key);
    this.visitedLen = n + 1;
    if (n + 1 > 32) {
      const set = new Set<number>();
      for (let i = 0; i <= n; i++) set.add(v[i] as number);
      this.visitedSet = set;
    }
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
      case 'union': {
        const c = rw.children;
        for (let i = 0; i < c.length; i++) if (this.rewrite(node, cr, c[i] as Rewrite, depth)) return true;
        return false;
      }
      case 'intersection': {
        const c = rw.children;
        let unknown: GatehouseError | null = null;
        for (let i = 0; i < c.length; i++) {
          const v = this.isolated(node, cr, c[i] as Rewrite, depth);
          if (v === FALSE) return false;
          if (v === UNKNOWN) unknown ??= this.operandError;
        }
        return unknown === null || this.defer(unknown);
      }
      case 'difference': {
        const base = this.isolated(node, cr, rw.base, depth);
        if (base === FALSE) return false;
        const baseError = this.operandError;
        const sub = this.isolated(node, cr, rw.subtract, depth);
        if (sub === TRUE) return false;
        if (base === TRUE && sub === FALSE) return true;
        return this.defer((base === UNKNOWN ? baseError : this.operandError) as GatehouseError);
      }
    }
  }

  /** Records `err` (a condition error or the depth limit) as the question's pending error (the first one stays); answers false. */
  private defer(err: GatehouseError): false {
    this.pending ??= err;
    return false;
  }

  /**
   * Evaluates an operand of intersection/difference as its own reachability question: TRUE, FALSE,
   * or UNKNOWN when no path grants and a condition error was met (the error in {@link operandError}).
   */
  private isolated(node: number, cr: CompiledRelation, rw: Rewrite, depth: number): Tri {
    const saved = this.visited;
    const savedLen = this.visitedLen;
    const savedSet = this.visitedSet;
    const savedDepth = this.visitedDepth;
    const outerPending = this.pending;
    const fresh = this.visitedPool.pop() ?? [];
    this.visited = fresh;
    this.visitedLen = 0;
    this.visitedSet = null;
    if (savedDepth !== null) {
      this.visitedDepth = new Map();
      this.visitedSet = DEPTH_AWARE;
    }
    this.pending = null;
    try {
      if (this.rewrite(node, cr, rw, depth + 1)) return TRUE;
      if (this.pending === null) return FALSE;
      this.operandError = this.pending;
      return UNKNOWN;
    } finally {
      this.visitedPool.push(fresh);
      this.visited = saved;
      this.visitedLen = savedLen;
      this.visitedSet = savedSet;
      this.visitedDepth = savedDepth;
      this.pending = outerPending;
    }
  }

  /** True if the edge grants now: not expired, and its condition (if any) holds. */
  private usable(node: number, relation: number, subjectRelation: number, subject: number): boolean {
    if (!this.graph.hasMeta(node)) return true;
    const meta = this.graph.edgeMeta(node, relation, subjectRelation, subject);
    if (!meta) return true;
    if (meta.expiresAtMs <= this.now()) return false;
    if (meta.condition === null) return true;
    const cond = this.model.conditions.get(meta.condition.name);
    // A tuple naming a condition this model does not declare (written under another model) grants nothing.
    if (!cond) return false;
    try {
      return cond.evaluate(meta.condition.context, this.context);
    } catch (err) {
      // Another path may still grant (or an intersection operand deny): decided at the end.
      if (isGatehouseError(err, 'condition_error')) return this.defer(err);
      throw err;
    }
  }

  private direct(node: number, cr: CompiledRelation, depth: number): boolean {
    const g = this.graph;
    const rel = cr.relationId;
    const s = this.subjectNode;
    const sr = this.subjectRelation;
    // The subject itself, directly (the wildcard subject `type:*` under a `type:*` restriction only).
    if (s >= 0 && allows(cr, this.subjectKey) && g.has(node, rel, sr, s) && this.usable(node, rel, sr, s)) return true;
    // A wildcard `type:*` for the subject's type (the wildcard subject was just tried).
    if (sr === 0 && this.subjectType >= 0 && allows(cr, restrictionKey(this.subjectType, WILDCARD_REL))) {
      const w = g.wildcardNode(this.subjectType);
      if (w >= 0 && w !== s && g.has(node, rel, 0, w) && this.usable(node, rel, 0, w)) return true;
    }
    // Usersets `type:id#relation` assigned here: only the subject relations the type restrictions
    // name can grant (an edge of another one fails every restriction test in anyUserset).
    const usrs = cr.usersetRelations;
    const buf = this.candidates;
    for (let i = 0; i < usrs.length; i++) {
      const usr = usrs[i] as number;
      const n = g.subjectsInto(node, rel, usr, buf);
      if (n === 0) continue;
      const fast = this.closureUserset(node, cr, usr, buf, n, depth);
      if (fast === 1) return true;
      if (fast === 0) continue;
      const set = g.subjects(node, rel, usr);
      if (set !== undefined && this.anyUserset(node, cr, usr, set, depth)) return true;
    }
    return false;
  }

  /**
   * The fast form of {@link anyUserset}: when every candidate's relation is pure, the subject's
   * closure holds them exactly, no edge of `node` carries meta (no condition to evaluate, no
   * expiry) and no chain in the closure can pass the depth limit, the answer is whether any
   * candidate is in the closure — what the general form computes, without errors possible.
   * @returns 1 true, 0 false, -1 not applicable.
   */
  private closureUserset(node: number, cr: CompiledRelation, usr: number, set: readonly number[], n: number, depth: number): number {
    const g = this.graph;
    if (g.hasMeta(node)) return -1;
    const a = this.analyse();
    // Only pure userset relations have closures: decide on the first candidate's type before computing one.
    if (!a.pure(g.typeOf(set[0] as number), usr)) return -1;
    const c = this.closures.get(this, usr);
    if (c === null || depth + 1 + c.maxDist > this.maxDepth) return -1;
    let found = false;
    for (let i = 0; i < n; i++) {
      const x = set[i] as number;
      const mt = g.typeOf(x);
      if (!allows(cr, restrictionKey(mt, usr))) continue;
      if (!a.pure(mt, usr)) return -1;
      if (!found && c.has(x)) found = true;
    }
    return found ? 1 : 0;
  }

  /**
   * Is the subject in `m#usr` for some member `m` of `set` (the usersets assigned to
   * `node#relation`)? First the subject's own direct tuples `x#usr@subject` are intersected with
   * the candidates through the reverse edges (the common case: a user's few roles against a
   * permission's roles); then only candidates whose membership could come from more than direct
   * tuples are expanded. Both steps together give exactly the answer of expanding every candidate.
   * Called by {@link direct} when {@link closureUserset} does not apply.
   */
  private anyUserset(node: number, cr: CompiledRelation, usr: number, set: IdSet, depth: number): boolean {
    const shortcut = depth + 1 <= this.maxDepth;
    if (shortcut && this.subjectNode >= 0) {
      const mine = this.graph.objectsOf(this.subjectNode, this.subjectRelation, usr);
      if (mine !== undefined) {
        const small = idsSize(mine) <= idsSize(set);
        const scan = small ? mine : set;
        const probe = small ? set : mine;
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
    if (!allows(cr, restrictionKey(xt, usr))) return false;
    const xr = this.model.relation(xt, usr);
    if (!xr || !xr.directSufficient || !allows(xr, this.subjectKey)) return false;
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
    if (!allows(cr, restrictionKey(mt, usr))) return false;
    if (directDone) {
      const mr = this.model.relation(mt, usr);
      if (!mr) return false;
      if (mr.rewrite.kind === 'this') {
        const wildcard = this.subjectRelation === 0 && this.subjectType >= 0 && g.wildcardNode(this.subjectType) >= 0 && allows(mr, restrictionKey(this.subjectType, WILDCARD_REL));
        if (g.subjectRelationsEnd(member, usr) <= 1 && !wildcard) return false;
      }
    }
    if (!this.usable(node, cr.relationId, usr, member)) return false;
    if (this.analyse().pure(mt, usr)) {
      const c = this.closures.get(this, usr);
      if (c !== null) {
        const d = c.distance(member);
        if (d < 0) return false;
        if (depth + 1 + d > this.maxDepth) return this.defer(tooComplex(this.maxDepth));
        return true;
      }
    }
    return this.visit(member, usr, depth + 1);
  }

  private tupleToUserset(node: number, cr: CompiledRelation, tupleset: number, computed: number, depth: number): boolean {
    const ts = this.model.relation(cr.typeId, tupleset);
    if (!ts) return false;
    // One scratch array per depth: everything this loop calls runs at a greater depth.
    let parents = this.parents[depth];
    if (parents === undefined) {
      parents = [];
      this.parents[depth] = parents;
    }
    const n = this.graph.subjectsInto(node, tupleset, 0, parents);
    for (let i = 0; i < n; i++) if (this.parent(node, ts, parents[i] as number, computed, depth)) return true;
    return false;
  }

  /** Is the subject in `p#computed`, for the tupleset edge `node#tupleset@p`? */
  private parent(node: number, ts: CompiledRelation, p: number, computed: number, depth: number): boolean {
    const pt = this.graph.typeOf(p);
    if (!allows(ts, restrictionKey(pt, 0)) || !this.model.relation(pt, computed)) return false;
    return this.usable(node, ts.relationId, 0, p) && this.visit(p, computed, depth + 1);
  }
}
