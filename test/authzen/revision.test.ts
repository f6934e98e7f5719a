import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';

// Issue #3 point 6 on the AuthZEN API: `x-gatehouse-at-least-revision: N` makes every AuthZEN route
// (evaluation, evaluations, the three searches; root and /stores/{id}) answer from an index that
// has applied revision N. Two Gatehouse processes' worth of services on one database, over real
// sockets: `writer` takes the writes, `reader` answers the AuthZEN requests, so the reader's index
// learns of a write only through its changelog follower (as another replica or worker would).

const HEADER = 'x-gatehouse-at-least-revision';
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'user' },
    {
      type: 'doc',
      relations: { viewer: { this: {} }, editor: { this: {} } },
      metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'user' }] }, editor: { directly_related_user_types: [{ type: 'user' }] } } },
    },
  ],
};

interface Reply {
  status: number;
  contentType: string;
  body: any;
  ms: number;
}

type Kind = 'evaluation' | 'evaluations' | 'search/subject' | 'search/resource' | 'search/action';
const KINDS: Kind[] = ['evaluation', 'evaluations', 'search/subject', 'search/resource', 'search/action'];

/** The request of `kind` about `user:u` viewing `doc:d`. */
function requestOf(kind: Kind, u: string, d: string): unknown {
  const ev = { subject: { type: 'user', id: u }, action: { name: 'viewer' }, resource: { type: 'doc', id: d } };
  switch (kind) {
    case 'evaluation':
      return ev;
    case 'evaluations':
      return { evaluations: [ev] };
    case 'search/subject':
      return { subject: { type: 'user' }, action: { name: 'viewer' }, resource: { type: 'doc', id: d } };
    case 'search/resource':
      return { subject: { type: 'user', id: u }, action: { name: 'viewer' }, resource: { type: 'doc' } };
    case 'search/action':
      return { subject: { type: 'user', id: u }, resource: { type: 'doc', id: d } };
  }
}

/** The answer of `kind` once the tuple `doc:d#viewer@user:u` is seen (`seen`), or before it is. */
function answerOf(kind: Kind, u: string, d: string, seen: boolean): unknown {
  const page = (n: number) => ({ next_token: '', count: n, total: n });
  switch (kind) {
    case 'evaluation':
      return { decision: seen };
    case 'evaluations':
      return { evaluations: [{ decision: seen }] };
    case 'search/subject':
      return { results: seen ? [{ type: 'user', id: u }] : [], page: page(seen ? 1 : 0) };
    case 'search/resource':
      return { results: seen ? [{ type: 'doc', id: d }] : [], page: page(seen ? 1 : 0) };
    case 'search/action':
      return { results: seen ? [{ name: 'viewer' }] : [], page: page(seen ? 1 : 0) };
  }
}

