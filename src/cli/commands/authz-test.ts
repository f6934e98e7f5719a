/**
 * `gatehouse authz test FILE.fga.yaml`: runs a model test file in the format of OpenFGA's
 * `fga model test` (openfga.dev "Testing Models"): `model` or `model_file`; `tuples`,
 * `tuple_file` or `tuple_files` for every test; `tests[]` each with its own tuples and `check`,
 * `list_objects` and `list_users` assertions (with `context` and `contextual_tuples`).
 *
 * Runs on a throwaway in-memory Gatehouse (SQLite `:memory:`), never on the configured database:
 * each test gets a fresh store with the model and the file's tuples plus its own.
 * Prints the failing assertions and a summary; exit code 1 when any assertion fails.
 */
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { createGatehouse, type Gatehouse } from '../../gatehouse.js';
import { cliContext, type OperationContext } from '../../kernel/context.js';
import { loadConfig } from '../../kernel/config.js';
import { createLogger } from '../../kernel/logger.js';
import { GatehouseError } from '../../kernel/errors.js';
import type { ListedUser } from '../../authz/service.js';
import type { RelationTuple } from '../../authz/tuples.js';
import { keyText, modelFromDsl, parseFgaObject, parseFgaUser, tupleFromKey, type FgaTupleKey } from '../../authz/validation.js';
import type { ResolvedModel } from '../../authz/models.js';
import { action, printJson } from '../shared.js';
import { asTupleKeys, readText, readTupleFile } from './authz-files.js';
import { validateModelFile, writeModelFile, writeTupleKeys } from './authz.js';

interface TupleSources {
  tuples?: unknown;
  tuple_file?: string;
  tuple_files?: string[];
}
interface CheckCase {
  user?: string;
  users?: string[];
  object?: string;
  objects?: string[];
  context?: Record<string, unknown>;
  contextual_tuples?: unknown;
  assertions: Record<string, boolean>;
}
interface ListObjectsCase {
  user: string;
  type: string;
  context?: Record<string, unknown>;
  contextual_tuples?: unknown;
  assertions: Record<string, string[]>;
}
interface ListUsersCase {
  object: string;
  user_filter: Array<{ type: string; relation?: string }>;
  context?: Record<string, unknown>;
  contextual_tuples?: unknown;
  assertions: Record<string, { users?: string[] }>;
}
interface TestCase extends TupleSources {
  name?: string;
  description?: string;
  check?: CheckCase[];
  list_objects?: ListObjectsCase[];
  list_users?: ListUsersCase[];
}
interface TestFile extends TupleSources {
  name?: string;
  model?: string;
  model_file?: string;
  tests?: TestCase[];
}

/** One assertion's outcome. */
export interface AssertionResult {
  test: string;
  kind: 'check' | 'list_objects' | 'list_users';
  /** Human-readable call, e.g. `Check(user=user:anne,relation=viewer,object=doc:1)`. */
  call: string;
  passed: boolean;
  expected: unknown;
  got: unknown;
  error?: string;
}

/** The outcome of a test file. */
export interface TestReport {
  name: string;
  tests: { total: number; passed: number };
  checks: { total: number; passed: number };
  listObjects: { total: number; passed: number };
  listUsers: { total: number; passed: number };
  results: AssertionResult[];
}

function tupleKeysOf(src: TupleSources, base: string): FgaTupleKey[] {
  const out: FgaTupleKey[] = [];
  if (src.tuple_file) out.push(...readTupleFile(resolve(base, src.tuple_file)));
  for (const f of src.tuple_files ?? []) out.push(...readTupleFile(resolve(base, f)));
  if (src.tuples) out.push(...asTupleKeys(src.tuples, 'tuples'));
  return out;
}

const userString = (u: ListedUser): string =>
  'object' in u ? `${u.object.type}:${u.object.id}` : 'userset' in u ? `${u.userset.type}:${u.userset.id}#${u.userset.relation}` : `${u.wildcard.type}:*`;

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * Checks that a test's assertions have `fga model test`'s shapes: check assertions true or
 * false, list_objects assertions lists of objects, list_users assertions `{users: [...]}`.
 * @throws GatehouseError `invalid_input` naming the file, test and relation.
 */
