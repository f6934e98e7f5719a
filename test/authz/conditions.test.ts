/**
 * Condition parameters declared `map<T>` given an AuthZEN entity's `properties` object (marked with
 * ENTITY_PROPERTIES): converted entry by entry, leaving out what does not convert; every other
 * source (a request context member, a tuple's stored context) converts strictly, as OpenFGA does.
 */
import { describe, expect, it } from 'vitest';
import { compileConditions, ENTITY_PROPERTIES } from '../../src/authz/conditions.js';
import type { ConditionParamTypeRef } from '../../src/authz/model.js';
import { isGatehouseError } from '../../src/kernel/errors.js';

const mapOf = (type_name: string): ConditionParamTypeRef => ({ type_name: 'TYPE_NAME_MAP', generic_types: [{ type_name }] });

/** The compiled condition `c` with the CEL `expression` over one parameter `p` declared `type`. */
function condition(type: ConditionParamTypeRef, expression: string) {
  return compileConditions({ c: { name: 'c', expression, parameters: { p: type } } }).get('c')!;
}

function errorOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (err) {
    return isGatehouseError(err) ? `${err.code}: ${err.message}` : String(err);
  }
}

const MIXED = { s: 'x', digits: '42', i: 5, f: 1.5, big: 1e21, t: true, no: false, nil: null, list: [1], obj: { k: 1 } };
/** A request context whose `p` is the entity properties object `props`. */
const marked = (props: Record<string, unknown>) => ({ p: props, [ENTITY_PROPERTIES]: { p: props } });

describe('map<T> parameters given an AuthZEN entity properties object', () => {
  it('map<string>: strings kept, numbers and booleans as their JSON text, the rest left out', () => {
    const c = condition(mapOf('TYPE_NAME_STRING'), 'p == {"s": "x", "digits": "42", "i": "5", "f": "1.5", "big": "1e+21", "t": "true", "no": "false"}');
    expect(c.evaluate(null, marked(MIXED))).toBe(true);
  });

  it('map<int>: integers and decimal strings kept; fractions, words, booleans, null, arrays and objects left out', () => {
    const c = condition(mapOf('TYPE_NAME_INT'), 'p == {"digits": 42, "i": 5}');
    expect(c.evaluate(null, marked(MIXED))).toBe(true);
  });

  it('map<double>: numbers and numeric strings kept', () => {
    const c = condition(mapOf('TYPE_NAME_DOUBLE'), 'p == {"digits": 42.0, "i": 5.0, "f": 1.5, "big": 1e21}');
    expect(c.evaluate(null, marked(MIXED))).toBe(true);
  });

  it('map<bool>: booleans kept, the rest left out', () => {
    const c = condition(mapOf('TYPE_NAME_BOOL'), 'p == {"t": true, "no": false}');
    expect(c.evaluate(null, marked(MIXED))).toBe(true);
  });

  it('map<any> (JSON models only): every entry kept as it is', () => {
    const c = condition(mapOf('TYPE_NAME_ANY'), 'size(p) == 10 && p["s"] == "x" && p["i"] == 5');
    expect(c.evaluate(null, marked(MIXED))).toBe(true);
  });

  it('reading a left-out key is a condition_error naming the key; other keys still decide', () => {
    const c = condition(mapOf('TYPE_NAME_STRING'), 'p["nil"] == "x"');
    expect(errorOf(() => c.evaluate(null, marked(MIXED)))).toBe("condition_error: condition 'c' failed: No such key: nil");
    const guarded = condition(mapOf('TYPE_NAME_STRING'), '"nil" in p ? false : p["s"] == "x"');
    expect(guarded.evaluate(null, marked(MIXED))).toBe(true);
  });

  it('strict without the mark: a request context member, or a mark on another object', () => {
    const c = condition(mapOf('TYPE_NAME_STRING'), 'size(p) > 0');
    const strict = "condition_error: condition 'c': parameter 'p' must be of type map<string, string>";
    expect(errorOf(() => c.evaluate(null, { p: MIXED }))).toBe(strict);
    expect(errorOf(() => c.evaluate(null, { p: { ...MIXED }, [ENTITY_PROPERTIES]: { p: MIXED } }))).toBe(strict);
  });

  it("strict for a tuple's stored context, which wins over the request's", () => {
    const c = condition(mapOf('TYPE_NAME_STRING'), 'size(p) > 0');
    expect(errorOf(() => c.evaluate({ p: MIXED }, marked({ s: 'x' })))).toBe("condition_error: condition 'c': parameter 'p' must be of type map<string, string>");
  });

  it('only map<T> parameters are lenient: a list<T> or string parameter given the object fails as before', () => {
    expect(errorOf(() => condition({ type_name: 'TYPE_NAME_LIST', generic_types: [{ type_name: 'TYPE_NAME_STRING' }] }, 'size(p) > 0').evaluate(null, marked(MIXED)))).toBe(
      "condition_error: condition 'c': parameter 'p' must be of type list<string>",
    );
    expect(errorOf(() => condition({ type_name: 'TYPE_NAME_STRING' }, 'p != ""').evaluate(null, marked(MIXED)))).toBe("condition_error: condition 'c': parameter 'p' must be of type string");
  });

  it('leaves the properties object unchanged', () => {
    const props = { ...MIXED };
    condition(mapOf('TYPE_NAME_STRING'), 'size(p) > 0').evaluate(null, marked(props));
    expect(props).toEqual(MIXED);
  });
});
