/**
 * A set of small non-negative integers stored in the cheapest form for its size:
 * one number (1 element), a plain array (up to {@link SMALL_MAX} elements, exactly sized, scanned linearly,
 * which beats hashing at that size), or a `Set` (larger). Most relation slots hold one or a few
 * subjects, so this keeps memory per tuple small.
 *
 * The functions return the (possibly new) container; callers store the result.
 */
export type IdSet = number | number[] | Set<number>;

/** Arrays grow into a Set past this many elements. */
export const SMALL_MAX = 32;

/** True if `s` contains `id`. */
export function idsHas(s: IdSet | undefined, id: number): boolean {
  if (s === undefined) return false;
  if (typeof s === 'number') return s === id;
  if (Array.isArray(s)) {
    for (let i = 0; i < s.length; i++) if (s[i] === id) return true;
    return false;
  }
  return s.has(id);
}

/** Adds `id`; returns the container to keep and whether it was new. */
export function idsAdd(s: IdSet | undefined, id: number): { set: IdSet; added: boolean } {
  if (s === undefined) return { set: id, added: true };
  if (typeof s === 'number') return s === id ? { set: s, added: false } : { set: [s, id], added: true };
  if (Array.isArray(s)) {
    if (s.includes(id)) return { set: s, added: false };
    if (s.length < SMALL_MAX) {
      // A copy of exactly n + 1 slots (push would reserve about 1.5 n + 16).
      const n = s.length;
      const grown = new Array<number>(n + 1);
      for (let i = 0; i < n; i++) grown[i] = s[i] as number;
      grown[n] = id;
      return { set: grown, added: true };
    }
    const big = new Set(s);
    big.add(id);
    return { set: big, added: true };
  }
  if (s.has(id)) return { set: s, added: false };
  s.add(id);
  return { set: s, added: true };
}

/** Removes `id`; returns the container to keep (undefined when empty) and whether it was present. */
export function idsDelete(s: IdSet | undefined, id: number): { set: IdSet | undefined; deleted: boolean } {
  if (s === undefined) return { set: undefined, deleted: false };
  if (typeof s === 'number') return s === id ? { set: undefined, deleted: true } : { set: s, deleted: false };
  if (Array.isArray(s)) {
    const i = s.indexOf(id);
    if (i < 0) return { set: s, deleted: false };
    s.splice(i, 1);
    if (s.length === 1) return { set: s[0] as number, deleted: true };
    return { set: s, deleted: true };
  }
  if (!s.delete(id)) return { set: s, deleted: false };
  if (s.size === 0) return { set: undefined, deleted: true };
  return { set: s, deleted: true };
}

/** Number of elements. */
export function idsSize(s: IdSet | undefined): number {
  if (s === undefined) return 0;
  if (typeof s === 'number') return 1;
  return Array.isArray(s) ? s.length : s.size;
}

/**
 * Calls `fn` for each element until it returns true; returns whether it did. The visiting order is
 * insertion order for arrays and sets.
 */
export function idsSome(s: IdSet | undefined, fn: (id: number) => boolean): boolean {
  if (s === undefined) return false;
  if (typeof s === 'number') return fn(s);
  if (Array.isArray(s)) {
    for (let i = 0; i < s.length; i++) if (fn(s[i] as number)) return true;
    return false;
  }
  for (const id of s) if (fn(id)) return true;
  return false;
}

/** The elements as a new array. */
export function idsToArray(s: IdSet | undefined): number[] {
  if (s === undefined) return [];
  if (typeof s === 'number') return [s];
  return Array.isArray(s) ? s.slice() : [...s];
}
