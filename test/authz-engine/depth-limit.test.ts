/**
 * Fresh-eyes tester (issue #3): chains around the depth limit (25) and cycles. A chain of L
 * parent folders, or L nested teams, answers the same whether the engine takes its shortcuts
 * (chain memo, subject closures) or expands (a request with a contextual tuple, whose view is never
 * memoised), and on a freshly started instance; past the limit it is resolution_too_complex (400),
 * never a wrong answer; a cycle answers false.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGatehouse, type Running } from '../authz-api/support.js';
import { describeEachBackend } from '../support/backends.js';

const rr = { this: {} };
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'person' },
    { type: 'team', relations: { member: rr }, metadata: { relations: { member: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] } } } },
    {
      type: 'folder',
      relations: { parent: rr, viewer: { union: { child: [rr, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } } },
      metadata: { relations: { parent: { directly_related_user_types: [{ type: 'folder' }] }, viewer: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] } } },
    },
    {
      type: 'doc',
      relations: { viewer: rr, parent: rr, reader: { union: { child: [{ computedUserset: { relation: 'viewer' } }, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } } },
      metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'team', relation: 'member' }] }, parent: { directly_related_user_types: [{ type: 'folder' }] } } },
    },
  ],
};

const LENGTHS = [1, 2, 10, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 40];

describeEachBackend('depth limit and cycles', (backend) => {
  let gh: Running;
  let store: string;
  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await gh.call('POST', '/stores', { name: 'depth' })).body.id;
    expect((await gh.call('POST', `/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
    const w: Array<{ user: string; relation: string; object: string }> = [];
    for (const L of LENGTHS) {
      // folder chain: doc:fL -> folder:L-1 -> ... -> folder:L-L (person:top views the last one)
      w.push({ user: `folder:c${L}-1`, relation: 'parent', object: `doc:f${L}` });
      for (let i = 1; i < L; i++) w.push({ user: `folder:c${L}-${i + 1}`, relation: 'parent', object: `folder:c${L}-${i}` });
      w.push({ user: 'person:top', relation: 'viewer', object: `folder:c${L}-${L}` });
      // team chain: doc:tL viewer team:L-1#member, team:L-i member team:L-(i+1)#member, person:deep in the last
      w.push({ user: `team:n${L}-1#member`, relation: 'viewer', object: `doc:t${L}` });
      for (let i = 1; i < L; i++) w.push({ user: `team:n${L}-${i + 1}#member`, relation: 'member', object: `team:n${L}-${i}` });
      w.push({ user: 'person:deep', relation: 'member', object: `team:n${L}-${L}` });
    }
    // cycles: folders x1 -> x2 -> x3 -> x1, teams y1 <- y2 <- y1, with nobody granted.
    w.push({ user: 'folder:x2', relation: 'parent', object: 'folder:x1' }, { user: 'folder:x3', relation: 'parent', object: 'folder:x2' }, { user: 'folder:x1', relation: 'parent', object: 'folder:x3' });
    w.push({ user: 'folder:x1', relation: 'parent', object: 'doc:cyc' }, { user: 'team:y1#member', relation: 'viewer', object: 'doc:cyc' });
    w.push({ user: 'team:y2#member', relation: 'member', object: 'team:y1' }, { user: 'team:y1#member', relation: 'member', object: 'team:y2' });
    for (let i = 0; i < w.length; i += 100) {
      const res = await gh.call('POST', `/stores/${store}/write`, { writes: { tuple_keys: w.slice(i, i + 100) } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
  });
  afterAll(async () => gh?.close());

  async function check(user: string, object: string, contextual: boolean): Promise<string> {
    const body: any = { tuple_key: { user, relation: 'reader', object } };
    // An unrelated contextual tuple: the request's view is layered and never memoised.
    if (contextual) body.contextual_tuples = { tuple_keys: [{ user: 'person:nobody', relation: 'viewer', object: 'folder:unrelated' }] };
    const res = await gh.call('POST', `/stores/${store}/check`, body);
    if (res.status === 200) return String(res.body.allowed);
    return `${res.status} ${res.body.code}`;
  }

  it('answers the same with and without shortcuts, repeated, around the limit', async () => {
    const table: string[] = [];
    for (const L of LENGTHS) {
      for (const [user, object] of [['person:top', `doc:f${L}`], ['person:deep', `doc:t${L}`]] as const) {
        const answers = [await check(user, object, false), await check(user, object, false), await check(user, object, true), await check(user, object, false)];
        table.push(`${L} ${object}: ${answers.join(' ')}`);
      }
    }
    // Same answer in all four forms, for every length: true up to the limit, then the depth error.
    const TOO = '400 authorization_model_resolution_too_complex';
    const want = (hopsOver: boolean) => (hopsOver ? [TOO, TOO, TOO, TOO] : ['true', 'true', 'true', 'true']).join(' ');
    const expected = LENGTHS.flatMap((L) => [`${L} doc:f${L}: ${want(L > 25)}`, `${L} doc:t${L}: ${want(L > 24)}`]);
    expect(table).toEqual(expected);
  });

  it('a cycle answers false, with and without shortcuts', async () => {
    expect(await check('person:top', 'doc:cyc', false)).toBe('false');
    expect(await check('person:top', 'doc:cyc', true)).toBe('false');
    expect(await check('person:deep', 'doc:cyc', false)).toBe('false');
  });
});
