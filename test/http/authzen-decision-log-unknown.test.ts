import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { createGatehouse, type Gatehouse, type Services } from '../../src/gatehouse.js';
import { buildHttpApp } from '../../src/http/app.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { parseDsl } from '../../src/authz/dsl.js';
import type { DecisionLogMode } from '../../src/authz/decision-log.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend, type Backend } from '../support/backends.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

// AuthZEN answers `{"decision": false}` when the subject type, resource type or action is not in the
// store's model (docs/authzen.md "Rules that always hold"): that is a decision, so the decision log
// records it like any other denial (store, subject, relation, object, revision, decision 0, no
// granting path), on every AuthZEN path: the single evaluation on the node:http fast path and on
// Fastify (with and without a revision to wait for), `evaluations` with `execute_all` (the engine's
// checkEach) and with the short-circuit semantics. OpenFGA's Check answers the same question 400
// (an error, not a decision) and logs nothing.

const MODEL = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user]
`;

interface Instance {
  gh: Gatehouse;
  plain: FastifyInstance;
  fastPort: number;
  plainPort: number;
  token: string;
  store: string;
  drop: () => Promise<void>;
}

async function start(backend: Backend, mode: DecisionLogMode, rate?: number): Promise<Instance> {
  const { url, drop } = await backend.create();
  const gh = await createGatehouse({
    config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'silent', host: '127.0.0.1', port: 0, authzDecisionLog: mode, ...(rate === undefined ? {} : { authzDecisionLogSampleRate: rate }) }),
    logger: pino({ level: 'silent' }),
  });
  const fastPort = Number(new URL(await gh.listen()).port);
  const plain = await buildHttpApp(gh as unknown as Services, { evaluationFastPath: false });
  await plain.listen({ host: '127.0.0.1', port: 0 });
  const plainPort = (plain.server.address() as { port: number }).port;
  const token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
  const i: Instance = { gh, plain, fastPort, plainPort, token, store: '', drop };
  i.store = ((await post(i, fastPort, '/stores', { name: 'unknown-names' })).body as { id: string }).id;
  expect((await post(i, fastPort, `/stores/${i.store}/authorization-models`, parseDsl(MODEL))).status).toBeLessThan(300);
  expect((await post(i, fastPort, `/stores/${i.store}/write`, { writes: { tuple_keys: [{ user: 'user:ann', relation: 'viewer', object: 'doc:plan' }] } })).status).toBe(200);
  await gh.authzStores.setDefault(cliContext(), i.store);
  return i;
}

async function stop(i: Instance | undefined): Promise<void> {
  if (!i) return;
  await i.plain.close();
  await i.gh.close();
  await i.drop();
}

/** A JSON POST over real HTTP to 127.0.0.1:`port` with the instance's token and the request id `requestId`. */
async function post(i: Instance, port: number, path: string, payload: unknown, requestId?: string, extra: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${i.token}`, 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}), ...extra },
    body: JSON.stringify(payload),
  });
  return { status: res.status, body: await res.json() };
}

const ev = (subjectType: string, action: string, resourceType: string, subjectId = 'ann') => ({
  subject: { type: subjectType, id: subjectId },
  action: { name: action },
  resource: { type: resourceType, id: 'plan' },
});

/** The decision log's rows with request id `requestId`, flushed first, in insertion order of their (subject, relation, object). */
async function rowsOf(i: Instance, requestId: string) {
  await i.gh.authz.tupleLastUsed(cliContext(), { storeId: i.store, tuple: { objectType: 'doc', objectId: 'plan', relation: 'viewer', subjectType: 'user', subjectId: 'ann', subjectRelation: '' } });
  const rows = await i.gh.storage.db
    .selectFrom('authz_decision_log')
    .select(['store_id', 'subject', 'relation', 'object', 'decision', 'revision', 'explanation'])
    .where('request_id', '=', requestId)
    .execute();
  return rows.map((r) => ({ ...r, revision: Number(r.revision) })).sort((a, b) => `${a.subject} ${a.relation} ${a.object}`.localeCompare(`${b.subject} ${b.relation} ${b.object}`));
}

/** The row a logged denial of `subject` `relation` `object` has in `i`'s store at its current revision. */
const denial = (i: Instance, subject: string, relation: string, object: string) => ({
  store_id: i.store,
  subject,
  relation,
  object,
  decision: 0,
  revision: i.gh.authz.currentRevision(),
  explanation: null,
});

