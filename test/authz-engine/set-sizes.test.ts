/**
 * Fresh-eyes tester (issue #3): every member of a set counts, at every size from 1 to 40 and back
 * down to 0 (the adjacency keeps up to 32 inline, a Set past that, inline again at 16). One witness
 * per member, so dropping or duplicating any single member changes an answer. Over HTTP (OpenFGA
 * API), on each backend; the sets are: a doc's parents (tuple-to-userset), a doc's userset
 * candidates, a subject's reverse edges (closure walk, ListObjects), and a doc's plain subjects.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGatehouse, type Running } from '../authz-api/support.js';
import { describeEachBackend } from '../support/backends.js';
import { rng } from '../support/random.js';

const rr = { this: {} };
const MODEL = {
  schema_version: '1.1',
  type_definitions: [
    { type: 'person' },
    { type: 'team', relations: { member: rr }, metadata: { relations: { member: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] } } } },
    { type: 'folder', relations: { viewer: rr }, metadata: { relations: { viewer: { directly_related_user_types: [{ type: 'person' }] } } } },
    {
      type: 'doc',
      relations: {
        parent: rr,
        viewer: { union: { child: [rr, { tupleToUserset: { tupleset: { relation: 'parent' }, computedUserset: { relation: 'viewer' } } }] } },
      },
      metadata: {
        relations: {
          parent: { directly_related_user_types: [{ type: 'folder' }] },
          viewer: { directly_related_user_types: [{ type: 'person' }, { type: 'team', relation: 'member' }] },
        },
      },
    },
  ],
};

const N = 40;
const K = Array.from({ length: N }, (_, i) => i);

describeEachBackend('every member of a set counts at every size (inline <-> Set)', (backend) => {
  let gh: Running;
  let store: string;
  const post = async (path: string, body: unknown) => {
    const res = await gh.call('POST', `/stores/${store}${path}`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  beforeAll(async () => {
    gh = await startGatehouse(backend);
    store = (await gh.call('POST', '/stores', { name: 'sizes' })).body.id;
    expect((await gh.call('POST', `/stores/${store}/authorization-models`, MODEL)).status).toBe(201);
    // Witnesses: team tK has person wK; folder fK has viewer vK; doc eK is viewed by team tK's members.
    const fixed = K.flatMap((k) => [
      { user: `person:w${k}`, relation: 'member', object: `team:t${k}` },
      { user: `person:v${k}`, relation: 'viewer', object: `folder:f${k}` },
      { user: `team:t${k}#member`, relation: 'viewer', object: `doc:e${k}` },
    ]);
    for (let i = 0; i < fixed.length; i += 100) await post('/write', { writes: { tuple_keys: fixed.slice(i, i + 100) } });
  });
  afterAll(async () => gh?.close());

  /** The four sets' members for index k (all written or deleted together). */
  const members = (k: number) => [
    { user: `team:t${k}#member`, relation: 'viewer', object: 'doc:big' }, // userset candidates of doc:big
    { user: `folder:f${k}`, relation: 'parent', object: 'doc:big' }, // parents of doc:big
    { user: 'person:hub', relation: 'member', object: `team:t${k}` }, // reverse edges of person:hub
    { user: `person:p${k}`, relation: 'viewer', object: 'doc:big' }, // plain subjects of doc:big
  ];

  async function expectExactly(live: Set<number>, step: string): Promise<void> {
    const checks: Array<{ user: string; object: string; want: boolean }> = [];
    for (const k of K) {
      checks.push({ user: `person:w${k}`, object: 'doc:big', want: live.has(k) });
      checks.push({ user: `person:v${k}`, object: 'doc:big', want: live.has(k) });
      checks.push({ user: 'person:hub', object: `doc:e${k}`, want: live.has(k) });
      checks.push({ user: `person:p${k}`, object: 'doc:big', want: live.has(k) });
    }
    const got: boolean[] = [];
    for (let i = 0; i < checks.length; i += 50) {
      const chunk = checks.slice(i, i + 50);
      const body = await post('/batch-check', { checks: chunk.map((c, j) => ({ tuple_key: { user: c.user, relation: 'viewer', object: c.object }, correlation_id: `c${j}` })) });
      chunk.forEach((_, j) => got.push(body.result[`c${j}`].allowed));
    }
    const wrong = checks.filter((c, i) => got[i] !== c.want).map((c) => `${c.user} viewer ${c.object}: want ${c.want}`);
    expect([step, wrong]).toEqual([step, []]);
    // With contextual tuples (a layered view: the stored set merged with the request's), one absent
    // member added for the request: its witnesses are in, and every stored member still is.
    const absent = K.find((k) => !live.has(k));
    if (absent !== undefined) {
      const contextual_tuples = { tuple_keys: [{ user: `team:t${absent}#member`, relation: 'viewer', object: 'doc:big' }, { user: `folder:f${absent}`, relation: 'parent', object: 'doc:big' }] };
      const who = [`person:w${absent}`, `person:v${absent}`, ...[...live].flatMap((k) => [`person:w${k}`, `person:v${k}`])];
      for (let i = 0; i < who.length; i += 50) {
        const chunk = who.slice(i, i + 50);
        const body = await post('/batch-check', { checks: chunk.map((u, j) => ({ tuple_key: { user: u, relation: 'viewer', object: 'doc:big' }, contextual_tuples, correlation_id: `x${j}` })) });
        const denied = chunk.filter((_, j) => body.result[`x${j}`].allowed !== true);
        expect([step, 'contextual', denied]).toEqual([step, 'contextual', []]);
      }
      const notYet = K.find((k) => !live.has(k) && k !== absent);
      if (notYet !== undefined) {
        const body = await post('/check', { tuple_key: { user: `person:w${notYet}`, relation: 'viewer', object: 'doc:big' }, contextual_tuples });
        expect([step, 'contextual', notYet, body.allowed]).toEqual([step, 'contextual', notYet, false]);
      }
    }
    const objects = (await post('/list-objects', { type: 'doc', relation: 'viewer', user: 'person:hub' })).objects as string[];
    // hub is also in every live team of doc:big's usersets.
    expect([step, [...objects].sort()]).toEqual([step, [...K.filter((k) => live.has(k)).map((k) => `doc:e${k}`), ...(live.size > 0 ? ['doc:big'] : [])].sort()]);
    const users = (await post('/list-users', { object: { type: 'doc', id: 'big' }, relation: 'viewer', user_filters: [{ type: 'person' }] })).users as Array<{ object: { id: string } }>;
    const wantUsers = K.filter((k) => live.has(k)).flatMap((k) => [`w${k}`, `v${k}`, `p${k}`]);
    if (live.size > 0) wantUsers.push('hub'); // hub is a member of every live team
    expect([step, users.map((u) => u.object.id).sort()]).toEqual([step, wantUsers.sort()]);
  }

  it('grows one member at a time to 40 and shrinks in random order to 0, twice', async () => {
    const r = rng(backend.kind === 'sqlite' ? 5 : 6);
    const live = new Set<number>();
    let steps = 0;
    for (let cycle = 0; cycle < 2; cycle++) {
      const addOrder = [...K].sort(() => r() - 0.5);
      for (const k of addOrder) {
        await post('/write', { writes: { tuple_keys: members(k) } });
        live.add(k);
        await expectExactly(live, `cycle ${cycle} +${k} (size ${live.size})`);
        steps++;
      }
      const delOrder = [...K].sort(() => r() - 0.5);
      for (const k of delOrder) {
        await post('/write', { deletes: { tuple_keys: members(k) } });
        live.delete(k);
        await expectExactly(live, `cycle ${cycle} -${k} (size ${live.size})`);
        steps++;
      }
    }
    console.log(`[tester] ${backend.kind}: ${steps} steps, ${steps * (4 * N + 2)} answers compared, plus the contextual checks`);
  }, 120_000);
});