function checkAssertionShapes(file: string, name: string, test: TestCase): void {
  const bad = (what: string) => new GatehouseError('invalid_input', `${file}: test '${name}': ${what}`, { file, test: name });
  const entries = (a: unknown) => (a && typeof a === 'object' && !Array.isArray(a) ? Object.entries(a as Record<string, unknown>) : []);
  for (const c of test?.check ?? []) {
    for (const [relation, v] of entries(c?.assertions)) if (typeof v !== 'boolean') throw bad(`check assertion '${relation}' must be true or false`);
  }
  for (const c of test?.list_objects ?? []) {
    for (const [relation, v] of entries(c?.assertions)) if (v !== null && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) throw bad(`list_objects assertion '${relation}' must be a list of objects`);
  }
  for (const c of test?.list_users ?? []) {
    for (const [relation, v] of entries(c?.assertions)) {
      const users = (v as { users?: unknown } | null)?.users;
      if (users !== undefined && users !== null && (!Array.isArray(users) || !users.every((x) => typeof x === 'string'))) throw bad(`list_users assertion '${relation}' must have a list of users`);
    }
  }
}

/**
 * Runs a parsed test file against `gh` (a Gatehouse whose database may be discarded).
 * @throws GatehouseError `invalid_input` for a malformed file or an invalid model (with line and column).
 */
export async function runModelTests(gh: Gatehouse, file: string): Promise<TestReport> {
  const base = dirname(resolve(file));
  let doc: TestFile;
  try {
    doc = parseYaml(readText(file)) as TestFile;
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    throw new GatehouseError('invalid_input', `${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object') throw new GatehouseError('invalid_input', `${file}: expected a YAML mapping`);
  if (!doc.model && !doc.model_file) throw new GatehouseError('invalid_input', `${file}: needs 'model' or 'model_file'`);
  if (!Array.isArray(doc.tests)) throw new GatehouseError('invalid_input', `${file}: needs a 'tests' list`);
  // The model, and the shape of every assertion, are checked before any test runs (a file
  // without tests still has its model validated).
  if (doc.model_file) validateModelFile(resolve(base, doc.model_file));
  else if (typeof doc.model !== 'string') throw new GatehouseError('invalid_input', `${file}: 'model' must be the model's DSL text`);
  else {
    try {
      modelFromDsl(doc.model);
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'invalid_input') throw new GatehouseError('invalid_input', `${file}: ${err.message}`, { ...err.details, file });
      throw err;
    }
  }
  for (const [i, test] of doc.tests.entries()) checkAssertionShapes(file, test?.name ?? `test ${i + 1}`, test);
  const ctx: OperationContext = cliContext();
  const shared = tupleKeysOf(doc, base);
  const report: TestReport = {
    name: doc.name ?? file,
    tests: { total: 0, passed: 0 },
    checks: { total: 0, passed: 0 },
    listObjects: { total: 0, passed: 0 },
    listUsers: { total: 0, passed: 0 },
    results: [],
  };
  for (const [i, test] of doc.tests.entries()) {
    const testName = test.name ?? `test ${i + 1}`;
    const store = await gh.authzStores.create(ctx, `test ${i + 1}`.slice(0, 64));
    if (doc.model_file) await writeModelFile(gh, ctx, store.id, resolve(base, doc.model_file));
    else await gh.authzModels.write(ctx, store.id, { dsl: doc.model! });
    const { revision } = await writeTupleKeys(gh, ctx, store.id, [...shared, ...tupleKeysOf(test, base)]);
    await gh.authz.waitForRevision(Math.max(revision, await gh.tuples.currentRevision(gh.storage.db)));
    const model = await gh.authzModels.resolve(ctx, store.id);
    const scope = { storeId: store.id, authorizationModelId: model.id };
    const before = report.results.length;
    const record = (r: AssertionResult, counter: { total: number; passed: number }) => {
      counter.total++;
      if (r.passed) counter.passed++;
      report.results.push(r);
    };
    for (const c of test.check ?? []) {
      const users = c.users ?? (c.user ? [c.user] : []);
      const objects = c.objects ?? (c.object ? [c.object] : []);
      for (const user of users)
        for (const object of objects)
          for (const [relation, expected] of Object.entries(c.assertions ?? {})) {
            const call = `Check(user=${user},relation=${relation},object=${object}${c.context ? `,context=${JSON.stringify(c.context)}` : ''})`;
            const r = await attempt(async () => {
              const u = parseFgaUser(user);
              const o = parseFgaObject(object);
              model.view.requireRelation(o.type, relation);
              model.view.requireSubject(u.type, u.relation);
              const res = await gh.authz.check(ctx, {
                ...scope,
                subject: { type: u.type, id: u.id, ...(u.relation ? { relation: u.relation } : {}) },
                relation,
                object: o,
                context: c.context,
                contextualTuples: contextual(model, c.contextual_tuples),
              });
              return res.decision;
            });
            record({ test: testName, kind: 'check', call, expected, got: r.value, passed: r.error === undefined && r.value === expected, ...(r.error ? { error: r.error } : {}) }, report.checks);
          }
    }
    for (const c of test.list_objects ?? []) {
      for (const [relation, expected] of Object.entries(c.assertions ?? {})) {
        const call = `ListObjects(user=${c.user},relation=${relation},type=${c.type}${c.context ? `,context=${JSON.stringify(c.context)}` : ''})`;
        const r = await attempt(async () => {
          const u = parseFgaUser(c.user);
          model.view.requireRelation(c.type, relation);
          model.view.requireSubject(u.type, u.relation);
          const res = await gh.authz.listObjects(ctx, {
            ...scope,
            subject: { type: u.type, id: u.id, ...(u.relation ? { relation: u.relation } : {}) },
            relation,
            objectType: c.type,
            context: c.context,
            contextualTuples: contextual(model, c.contextual_tuples),
          });
          return res.objects;
        });
        const want = expected ?? [];
        record({ test: testName, kind: 'list_objects', call, expected: want, got: r.value, passed: r.error === undefined && sameSet(r.value ?? [], want), ...(r.error ? { error: r.error } : {}) }, report.listObjects);
      }
    }
    for (const c of test.list_users ?? []) {
      for (const [relation, expected] of Object.entries(c.assertions ?? {})) {
        const filters = c.user_filter ?? [];
        const call = `ListUsers(object=${c.object},relation=${relation},user_filter=${filters.map((f) => f.type + (f.relation ? `#${f.relation}` : '')).join('|')})`;
        const r = await attempt(async () => {
          const o = parseFgaObject(c.object);
          model.view.requireRelation(o.type, relation);
          for (const f of filters) model.view.requireSubject(f.type, f.relation ?? '');
          const res = await gh.authz.listUsers(ctx, {
            ...scope,
            object: o,
            relation,
            userFilters: filters.map((f) => ({ type: f.type, ...(f.relation ? { relation: f.relation } : {}) })),
            context: c.context,
            contextualTuples: contextual(model, c.contextual_tuples),
          });
          return res.users.map(userString);
        });
        const want = expected?.users ?? [];
        record({ test: testName, kind: 'list_users', call, expected: want, got: r.value, passed: r.error === undefined && sameSet(r.value ?? [], want), ...(r.error ? { error: r.error } : {}) }, report.listUsers);
      }
    }
    report.tests.total++;
    if (report.results.slice(before).every((r) => r.passed)) report.tests.passed++;
  }
  return report;
}

function contextual(model: ResolvedModel, value: unknown): RelationTuple[] {
  return asTupleKeys(value, 'contextual_tuples').map((k) => {
    const t = tupleFromKey(k);
    model.view.validateTuple(t, keyText(k));
    return t;
  });
}

async function attempt<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: string }> {
  try {
    return { value: await fn() };
  } catch (err) {
    if (err instanceof GatehouseError) return { error: `${err.code}: ${err.message}` };
    throw err;
  }
}

