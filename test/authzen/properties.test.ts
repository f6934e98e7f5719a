/**
 * AuthZEN entity `properties` (arbitrary JSON objects) passed to condition parameters declared
 * `map<T>` (`subject`, `resource`, `action`), on both backends, over real sockets on the node:http
 * fast path and on Fastify alike (docs/authzen.md, "Condition context"):
 * - each entry is converted to T as a context value is; for `map<string>` a number or boolean
 *   entry becomes its JSON text (5 -> "5", true -> "true");
 * - an entry that does not convert (null, array, object, a non-numeric string for `map<int>`, a
 *   string for `map<bool>`) is left out of the map: a rule reading that key fails with
 *   `condition_error` ("No such key"), rules reading other keys work;
 * - the request `context` stays strict: a `resource` member of `context` (which wins over the
 *   properties) of the wrong type is a `condition_error`, as in OpenFGA's Check.
 * Every request goes to both apps (one with the fast path, one without) and the answers must be equal.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createGatehouse, type Gatehouse, type Services } from '../../src/gatehouse.js';
import { buildHttpApp } from '../../src/http/app.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

const MODEL = `model
  schema 1.1

type user

type doc
  relations
    define read: [user with strings]
    define edit: [user with ints]
    define purge: [user with bools]
    define tag: [user with reads_dropped]

condition strings(resource: map<string>) {
  resource["label"] == "public" && resource["count"] == "5" && resource["ratio"] == "1.5" && resource["flag"] == "true" && size(resource) == 4
}

condition ints(subject: map<int>) {
  subject["level"] + subject["digits"] == 45 && size(subject) == 2
}

condition bools(action: map<bool>) {
  action["confirmed"] && !action["dry_run"] && size(action) == 2
}

condition reads_dropped(resource: map<string>) {
  resource["tags"] == "a"
}
`;

/** Every JSON kind in each entity's properties. */
const SUBJECT = { type: 'user', id: 'ann', properties: { level: 3, digits: '42', ratio: 1.5, name: 'ann', admin: true, nothing: null, tags: [1], meta: { k: 1 } } };
const RESOURCE = { type: 'doc', id: 'doc-1', properties: { label: 'public', count: 5, ratio: 1.5, flag: true, nothing: null, tags: ['a'], meta: { k: 'v' } } };
const ACTION_PROPS = { confirmed: true, dry_run: false, text: 'true', n: 1, nothing: null, list: [true], meta: { k: true } };
const action = (name: string) => ({ name, properties: ACTION_PROPS });

interface Reply {
  status: number;
  body: any;
}

