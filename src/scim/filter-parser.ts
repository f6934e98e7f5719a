/**
 * The SCIM filter language (RFC 7644 §3.4.2.2, ABNF in Figure 1): a recursive-descent parser
 * that produces the same AST shape as scim2-parse-filter (`op`, `attrPath`, `compValue`,
 * `filters`, `filter`, `valFilter`), and {@link stringifyFilter}, its inverse.
 *
 * Gatehouse parses filters itself rather than with scim2-parse-filter because that parser keeps
 * JSON string escapes undecoded (`"\n"` arrives as backslash + n, so `stringify` does not
 * round-trip), refuses `$ref`, accepts attribute names that start with a digit and nested value
 * paths, turns `emails[type eq "work"].value co "x"` into an unrelated `and`, and overflows the
 * stack on deep nesting (a 500 instead of `invalidFilter`).
 *
 * Rules kept: operators, `and`/`or`/`not` and `true`/`false`/`null` are case-insensitive (ABNF
 * literals); `and` binds tighter than `or`; `not` must be followed by a parenthesised filter;
 * string values are JSON strings (RFC 8259 §7) and must be well-formed Unicode; numbers are JSON
 * numbers; attribute paths are `[URN ":"] ATTRNAME ["." ATTRNAME]` with `$ref` allowed as a name.
 * Every failure is `invalid_input` with scimType `invalidFilter`.
 */
import { scimInvalid } from './errors.js';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'lt' | 'ge' | 'le';
export type CompValue = boolean | null | number | string;

export interface CompareFilter {
  op: CompareOp;
  attrPath: string;
  compValue: CompValue;
}
export interface PresentFilter {
  op: 'pr';
  attrPath: string;
}
export interface LogicalFilter {
  op: 'and' | 'or';
  filters: Filter[];
}
export interface NotFilter {
  op: 'not';
  filter: Filter;
}
export interface ValuePathFilter {
  op: '[]';
  attrPath: string;
  valFilter: Filter;
}
export type Filter = CompareFilter | PresentFilter | LogicalFilter | NotFilter | ValuePathFilter;

export const COMPARE_OPS: readonly CompareOp[] = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le'];

/** Longest filter accepted, in UTF-16 code units. */
export const MAX_FILTER_LENGTH = 4096;
/** Deepest nesting of parentheses, `not` and value paths. */
export const MAX_FILTER_DEPTH = 32;
/** Most comparisons in one filter (each becomes SQL). */
export const MAX_FILTER_TERMS = 100;

type Token =
  | { t: 'word'; v: string; at: number }
  | { t: 'string'; v: string; at: number }
  | { t: 'number'; v: number; at: number }
  | { t: '(' | ')' | '[' | ']'; at: number }
  | { t: 'end'; at: number };

const WORD_RE = /[A-Za-z$][A-Za-z0-9_:.$\-]*/y;
const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const SPACE_RE = /[ \t\r\n]+/y;

const ATTR_NAME = '(?:[A-Za-z][A-Za-z0-9_-]*|\\$ref)';
/** `[URN ":"] ATTRNAME ["." ATTRNAME]` (RFC 7644 §3.4.2.2 `attrPath`; URN per RFC 8141, loosely). */
const ATTR_PATH_RE = new RegExp(`^(?:urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\\-.=@;$_!*'%/?#:]+:)?${ATTR_NAME}(?:\\.${ATTR_NAME})?$`, 'i');
const SUB_ATTR_RE = new RegExp(`^${ATTR_NAME}$`);

