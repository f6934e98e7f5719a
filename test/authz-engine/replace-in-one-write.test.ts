/**
 * Fresh-eyes tester (issue #3): a tuple deleted and written again with another condition context,
 * and Writes that delete the last tuples naming some nodes while naming new ones (freed node ids
 * reused within one revision): the writer, a second instance following the changelog and a third
 * one started on the database answer alike after each Write.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';

const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'person' },
    { type: 'team', relations: { member: { this: {} } }, metadata: { relations: { member: { directly_related_user_types: [{ type: 'person' }] } } } },
    {
      type: 'doc',
      relations: { viewer: { this: {} } },
      metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'person' }, { type: 'person', condition: 'small' }, { type: 'team', relation: 'member' }] } } },
    },
  ],
  conditions: { small: { name: 'small', expression: 'x < limit', parameters: { x: { type_name: 'TYPE_NAME_INT' }, limit: { type_name: 'TYPE_NAME_INT' } } } },
};

describeEachBackend('nodes freed and named again within one Write; a condition replaced', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let token = '';
  let writer: { gh: Gatehouse; base: string };
  let reader: { gh: Gatehouse; base: string };
  let store: string;
  const start = async () => {
    const gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0, host: '127.0.0.1' }), logger: createLogger('silent') });
    return { gh, base: await gh.listen() };
  };
  const post = async (base: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, revision: res.headers.get('x-gatehouse-revision') };
  };
  beforeAll(async () => {
    ({ url, drop } = await backend.create());
    writer = await start();
    reader = await start();
    token = (await writer.gh.apiTokens.create(cliContext(), { name: 't', scopes: ['authz'] })).token;
    store = (await post(writer.base, '/stores', { name: 's' })).body.id;
    expect((await post(writer.base, `/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
  });
  afterAll(async () => {
    await reader?.gh.close();
    await writer?.gh.close();
    await drop?.();
  });

  async function answers(base: string, revision: string): Promise<unknown> {
    const h = { 'x-gatehouse-at-least-revision': revision };
    const out: unknown[] = [];
    for (const [user, object] of [['person:ann', 'doc:1'], ['person:bob', 'doc:2'], ['person:cy', 'doc:2'], ['person:dee', 'doc:3']]) {
      const c = await post(base, `/stores/${store}/check`, { tuple_key: { user, relation: 'viewer', object }, context: { x: 5 } }, h);
      out.push([user, object, c.status, c.body.allowed ?? c.body.code]);
    }
    for (const user of ['person:ann', 'person:bob', 'person:cy', 'person:dee']) {
      const lo = await post(base, `/stores/${store}/list-objects`, { type: 'doc', relation: 'viewer', user, context: { x: 5 } }, h);
      out.push([user, [...lo.body.objects].sort()]);
    }
    return out;
  }

  it('writer, follower and a restarted instance agree after each such Write', async () => {
    const steps = [
      { writes: { tuple_keys: [{ user: 'person:ann', relation: 'viewer', object: 'doc:1', condition: { name: 'small', context: { limit: 3 } } }, { user: 'team:t#member', relation: 'viewer', object: 'doc:2' }, { user: 'person:bob', relation: 'member', object: 'team:t' }] } },
      // the tuple deleted, then written with another condition context (false -> true); OpenFGA refuses both in one Write
      { deletes: { tuple_keys: [{ user: 'person:ann', relation: 'viewer', object: 'doc:1' }] } },
      { writes: { tuple_keys: [{ user: 'person:ann', relation: 'viewer', object: 'doc:1', condition: { name: 'small', context: { limit: 8 } } }] } },
      // team:t and bob lose their last tuples (nodes freed) while cy and dee are named for the first time
      { deletes: { tuple_keys: [{ user: 'person:bob', relation: 'member', object: 'team:t' }, { user: 'team:t#member', relation: 'viewer', object: 'doc:2' }] }, writes: { tuple_keys: [{ user: 'person:cy', relation: 'viewer', object: 'doc:2' }, { user: 'person:dee', relation: 'viewer', object: 'doc:3' }] } },
      // the freed names come back in the same Write that frees others
      { deletes: { tuple_keys: [{ user: 'person:cy', relation: 'viewer', object: 'doc:2' }] }, writes: { tuple_keys: [{ user: 'team:t#member', relation: 'viewer', object: 'doc:2' }, { user: 'person:bob', relation: 'member', object: 'team:t' }] } },
    ];
    const want = [
      [['person:ann', 'doc:1', 200, false], ['person:bob', 'doc:2', 200, true], ['person:cy', 'doc:2', 200, false], ['person:dee', 'doc:3', 200, false], ['person:ann', []], ['person:bob', ['doc:2']], ['person:cy', []], ['person:dee', []]],
      [['person:ann', 'doc:1', 200, false], ['person:bob', 'doc:2', 200, true], ['person:cy', 'doc:2', 200, false], ['person:dee', 'doc:3', 200, false], ['person:ann', []], ['person:bob', ['doc:2']], ['person:cy', []], ['person:dee', []]],
      [['person:ann', 'doc:1', 200, true], ['person:bob', 'doc:2', 200, true], ['person:cy', 'doc:2', 200, false], ['person:dee', 'doc:3', 200, false], ['person:ann', ['doc:1']], ['person:bob', ['doc:2']], ['person:cy', []], ['person:dee', []]],
      [['person:ann', 'doc:1', 200, true], ['person:bob', 'doc:2', 200, false], ['person:cy', 'doc:2', 200, true], ['person:dee', 'doc:3', 200, true], ['person:ann', ['doc:1']], ['person:bob', []], ['person:cy', ['doc:2']], ['person:dee', ['doc:3']]],
      [['person:ann', 'doc:1', 200, true], ['person:bob', 'doc:2', 200, true], ['person:cy', 'doc:2', 200, false], ['person:dee', 'doc:3', 200, true], ['person:ann', ['doc:1']], ['person:bob', ['doc:2']], ['person:cy', []], ['person:dee', ['doc:3']]],
    ];
    for (let i = 0; i < steps.length; i++) {
      const res = await post(writer.base, `/stores/${store}/write`, steps[i]);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const rev = res.revision as string;
      expect([i, 'writer', await answers(writer.base, rev)]).toEqual([i, 'writer', want[i]]);
      expect([i, 'reader', await answers(reader.base, rev)]).toEqual([i, 'reader', want[i]]);
      const again = await start();
      try {
        expect([i, 'restarted', await answers(again.base, rev)]).toEqual([i, 'restarted', want[i]]);
      } finally {
        await again.gh.close();
      }
    }
  }, 120_000);
});
