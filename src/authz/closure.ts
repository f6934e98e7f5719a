/**
 * {@link ClosureSlot}: scratch space for one subject closure of a check (the nodes whose pure
 * relation holds the subject, with their chain length), reused from check to check so that
 * computing and probing a closure allocates nothing once warm.
 *
 * Membership is a generation stamp per node id in a typed array (O(1), no clearing between
 * checks); distances live in a parallel array. Arrays grow to the largest node id met.
 * {@link SubjectClosures} computes them for a {@link Resolution} (resolution.ts).
 */
import type { GraphView } from './graph.js';
import { WILDCARD_REL, allows, restrictionKey, type CompiledModel, type CompiledRelation } from './model.js';
import type { ModelAnalysis } from './model-analysis.js';

/** One closure: the nodes of a pure relation that hold the subject, with their chain lengths. */
export class ClosureSlot {
  /** The relation id whose closure this is; -1 when unused. */
  usr = -1;
  /** True when an edge on the way carries a condition: the closure is unusable. */
  tainted = false;
  /** The longest chain length recorded. */
  maxDist = 0;
  /** Nodes in insertion (breadth-first) order: `queue[0 .. size-1]`. */
  readonly queue: number[] = [];
  /** Number of nodes in the closure. */
  size = 0;
  private stamp = new Int32Array(0);
  private dist = new Int32Array(0);
  private gen = 0;

  /** Starts a new, empty closure of `usr`. */
  begin(usr: number): void {
    this.usr = usr;
    this.tainted = false;
    this.maxDist = 0;
    this.size = 0;
    if (this.gen === 0x7fffffff) {
      this.stamp.fill(0);
      this.gen = 0;
    }
    this.gen++;
  }

  has(node: number): boolean {
    return node < this.stamp.length && this.stamp[node] === this.gen;
  }

  /** Chain length of `node`, or -1 when it is not in the closure. */
  distance(node: number): number {
    return node < this.stamp.length && this.stamp[node] === this.gen ? (this.dist[node] as number) : -1;
  }

  add(node: number, d: number): void {
    if (node >= this.stamp.length) this.grow(node + 1);
    this.stamp[node] = this.gen;
    this.dist[node] = d;
    if (d > this.maxDist) this.maxDist = d;
    if (this.size < this.queue.length) this.queue[this.size] = node;
    else this.queue.push(node);
    this.size++;
  }

  private grow(min: number): void {
    const n = Math.max(min, this.stamp.length * 2, 1024);
    const stamp = new Int32Array(n);
    stamp.set(this.stamp);
    const dist = new Int32Array(n);
    dist.set(this.dist);
    this.stamp = stamp;
    this.dist = dist;
  }
}

/** Closures kept per check (one per userset relation met); past this many, expansion is used. */
const MAX_CLOSURES = 4;

/** What a closure is computed from: the check's graph, model and subject ({@link Resolution}). */
export interface ClosureSource {
  readonly graph: GraphView;
  readonly model: CompiledModel;
  /** -1 when no tuple names the subject. */
  readonly subjectNode: number;
  readonly subjectRelation: number;
  /** -1 when the type is unknown. */
  readonly subjectType: number;
  /** The restriction a tuple naming the subject must pass (`type:*` for the wildcard subject; {@link Resolution.subjectKey}). */
  readonly subjectKey: number;
  /** The check's instant, epoch milliseconds. */
  now(): number;
  analyse(): ModelAnalysis;
}

/** The closures of one check: at most {@link MAX_CLOSURES} pooled slots, reused from check to check. */
export class SubjectClosures {
  private readonly slots: ClosureSlot[] = [];
  private count = 0;
  /** The objects of one step of a walk ({@link from}; nothing in a step reads another). */
  private readonly scratch: number[] = [];

  /** Forgets the closures of the previous check. */
  reset(): void {
    this.count = 0;
  }

  /**
   * The nodes `x` whose pure relation `usr` holds the subject (Leopard-style, Zanzibar §3.2.4):
   * a breadth-first walk over reverse edges of `usr` from the subject (and its type's wildcard),
   * with type restrictions and expiry applied; the distance is the chain length. Computed once per
   * check into a pooled {@link ClosureSlot}. Null when an edge on the way carries a condition (then
   * the ordinary expansion runs) and past {@link MAX_CLOSURES}. The wildcard subject `type:*` itself
   * starts only from its own node, under `type:*` restrictions.
   */
  get(r: ClosureSource, usr: number): ClosureSlot | null {
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i] as ClosureSlot;
      if (s.usr === usr) return s.tainted ? null : s;
    }
    if (this.count >= MAX_CLOSURES) return null;
    let slot = this.slots[this.count];
    if (slot === undefined) {
      slot = new ClosureSlot();
      this.slots.push(slot);
    }
    this.count++;
    slot.begin(usr);
    const g = r.graph;
    const a = r.analyse();
    if (r.subjectNode >= 0) this.from(r, slot, a, r.subjectNode, r.subjectRelation, r.subjectKey, 0);
    if (r.subjectRelation === 0 && r.subjectType >= 0) {
      const w = g.wildcardNode(r.subjectType);
      if (w >= 0 && w !== r.subjectNode) this.from(r, slot, a, w, 0, restrictionKey(r.subjectType, WILDCARD_REL), 0);
    }
    const q = slot.queue;
    for (let i = 0; i < slot.size && !slot.tainted; i++) {
      const o = q[i] as number;
      this.from(r, slot, a, o, usr, restrictionKey(g.typeOf(o), usr), slot.distance(o) + 1);
    }
    return slot.tainted ? null : slot;
  }

  /** One step of {@link get}: the objects `o` with a tuple `o#usr@x#xr` that admit it. */
  private from(r: ClosureSource, slot: ClosureSlot, a: ModelAnalysis, x: number, xr: number, key: number, dist: number): void {
    const objs = this.scratch;
    const n = r.graph.objectsInto(x, xr, slot.usr, objs);
    for (let i = 0; i < n; i++) this.add(r, slot, a, objs[i] as number, x, xr, key, dist);
  }

  private add(r: ClosureSource, slot: ClosureSlot, a: ModelAnalysis, o: number, x: number, xr: number, key: number, dist: number): void {
    if (slot.tainted || slot.has(o)) return;
    const g = r.graph;
    const usr = slot.usr;
    const ot = g.typeOf(o);
    if (!a.pure(ot, usr) || !allows(r.model.relation(ot, usr) as CompiledRelation, key)) return;
    if (g.hasMeta(o)) {
      const meta = g.edgeMeta(o, usr, xr, x);
      if (meta) {
        if (meta.expiresAtMs <= r.now()) return;
        if (meta.condition) {
          slot.tainted = true;
          return;
        }
      }
    }
    slot.add(o, dist);
  }
}
