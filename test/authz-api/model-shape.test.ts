/**
 * The structure of a model's rewrites (OpenFGA's `Userset` is a oneof), empty rewrites, the limit on
 * rewrite nesting (JSON and DSL, through the validator, the OpenFGA HTTP API and `gatehouse authz
 * model write`), Expand's refusal of a wildcard object, and which API answers an unknown name in
 * the built-in store with an error and which with false; on both backends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliContext } from '../../src/kernel/context.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { MAX_REWRITE_DEPTH } from '../../src/authz/model-shape.js';
import { modelFromDsl, modelFromJson } from '../../src/authz/validation.js';
import { describeEachBackend } from '../support/backends.js';
import { ensureBuilt, runCli } from '../support/cli.js';
import { failure, postJson, startGatehouse, type Running } from './support.js';


/** A JSON model whose `doc#a` has the rewrite `rw` (and `doc#b`, directly assignable to users). */
function withRewrite(rw: unknown): unknown {
  return {
    schema_version: '1.1',
    type_definitions: [
      { type: 'user' },
      { type: 'doc', relations: { b: { this: {} }, a: rw }, metadata: { relations: { b: { directly_related_user_types: [{ type: 'user' }] } } } },
    ],
  };
}

/** `levels` rewrites nested: unions of one child around `computedUserset b` (levels = 1 is the computed userset itself). */
function nestedUnions(levels: number): unknown {
  let rw: unknown = { computedUserset: { relation: 'b' } };
  for (let i = 1; i < levels; i++) rw = { union: { child: [rw] } };
  return rw;
}

/** {@link withRewrite} of {@link nestedUnions} as JSON text, built without JSON.stringify (whose recursion a deep value overflows). */
function nestedUnionsText(levels: number): string {
  const inner = `${'{"union":{"child":['.repeat(levels - 1)}{"computedUserset":{"relation":"b"}}${']}}'.repeat(levels - 1)}`;
  return JSON.stringify(withRewrite('INNER')).replace('"INNER"', inner);
}

