/**
 * Configured schema extensions on Groups (issue 4): announced in /ResourceTypes and /Schemas,
 * stored with the group, returned, filtered and sorted in SQL, replaced and PATCHed with the
 * immutable and writeOnly rules — on both backends.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, expectScimError, startScim, type ScimHarness } from './support.js';

const ORG = 'urn:example:params:scim:schemas:extension:org:2.0:Group';
const HR = 'urn:example:params:scim:schemas:extension:hr:2.0:User';
const patch = (...ops: unknown[]) => ({ schemas: [PATCH_OP], Operations: ops });

const EXTENSIONS = [
  {
    id: ORG,
    name: 'OrgGroup',
    resourceType: 'Group',
    attributes: [
      { name: 'costCode', type: 'string', caseExact: true, mutability: 'immutable' },
      { name: 'kind', type: 'string' },
      { name: 'mailEnabled', type: 'boolean' },
      { name: 'size', type: 'integer' },
      { name: 'owners', type: 'string', multiValued: true },
      { name: 'secret', type: 'string', mutability: 'writeOnly' },
    ],
  },
  { id: HR, name: 'HrUser', resourceType: 'User', attributes: [{ name: 'badgeNumber', type: 'string' }] },
];

describeEachBackend('SCIM Group schema extensions', (backend) => {
  let h: ScimHarness;
  beforeAll(async () => {
    h = await startScim(backend, undefined, { scimSchemaExtensions: EXTENSIONS });
  });
  afterAll(async () => h?.close());

  const orgGroup = (displayName: string, org: Record<string, unknown>) => ({ schemas: [GROUP_SCHEMA, ORG], displayName, [ORG]: org });
  const names = async (f: string, extra = '') => {
    const res = await h.call('GET', `/Groups?filter=${encodeURIComponent(f)}&attributes=displayName${extra}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.Resources.map((r: { displayName: string }) => r.displayName);
  };

  it('announces each extension on its own resource type', async () => {
    expect((await h.call('GET', '/ResourceTypes/Group')).body.schemaExtensions).toEqual([{ schema: ORG, required: false }]);
    expect((await h.call('GET', '/ResourceTypes/User')).body.schemaExtensions.map((e: { schema: string }) => e.schema)).toEqual([
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      HR,
    ]);
    const schema = (await h.call('GET', `/Schemas/${ORG}`)).body;
    expect(schema.attributes.map((a: { name: string }) => a.name)).toEqual(['costCode', 'kind', 'mailEnabled', 'size', 'owners', 'secret']);
  });

  it('stores, returns, filters and sorts Group extension attributes; writeOnly never returned', async () => {
    const a = await h.call('POST', '/Groups', { body: orgGroup('Engineering', { costCode: 'CC-1', kind: 'Team', mailEnabled: true, size: 12, owners: ['ann', 'bob'], secret: 's3' }) });
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    expect(a.body.schemas).toEqual([GROUP_SCHEMA, ORG]);
    expect(a.body[ORG]).toEqual({ costCode: 'CC-1', kind: 'Team', mailEnabled: true, size: 12, owners: ['ann', 'bob'] });
    expect((await h.call('GET', `/Groups/${a.body.id}`)).body[ORG]).toEqual(a.body[ORG]);
    const b = await h.call('POST', '/Groups', { body: orgGroup('Sales', { costCode: 'cc-2', kind: 'department', mailEnabled: false, size: 3, owners: ['Carol'] }) });
    expect(b.status).toBe(201);
    const plain = await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Plain' } });
    expect([plain.body.schemas, plain.body[ORG]]).toEqual([[GROUP_SCHEMA], undefined]);

    expect(await names(`${ORG}:kind eq "TEAM"`)).toEqual(['Engineering']);
    expect(await names(`${ORG}:costCode eq "cc-1"`)).toEqual([]);
    expect(await names('costCode sw "cc"')).toEqual(['Sales']);
    expect(await names(`${ORG}:mailEnabled eq false`)).toEqual(['Sales']);
    expect(await names(`${ORG}:size gt 5`)).toEqual(['Engineering']);
    expect(await names(`${ORG}:owners eq "carol"`)).toEqual(['Sales']);
    expect(await names(`schemas eq "${ORG}"`, '&sortBy=displayName')).toEqual(['Engineering', 'Sales']);
    expect(await names(`not (${ORG}:kind pr)`)).toEqual(['Plain']);
    expect(await names('displayName pr', `&sortBy=${encodeURIComponent(`${ORG}:size`)}`)).toEqual(['Sales', 'Engineering', 'Plain']);
    expectScimError(await h.call('GET', `/Groups?filter=${encodeURIComponent(`${ORG}:secret eq "s3"`)}`), 400, 'invalidFilter');
    expectScimError(await h.call('GET', `/Groups?filter=${encodeURIComponent(`${HR}:badgeNumber eq "x"`)}`), 400, 'invalidFilter');
    expect(JSON.stringify((await h.call('GET', `/Groups/${a.body.id}`)).body)).not.toContain('s3');
    // The User extension is not a Group's, and the Group extension not a User's.
    expectScimError(await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA, HR], displayName: 'X', [HR]: { badgeNumber: '1' } } }), 400, 'invalidValue');
    expectScimError(await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA, ORG], userName: 'x', [ORG]: { kind: 'a' } } }), 400, 'invalidValue');
    expectScimError(await h.call('POST', '/Groups', { body: orgGroup('Bad', { size: 'big' }) }), 400, 'invalidValue');
  });

  it('replaces and patches extension attributes: immutable set once, writeOnly kept when not sent', async () => {
    const g = (await h.call('POST', '/Groups', { body: orgGroup('Ops', { kind: 'team', secret: 'k1' }) })).body;
    let res = await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'add', path: `${ORG}:costCode`, value: 'OPS-1' }, { op: 'replace', path: `${ORG}:owners`, value: ['dan'] }) });
    expect([res.status, res.body[ORG]]).toEqual([200, { kind: 'team', costCode: 'OPS-1', owners: ['dan'] }]);
    expectScimError(await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'replace', path: `${ORG}:costCode`, value: 'OPS-2' }) }), 400, 'mutability');
    expectScimError(await h.call('PUT', `/Groups/${g.id}`, { body: orgGroup('Ops', { costCode: 'OPS-3' }) }), 400, 'mutability');
    res = await h.call('PUT', `/Groups/${g.id}`, { body: orgGroup('Ops', { costCode: 'OPS-1', size: 4 }) });
    expect([res.status, res.body[ORG]]).toEqual([200, { costCode: 'OPS-1', size: 4 }]);
    const row = await h.gh.storage.db.selectFrom('groups').select('extra').where('id', '=', g.id).executeTakeFirstOrThrow();
    expect(JSON.parse(row.extra)).toEqual({ [ORG]: { costCode: 'OPS-1', size: 4, secret: 'k1' } });
    res = await h.call('PATCH', `/Groups/${g.id}`, { body: patch({ op: 'remove', path: `${ORG}:size` }, { op: 'replace', path: 'displayName', value: 'Ops Team' }) });
    expect([res.body.displayName, res.body[ORG]]).toEqual(['Ops Team', { costCode: 'OPS-1' }]);
  });
});
