/**
 * The OpenFGA modeling language 1.1 (DSL) ⇄ OpenFGA JSON, through @openfga/syntax-transformer
 * (the parser and validator OpenFGA's own CLI and VS Code extension use).
 *
 * Errors carry 1-based `line` and `column` (the transformer's are 0-based), so a caller can point
 * at the offending text of a `.fga` file.
 */
import syntaxTransformer from '@openfga/syntax-transformer';
import { GatehouseError } from '../kernel/errors.js';
import type { AuthorizationModel } from './model.js';

const { transformer, validator } = syntaxTransformer;

/** One problem found in a model, with its 1-based position in the DSL text when known. */
export interface ModelProblem {
  message: string;
  /** 1-based line of the DSL text. */
  line?: number;
  /** 1-based column of the DSL text. */
  column?: number;
  /** The transformer's error kind (`invalid-type`, `missing-definition`, `invalid-syntax` ...). */
  kind?: string;
}

interface TransformerError {
  msg?: string;
  message?: string;
  line?: { start: number; end: number };
  column?: { start: number; end: number };
  metadata?: { errorType?: string };
}

function problemsOf(err: unknown): ModelProblem[] {
  const list = (err as { errors?: TransformerError[] } | null)?.errors;
  if (Array.isArray(list) && list.length > 0) {
    return list.map((e) => ({
      message: e.msg ?? e.message ?? 'invalid model',
      line: e.line ? e.line.start + 1 : undefined,
      column: e.column ? e.column.start + 1 : undefined,
      kind: e.metadata?.errorType ?? (e.line ? 'invalid-syntax' : undefined),
    }));
  }
  return [{ message: (err as Error)?.message ?? String(err) }];
}

/** Formats problems as `line L, column C: message; …`. */
export function formatProblems(problems: ModelProblem[]): string {
  return problems.map((p) => (p.line !== undefined ? `line ${p.line}, column ${p.column ?? 1}: ${p.message}` : p.message)).join('; ');
}

/**
 * Builds the `invalid_input` error of an invalid model. `details.openfga` is the OpenFGA error
 * code (`invalid_authorization_model`), `details.problems` the list with positions; `extra` adds
 * details (the `type` and `relation` at fault, when one is).
 */
export function invalidModel(problems: ModelProblem[], extra: Record<string, unknown> = {}): GatehouseError {
  return new GatehouseError('invalid_input', `invalid authorization model: ${formatProblems(problems)}`, {
    ...extra,
    openfga: 'invalid_authorization_model',
    problems,
  });
}

/**
 * Parses and validates a model written in the OpenFGA DSL (schema 1.1), returning its JSON form.
 *
 * Validation is the transformer's full check (syntax, undefined types and relations, tupleset
 * rules, entry points, conditions defined and used).
 *
 * @throws GatehouseError `invalid_input` with `details.problems` (1-based line and column).
 * @example
 * const model = parseDsl('model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user]\n');
 */
export function parseDsl(dsl: string): AuthorizationModel {
  if (typeof dsl !== 'string' || dsl.trim() === '') throw invalidModel([{ message: 'the model is empty' }]);
  try {
    validator.validateDSL(dsl);
  } catch (err) {
    throw invalidModel(problemsOf(err));
  }
  try {
    return transformer.transformDSLToJSONObject(dsl) as unknown as AuthorizationModel;
  } catch (err) {
    throw invalidModel(problemsOf(err));
  }
}

/**
 * Validates a model given in OpenFGA's JSON form with the transformer's rules (the same checks as
 * for the DSL, without positions).
 * @throws GatehouseError `invalid_input` with `details.problems`.
 */
export function validateJsonModel(model: AuthorizationModel): void {
  try {
    validator.validateJSON(model as never);
  } catch (err) {
    throw invalidModel(problemsOf(err));
  }
}

/**
 * Renders a JSON model as DSL text (for `gatehouse authz model get`).
 * @throws GatehouseError `invalid_input` when the JSON cannot be rendered.
 */
export function toDsl(model: AuthorizationModel): string {
  try {
    return transformer.transformJSONToDSL({ schema_version: model.schema_version, type_definitions: model.type_definitions, conditions: model.conditions } as never);
  } catch (err) {
    throw invalidModel(problemsOf(err));
  }
}

/** True when `text` looks like a JSON document rather than DSL. */
export function looksLikeJson(text: string): boolean {
  return /^\s*\{/.test(text);
}

/**
 * Reads a model from text in either form: JSON (`{"schema_version": ...}`) or DSL.
 * @returns the JSON model and the DSL source (null for JSON input).
 * @throws GatehouseError `invalid_input` (bad JSON, or the model's problems with positions).
 */
export function parseModelText(text: string): { model: AuthorizationModel; dsl: string | null } {
  if (looksLikeJson(text)) {
    let model: AuthorizationModel;
    try {
      model = JSON.parse(text) as AuthorizationModel;
    } catch (err) {
      throw invalidModel([{ message: `not valid JSON: ${(err as Error).message}` }]);
    }
    return { model, dsl: null };
  }
  return { model: parseDsl(text), dsl: text };
}
