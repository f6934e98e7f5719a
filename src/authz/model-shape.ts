/**
 * The structure of a model's relation rewrites, checked before any recursive walk over them (the
 * transformer's validator, the compiler, the DSL renderer, the evaluators): every rewrite is a JSON
 * object setting exactly one member of OpenFGA's `Userset` oneof (openfga/api `authzmodel.proto`),
 * with fields of the right JSON types, and rewrites nest at most {@link MAX_REWRITE_DEPTH} levels.
 *
 * The walk is iterative (an explicit stack), so a model nested tens of thousands of levels deep is
 * refused with a message naming its type and relation instead of overflowing the call stack.
 *
 * Errors (GatehouseError `invalid_input`, OpenFGA code in `details.openfga`):
 * - `validation_error` for a structure OpenFGA's JSON parsing refuses (two members of the oneof,
 *   an unknown member, a field of the wrong JSON type, a difference without `base` or `subtract`),
 *   naming the JSON path (`type_definitions[1].relations.viewer.union.child[0]`);
 * - `invalid_authorization_model` for an empty rewrite, a union or intersection without children
 *   (OpenFGA: "the definition of relation 'viewer' in object type 'doc' is invalid: invalid
 *   userset rewrite definition", pkg/typesystem), and for nesting past the limit.
 */
import { GatehouseError } from '../kernel/errors.js';
import { invalidModel } from './dsl.js';

/**
 * Deepest nesting of rewrites in one relation: `define a: b` is 1 level, `define a: [user] or b`
 * 2 (a union and its children), each parenthesised operator one more. OpenFGA documents no such
 * limit (only a model size, 256 KiB by default); 100 levels is far past any model written by hand
 * and keeps every recursive walk over a rewrite a few hundred stack frames deep.
 */
export const MAX_REWRITE_DEPTH = 100;

const MEMBERS = ['this', 'computedUserset', 'tupleToUserset', 'union', 'intersection', 'difference'] as const;
const MEMBER_LIST = MEMBERS.join(', ');