function fail(detail: string): never {
  throw scimInvalid('invalidFilter', detail);
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const at = (re: RegExp) => {
    re.lastIndex = i;
    const m = re.exec(text);
    return m ? m[0] : null;
  };
  while (i < text.length) {
    const c = text[i]!;
    const space = at(SPACE_RE);
    if (space) {
      i += space.length;
      continue;
    }
    if (c === '(' || c === ')' || c === '[' || c === ']') {
      out.push({ t: c, at: i });
      i++;
      continue;
    }
    if (c === '"') {
      const s = at(STRING_RE);
      if (!s) fail(`unterminated or malformed string at position ${i + 1}`);
      const v = JSON.parse(s) as string;
      if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v)) fail(`the string at position ${i + 1} is not well-formed Unicode`);
      out.push({ t: 'string', v, at: i });
      i += s.length;
      continue;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      const n = at(NUMBER_RE);
      if (!n) fail(`malformed number at position ${i + 1}`);
      const v = Number(n);
      if (!Number.isFinite(v)) fail(`number out of range at position ${i + 1}`);
      out.push({ t: 'number', v: Object.is(v, -0) ? 0 : v, at: i });
      i += n.length;
      continue;
    }
    const w = at(WORD_RE);
    if (!w) fail(`unexpected character ${JSON.stringify(c)} at position ${i + 1}`);
    out.push({ t: 'word', v: w, at: i });
    i += w.length;
  }
  out.push({ t: 'end', at: text.length });
  return out;
}

class Parser {
  private pos = 0;
  private terms = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }
  private next(): Token {
    return this.tokens[this.pos++]!;
  }
  private keyword(): string | null {
    const t = this.peek();
    return t.t === 'word' ? t.v.toLowerCase() : null;
  }
  private expect(kind: ')' | ']'): void {
    const t = this.next();
    if (t.t !== kind) fail(`expected "${kind}" at position ${t.at + 1}`);
  }

  /** The whole input as one filter; `inValuePath` for the inside of `attr[…]` (sub-attribute names only). */
  parseAll(inValuePath = false): Filter {
    const f = this.orExpr(0, inValuePath);
    const t = this.peek();
    if (t.t !== 'end') fail(`unexpected ${t.t === 'word' ? `"${t.v}"` : `"${t.t}"`} at position ${t.at + 1}`);
    return f;
  }

  private orExpr(depth: number, inValuePath: boolean): Filter {
    const first = this.andExpr(depth, inValuePath);
    if (this.keyword() !== 'or') return first;
    const filters = [first];
    while (this.keyword() === 'or') {
      this.next();
      filters.push(this.andExpr(depth, inValuePath));
    }
    return { op: 'or', filters };
  }

  private andExpr(depth: number, inValuePath: boolean): Filter {
    const first = this.unary(depth, inValuePath);
    if (this.keyword() !== 'and') return first;
    const filters = [first];
    while (this.keyword() === 'and') {
      this.next();
      filters.push(this.unary(depth, inValuePath));
    }
    return { op: 'and', filters };
  }

  private unary(depth: number, inValuePath: boolean): Filter {
    if (depth > MAX_FILTER_DEPTH) fail(`the filter nests deeper than ${MAX_FILTER_DEPTH} levels`);
    const t = this.peek();
    if (t.t === '(') {
      this.next();
      const f = this.orExpr(depth + 1, inValuePath);
      this.expect(')');
      return f;
    }
    if (t.t === 'word' && t.v.toLowerCase() === 'not' && this.tokens[this.pos + 1]?.t === '(') {
      this.next();
      this.next();
      const f = this.orExpr(depth + 1, inValuePath);
      this.expect(')');
      return { op: 'not', filter: f };
    }
    if (t.t !== 'word') fail(`expected an attribute name at position ${t.at + 1}`);
    this.next();
    const attrPath = t.v;
    if (inValuePath ? !SUB_ATTR_RE.test(attrPath) : !ATTR_PATH_RE.test(attrPath)) fail(`"${attrPath}" is not a valid attribute path`);
    const opTok = this.next();
    if (opTok.t === '[') {
      if (inValuePath) fail(`value filters cannot be nested (position ${opTok.at + 1})`);
      if (attrPath.includes('.')) fail(`"${attrPath}[…]": a value filter applies to a multi-valued attribute, not a sub-attribute`);
      const valFilter = this.orExpr(depth + 1, true);
      this.expect(']');
      const after = this.peek();
      if (after.t === 'word' && after.v.startsWith('.')) fail('a sub-attribute after a value filter is only allowed in PATCH paths');
      return { op: '[]', attrPath, valFilter };
    }
    if (opTok.t !== 'word') fail(`expected an operator after "${attrPath}" at position ${opTok.at + 1}`);
    const op = opTok.v.toLowerCase();
    if (++this.terms > MAX_FILTER_TERMS) fail(`the filter has more than ${MAX_FILTER_TERMS} comparisons`);
    if (op === 'pr') return { op: 'pr', attrPath };
    if (!(COMPARE_OPS as readonly string[]).includes(op)) fail(`unknown operator "${opTok.v}" at position ${opTok.at + 1}`);
    return { op: op as CompareOp, attrPath, compValue: this.value() };
  }

  private value(): CompValue {
    const t = this.next();
    if (t.t === 'string' || t.t === 'number') return t.v;
    if (t.t === 'word') {
      const w = t.v.toLowerCase();
      if (w === 'true') return true;
      if (w === 'false') return false;
      if (w === 'null') return null;
    }
    return fail(`expected a value (a JSON string, number, true, false or null) at position ${t.at + 1}`);
  }
}

