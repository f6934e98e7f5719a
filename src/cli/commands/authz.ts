/**
 * `gatehouse authz …`: authorization stores, models, tuples and queries from the command line.
 *
 *   authz store create NAME [--default] | store list | store default STORE_ID
 *   authz model write FILE.fga|FILE.json [--store ID] | model get [--store ID] [--id MODEL] [--json]
 *   authz tuples write FILE (YAML, JSON or CSV) [--store ID] [--on-duplicate ignore]
 *   authz check USER RELATION OBJECT [--context JSON] [--contextual-tuple T …] [--explain]
 *   authz list-objects USER RELATION TYPE [--context JSON]
 *   authz list-users OBJECT RELATION --filter TYPE[#RELATION] [--context JSON]
 *   authz import DIR [--default] [--name NAME]   (DIR holds model.fga and tuples.yaml)
 *   authz test FILE.fga.yaml                     (OpenFGA `fga model test` format; see authz-test.ts)
 *
 * Without `--store`, commands use the tenant's default store.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { cliContext, type OperationContext } from '../../kernel/context.js';
import { GatehouseError, isGatehouseError } from '../../kernel/errors.js';
import type { Gatehouse } from '../../gatehouse.js';
import { looksLikeJson } from '../../authz/dsl.js';
import { isStoreName, STORE_NAME_MAX_LENGTH } from '../../authz/stores.js';
import { BUILTIN_STORE_ID } from '../../authz/tuples.js';
import { fgaInvalid, keyText, modelFromDsl, modelFromJson, ModelView, parseFgaObject, parseFgaUser, tupleFromKey, type FgaTupleKey } from '../../authz/validation.js';
import { action, printJson, withGatehouse } from '../shared.js';
import { readText, readTupleFile } from './authz-files.js';
import { registerAuthzTest } from './authz-test.js';

/** Writes a model file (DSL or JSON) to a store. Errors name the file and the 1-based line/column. */
/** Reads a model file: OpenFGA JSON when it looks like JSON, else DSL. @throws `invalid_input` naming the file. */
function readModelFile(file: string): { dsl: string } | { json: unknown } {
  const text = readText(file);
  if (!looksLikeJson(text)) return { dsl: text };
  try {
    return { json: JSON.parse(text) };
  } catch (err) {
    throw new GatehouseError('invalid_input', `${file}: not valid JSON: ${(err as Error).message}`, { file });
  }
}

/** Runs `fn`, prefixing an `invalid_input` error's message with the file name. */
function inFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isGatehouseError(err, 'invalid_input')) throw new GatehouseError('invalid_input', `${file}: ${err.message}`, { ...err.details, file });
    throw err;
  }
}

export async function writeModelFile(gh: Gatehouse, ctx: OperationContext, storeId: string, file: string): Promise<{ id: string; revision: number }> {
  const input = readModelFile(file);
  try {
    return await gh.authzModels.write(ctx, storeId, input);
  } catch (err) {
    if (isGatehouseError(err, 'invalid_input')) throw new GatehouseError('invalid_input', `${file}: ${err.message}`, { ...err.details, file });
    throw err;
  }
}

/**
 * Parses and validates a model file without writing it.
 * @throws GatehouseError `invalid_input` naming the file (line and column for DSL).
 */
export function validateModelFile(file: string): ModelView {
  const input = readModelFile(file);
  return inFile(file, () => new ModelView('dsl' in input ? modelFromDsl(input.dsl) : modelFromJson(input.json)));
}

/**
 * Validates an import before anything is written: the model file, and every tuple against that
 * model (types, relations, type restrictions, conditions), with no tuple twice.
 * @throws GatehouseError `invalid_input` naming the file (OpenFGA code in `details.openfga`).
 */
function validateImport(modelFile: string, tupleFile: string | undefined, keys: FgaTupleKey[]): void {
  const view = validateModelFile(modelFile);
  const seen = new Set<string>();
  inFile(tupleFile ?? '', () => {
    for (const k of keys) {
      const text = keyText(k);
      view.validateTuple(tupleFromKey(k), text);
      if (seen.has(text)) throw fgaInvalid('cannot_allow_duplicate_tuples_in_one_request', `duplicate tuple in write: user: '${k.user}', relation: '${k.relation}', object: '${k.object}'`, { tuple: text });
      seen.add(text);
    }
  });
}