const UNKNOWN = [
  ['subject-type', ev('robot', 'viewer', 'doc'), ['robot:ann', 'viewer', 'doc:plan']],
  ['resource-type', ev('user', 'viewer', 'folder'), ['user:ann', 'viewer', 'folder:plan']],
  ['action', ev('user', 'editor', 'doc'), ['user:ann', 'editor', 'doc:plan']],
] as const;

describeEachBackend('AuthZEN decision log: denials for names the model does not define', (backend) => {
  let full: Instance | undefined;
  let never: Instance | undefined;

  beforeAll(async () => {
    full = await start(backend, 'full');
    never = await start(backend, 'sampled', 0);
  }, 60_000);
  afterAll(async () => {
    for (const i of [full, never]) await stop(i);
  });

  it('single evaluation on the fast path: 200 {"decision": false}, one logged denial per unknown name', async () => {
    const i = full!;
    await admitOnFastPath(i.gh.apiTokens, i.token);
    const before = evaluationFastPathStats.taken;
    for (const [name, body, [subject, relation, object]] of UNKNOWN) {
      const res = await post(i, i.fastPort, '/access/v1/evaluation', body, `fast-${name}`);
      expect(res, name).toEqual({ status: 200, body: { decision: false } });
      expect(await rowsOf(i, `fast-${name}`), name).toEqual([denial(i, subject, relation, object)]);
    }
    expect(evaluationFastPathStats.taken - before).toBe(UNKNOWN.length);
  });

  it('single evaluation on Fastify, and with a revision to wait for: the same logged denials', async () => {
    const i = full!;
    const revision = String(i.gh.authz.currentRevision());
    for (const [name, body, [subject, relation, object]] of UNKNOWN) {
      expect(await post(i, i.plainPort, '/access/v1/evaluation', body, `plain-${name}`), name).toEqual({ status: 200, body: { decision: false } });
      expect(await rowsOf(i, `plain-${name}`), name).toEqual([denial(i, subject, relation, object)]);
      expect(await post(i, i.fastPort, '/access/v1/evaluation', body, `wait-${name}`, { 'x-gatehouse-at-least-revision': revision }), name).toEqual({ status: 200, body: { decision: false } });
      expect(await rowsOf(i, `wait-${name}`), name).toEqual([denial(i, subject, relation, object)]);
    }
  });

  it('evaluations with execute_all: every item logged, the unknown names as denials beside the known ones', async () => {
    const i = full!;
    const res = await post(i, i.fastPort, '/access/v1/evaluations', { evaluations: [ev('user', 'viewer', 'doc'), ...UNKNOWN.map(([, body]) => body), ev('user', 'viewer', 'doc', 'eve')] }, 'batch-all');
    expect(res).toEqual({ status: 200, body: { evaluations: [{ decision: true }, { decision: false }, { decision: false }, { decision: false }, { decision: false }] } });
    const rows = await rowsOf(i, 'batch-all');
    expect(rows).toHaveLength(5);
    expect(rows.filter((r) => r.decision === 1).map((r) => [r.subject, r.relation, r.object])).toEqual([['user:ann', 'viewer', 'doc:plan']]);
    expect(rows.filter((r) => r.decision === 0)).toEqual(
      [denial(i, 'robot:ann', 'viewer', 'doc:plan'), denial(i, 'user:ann', 'editor', 'doc:plan'), denial(i, 'user:ann', 'viewer', 'folder:plan'), denial(i, 'user:eve', 'viewer', 'doc:plan')],
    );
  });

  it('evaluations with a default subject shared by the items (checkEach resolves it once): unknown names logged', async () => {
    const i = full!;
    const res = await post(i, i.plainPort, '/access/v1/evaluations', { subject: { type: 'robot', id: 'r2' }, action: { name: 'viewer' }, evaluations: [{ resource: { type: 'doc', id: 'plan' } }, { resource: { type: 'doc', id: 'memo' } }] }, 'batch-default');
    expect(res).toEqual({ status: 200, body: { evaluations: [{ decision: false }, { decision: false }] } });
    expect(await rowsOf(i, 'batch-default')).toEqual([denial(i, 'robot:r2', 'viewer', 'doc:memo'), denial(i, 'robot:r2', 'viewer', 'doc:plan')]);
  });

  it('evaluations with deny_on_first_deny and permit_on_first_permit: the evaluated items logged, the unknown name as a denial', async () => {
    const i = full!;
    const deny = await post(i, i.fastPort, '/access/v1/evaluations', { options: { evaluations_semantic: 'deny_on_first_deny' }, evaluations: [ev('user', 'viewer', 'doc'), ev('user', 'editor', 'doc'), ev('user', 'viewer', 'doc')] }, 'batch-deny');
    expect(deny).toEqual({ status: 200, body: { evaluations: [{ decision: true }, { decision: false, context: { reason: 'deny_on_first_deny' } }] } });
    const denyRows = await rowsOf(i, 'batch-deny');
    expect(denyRows.map((r) => [r.subject, r.relation, r.object, r.decision])).toEqual([
      ['user:ann', 'editor', 'doc:plan', 0],
      ['user:ann', 'viewer', 'doc:plan', 1],
    ]);
    expect(denyRows[0]).toEqual(denial(i, 'user:ann', 'editor', 'doc:plan'));

    const permit = await post(i, i.fastPort, '/access/v1/evaluations', { options: { evaluations_semantic: 'permit_on_first_permit' }, evaluations: [ev('robot', 'viewer', 'doc'), ev('user', 'viewer', 'folder'), ev('user', 'viewer', 'doc'), ev('user', 'editor', 'doc')] }, 'batch-permit');
    expect(permit).toEqual({ status: 200, body: { evaluations: [{ decision: false }, { decision: false }, { decision: true, context: { reason: 'permit_on_first_permit' } }] } });
    const permitRows = await rowsOf(i, 'batch-permit');
    expect(permitRows.map((r) => [r.subject, r.relation, r.object, r.decision])).toEqual([
      ['robot:ann', 'viewer', 'doc:plan', 0],
      ['user:ann', 'viewer', 'doc:plan', 1],
      ['user:ann', 'viewer', 'folder:plan', 0],
    ]);
    expect(permitRows.filter((r) => r.decision === 0)).toEqual([denial(i, 'robot:ann', 'viewer', 'doc:plan'), denial(i, 'user:ann', 'viewer', 'folder:plan')]);
  });

  it("OpenFGA's Check answers 400 for an unknown type or relation and logs nothing (an error, not a decision)", async () => {
    const i = full!;
    const type = await post(i, i.fastPort, `/stores/${i.store}/check`, { tuple_key: { user: 'user:ann', relation: 'viewer', object: 'folder:plan' } }, 'fga-type');
    expect(type.status).toBe(400);
    expect((type.body as { code: string }).code).toBe('type_not_found');
    const relation = await post(i, i.fastPort, `/stores/${i.store}/check`, { tuple_key: { user: 'user:ann', relation: 'editor', object: 'doc:plan' } }, 'fga-relation');
    expect(relation.status).toBe(400);
    expect((relation.body as { code: string }).code).toBe('relation_not_found');
    expect(await rowsOf(i, 'fga-type')).toEqual([]);
    expect(await rowsOf(i, 'fga-relation')).toEqual([]);
    // A known question through the same route is a decision, and logged.
    const known = await post(i, i.fastPort, `/stores/${i.store}/check`, { tuple_key: { user: 'user:ann', relation: 'viewer', object: 'doc:plan' } }, 'fga-known');
    expect(known).toMatchObject({ status: 200, body: { allowed: true } });
    expect((await rowsOf(i, 'fga-known')).map((r) => r.decision)).toEqual([1]);
  });

  it('sampled at rate 0: the same denials are answered and not logged, on every path', async () => {
    const i = never!;
    await admitOnFastPath(i.gh.apiTokens, i.token);
    for (const [name, body] of UNKNOWN) {
      expect(await post(i, i.fastPort, '/access/v1/evaluation', body, `r0-fast-${name}`)).toEqual({ status: 200, body: { decision: false } });
      expect(await post(i, i.plainPort, '/access/v1/evaluation', body, `r0-plain-${name}`)).toEqual({ status: 200, body: { decision: false } });
    }
    const all = await post(i, i.fastPort, '/access/v1/evaluations', { evaluations: UNKNOWN.map(([, body]) => body) }, 'r0-batch');
    expect(all).toEqual({ status: 200, body: { evaluations: [{ decision: false }, { decision: false }, { decision: false }] } });
    const first = await post(i, i.fastPort, '/access/v1/evaluations', { options: { evaluations_semantic: 'deny_on_first_deny' }, evaluations: UNKNOWN.map(([, body]) => body) }, 'r0-short');
    expect(first).toEqual({ status: 200, body: { evaluations: [{ decision: false, context: { reason: 'deny_on_first_deny' } }] } });
    await i.gh.authz.tupleLastUsed(cliContext(), { storeId: i.store, tuple: { objectType: 'doc', objectId: 'plan', relation: 'viewer', subjectType: 'user', subjectId: 'ann', subjectRelation: '' } });
    expect(await i.gh.storage.db.selectFrom('authz_decision_log').select('request_id').where('request_id', 'like', 'r0-%').execute()).toEqual([]);
  });
});