/**
 * Parses a SCIM filter.
 * @throws GatehouseError `invalid_input` scimType `invalidFilter` for any string that is not a
 *   filter, longer than {@link MAX_FILTER_LENGTH}, deeper than {@link MAX_FILTER_DEPTH} or with
 *   more than {@link MAX_FILTER_TERMS} comparisons.
 * @example
 * parseFilter('emails[type eq "work" and value co "@example.com"]')
 * // { op: '[]', attrPath: 'emails', valFilter: { op: 'and', filters: [...] } }
 */
export function parseFilter(text: string): Filter {
  if (typeof text !== 'string') fail('the filter must be a string');
  if (text.length > MAX_FILTER_LENGTH) fail(`the filter is longer than ${MAX_FILTER_LENGTH} characters`);
  if (text.trim() === '') fail('the filter is empty');
  return new Parser(tokenize(text)).parseAll();
}

/**
 * Parses the value filter of a PATCH path (`members[value eq "…"]`): the text between the brackets.
 * @throws GatehouseError `invalid_input` scimType `invalidFilter`.
 */
export function parseValueFilter(text: string): Filter {
  if (text.length > MAX_FILTER_LENGTH) fail(`the filter is longer than ${MAX_FILTER_LENGTH} characters`);
  if (text.trim() === '') fail('the value filter is empty');
  return new Parser(tokenize(text)).parseAll(true);
}

const PRECEDENCE: Record<string, number> = { or: 1, and: 2 };

/**
 * Writes a filter back as text; `parseFilter(stringifyFilter(f))` equals `f` for every `f` that
 * {@link parseFilter} produces (operators lower-case, strings JSON-escaped, groups parenthesised
 * exactly where the tree needs them).
 */
export function stringifyFilter(f: Filter): string {
  switch (f.op) {
    case 'and':
    case 'or':
      return f.filters
        .map((g) => {
          const s = stringifyFilter(g);
          // A nested logical node of the same or lower precedence keeps its parentheses, so the tree shape round-trips.
          return (g.op === 'and' || g.op === 'or') && PRECEDENCE[g.op]! <= PRECEDENCE[f.op]! ? `(${s})` : s;
        })
        .join(` ${f.op} `);
    case 'not':
      return `not (${stringifyFilter(f.filter)})`;
    case '[]':
      return `${f.attrPath}[${stringifyFilter(f.valFilter)}]`;
    case 'pr':
      return `${f.attrPath} pr`;
    default:
      return `${f.attrPath} ${f.op} ${JSON.stringify(f.compValue)}`;
  }
}