describeEachBackend('AuthZEN properties in map<T> condition parameters', (backend) => {
  let gh: Gatehouse;
  let plain: FastifyInstance;
  let drop: () => Promise<void>;
  let fastBase: string;
  let plainBase: string;
  let token: string;

  async function send(base: string, path: string, body: unknown): Promise<Reply> {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: JSON.parse(await res.text()) };
  }

  /** Sends `body` to the app with the fast path and to the one without; both answers must be equal. */
  async function both(path: string, body: unknown): Promise<Reply> {
    const fast = await send(fastBase, path, body);
    const slow = await send(plainBase, path, body);
    expect(fast).toEqual(slow);
    return fast;
  }

  /** A single evaluation, answered on the fast path (counted) and on Fastify, with equal answers. */
  async function evaluation(body: unknown): Promise<Reply> {
    await admitOnFastPath(gh.apiTokens, token);
    const before = evaluationFastPathStats.taken;
    const r = await both('/access/v1/evaluation', body);
    expect(evaluationFastPathStats.taken - before, 'the fast path answered the first').toBe(1);
    return r;
  }

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({
      config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'silent', host: '127.0.0.1', port: 0 }),
      logger: createLogger('silent'),
    });
    const ctx = cliContext();
    const store = await gh.authzStores.create(ctx, 'props');
    await gh.authzModels.write(ctx, store.id, { dsl: MODEL });
    const { revision } = await gh.authzTuples.write(ctx, store.id, {
      writes: ['read', 'edit', 'purge', 'tag'].map((relation) => ({ user: 'user:ann', relation, object: 'doc:doc-1', condition: { name: { read: 'strings', edit: 'ints', purge: 'bools', tag: 'reads_dropped' }[relation] as string } })),
    });
    await gh.authz.waitForRevision(revision);
    await gh.authzStores.setDefault(ctx, store.id);
    token = (await gh.apiTokens.create(ctx, { name: 'pep', scopes: ['authz'] })).token;
    fastBase = await gh.listen();
    plain = await buildHttpApp(gh as unknown as Services, { evaluationFastPath: false });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    plainBase = `http://127.0.0.1:${(plain.server.address() as { port: number }).port}`;
  }, 120_000);
  afterAll(async () => {
    await plain?.close();
    await gh?.close();
    await drop?.();
  });

  it('map<string>: strings kept, numbers and booleans as their JSON text, null, arrays and objects left out', async () => {
    expect(await evaluation({ subject: SUBJECT, action: action('read'), resource: RESOURCE })).toEqual({ status: 200, body: { decision: true } });
    // The same rule is false when a converted value differs: 6 is "6", not "5".
    expect(await evaluation({ subject: SUBJECT, action: action('read'), resource: { ...RESOURCE, properties: { ...RESOURCE.properties, count: 6 } } })).toEqual({ status: 200, body: { decision: false } });
  });

  it('map<int>: integers and decimal strings kept; a fraction, a word, a boolean, null, arrays and objects left out', async () => {
    expect(await evaluation({ subject: SUBJECT, action: action('edit'), resource: RESOURCE })).toEqual({ status: 200, body: { decision: true } });
  });

  it('map<bool>: booleans kept; the string "true", a number, null, arrays and objects left out', async () => {
    expect(await evaluation({ subject: SUBJECT, action: action('purge'), resource: RESOURCE })).toEqual({ status: 200, body: { decision: true } });
  });

  it('a rule reading a left-out key: 400 condition_error naming the key, never a silent deny', async () => {
    const r = await evaluation({ subject: SUBJECT, action: action('tag'), resource: RESOURCE });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('condition_error');
    expect(r.body.error.message).toBe("condition 'reads_dropped' failed: No such key: tags");
  });

  it('the request context stays strict: a context member `resource` of the wrong type is a condition_error', async () => {
    const r = await evaluation({ subject: SUBJECT, action: action('read'), resource: RESOURCE, context: { resource: { label: 'public', count: 5 } } });
    expect(r).toEqual({ status: 400, body: { error: { code: 'condition_error', message: "condition 'strings': parameter 'resource' must be of type map<string, string>" } } });
  });

  it('/evaluations, every semantic: the same conversion per item, a left-out key as that item\'s error', async () => {
    const items = [{ action: action('read') }, { action: action('tag') }, { action: action('edit') }, { action: action('purge') }];
    const tagError = { decision: false, context: { error: { status: 400, code: 'condition_error', message: "condition 'reads_dropped' failed: No such key: tags" } } };
    const all = await both('/access/v1/evaluations', { subject: SUBJECT, resource: RESOURCE, evaluations: items });
    expect(all).toEqual({ status: 200, body: { evaluations: [{ decision: true }, tagError, { decision: true }, { decision: true }] } });
    const deny = await both('/access/v1/evaluations', { subject: SUBJECT, resource: RESOURCE, options: { evaluations_semantic: 'deny_on_first_deny' }, evaluations: items });
    expect(deny).toEqual({ status: 200, body: { evaluations: [{ decision: true }, { ...tagError, context: { ...tagError.context, reason: 'deny_on_first_deny' } }] } });
    const permit = await both('/access/v1/evaluations', { subject: SUBJECT, resource: RESOURCE, options: { evaluations_semantic: 'permit_on_first_permit' }, evaluations: [items[1], items[2], items[0]] });
    expect(permit).toEqual({ status: 200, body: { evaluations: [tagError, { decision: true, context: { reason: 'permit_on_first_permit' } }] } });
  });

  it('the three searches convert the properties the same way', async () => {
    const subjects = await both('/access/v1/search/subject', { subject: { type: 'user', properties: SUBJECT.properties }, action: action('read'), resource: RESOURCE });
    expect(subjects.status).toBe(200);
    expect(subjects.body.results).toEqual([{ type: 'user', id: 'ann' }]);
    const resources = await both('/access/v1/search/resource', { subject: SUBJECT, action: action('edit'), resource: { type: 'doc', properties: RESOURCE.properties } });
    expect(resources.status).toBe(200);
    expect(resources.body.results).toEqual([{ type: 'doc', id: 'doc-1' }]);
    // Not listed: `tag` (reads a left-out key, so its check fails) and `purge` (Action Search has
    // no action, so `action` is the empty map and its condition cannot read `confirmed`).
    const actions = await both('/access/v1/search/action', { subject: SUBJECT, resource: RESOURCE });
    expect(actions.status).toBe(200);
    expect(actions.body.results).toEqual([{ name: 'edit' }, { name: 'read' }]);
  });
});
