/**
 * Relationship conditions (OpenFGA conditions, schema 1.1): a CEL expression over typed
 * parameters, evaluated with @marcbachmann/cel-js (docs/authz-engine.md says why that library).
 *
 * - {@link compileConditions} type-checks every expression against its declared parameters when a
 *   model is compiled (a model with a CEL error is rejected, with the position in the expression).
 * - {@link CompiledCondition.evaluate} merges the tuple's stored context over the request context
 *   (the tuple's values win, as OpenFGA), converts each declared parameter from JSON to its CEL type
 *   and runs the expression. A missing parameter, a value of the wrong type, or a run-time error
 *   throws GatehouseError `condition_error` — never a silent deny.
 *
 * Parameter types (OpenFGA `TYPE_NAME_*`): bool, string, int, uint, double (JSON numbers or, for
 * int/uint, decimal strings), duration (`"1h30m"`), timestamp (RFC 3339 string), ipaddress (string;
 * method `ip.in_cidr("10.0.0.0/8")`), any, list<T>, map<T> (string keys). An AuthZEN entity's
 * `properties` object passed to a `map<T>` parameter converts entry by entry, leaving out what does
 * not convert ({@link ENTITY_PROPERTIES}).
 */
import { BlockList, isIP } from 'node:net';
import { Environment } from '@marcbachmann/cel-js';
import { GatehouseError } from '../kernel/errors.js';
import type { ConditionParamTypeRef, ModelCondition } from './model.js';

/** An IP address value (OpenFGA `ipaddress`). */
export class IPAddress {
  constructor(
    readonly address: string,
    readonly family: 'ipv4' | 'ipv6',
  ) {}
  /** True if the address lies in `cidr` (`a.b.c.d/n` or IPv6 `x::/n`). */
  inCidr(cidr: string): boolean {
    const slash = cidr.lastIndexOf('/');
    const net = slash > 0 ? cidr.slice(0, slash) : cidr;
    const bits = slash > 0 ? Number(cidr.slice(slash + 1)) : isIP(net) === 6 ? 128 : 32;
    const fam = isIP(net) === 6 ? 'ipv6' : isIP(net) === 4 ? 'ipv4' : null;
    if (!fam || !Number.isInteger(bits)) throw new Error(`'${cidr}' is not a CIDR block`);
    const bl = new BlockList();
    bl.addSubnet(net, bits, fam);
    return bl.check(this.address, this.family);
  }
}

const BASE_ENV = new Environment({ unlistedVariablesAreDyn: false })
  .registerType('ipaddress', IPAddress)
  .registerFunction({
    name: 'in_cidr',
    receiverType: 'ipaddress',
    returnType: 'bool',
    params: [{ name: 'cidr', type: 'string' }],
    handler: (ip: IPAddress, cidr: string) => ip.inCidr(cidr),
  });

// Conversions done by CEL itself (its own duration parser and uint type).
const CONVERT_ENV = new Environment().registerVariable('x', 'dyn');
const toDuration = CONVERT_ENV.parse('duration(x)');
const toUint = CONVERT_ENV.parse('uint(x)');

/** CEL type name of an OpenFGA parameter type. */
function celType(t: ConditionParamTypeRef): string {
  switch (t.type_name) {
    case 'TYPE_NAME_BOOL':
      return 'bool';
    case 'TYPE_NAME_STRING':
      return 'string';
    case 'TYPE_NAME_INT':
      return 'int';
    case 'TYPE_NAME_UINT':
      return 'uint';
    case 'TYPE_NAME_DOUBLE':
      return 'double';
    case 'TYPE_NAME_DURATION':
      return 'google.protobuf.Duration';
    case 'TYPE_NAME_TIMESTAMP':
      return 'google.protobuf.Timestamp';
    case 'TYPE_NAME_IPADDRESS':
      return 'ipaddress';
    case 'TYPE_NAME_ANY':
      return 'dyn';
    case 'TYPE_NAME_LIST':
      return `list<${generic(t)}>`;
    case 'TYPE_NAME_MAP':
      return `map<string, ${generic(t)}>`;
    default:
      throw new GatehouseError('invalid_input', `unknown condition parameter type '${String(t.type_name)}'`, { typeName: t.type_name });
  }
}

function generic(t: ConditionParamTypeRef): string {
  const g = t.generic_types?.[0];
  if (!g || (t.generic_types?.length ?? 0) !== 1) throw new GatehouseError('invalid_input', `${t.type_name} needs exactly one generic type`, { typeName: t.type_name });
  return celType(g);
}

/** Thrown (as a plain error) by {@link convert}; turned into `condition_error` by the caller. */
class WrongType extends Error {}

