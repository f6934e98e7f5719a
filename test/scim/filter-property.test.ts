/**
 * Property-based tests of the SCIM filter parser (fast-check): random valid filters round-trip
 * through stringify → parse; random and truncated strings get `invalidFilter`, never another
 * error; and over HTTP on both backends, random filters over the real User attributes answer
 * 200 or 400 invalidFilter — never a 500 — so the SQL translation holds for every shape.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../src/kernel/errors.js';
import { parseFilter, stringifyFilter, type Filter } from '../../src/scim/filter-parser.js';
import { describeEachBackend } from '../support/backends.js';
import { ENTERPRISE, startScim, userBody, type ScimHarness } from './support.js';

const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/).filter((n) => !['and', 'or', 'not', 'pr', 'eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le', 'true', 'false', 'null'].includes(n.toLowerCase()));
const subName = fc.oneof(name, fc.constant('$ref'));
const attrPath = fc.oneof(
  name,
  fc.tuple(name, subName).map(([a, b]) => `${a}.${b}`),
  fc.tuple(name, fc.option(subName, { nil: undefined })).map(([a, b]) => `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:${a}${b ? `.${b}` : ''}`),
);
const compValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)),
  fc.constantFrom('"', '\\', '\n', '\u0000', ']', ')', 'and', ' or '),
  fc.integer({ min: -1e9, max: 1e9 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
  fc.boolean(),
  fc.constant(null),
);
const compareOp = fc.constantFrom('eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le' as const);

function filterArb(path: fc.Arbitrary<string>, withValuePath: boolean): fc.Arbitrary<Filter> {
  const { tree } = fc.letrec<{ tree: Filter; leaf: Filter }>((tie) => ({
    leaf: fc.oneof(
      fc.record({ op: compareOp, attrPath: path, compValue }) as fc.Arbitrary<Filter>,
      fc.record({ op: fc.constant('pr' as const), attrPath: path }),
      ...(withValuePath ? [fc.record({ op: fc.constant('[]' as const), attrPath: name, valFilter: filterArb(name, false) })] : []),
    ),
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      tie('leaf'),
      fc.record({ op: fc.constantFrom('and', 'or' as const), filters: fc.array(tie('tree'), { minLength: 2, maxLength: 3 }) }) as fc.Arbitrary<Filter>,
      fc.record({ op: fc.constant('not' as const), filter: tie('tree') }),
    ),
  }));
  return tree;
}

function scimTypeOf(fn: () => unknown): string {
  try {
    fn();
    return 'parsed';
  } catch (err) {
    if (isGatehouseError(err, 'invalid_input')) return String(err.details?.scimType);
    return `unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`;
  }
}

describe('SCIM filter parser (fast-check)', () => {
  it('round-trips random valid filters: parse(stringify(f)) equals f', () => {
    fc.assert(
      fc.property(filterArb(attrPath, true), (f) => {
        const text = stringifyFilter(f);
        if (text.length > 4096) return;
        expect(parseFilter(text)).toEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it('answers invalidFilter (never another error) for random strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.stringMatching(/^[a-z "()[\].:\\0-9-]{0,40}$/)), (s) => {
        expect(['parsed', 'invalidFilter']).toContain(scimTypeOf(() => parseFilter(s)));
      }),
      { numRuns: 3000 },
    );
  });

  it('answers invalidFilter for truncated and spliced valid filters', () => {
    fc.assert(
      fc.property(filterArb(attrPath, true), fc.nat(), fc.string({ maxLength: 3 }), (f, cut, junk) => {
        const text = stringifyFilter(f);
        const broken = text.slice(0, cut % (text.length + 1)) + junk;
        expect(['parsed', 'invalidFilter']).toContain(scimTypeOf(() => parseFilter(broken)));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses nesting deeper than the limit with invalidFilter instead of overflowing the stack', () => {
    expect(scimTypeOf(() => parseFilter(`${'('.repeat(5000)}a eq 1${')'.repeat(5000)}`))).toBe('invalidFilter');
    expect(scimTypeOf(() => parseFilter(`${'not ('.repeat(40)}a pr${')'.repeat(40)}`))).toBe('invalidFilter');
    expect(scimTypeOf(() => parseFilter(Array.from({ length: 101 }, (_, i) => `a${i} pr`).join(' and ')))).toBe('invalidFilter');
  });
});

/** Real User attribute paths, so the SQL translation is exercised, not only the name lookup. */
const USER_PATHS = [
  'userName', 'displayName', 'title', 'active', 'externalId', 'id', 'name.givenName', 'name.familyName', 'emails', 'emails.value', 'emails.type',
  'emails.primary', 'phoneNumbers.value', 'addresses.locality', 'meta.created', 'meta.lastModified', 'meta.resourceType', 'groups.display', 'groups.value',
  `${ENTERPRISE}:department`, `${ENTERPRISE}:manager.value`, 'nickName', 'x509Certificates.value', 'password', 'unknownAttr',
];

describeEachBackend('SCIM filters over HTTP (fast-check)', (backend) => {
  let h: ScimHarness;
  beforeAll(async () => {
    h = await startScim(backend);
    await h.call('POST', '/Users', { body: userBody('prop', { title: 'T', emails: [{ value: 'p@example.com', type: 'work', primary: true }], phoneNumbers: [{ value: '1' }] }) });
  });
  afterAll(async () => h?.close());

  it('answers every random filter over real attributes with 200 or 400 invalidFilter, never a 500', async () => {
    const valuePath = fc.record({ op: fc.constant('[]' as const), attrPath: fc.constantFrom('emails', 'phoneNumbers', 'addresses', 'groups', 'title'), valFilter: filterArb(fc.constantFrom('value', 'type', 'primary', 'display', 'locality', 'nope'), false) });
    const arb = fc.oneof(filterArb(fc.constantFrom(...USER_PATHS), false), valuePath, fc.string({ maxLength: 30 }).map((s) => ({ raw: s })));
    await fc.assert(
      fc.asyncProperty(arb, async (f) => {
        const text = 'raw' in f ? (f.raw as string) : stringifyFilter(f as Filter);
        const res = await h.call('GET', `/Users?filter=${encodeURIComponent(text)}&count=5`);
        if (res.status === 200) expect(res.body.totalResults).toBeGreaterThanOrEqual(res.body.Resources.length);
        else expect([res.status, res.body.scimType], text).toEqual([400, 'invalidFilter']);
      }),
      { numRuns: 150 },
    );
  });
});