/** POSTs JSON text as it is; status and parsed body. */
async function postText(r: Running, path: string, text: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${r.baseUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' }, body: text });
  return { status: res.status, body: (await res.json()) as any };
}

/** A DSL model whose `doc#a` nests `parens` parenthesised unions: `(b or (b or (… b)))`. */
function nestedDsl(parens: number): string {
  return `model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define b: [user]\n    define a: ${'(b or '.repeat(parens)}b${')'.repeat(parens)}\n`;
}

describe('rewrite structure', () => {
  it('reports an empty rewrite, and a union or intersection without children, as an invalid model naming the type and relation', () => {
    for (const rw of [{}, { union: { child: [] } }, { intersection: { child: [] } }, { union: { child: [{ computedUserset: { relation: 'b' } }, {}] } }]) {
      const e = failure(() => modelFromJson(withRewrite(rw)));
      expect(e.details?.openfga, JSON.stringify(rw)).toBe('invalid_authorization_model');
      expect(e.message, JSON.stringify(rw)).toContain("the definition of relation 'a' in object type 'doc' is invalid");
    }
  });

  it('refuses a rewrite that sets two members of the oneof as a validation_error naming the path', () => {
    const top = failure(() => modelFromJson(withRewrite({ this: {}, computedUserset: { relation: 'b' } })));
    expect(top.details?.openfga).toBe('validation_error');
    expect(top.message).toContain('type_definitions[1].relations.a');
    expect(top.message).toContain("'this' and 'computedUserset'");
    const nested = failure(() => modelFromJson(withRewrite({ union: { child: [{ this: {} }, { computedUserset: { relation: 'b' }, union: { child: [{ this: {} }] } }] } })));
    expect(nested.details?.openfga).toBe('validation_error');
    expect(nested.message).toContain('type_definitions[1].relations.a.union.child[1]');
  });

  it('refuses rewrites of the wrong JSON shape as validation_error naming the path', () => {
    const cases: Array<[unknown, string]> = [
      ['this', 'type_definitions[1].relations.a'],
      [{ union: { child: 'x' } }, 'type_definitions[1].relations.a.union.child'],
      [{ difference: { base: { this: {} } } }, 'type_definitions[1].relations.a.difference.subtract'],
      [{ computedUserset: { relation: 7 } }, 'type_definitions[1].relations.a.computedUserset.relation'],
      [{ tupleToUserset: { tupleset: { relation: 'b' } } }, 'type_definitions[1].relations.a.tupleToUserset.computedUserset'],
      [{ unionn: { child: [] } }, 'type_definitions[1].relations.a'],
    ];
    for (const [rw, path] of cases) {
      const e = failure(() => modelFromJson(withRewrite(rw)));
      expect(e.details?.openfga, JSON.stringify(rw)).toBe('validation_error');
      expect(e.message, JSON.stringify(rw)).toContain(path);
    }
    const relations = failure(() => modelFromJson({ schema_version: '1.1', type_definitions: [{ type: 'doc', relations: [] }] }));
    expect(relations.details?.openfga).toBe('validation_error');
    expect(relations.message).toContain('type_definitions[0].relations');
  });

  it('answers validation_error for type_definitions of the wrong JSON type, type_definitions_too_few_items only for an empty array', () => {
    for (const v of ['x', {}, 3, null]) {
      expect(failure(() => modelFromJson({ schema_version: '1.1', type_definitions: v })).details?.openfga, JSON.stringify(v)).toBe('validation_error');
    }
    expect(failure(() => modelFromJson({ schema_version: '1.1' })).details?.openfga).toBe('validation_error');
    expect(failure(() => modelFromJson({ schema_version: '1.1', type_definitions: [] })).details?.openfga).toBe('type_definitions_too_few_items');
  });
});

describe('rewrite nesting limit', () => {
  it(`accepts ${MAX_REWRITE_DEPTH} levels of rewrites and refuses one more, naming the type and relation`, () => {
    expect(MAX_REWRITE_DEPTH).toBe(100);
    expect(modelFromJson(withRewrite(nestedUnions(MAX_REWRITE_DEPTH))).type_definitions).toHaveLength(2);
    const e = failure(() => modelFromJson(withRewrite(nestedUnions(MAX_REWRITE_DEPTH + 1))));
    expect(e.details?.openfga).toBe('invalid_authorization_model');
    expect(e.message).toBe(
      `invalid authorization model: the definition of relation 'a' in object type 'doc' is invalid: rewrites nested deeper than ${MAX_REWRITE_DEPTH} levels (at type_definitions[1].relations.a${'.union.child[0]'.repeat(MAX_REWRITE_DEPTH)})`,
    );
  });

  it('refuses a JSON model nested 3,000 and 30,000 levels deep (unions, differences) without leaking a stack overflow', () => {
    let diff: unknown = { computedUserset: { relation: 'b' } };
    for (let i = 0; i < 3000; i++) diff = { difference: { base: diff, subtract: { computedUserset: { relation: 'b' } } } };
    for (const rw of [nestedUnions(3000), nestedUnions(30_000), diff]) {
      const e = failure(() => modelFromJson(withRewrite(rw)));
      expect(e.details?.openfga).toBe('invalid_authorization_model');
      expect(e.message).toContain(`the definition of relation 'a' in object type 'doc' is invalid: rewrites nested deeper than ${MAX_REWRITE_DEPTH} levels`);
    }
  });

  it('refuses a DSL model with parentheses nested past the limit, with the line and column, before parsing it', () => {
    expect(modelFromDsl(nestedDsl(20)).type_definitions.map((t) => t.type)).toEqual(['user', 'doc']);
    for (const parens of [MAX_REWRITE_DEPTH + 1, 3000]) {
      const e = failure(() => modelFromDsl(nestedDsl(parens)));
      expect(e.details?.openfga).toBe('invalid_authorization_model');
      expect(e.details?.problems).toEqual([
        { message: `the definition of relation 'a' in object type 'doc' is invalid: parentheses nested deeper than ${MAX_REWRITE_DEPTH} levels`, line: 7, column: 15 + 6 * MAX_REWRITE_DEPTH },
      ]);
    }
    // Parentheses in comments and in conditions (CEL has its own depth limit) are not counted.
    const cel = `model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define a: [user with c] # ${'('.repeat(200)}\ncondition c(x: int) {\n  ${'('.repeat(120)}x${')'.repeat(120)} > 1\n}\n`;
    expect(modelFromDsl(cel).conditions?.c?.name).toBe('c');
  });
});

describeEachBackend('model shape and depth over HTTP and the CLI', (backend) => {
  let r: Running;
  let store: string;

  beforeAll(async () => {
    r = await startGatehouse(backend);
    store = (await postJson(r, '/stores', { name: 'shape' })).body.id;
  });
  afterAll(async () => r?.close());

  it('answers WriteAuthorizationModel with OpenFGA codes and writes nothing', async () => {
    const cases: Array<[string, string, string]> = [
      [JSON.stringify(withRewrite({})), 'invalid_authorization_model', "the definition of relation 'a' in object type 'doc' is invalid"],
      [JSON.stringify(withRewrite({ this: {}, computedUserset: { relation: 'b' } })), 'validation_error', 'type_definitions[1].relations.a'],
      [JSON.stringify({ schema_version: '1.1', type_definitions: 'x' }), 'validation_error', 'type_definitions'],
      [nestedUnionsText(3000), 'invalid_authorization_model', `nested deeper than ${MAX_REWRITE_DEPTH} levels`],
      // About 600 KB, under the 1 MiB body limit.
      [nestedUnionsText(30_000), 'invalid_authorization_model', `nested deeper than ${MAX_REWRITE_DEPTH} levels`],
    ];
    for (const [body, code, text] of cases) {
      const res = await postText(r, `/stores/${store}/authorization-models`, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe(code);
      expect(res.body.message).toContain(text);
      expect(res.body.message).not.toMatch(/call stack/i);
    }
    const models = await r.call('GET', `/stores/${store}/authorization-models`);
    expect(models.body.authorization_models).toEqual([]);
  });

  it('Check, BatchCheck and Expand refuse a wildcard object (OpenFGA ValidateObject) with one code and message', async () => {
    const model = await postJson(r, `/stores/${store}/authorization-models`, withRewrite({ computedUserset: { relation: 'b' } }));
    expect(model.status, JSON.stringify(model.body)).toBe(201);
    const check = await postJson(r, `/stores/${store}/check`, { tuple_key: { user: 'user:ann', relation: 'b', object: 'doc:*' } });
    expect(check.status).toBe(400);
    expect(check.body.code).toBe('validation_error');
    const expand = await postJson(r, `/stores/${store}/expand`, { tuple_key: { relation: 'b', object: 'doc:*' } });
    expect(expand.status).toBe(400);
    expect(expand.body.code).toBe(check.body.code);
    expect(expand.body.message).toBe("invalid 'object' field format: the 'object' field cannot reference a typed wildcard ('doc:*')");
    expect(check.body.message).toBe(expand.body.message);
    const batch = await postJson(r, `/stores/${store}/batch-check`, { checks: [{ correlation_id: 'w', tuple_key: { user: 'user:ann', relation: 'b', object: 'doc:*' } }] });
    expect(batch.status).toBe(200);
    expect(batch.body.result.w).toMatchObject({ allowed: false, error: { message: expand.body.message } });
    const ok = await postJson(r, `/stores/${store}/expand`, { tuple_key: { relation: 'b', object: 'doc:1' } });
    expect(ok.body).toEqual({ tree: { root: { name: 'doc:1#b', leaf: { users: { users: [] } } } } });
  });

  it('answers an unknown type or relation of the built-in store with an error through OpenFGA Check, false through AuthZEN', async () => {
    const type = await postJson(r, '/stores/gatehouse/check', { tuple_key: { user: 'user:ann', relation: 'viewer', object: 'invoice:1' } });
    expect([type.status, type.body.code]).toEqual([400, 'type_not_found']);
    const relation = await postJson(r, '/stores/gatehouse/check', { tuple_key: { user: 'user:ann', relation: 'nope', object: 'group:eng' } });
    expect([relation.status, relation.body.code]).toEqual([400, 'relation_not_found']);
    const authzen = await postJson(r, '/access/v1/evaluation', { subject: { type: 'user', id: 'ann' }, action: { name: 'viewer' }, resource: { type: 'invoice', id: '1' } });
    expect([authzen.status, authzen.body.decision]).toEqual([200, false]);
    const engine = await r.gh.authz.check(cliContext(), {
      subject: { type: 'user', id: 'ann' },
      relation: 'viewer',
      object: { type: 'invoice', id: '1' },
    });
    expect(engine.decision).toBe(false);
  });

  it('gatehouse authz model write refuses deep JSON and DSL files with the limit, not a stack overflow', async () => {
    await ensureBuilt();
    const { url, drop } = await backend.create();
    const dir = mkdtempSync(join(tmpdir(), 'gh-model-shape-'));
    try {
      const env = { GATEHOUSE_DATABASE_URL: url };
      expect(runCli(['authz', 'store', 'create', 'deep', '--default'], env).status).toBe(0);
      const json = join(dir, 'deep.json');
      writeFileSync(json, nestedUnionsText(3000));
      const dsl = join(dir, 'deep.fga');
      writeFileSync(dsl, nestedDsl(3000));
      for (const file of [json, dsl]) {
        const res = runCli(['authz', 'model', 'write', file], env);
        expect(res.status, res.stderr).toBe(2);
        expect(res.stderr).toContain(`error [invalid_input]: ${file}: invalid authorization model: `);
        expect(res.stderr).toContain(`the definition of relation 'a' in object type 'doc' is invalid`);
        expect(res.stderr).not.toMatch(/call stack/i);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await drop();
    }
  }, 300_000);
});
