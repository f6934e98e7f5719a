/**
 * {@link ClosureSlot}: scratch space for one subject closure of a check (the nodes whose pure
 * relation holds the subject, with their chain length), reused from check to check so that
 * computing and probing a closure allocates nothing once warm.
 *
 * Membership is a generation stamp per node id in a typed array (O(1), no clearing between
 * checks); distances live in a parallel array. Arrays grow to the largest node id met.
 */
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