/** OpenFGA's pattern for relation names (`TypeDefinition.relations` keys). */
const RELATION_NAME = /^[^:#@\s]{1,50}$/;

/** A JSON path kept as a chain, turned into text only for an error. */
interface Path {
  parent: Path | null;
  segment: string;
}

function pathText(p: Path): string {
  const parts: string[] = [];
  for (let q: Path | null = p; q; q = q.parent) parts.push(q.segment);
  return parts.reverse().join('');
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const present = (v: unknown): boolean => v !== undefined && v !== null;

function shapeError(path: string, message: string): GatehouseError {
  return new GatehouseError('invalid_input', `${path}: ${message}`, { openfga: 'validation_error', path });
}

/** OpenFGA's wording for an invalid relation (pkg/typesystem `InvalidRelationError`). */
export function invalidRelationMessage(type: string, relation: string, cause: string): string {
  return `the definition of relation '${relation}' in object type '${type}' is invalid: ${cause}`;
}

function invalidRelation(type: string, relation: string, cause: string): GatehouseError {
  return invalidModel([{ message: invalidRelationMessage(type, relation, cause) }], { type, relation });
}

/** Requires `value[field]` to be a string (when `required`, or when present). */
function requireString(value: Record<string, unknown>, field: string, path: Path, required: boolean): void {
  const v = value[field];
  if (!present(v) ? required : typeof v !== 'string') throw shapeError(`${pathText(path)}.${field}`, 'must be a string');
}

/** Requires `value[field]` to be an object holding a string `relation` (an OpenFGA `ObjectRelation`). */
function requireObjectRelation(value: Record<string, unknown>, field: string, path: Path): void {
  const v = value[field];
  const at: Path = { parent: path, segment: `.${field}` };
  if (!isObject(v)) throw shapeError(pathText(at), 'must be an object with a relation');
  requireString(v, 'relation', at, true);
  requireString(v, 'object', at, false);
}

/**
 * Checks the structure and nesting of one relation's rewrite, iteratively.
 * @throws GatehouseError `invalid_input` (`validation_error`, `invalid_authorization_model`).
 */
function checkRewrite(type: string, relation: string, rewrite: unknown, root: string): void {
  const stack: Array<{ value: unknown; path: Path; depth: number }> = [{ value: rewrite, path: { parent: null, segment: root }, depth: 1 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (depth > MAX_REWRITE_DEPTH) throw invalidRelation(type, relation, `rewrites nested deeper than ${MAX_REWRITE_DEPTH} levels (at ${pathText(path)})`);
    if (!isObject(value)) throw shapeError(pathText(path), `a rewrite must be an object with one of ${MEMBER_LIST}`);
    const set = Object.keys(value).filter((k) => present(value[k]));
    const unknown = set.find((k) => !(MEMBERS as readonly string[]).includes(k));
    if (unknown !== undefined) throw shapeError(pathText(path), `unknown rewrite field '${unknown}' (expected one of ${MEMBER_LIST})`);
    if (set.length === 0) {
      throw invalidRelation(type, relation, `invalid userset rewrite definition${path.parent ? ` (an empty rewrite at ${pathText(path)})` : ''}`);
    }
    if (set.length > 1) throw shapeError(pathText(path), `a rewrite sets exactly one of ${MEMBER_LIST}; this one sets ${set.map((k) => `'${k}'`).join(' and ')}`);
    const member = set[0]!;
    const body = value[member];
    const at: Path = { parent: path, segment: `.${member}` };
    if (!isObject(body)) throw shapeError(pathText(at), 'must be an object');
    switch (member) {
      case 'this':
        break;
      case 'computedUserset':
        requireString(body, 'relation', at, true);
        requireString(body, 'object', at, false);
        break;
      case 'tupleToUserset':
        requireObjectRelation(body, 'tupleset', at);
        requireObjectRelation(body, 'computedUserset', at);
        break;
      case 'union':
      case 'intersection': {
        const child = body.child ?? [];
        const childPath: Path = { parent: at, segment: '.child' };
        if (!Array.isArray(child)) throw shapeError(pathText(childPath), 'must be an array of rewrites');
        if (child.length === 0) throw invalidRelation(type, relation, `invalid userset rewrite definition (a ${member} without children at ${pathText(path)})`);
        // Pushed last first, so the first problem in document order is the one reported.
        for (let i = child.length - 1; i >= 0; i--) stack.push({ value: child[i], path: { parent: childPath, segment: `[${i}]` }, depth: depth + 1 });
        break;
      }
      case 'difference':
        for (const field of ['base', 'subtract']) {
          if (!present(body[field])) throw shapeError(`${pathText(at)}.${field}`, 'value is required');
        }
        stack.push({ value: body.subtract, path: { parent: at, segment: '.subtract' }, depth: depth + 1 });
        stack.push({ value: body.base, path: { parent: at, segment: '.base' }, depth: depth + 1 });
        break;
    }
  }
}

/**
 * Checks the relations of every type definition (already known to be objects with a type name):
 * `relations` is an object keyed by valid relation names, and each rewrite's structure and
 * nesting ({@link MAX_REWRITE_DEPTH}).
 * @throws GatehouseError `invalid_input` with `details.openfga` `validation_error` (structure, with
 *   `details.path`) or `invalid_authorization_model` (empty rewrite, no children, too deep; with
 *   `details.type` and `details.relation`).
 */
export function checkRewrites(typeDefinitions: ReadonlyArray<{ type: string; relations?: unknown }>): void {
  typeDefinitions.forEach((td, i) => {
    const relations = td.relations;
    if (!present(relations)) return;
    const at = `type_definitions[${i}].relations`;
    if (!isObject(relations)) throw shapeError(at, 'must be an object keyed by relation name');
    for (const [name, rewrite] of Object.entries(relations)) {
      if (!RELATION_NAME.test(name)) throw shapeError(at, `invalid relation name ${JSON.stringify(name)} (1 to 50 characters, none of ':', '#', '@' or white space)`);
      checkRewrite(td.type, name, rewrite, `${at}.${name}`);
    }
  });
}

/**
 * Checks the parentheses of relation definitions in DSL text before it is parsed (the parser's
 * time grows with the square of the nesting and its recursion with the nesting): no `define` may
 * nest parentheses deeper than {@link MAX_REWRITE_DEPTH}. Comments (`#` at the start of a line or
 * after white space) and condition bodies (CEL, which has its own limit) are not counted.
 * @throws GatehouseError `invalid_input` (`invalid_authorization_model`, `details.problems` with
 *   the 1-based line and column of the first parenthesis past the limit).
 */
export function checkDslNesting(dsl: string): void {
  let type = '';
  let relation = '';
  let inDefine = false;
  let depth = 0;
  const lines = dsl.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!;
    const typeLine = /^\s*(?:extend\s+)?type\s+(\S+)/.exec(line);
    if (typeLine) {
      type = typeLine[1]!;
      inDefine = false;
      continue;
    }
    if (/^\s*condition\s/.test(line)) {
      inDefine = false;
      continue;
    }
    const define = /^\s*define\s+([^\s:]+)/.exec(line);
    if (define) {
      relation = define[1]!;
      inDefine = true;
      depth = 0;
    }
    if (!inDefine) continue;
    for (let c = 0; c < line.length; c++) {
      const ch = line[c];
      if (ch === '#' && (c === 0 || /\s/.test(line[c - 1]!))) break;
      if (ch === '(') {
        if (++depth > MAX_REWRITE_DEPTH) {
          const message = invalidRelationMessage(type, relation, `parentheses nested deeper than ${MAX_REWRITE_DEPTH} levels`);
          throw invalidModel([{ message, line: li + 1, column: c + 1 }], { type, relation });
        }
      } else if (ch === ')' && depth > 0) depth--;
    }
  }
}
