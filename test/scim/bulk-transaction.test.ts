/**
 * SCIM Bulk (RFC 7644 §3.7) runs its operations in one database transaction with a SAVEPOINT per
 * operation: a failing operation rolls back alone (no row, no audit event of it remains, even
 * when it failed after writing), failOnErrors stops after the n-th error, bulkId references see
 * the earlier operations, the audit chain verifies with `gatehouse audit verify`, and a single
 * request running meanwhile waits for the bulk and succeeds. Also: the POST /Users answer equals
 * a later GET. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_TENANT } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { ensureBuilt, runCli } from '../support/cli.js';
import { BASE, ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA, startScim, type ScimHarness } from './support.js';

const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const user = (userName: string, email: string) => ({ schemas: [USER_SCHEMA], userName, emails: [{ value: email, type: 'work', primary: true }] });
const post = (bulkId: string, path: string, data: unknown) => ({ method: 'POST', path, bulkId, data });

describeEachBackend('SCIM Bulk in one transaction', (backend) => {
  let h: ScimHarness;
  let url: string;
  beforeAll(async () => {
    await ensureBuilt();
    h = await startScim(backend);
    url = h.gh.config.databaseUrl;
  }, 180_000);
  afterAll(async () => h?.close());

  const db = () => h.gh.storage.db;
  const usersNamed = async (name: string) => (await db().selectFrom('users').select('id').where('user_name', '=', name).execute()).length;
  const auditCount = async () => Number((await db().selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('rolls a failing operation back alone, even after it wrote its user row, and keeps the rest', async () => {
    expect((await h.call('POST', '/Users', { body: user('bt-owner', 'taken@example.com') })).status).toBe(201);
    const before = await auditCount();
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK],
        Operations: [
          post('a', '/Users', user('bt-a', 'a@example.com')),
          // userName is free, the email is not: the users row is written, then the email insert fails.
          post('b', '/Users', user('bt-b', 'TAKEN@example.com')),
          post('c', '/Users', user('bt-c', 'c@example.com')),
          post('g', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'bt-group', members: [{ value: 'bulkId:a' }, { value: 'bulkId:c' }] }),
          post('g2', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'bt-group-2', members: [{ value: 'bulkId:b' }] }),
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.Operations.map((o: { bulkId: string; status: string }) => [o.bulkId, o.status])).toEqual([
      ['a', '201'],
      ['b', '409'],
      ['c', '201'],
      ['g', '201'],
      ['g2', '409'],
    ]);
    expect(res.body.Operations[1].response.scimType).toBe('uniqueness');
    expect([await usersNamed('bt-a'), await usersNamed('bt-b'), await usersNamed('bt-c')]).toEqual([1, 0, 1]);
    expect(await db().selectFrom('groups').select('id').where('display_name', '=', 'bt-group-2').execute()).toEqual([]);
    // user.create for a and c, group.create and two group.member_add for g; nothing for b and g2.
    const events = await db().selectFrom('audit_events').select(['action', 'seq']).where('seq', '>', before).orderBy('seq').execute();
    expect(events.map((e) => e.action)).toEqual(['user.create', 'user.create', 'group.member_add', 'group.member_add', 'group.create']);
    expect(events.map((e) => e.seq)).toEqual([before + 1, before + 2, before + 3, before + 4, before + 5]);
    const group = await h.call('GET', res.body.Operations[3].location.slice(BASE.length));
    expect(group.body.members.map((m: { display: string }) => m.display).sort()).toEqual(['bt-a', 'bt-c']);
    // The address b tried to take is still only the owner's.
    const owners = await h.call('GET', `/Users?filter=${encodeURIComponent('emails.value eq "taken@example.com"')}`);
    expect(owners.body.Resources.map((u: { userName: string }) => u.userName)).toEqual(['bt-owner']);
  });

  it('runs 120 creations with one failing after writing (in the second run of operations taken together): only it is rolled back, events in request order', async () => {
    expect((await h.call('POST', '/Users', { body: user('bt-many-owner', 'bt-many-taken@example.com') })).status).toBe(201);
    const before = await auditCount();
    const ops = Array.from({ length: 120 }, (_, i) => post(`m${i}`, '/Users', user(`bt-many-${i}`, i === 75 ? 'BT-MANY-TAKEN@example.com' : `bt-many-${i}@example.com`)));
    const res = await h.call('POST', '/Bulk', { body: { schemas: [BULK], Operations: ops } });
    expect(res.status).toBe(200);
    const statuses = res.body.Operations.map((o: { status: string }) => o.status);
    expect(statuses.filter((s: string) => s === '201').length).toBe(119);
    expect(statuses[75]).toBe('409');
    expect(await usersNamed('bt-many-75')).toBe(0);
    const ids = res.body.Operations.filter((o: { status: string }) => o.status === '201').map((o: { location: string }) => o.location.slice(o.location.lastIndexOf('/') + 1));
    const events = await db().selectFrom('audit_events').select(['action', 'target_id', 'seq']).where('seq', '>', before).orderBy('seq').execute();
    expect(events.map((e) => e.action)).toEqual(Array(119).fill('user.create'));
    expect(events.map((e) => e.target_id)).toEqual(ids);
    expect(Number((await db().selectFrom('users').select((eb) => eb.fn.countAll().as('n')).where('id', 'in', ids).executeTakeFirstOrThrow()).n)).toBe(119);
  });

  it('gives a PATCH the same outcome whether or not another operation of its run fails (a re-run applies the operations as sent)', async () => {
    const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
    const stored: unknown[] = [];
    for (const withFailure of [false, true]) {
      const name = `bt-rerun-${withFailure}`;
      const id = (await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: name } })).body.id as string;
      const ops: unknown[] = [
        {
          method: 'PATCH',
          path: `/Users/${id}`,
          data: {
            schemas: [PATCH],
            Operations: [
              { op: 'add', path: 'phoneNumbers', value: [{ value: '+1 555 0100', type: 'work' }] },
              { op: 'replace', path: 'phoneNumbers[type eq "work"].type', value: 'home' },
              { op: 'add', path: 'phoneNumbers[type eq "work"].value', value: '+1 555 0199' },
              { op: 'add', path: 'emails', value: [{ value: `${name}-x@example.com`, type: 'work' }] },
              { op: 'replace', path: 'emails[type eq "work"]', value: { value: `${name}-z@example.com` } },
            ],
          },
        },
      ];
      // A creation that takes an existing userName fails after the PATCH ran in the same savepoint.
      if (withFailure) ops.push(post('dup', '/Users', { schemas: [USER_SCHEMA], userName: name }));
      const res = await h.call('POST', '/Bulk', { body: { schemas: [BULK], Operations: ops } });
      expect(res.status).toBe(200);
      expect(res.body.Operations.map((o: { status: string }) => o.status)).toEqual(withFailure ? ['200', '409'] : ['200']);
      const got = (await h.call('GET', `/Users/${id}`)).body;
      expect(got.phoneNumbers).toEqual([
        { value: '+1 555 0100', type: 'home' },
        { value: '+1 555 0199', type: 'work' },
      ]);
      // replace of a filtered item puts the value given in its place (RFC 7644 §3.5.2.3).
      expect(got.emails).toEqual([{ value: `${name}-z@example.com` }]);
      stored.push(got.phoneNumbers);
    }
    expect(stored[1]).toEqual(stored[0]);
  });

  it('stops after failOnErrors errors: later operations neither run nor appear', async () => {
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK],
        failOnErrors: 2,
        Operations: [
          post('f1', '/Users', user('foe-1', 'foe-1@example.com')),
          post('f2', '/Users', user('foe-1', 'foe-2@example.com')),
          post('f3', '/Users', user('foe-3', 'foe-3@example.com')),
          post('f4', '/Users', { schemas: [USER_SCHEMA], userName: 'foe-4', unknownAttribute: 1 }),
          post('f5', '/Users', user('foe-5', 'foe-5@example.com')),
        ],
      },
    });
    expect(res.body.Operations.map((o: { bulkId: string; status: string }) => [o.bulkId, o.status])).toEqual([
      ['f1', '201'],
      ['f2', '409'],
      ['f3', '201'],
      ['f4', '400'],
    ]);
    expect([await usersNamed('foe-1'), await usersNamed('foe-3'), await usersNamed('foe-4'), await usersNamed('foe-5')]).toEqual([1, 1, 0, 0]);
  });

  it('stores a run of user creations together, each with its own answer and audit event; a refused body or a name taken within the run fails alone', async () => {
    const before = await auditCount();
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK],
        Operations: [
          post('r1', '/Users', user('run-1', 'run-1@example.com')),
          post('r2', '/Users', { ...user('run-2', 'run-2@example.com'), active: false }),
          post('r3', '/Users', { schemas: [USER_SCHEMA], userName: 'run-3', unknownAttribute: 1 }),
          post('r4', '/Users', user('run-4', 'run-4@example.com')),
        ],
      },
    });
    expect(res.body.Operations.map((o: { bulkId: string; status: string }) => [o.bulkId, o.status])).toEqual([
      ['r1', '201'],
      ['r2', '201'],
      ['r3', '400'],
      ['r4', '201'],
    ]);
    // Each answer is the single request's: its location and ETag are those of the stored user.
    for (const k of [0, 1, 3]) {
      const op = res.body.Operations[k];
      expect(Object.keys(op)).toEqual(['method', 'status', 'bulkId', 'location', 'version']);
      const got = await h.call('GET', op.location.slice(BASE.length));
      expect([got.status, got.headers.etag, got.body.active]).toEqual([200, op.version, k !== 1]);
    }
    const events = await db().selectFrom('audit_events').select(['action', 'target_id']).where('seq', '>', before).orderBy('seq').execute();
    const ids = [0, 1, 3].map((k) => res.body.Operations[k].location.split('/').pop());
    expect(events.filter((e) => e.action === 'user.create').map((e) => e.target_id)).toEqual(ids);
    // A userName taken by an earlier creation of the same run (case-folded): the run is stored one by one.
    const dup = await h.call('POST', '/Bulk', {
      body: { schemas: [BULK], Operations: [post('d1', '/Users', user('Run-Dup', 'dup-1@example.com')), post('d2', '/Users', user('run-dup', 'dup-2@example.com')), post('d3', '/Users', user('run-dup-3', 'dup-3@example.com'))] },
    });
    expect(dup.body.Operations.map((o: { bulkId: string; status: string }) => [o.bulkId, o.status])).toEqual([
      ['d1', '201'],
      ['d2', '409'],
      ['d3', '201'],
    ]);
    expect([await usersNamed('Run-Dup'), await usersNamed('run-dup'), await usersNamed('run-dup-3')]).toEqual([1, 0, 1]);
    expect(await h.gh.audit.verify(h.gh.storage.db, DEFAULT_TENANT)).toEqual({ ok: true, checked: await auditCount() });
  });

  it('answers a single request sent during a bulk after the bulk, both complete', async () => {
    const ops = Array.from({ length: 50 }, (_, i) => post(`p${i}`, '/Users', user(`par-${i}`, `par-${i}@example.com`)));
    const [bulk, single] = await Promise.all([h.call('POST', '/Bulk', { body: { schemas: [BULK], Operations: ops } }), h.call('POST', '/Users', { body: user('par-single', 'par-single@example.com') })]);
    expect(bulk.body.Operations.filter((o: { status: string }) => o.status === '201').length).toBe(50);
    expect(single.status).toBe(201);
  });

  it('leaves an audit chain that `gatehouse audit verify` accepts', async () => {
    expect(await h.gh.audit.verify(h.gh.storage.db, DEFAULT_TENANT)).toEqual({ ok: true, checked: await auditCount() });
    const r = runCli(['audit', 'verify', '--json'], { GATEHOUSE_DATABASE_URL: url });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, checked: await auditCount() });
  });

  it('answers POST /Users with exactly what a later GET returns', async () => {
    const body = {
      schemas: [USER_SCHEMA, ENTERPRISE],
      userName: 'Full.Person',
      externalId: 'ext-full',
      name: { givenName: 'Full', familyName: 'Person', middleName: 'M', formatted: 'Full M Person', honorificPrefix: 'Dr', honorificSuffix: 'III' },
      displayName: 'Full Person',
      nickName: 'fp',
      title: 'Engineer',
      userType: 'Employee',
      preferredLanguage: 'en-GB',
      locale: 'en-GB',
      timezone: 'Europe/London',
      active: false,
      emails: [
        { value: 'full@example.com', type: 'work', primary: true, display: 'Work' },
        { value: 'full@home.example.org', type: 'home' },
      ],
      [ENTERPRISE]: { employeeNumber: '42', costCenter: 'cc', organization: 'org', division: 'div', department: 'dep', manager: { value: 'm-1' } },
    };
    const created = await h.call('POST', '/Users', { body });
    expect(created.status).toBe(201);
    const read = await h.call('GET', `/Users/${created.body.id}`);
    expect(created.body).toEqual(read.body);
    expect(created.headers.etag).toBe(read.headers.etag);
  });
});