/**
 * Writes tuple keys (a tuple file) in one transaction: every tuple is validated first, and an
 * invalid, duplicated or (unless `onDuplicate` is `ignore`) existing tuple anywhere in the file
 * writes none of them.
 * @returns the number of tuples in the file and the revision (0 when the file is empty).
 * @throws GatehouseError `invalid_input` (OpenFGA code in `details.openfga`), `not_found`.
 */
export async function writeTupleKeys(
  gh: Gatehouse,
  ctx: OperationContext,
  storeId: string,
  keys: FgaTupleKey[],
  onDuplicate: 'error' | 'ignore' = 'error',
): Promise<{ written: number; revision: number }> {
  if (keys.length === 0) return { written: 0, revision: 0 };
  const res = await gh.authzTuples.writeAll(ctx, storeId, { writes: keys, onDuplicate });
  return { written: keys.length, revision: res.revision };
}

async function storeOf(gh: Gatehouse, ctx: OperationContext, store?: string): Promise<string> {
  return store ?? (await gh.authzStores.defaultStoreId(ctx));
}

function parseContext(text?: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatehouseError('invalid_input', '--context must be a JSON object');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new GatehouseError('invalid_input', '--context must be a JSON object');
  return v as Record<string, unknown>;
}

/** `object#relation@user` → tuple key. */
function contextualKey(s: string): FgaTupleKey {
  const at = s.indexOf('@');
  const hash = s.lastIndexOf('#', at);
  if (at <= 0 || hash <= 0) throw fgaInvalid('validation_error', `contextual tuple '${s}' is not of the form type:id#relation@type:id[#relation]`);
  return { object: s.slice(0, hash), relation: s.slice(hash + 1, at), user: s.slice(at + 1) };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** The files `authz import` reads from its folder, each kind under one of these names. */
const MODEL_FILES = ['model.fga', 'model.json'];
const TUPLE_FILES = ['tuples.yaml', 'tuples.yml', 'tuples.json', 'tuples.csv'];

/**
 * The path of the one file of `names` in `dir`, or undefined when there is none.
 * @throws GatehouseError `invalid_input` when `dir` is not a folder, or holds two or more of them
 *   (which one to import would be a guess).
 */
function oneFileOf(dir: string, names: string[], kind: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new GatehouseError('invalid_input', `${dir}: no such folder`, { dir });
  const found = names.filter((f) => existsSync(join(dir, f)));
  if (found.length > 1) throw new GatehouseError('invalid_input', `${dir}: more than one ${kind} file (${found.join(', ')}): keep one`, { dir, files: found });
  return found[0] === undefined ? undefined : join(dir, found[0]);
}

/**
 * The name of the store `authz import` creates: `--name`, else the folder's name, either taken
 * whole (as the API takes a name) or refused, never shortened.
 * @throws GatehouseError `invalid_input` for a blank name or one over {@link STORE_NAME_MAX_LENGTH} characters.
 */
function importStoreName(dir: string, name: string | undefined): string {
  if (name !== undefined) {
    if (!isStoreName(name)) {
      throw new GatehouseError('invalid_input', `--name must be 1 to ${STORE_NAME_MAX_LENGTH} characters${name.length > 0 && name.trim() === '' ? ', not only spaces' : ''} (it has ${name.length})`, { option: 'name' });
    }
    return name;
  }
  const folder = basename(resolve(dir));
  if (folder.trim() === '') throw new GatehouseError('invalid_input', `${dir}: the folder has no name to give the store: give --name`, { dir, option: 'name' });
  if (!isStoreName(folder)) {
    throw new GatehouseError('invalid_input', `the folder name is ${folder.length} characters, more than a store name's ${STORE_NAME_MAX_LENGTH}: give --name`, { dir, option: 'name' });
  }
  return folder;
}

/** Registers `gatehouse authz`. */
export function registerAuthz(program: Command): void {
  const authz = program.command('authz').description('authorization: stores, models (OpenFGA DSL 1.1), tuples, checks, model tests');

  const store = authz.command('store').description('authorization stores');
  store
    .command('create <name>')
    .description('create a store; prints its id')
    .option('--default', 'also make it the default store')
    .action(
      action(async (name: string, opts: { default?: boolean }) => {
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          let s = await gh.authzStores.create(ctx, name);
          if (opts.default) s = await gh.authzStores.setDefault(ctx, s.id);
          printJson({ id: s.id, name: s.name, default: s.isDefault, created_at: s.createdAt });
        });
      }),
    );
  store
    .command('list')
    .description('list stores (the default one is marked)')
    .action(
      action(async () => {
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const all = [];
          let token = '';
          do {
            const page = await gh.authzStores.list(ctx, { pageSize: 100, continuationToken: token || undefined });
            all.push(...page.stores);
            token = page.continuationToken;
          } while (token);
          printJson({ stores: all.map((s) => ({ id: s.id, name: s.name, default: s.isDefault, created_at: s.createdAt })) });
        });
      }),
    );
  store
    .command('default <storeId>')
    .description('make a store the default (root /access/v1/* and these commands use it)')
    .action(
      action(async (storeId: string) => {
        await withGatehouse(async (gh) => {
          const s = await gh.authzStores.setDefault(cliContext(), storeId);
          printJson({ id: s.id, name: s.name, default: true });
        });
      }),
    );

  const model = authz.command('model').description('authorization models');
  model
    .command('write <file>')
    .description('validate and write a model (DSL .fga or JSON) as the store\'s new latest version')
    .option('--store <id>', 'store id (default: the default store)')
    .action(
      action(async (file: string, opts: { store?: string }) => {
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const storeId = await storeOf(gh, ctx, opts.store);
          const res = await writeModelFile(gh, ctx, storeId, file);
          printJson({ store_id: storeId, authorization_model_id: res.id, revision: res.revision });
        });
      }),
    );
  model
    .command('get')
    .description('print a model (latest unless --id) as DSL, or JSON with --json')
    .option('--store <id>', 'store id (default: the default store)')
    .option('--id <modelId>', 'model version')
    .option('--json', 'print OpenFGA JSON')
    .action(
      action(async (opts: { store?: string; id?: string; json?: boolean }) => {
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const storeId = await storeOf(gh, ctx, opts.store);
          const m = opts.id ? await gh.authzModels.get(ctx, storeId, opts.id) : await gh.authzModels.latest(ctx, storeId);
          if (!m) throw fgaInvalid('latest_authorization_model_not_found', `No authorization models found for store '${storeId}'`);
          if (opts.json) printJson(m.model);
          else process.stdout.write(gh.authzModels.dslOf(m).replace(/\n*$/, '\n'));
        });
      }),
    );

  authz
    .command('tuples')
    .description('relationship tuples')
    .command('write <file>')
    .description('write tuples from a YAML, JSON or CSV file (OpenFGA CLI formats) in one transaction: all or none')
    .option('--store <id>', 'store id (default: the default store)')
    .option('--on-duplicate <mode>', 'error (default) or ignore', 'error')
    .action(
      action(async (file: string, opts: { store?: string; onDuplicate: string }) => {
        if (opts.onDuplicate !== 'error' && opts.onDuplicate !== 'ignore') throw new GatehouseError('invalid_input', '--on-duplicate must be error or ignore');
        const keys = readTupleFile(file);
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const storeId = await storeOf(gh, ctx, opts.store);
          printJson({ store_id: storeId, ...(await writeTupleKeys(gh, ctx, storeId, keys, opts.onDuplicate as 'error' | 'ignore')) });
        });
      }),
    );

  authz
    .command('check <user> <relation> <object>')
    .description('is USER related to OBJECT by RELATION? prints {"allowed": …}; exit code 0 either way')
    .option('--store <id>', 'store id (default: the default store)')
    .option('--context <json>', 'condition context, a JSON object')
    .option('--contextual-tuple <tuple>', 'object#relation@user counted for this check only (repeatable)', collect)
    .option('--explain', 'also print why (the path of tuples and rewrites, or what did not hold)')
    .action(
      action(async (user: string, relation: string, object: string, opts: { store?: string; context?: string; contextualTuple?: string[]; explain?: boolean }) => {
        const context = parseContext(opts.context);
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const storeId = await storeOf(gh, ctx, opts.store);
          const model = await gh.authzModels.resolve(ctx, storeId);
          const u = parseFgaUser(user);
          const o = parseFgaObject(object);
          model.view.requireRelation(o.type, relation);
          model.view.requireSubject(u.type, u.relation);
          const contextual = (opts.contextualTuple ?? []).map((s) => {
            const k = contextualKey(s);
            const t = tupleFromKey(k);
            model.view.validateTuple(t, s);
            return t;
          });
          const res = await gh.authz.check(ctx, {
            storeId,
            authorizationModelId: storeId === BUILTIN_STORE_ID ? undefined : model.id,
            subject: { type: u.type, id: u.id, ...(u.relation ? { relation: u.relation } : {}) },
            relation,
            object: o,
            context,
            contextualTuples: contextual,
            explain: opts.explain === true || undefined,
          });
          printJson({ allowed: res.decision, ...(res.explanation ? { explanation: res.explanation } : {}) });
        });
      }),
    );

  authz
    .command('list-objects <user> <relation> <type>')
    .description('the objects of TYPE that USER is related to by RELATION')
    .option('--store <id>', 'store id (default: the default store)')
    .option('--context <json>', 'condition context, a JSON object')
    .action(
      action(async (user: string, relation: string, type: string, opts: { store?: string; context?: string }) => {
        const context = parseContext(opts.context);
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const storeId = await storeOf(gh, ctx, opts.store);
          const model = await gh.authzModels.resolve(ctx, storeId);
          const u = parseFgaUser(user);
          model.view.requireRelation(type, relation);
          model.view.requireSubject(u.type, u.relation);
          const res = await gh.authz.listObjects(ctx, {
            storeId,
            authorizationModelId: storeId === BUILTIN_STORE_ID ? undefined : model.id,
            subject: { type: u.type, id: u.id, ...(u.relation ? { relation: u.relation } : {}) },
            relation,
            objectType: type,
            context,
          });
          printJson({ objects: res.objects });
        });
      }),
    );

  authz
    .command('list-users <object> <relation>')
    .description('the users related to OBJECT by RELATION, of the --filter type (TYPE or TYPE#RELATION)')
    .requiredOption('--filter <type>', 'user type, or userset type#relation')
    .option('--store <id>', 'store id (default: the default store)')
    .option('--context <json>', 'condition context, a JSON object')
    .action(
      action(async (object: string, relation: string, opts: { filter: string; store?: string; context?: string }) => {
        const context = parseContext(opts.context);
        await withGatehouse(async (gh) => {
          const ctx = cliContext();
          const storeId = await storeOf(gh, ctx, opts.store);
          const model = await gh.authzModels.resolve(ctx, storeId);
          const o = parseFgaObject(object);
          const [ftype, frel] = opts.filter.split('#') as [string, string | undefined];
          model.view.requireRelation(o.type, relation);
          model.view.requireSubject(ftype, frel ?? '');
          const res = await gh.authz.listUsers(ctx, {
            storeId,
            authorizationModelId: storeId === BUILTIN_STORE_ID ? undefined : model.id,
            object: o,
            relation,
            userFilters: [{ type: ftype, ...(frel ? { relation: frel } : {}) }],
            context,
          });
          printJson({ users: res.users });
        });
      }),
    );

  authz
    .command('import <dir>')
    .description('create a fresh store from DIR/model.fga (or model.json) and DIR/tuples.yaml (or tuples.yml, tuples.json, tuples.csv)')
    .option('--default', 'make the new store the default store')
    .option('--name <name>', `store name, 1 to ${STORE_NAME_MAX_LENGTH} characters (default: the folder name)`)
    .action(
      action(async (dir: string, opts: { default?: boolean; name?: string }) => {
        const name = importStoreName(dir, opts.name);
        const modelFile = oneFileOf(dir, MODEL_FILES, 'model');
        if (!modelFile) throw new GatehouseError('invalid_input', `${dir}: no model.fga (or model.json)`, { dir });
        const tupleFile = oneFileOf(dir, TUPLE_FILES, 'tuple');
        const keys = tupleFile ? readTupleFile(tupleFile) : [];
        // Nothing (not even the store) is created unless the model and every tuple are valid.
        validateImport(modelFile, tupleFile, keys);
        await withGatehouse(async (gh) => {
          const ctx = { ...cliContext(), source: 'import' as const };
          const s = await gh.authzStores.create(ctx, name);
          const m = await writeModelFile(gh, ctx, s.id, modelFile);
          const res = await writeTupleKeys(gh, ctx, s.id, keys);
          if (opts.default) await gh.authzStores.setDefault(ctx, s.id);
          printJson({ store_id: s.id, name: s.name, default: opts.default === true, authorization_model_id: m.id, tuples: res.written, revision: Math.max(res.revision, m.revision) });
        });
        if (!tupleFile) process.stderr.write(`note: ${dir} has no tuple file (${TUPLE_FILES.slice(0, -1).join(', ')} or ${TUPLE_FILES.at(-1)}): the store has the model and no tuples\n`);
      }),
    );

  registerAuthzTest(authz);
}
