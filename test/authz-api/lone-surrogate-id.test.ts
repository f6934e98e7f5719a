/**
 * Fresh-eyes tester (issue #3), a defect now fixed (the JSON edge and tuple validation refuse it): an id holding a lone UTF-16 surrogate (valid JSON:
 * "\ud800x") is accepted by validation, but the database stores another string (PostgreSQL: U+FFFD;
 * SQLite: three U+FFFD), so TupleStore.write sees its insert come back under another key:
 * - without on_duplicate: 400 write_failed_due_to_invalid_input "cannot write a tuple which already
 *   exists" for a tuple that does not exist;
 * - with on_duplicate 'ignore': 200 and a revision, the tuple is in the database (Read lists it) but
 *   the live index never gets it, while an instance started later does: live and rebuilt answers differ.
 * Expected: refused at validation like U+0000 (400 validation_error), or stored as given.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';

const MODEL = {
  schema_version: '1.1',
  type_definitions: [{ type: 'person' }, { type: 'doc', relations: { viewer: { this: {} } }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'person' }] } } } }],
};

describeEachBackend('ids with a lone surrogate', (backend) => {
  let url: string;
  let drop: () => Promise<void>;
  let token = '';
  let live: { gh: Gatehouse; base: string };
  let store: string;
  const start = async () => {
    const gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0, host: '127.0.0.1' }), logger: createLogger('silent') });
    return { gh, base: await gh.listen() };
  };
  const post = async (base: string, path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  beforeAll(async () => {
    ({ url, drop } = await backend.create());
    live = await start();
    token = (await live.gh.apiTokens.create(cliContext(), { name: 't', scopes: ['authz'] })).token;
    store = (await post(live.base, '/stores', { name: 's' })).body.id;
    expect((await post(live.base, `/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
  });
  afterAll(async () => {
    await live?.gh.close();
    await drop?.();
  });

  it('a new tuple is not reported as already existing', async () => {
    const res = await post(live.base, `/stores/${store}/write`, { writes: { tuple_keys: [{ user: 'person:ann', relation: 'viewer', object: 'doc:\ud800a' }] } });
    expect([res.status, res.body.code]).toEqual([400, 'validation_error']);
  });

  it('what the database holds, the live index and a restarted instance answer alike', async () => {
    await post(live.base, `/stores/${store}/write`, { writes: { tuple_keys: [{ user: 'person:bob', relation: 'viewer', object: 'doc:\udfffb' }], on_duplicate: 'ignore' } });
    const read = await post(live.base, `/stores/${store}/read`, { tuple_key: { user: 'person:bob', relation: 'viewer', object: 'doc:' } });
    const objects = (read.body.tuples as Array<{ key: { object: string } }>).map((t) => t.key.object);
    const again = await start();
    try {
      for (const base of [live.base, again.base]) {
        const listed = (await post(base, `/stores/${store}/list-objects`, { type: 'doc', relation: 'viewer', user: 'person:bob', consistency: 'HIGHER_CONSISTENCY' })).body.objects;
        expect([base === live.base ? 'live' : 'restarted', listed]).toEqual([base === live.base ? 'live' : 'restarted', objects]);
      }
    } finally {
      await again.gh.close();
    }
  });
});
