/**
 * A seeded pseudo-random source for randomised tests: a 32-bit linear congruential generator
 * (Numerical Recipes' constants), so a failing seed replays exactly. Not for anything secret.
 * @returns a function giving numbers in [0, 1).
 */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
