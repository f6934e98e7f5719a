/**
 * String interning: each distinct string gets a small, dense integer id (0, 1, 2, ...), so the
 * index and the evaluator compare and store integers (V8 small integers) instead of strings.
 */
export class Interner {
  private readonly ids = new Map<string, number>();
  /** id → string. */
  readonly names: string[] = [];

  /** The id of `s`, assigning the next id if `s` is new. */
  intern(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(s);
      this.ids.set(s, id);
    }
    return id;
  }

  /** The last two strings looked up and their ids (checks ask for the same few names over and over). */
  private k0: string | null = null;
  private v0 = -1;
  private k1: string | null = null;
  private v1 = -1;

  /** The id of `s`, or -1 if it was never interned (never assigns). */
  lookup(s: string): number {
    if (s === this.k0) return this.v0;
    if (s === this.k1) return this.v1;
    const id = this.ids.get(s);
    if (id === undefined) return -1;
    this.k1 = this.k0;
    this.v1 = this.v0;
    this.k0 = s;
    this.v0 = id;
    return id;
  }

  /** The string with id `id`. */
  name(id: number): string {
    const s = this.names[id];
    if (s === undefined) throw new RangeError(`no interned string with id ${id}`);
    return s;
  }

  get size(): number {
    return this.names.length;
  }
}
