/**
 * Random rewrites for the engine's property tests (property.test.ts, explain-property.test.ts):
 * derived document relations r0..r2, where r_i may use the test's base relations and r_j, j < i,
 * tuple-to-userset over `parent` → `viewer`, and unions, intersections and exclusions of them.
 */
import fc from 'fast-check';
import type { Userset } from '../../src/authz/model.js';

export type Expr = { k: 'c'; rel: string } | { k: 'ttu' } | { k: 'u' | 'i' | 'd'; a: Expr; b: Expr };

/** `expr(i)`: a random rewrite for relation r_i over `baseRelations` and r0..r_(i-1). */
export function rewriteArbitrary(baseRelations: readonly string[]): (i: number) => fc.Arbitrary<Expr> {
  const leaf = (i: number) => fc.oneof(fc.constantFrom(...baseRelations, ...Array.from({ length: i }, (_, j) => `r${j}`)).map((rel): Expr => ({ k: 'c', rel })), fc.constant<Expr>({ k: 'ttu' }));
  return (i) =>
    fc.oneof(
      { weight: 2, arbitrary: leaf(i) },
      { weight: 3, arbitrary: fc.record({ k: fc.constantFrom<'u' | 'i' | 'd'>('u', 'i', 'd'), a: leaf(i), b: fc.oneof(leaf(i), fc.record({ k: fc.constantFrom<'u' | 'i' | 'd'>('u', 'i', 'd'), a: leaf(i), b: leaf(i) })) }) as fc.Arbitrary<Expr> },
    );
}

/** The OpenFGA JSON rewrite of `e`. */
export function toUserset(e: Expr): Userset {
  switch (e.k) {
    case 'c':
      return { computedUserset: { relation: e.rel } };
    case 'ttu':
      return { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } };
    case 'u':
      return { union: { child: [toUserset(e.a), toUserset(e.b)] } };
    case 'i':
      return { intersection: { child: [toUserset(e.a), toUserset(e.b)] } };
    case 'd':
      return { difference: { base: toUserset(e.a), subtract: toUserset(e.b) } };
  }
}