/**
 * The member of a request context that names which of its parameters hold an AuthZEN entity's
 * `properties` object (authzen.ts `conditionContext` sets it: `{ subject, resource, action }`, each
 * the entity's `properties` object or undefined). A symbol, so no JSON body can send it, and
 * `Object.entries`, `JSON.stringify` and parameter lookups by name never see it.
 *
 * AuthZEN leaves `properties` free-form, so such an object passed to a condition parameter declared
 * `map<T>` is converted entry by entry (docs/authzen.md, "Condition context"): each entry is
 * converted to T as a context value is; for `map<string>` a number or boolean entry becomes its
 * JSON text (`5` -> `"5"`, `true` -> `"true"`); an entry that does not convert to T (null, an
 * array, an object, a word for `map<int>`, a string for `map<bool>` …) is left out of the map, so
 * only a rule that reads that key fails (CEL's `No such key`, a `condition_error`). The mark holds
 * for a parameter only while the context's member of that name is that very object: a request
 * `context` member that replaced it, a tuple's stored context and every OpenFGA Check context
 * convert strictly (one wrongly typed entry fails the whole parameter), as OpenFGA converts them.
 *
 * @example
 * const props = { status: 'active', count: 5 };
 * const context = { resource: props, [ENTITY_PROPERTIES]: { resource: props } };
 * // a condition (resource: map<string>) sees resource == {"status": "active", "count": "5"}
 */
export const ENTITY_PROPERTIES: unique symbol = Symbol('AuthZEN entity properties');

/** A request context that may mark members as AuthZEN entity properties ({@link ENTITY_PROPERTIES}). */
export interface EntityPropertiesMark {
  [ENTITY_PROPERTIES]?: Readonly<Record<string, Record<string, unknown> | undefined>>;
}

/** The value {@link entityEntry} gives for an entry left out of the map. */
const LEFT_OUT = Symbol('left out');

/** One entry of an entity's properties converted to the map's value type `t`, or {@link LEFT_OUT}. */
function entityEntry(x: unknown, t: ConditionParamTypeRef): unknown {
  if (t.type_name === 'TYPE_NAME_STRING' && (typeof x === 'number' || typeof x === 'boolean')) return JSON.stringify(x);
  try {
    return convert(x, t);
  } catch (err) {
    if (err instanceof WrongType) return LEFT_OUT;
    throw err;
  }
}

function isIntText(v: unknown): v is string {
  return typeof v === 'string' && /^-?\d{1,19}$/.test(v);
}

/**
 * Converts a JSON value to the CEL value of a declared type, or throws WrongType. `entity`: `v` is
 * an AuthZEN entity's properties object ({@link ENTITY_PROPERTIES}); for a `map<T>` its entries
 * that do not convert are left out instead.
 */
function convert(v: unknown, t: ConditionParamTypeRef, entity = false): unknown {
  switch (t.type_name) {
    case 'TYPE_NAME_BOOL':
      if (typeof v !== 'boolean') throw new WrongType('bool');
      return v;
    case 'TYPE_NAME_STRING':
      if (typeof v !== 'string') throw new WrongType('string');
      return v;
    case 'TYPE_NAME_INT':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      if (isIntText(v)) return BigInt(v);
      if (typeof v === 'bigint') return v;
      throw new WrongType('int');
    case 'TYPE_NAME_UINT': {
      const n = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : isIntText(v) ? BigInt(v) : typeof v === 'bigint' ? v : null;
      if (n === null || n < 0n) throw new WrongType('uint');
      return toUint({ x: n });
    }
    case 'TYPE_NAME_DOUBLE':
      if (typeof v === 'number' && Number.isFinite(v)) return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw new WrongType('double');
    case 'TYPE_NAME_DURATION':
      if (typeof v !== 'string') throw new WrongType('duration');
      try {
        return toDuration({ x: v });
      } catch {
        throw new WrongType('duration');
      }
    case 'TYPE_NAME_TIMESTAMP': {
      if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(v)) throw new WrongType('timestamp');
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw new WrongType('timestamp');
      return d;
    }
    case 'TYPE_NAME_IPADDRESS': {
      const fam = typeof v === 'string' ? isIP(v) : 0;
      if (fam === 0) throw new WrongType('ipaddress');
      return new IPAddress(v as string, fam === 6 ? 'ipv6' : 'ipv4');
    }
    case 'TYPE_NAME_ANY':
      return v;
    case 'TYPE_NAME_LIST': {
      if (!Array.isArray(v)) throw new WrongType(celType(t));
      const g = t.generic_types![0]!;
      return v.map((x) => convert(x, g));
    }
    case 'TYPE_NAME_MAP': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new WrongType(celType(t));
      const g = t.generic_types![0]!;
      const out: Record<string, unknown> = {};
      if (entity) {
        for (const [k, x] of Object.entries(v)) {
          const c = entityEntry(x, g);
          if (c !== LEFT_OUT) out[k] = c;
        }
      } else for (const [k, x] of Object.entries(v)) out[k] = convert(x, g);
      return out;
    }
    default:
      throw new WrongType(String(t.type_name));
  }
}

