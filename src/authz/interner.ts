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

  /** The id of `s`, or -1 if it was never interned (never assigns). */
  lookup(s: string): number {
    return this.ids.get(s) ?? -1;
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