/** Formats a report as `fga model test` does: failing assertions, then the summary. */
export function formatReport(r: TestReport): string {
  const lines: string[] = [];
  for (const f of r.results.filter((x) => !x.passed)) {
    lines.push(`(FAILING) ${f.test}: ${f.call}: expected=${JSON.stringify(f.expected)}, got=${f.error ? `error ${f.error}` : JSON.stringify(f.got)}`);
  }
  if (lines.length > 0) lines.push('---');
  lines.push('# Test Summary #', `Tests ${r.tests.passed}/${r.tests.total} passing`);
  if (r.checks.total) lines.push(`Checks ${r.checks.passed}/${r.checks.total} passing`);
  if (r.listObjects.total) lines.push(`ListObjects ${r.listObjects.passed}/${r.listObjects.total} passing`);
  if (r.listUsers.total) lines.push(`ListUsers ${r.listUsers.passed}/${r.listUsers.total} passing`);
  return `${lines.join('\n')}\n`;
}

/** Registers `gatehouse authz test`. */
export function registerAuthzTest(authz: Command): void {
  authz
    .command('test <files...>')
    .description('run model test files (.fga.yaml, the format of `fga model test`) on a throwaway in-memory instance')
    .option('--json', 'print the reports as JSON')
    .action(
      action(async (files: string[], opts: { json?: boolean }) => {
        const gh = await createGatehouse({
          config: loadConfig({}, { databaseUrl: 'sqlite::memory:', logLevel: 'warn' }),
          logger: createLogger('warn', 2),
        });
        try {
          const reports: TestReport[] = [];
          for (const f of files) reports.push(await runModelTests(gh, f));
          if (opts.json) printJson({ reports });
          else for (const r of reports) process.stdout.write(formatReport(r));
          if (reports.some((r) => r.results.some((x) => !x.passed))) process.exitCode = 1;
        } finally {
          await gh.close();
        }
      }),
    );
}