describeEachBackend('AuthZEN honours x-gatehouse-at-least-revision', (backend) => {
  let writer: Gatehouse;
  let reader: Gatehouse;
  let drop: () => Promise<void>;
  let token: string;
  let writerBase: string;
  let readerBase: string;
  let store: string;
  /** Every AuthZEN API route prefix: the default store (ours, marked default) and the named one. */
  let prefixes: string[];
  let n = 0;

  async function post(base: string, path: string, body: unknown, headers: Record<string, string> | Headers = {}, auth: string | null = token): Promise<Reply & { headers: Headers }> {
    const h = new Headers(headers);
    h.set('content-type', 'application/json');
    if (auth) h.set('authorization', `Bearer ${auth}`);
    const started = performance.now();
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: h, body: JSON.stringify(body) });
    const text = await res.text();
    const ms = performance.now() - started;
    const contentType = res.headers.get('content-type') ?? '';
    return { status: res.status, contentType, body: contentType.includes('json') ? JSON.parse(text) : text, ms, headers: res.headers };
  }

  /** Writes `doc:d#viewer@user:u` for each pair through the writer's OpenFGA API; its revision. */
  async function write(pairs: Array<[string, string]>): Promise<number> {
    const res = await post(writerBase, `/stores/${store}/write`, { writes: { tuple_keys: pairs.map(([u, d]) => ({ user: `user:${u}`, relation: 'viewer', object: `doc:${d}` })) } });
    expect(res.status).toBe(200);
    const revision = Number(res.headers.get('x-gatehouse-revision'));
    expect(Number.isSafeInteger(revision) && revision > 0).toBe(true);
    return revision;
  }

  /** Every (route, user, doc) of one test, with fresh names. */
  function matrix(): Array<{ path: string; kind: Kind; u: string; d: string }> {
    const out: Array<{ path: string; kind: Kind; u: string; d: string }> = [];
    for (const prefix of prefixes) for (const kind of KINDS) out.push({ path: `${prefix}/access/v1/${kind}`, kind, u: `u${++n}`, d: `d${n}` });
    return out;
  }

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    const config = () => loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0 });
    writer = await createGatehouse({ config: config(), logger: createLogger('silent') });
    reader = await createGatehouse({ config: config(), logger: createLogger('silent') });
    writerBase = await writer.listen();
    readerBase = await reader.listen();
    token = (await writer.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    store = (await post(writerBase, '/stores', { name: 'revisions' })).body.id as string;
    expect((await post(writerBase, `/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
    await writer.authzStores.setDefault(cliContext(), store);
    prefixes = ['', `/stores/${store}`];
  });
  afterAll(async () => {
    await reader?.close();
    await writer?.close();
    await drop?.();
  });

  it('a request waiting for the next revision answers once the write it waits for is applied, on every route', async () => {
    const cases = matrix();
    const next = String((await write([['nobody', 'nothing']])) + 1);
    // Sent before the write: without the header each would answer at once, without the tuple.
    const pending = cases.map((c) => post(readerBase, c.path, requestOf(c.kind, c.u, c.d), { [HEADER]: next }));
    await new Promise((r) => setTimeout(r, 300));
    const revision = await write(cases.map((c) => [c.u, c.d]));
    expect(revision).toBe(Number(next));
    const replies = await Promise.all(pending);
    expect(replies.map((r) => [r.status, r.body])).toEqual(cases.map((c) => [200, answerOf(c.kind, c.u, c.d, true)]));
  });

  it('a write answers its revision; a request carrying it sees the write, on every route', async () => {
    const cases = matrix();
    const revision = await write(cases.map((c) => [c.u, c.d]));
    for (const c of cases) {
      const r = await post(readerBase, c.path, requestOf(c.kind, c.u, c.d), { [HEADER]: String(revision) });
      expect([c.path, r.status, r.body]).toEqual([c.path, 200, answerOf(c.kind, c.u, c.d, true)]);
    }
    // A revision the index has (0, the current one) or an empty header: no wait, same answers.
    const [c] = cases;
    for (const value of ['0', String(revision), '']) {
      const r = await post(readerBase, c!.path, requestOf(c!.kind, c!.u, c!.d), { [HEADER]: value });
      expect([value, r.status, r.body]).toEqual([value, 200, { decision: true }]);
    }
  });

  it('a revision not reached within the wait limit answers 503 revision_timeout after the wait, on every route (OpenFGA: 503 unavailable)', async () => {
    const cases = matrix();
    const far = String((await write([['nobody2', 'nothing2']])) + 1_000_000);
    const started = performance.now();
    const [replies, nothingToCheck, openfga] = await Promise.all([
      Promise.all(cases.map((c) => post(readerBase, c.path, requestOf(c.kind, c.u, c.d), { [HEADER]: far }))),
      // No engine call would be made (every item malformed; a type without relations): still waits.
      Promise.all([
        post(readerBase, '/access/v1/evaluations', { evaluations: [{ subject: { type: '' } }] }, { [HEADER]: far }),
        post(readerBase, '/access/v1/search/action', { subject: { type: 'user', id: 'u' }, resource: { type: 'nosuch', id: 'x' } }, { [HEADER]: far }),
      ]),
      post(readerBase, `/stores/${store}/check`, { tuple_key: { user: 'user:u', relation: 'viewer', object: 'doc:d' } }, { [HEADER]: far }),
    ]);
    const elapsed = performance.now() - started;
    for (const r of [...replies, ...nothingToCheck]) {
      expect([r.status, r.contentType, r.body.error.code]).toEqual([503, 'application/json; charset=utf-8', 'revision_timeout']);
      expect(Object.keys(r.body)).toEqual(['error']);
      expect(r.body.error.message).toContain(`has not reached revision ${far}`);
      // The engine's wait limit is 2 s (AuthzService revisionWaitMs).
      expect(r.ms).toBeGreaterThanOrEqual(1900);
    }
    expect([openfga.status, openfga.body.code]).toEqual([503, 'unavailable']);
    expect(elapsed).toBeLessThan(15_000);
    // An unknown store is not waited for.
    const unknown = await post(readerBase, '/stores/01NOSUCHSTORE/access/v1/evaluation', requestOf('evaluation', 'u', 'd'), { [HEADER]: far });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'not_found']);
  });

  it('a malformed value answers 400 invalid_input in the AuthZEN format on every route, as the OpenFGA API refuses it', async () => {
    const message = `${HEADER} must be a non-negative decimal integer`;
    for (const c of matrix()) {
      const r = await post(readerBase, c.path, requestOf(c.kind, c.u, c.d), { [HEADER]: 'abc' });
      expect([c.path, r.status, r.contentType, r.body]).toEqual([c.path, 400, 'application/json; charset=utf-8', { error: { code: 'invalid_input', message } }]);
    }
    const ev = requestOf('evaluation', 'u', 'd');
    for (const value of ['-1', '1.5', '1e3', '0x10', '+5', '1_000', '9007199254740992', '12345678901234567']) {
      const r = await post(readerBase, '/access/v1/evaluation', ev, { [HEADER]: value });
      expect([value, r.status, r.body]).toEqual([value, 400, { error: { code: 'invalid_input', message } }]);
      const fga = await post(readerBase, `/stores/${store}/check`, { tuple_key: { user: 'user:u', relation: 'viewer', object: 'doc:d' } }, { [HEADER]: value });
      expect([value, fga.status, fga.body]).toEqual([value, 400, { code: 'validation_error', message }]);
    }
    // The header sent twice arrives as "1, 2".
    const twice = new Headers();
    twice.append(HEADER, '1');
    twice.append(HEADER, '2');
    const r = await post(readerBase, '/access/v1/evaluation', ev, twice);
    expect([r.status, r.body]).toEqual([400, { error: { code: 'invalid_input', message } }]);
    // The token is checked first.
    const anonymous = await post(readerBase, '/access/v1/evaluation', ev, { [HEADER]: 'abc' }, null);
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, 'unauthenticated']);
  });
});