/**
 * Does a JSON value convert to a condition parameter's declared type (as OpenFGA converts a
 * tuple's stored context on Write)?
 * @returns null when it does, else the expected CEL type name (for example `int`, `list<string>`).
 */
export function parameterTypeMismatch(value: unknown, type: ConditionParamTypeRef): string | null {
  try {
    convert(value, type);
    return null;
  } catch (err) {
    if (err instanceof WrongType) return celType(type);
    throw err;
  }
}

/** A condition ready to evaluate. */
export class CompiledCondition {
  private readonly names: string[];
  constructor(
    readonly name: string,
    readonly expression: string,
    readonly parameters: Record<string, ConditionParamTypeRef>,
    private readonly program: (ctx: Record<string, unknown>) => unknown,
  ) {
    this.names = Object.keys(parameters);
  }

  /**
   * Evaluates the condition for one tuple.
   * @param stored - the context stored with the tuple (wins over the request's)
   * @param request - the request context
   * @returns the boolean result
   * @throws GatehouseError `condition_error` (details: `condition`, and `missing` or `parameter` + `expected`, or `cause`).
   */
  evaluate(stored: Record<string, unknown> | null, request: Record<string, unknown> | undefined): boolean {
    const vars: Record<string, unknown> = {};
    const missing: string[] = [];
    for (const p of this.names) {
      const has = stored !== null && Object.hasOwn(stored, p);
      const raw = has ? stored[p] : request !== undefined && Object.hasOwn(request, p) ? request[p] : undefined;
      if (raw === undefined) {
        missing.push(p);
        continue;
      }
      const t = this.parameters[p]!;
      try {
        vars[p] = convert(raw, t, !has && t.type_name === 'TYPE_NAME_MAP' && (request as EntityPropertiesMark)[ENTITY_PROPERTIES]?.[p] === raw);
      } catch (err) {
        if (!(err instanceof WrongType)) throw err;
        throw new GatehouseError('condition_error', `condition '${this.name}': parameter '${p}' must be of type ${celType(t)}`, {
          condition: this.name,
          parameter: p,
          expected: celType(t),
        });
      }
    }
    if (missing.length > 0) {
      throw new GatehouseError('condition_error', `condition '${this.name}': missing context parameter(s) ${missing.join(', ')}`, { condition: this.name, missing });
    }
    let result: unknown;
    try {
      result = this.program(vars);
    } catch (err) {
      throw new GatehouseError('condition_error', `condition '${this.name}' failed: ${(err as Error).message.split('\n')[0]}`, { condition: this.name, cause: (err as Error).message.split('\n')[0] });
    }
    if (typeof result !== 'boolean') {
      throw new GatehouseError('condition_error', `condition '${this.name}' did not evaluate to a bool`, { condition: this.name });
    }
    return result;
  }
}

/**
 * Compiles and type-checks a model's conditions.
 * @throws GatehouseError `invalid_input` naming the condition, with the CEL error (and its
 *   position: details `line`/`column` within the expression when known).
 */
export function compileConditions(conditions: Record<string, ModelCondition> | undefined): Map<string, CompiledCondition> {
  const out = new Map<string, CompiledCondition>();
  if (!conditions) return out;
  if (typeof conditions !== 'object') throw new GatehouseError('invalid_input', 'conditions must be an object');
  for (const [key, c] of Object.entries(conditions)) {
    const name = c?.name ?? key;
    if (name !== key) throw new GatehouseError('invalid_input', `condition key '${key}' does not match its name '${name}'`, { condition: key });
    if (typeof c.expression !== 'string' || c.expression.length === 0 || c.expression.length > 4096) {
      throw new GatehouseError('invalid_input', `condition '${name}': expression must be a non-empty string of at most 4096 characters`, { condition: name });
    }
    const params = c.parameters ?? {};
    const env = BASE_ENV.clone();
    for (const [p, t] of Object.entries(params)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) throw new GatehouseError('invalid_input', `condition '${name}': invalid parameter name '${p}'`, { condition: name });
      env.registerVariable(p, celType(t));
    }
    let program: (ctx: Record<string, unknown>) => unknown;
    try {
      const parsed = env.parse(c.expression);
      const checked = parsed.check();
      if (!checked.valid) throw checked.error;
      if (checked.type !== 'bool' && checked.type !== 'dyn') throw new Error(`expression must be of type bool, not ${checked.type}`);
      program = parsed as unknown as (ctx: Record<string, unknown>) => unknown;
    } catch (err) {
      const e = err as Error & { range?: { start?: number } };
      const details: Record<string, unknown> = { condition: name };
      const at = e.range?.start;
      if (typeof at === 'number') {
        const before = c.expression.slice(0, at);
        details.line = before.split('\n').length;
        details.column = at - before.lastIndexOf('\n');
      }
      throw new GatehouseError('invalid_input', `condition '${name}': invalid CEL expression: ${e.message.split('\n')[0]}`, details);
    }
    out.set(name, new CompiledCondition(name, c.expression, params, program));
  }
  return out;
}
