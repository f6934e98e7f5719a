/**
 * Concurrent SCIM writes on both backends: single POST /Users are grouped on SQLite only (each
 * its own transaction on PostgreSQL), a PUT racing creations that take its userName and email
 * answers 409 (never a 500 deadlock), two Gatehouse instances on one database creating the same
 * userNames in opposite order never answer 500, the audit chain's seq order agrees with its
 * occurred_at order, and a creation's password is checked and hashed before its transaction.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { hashPassword } from '../../src/authn/password.js';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';
import { cliContext } from '../../src/kernel/context.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { describeEachBackend } from '../support/backends.js';
import { ISSUER, startScim, userBody, type ScimHarness } from './support.js';

const PASSWORD = 'correct horse battery staple';

// The real argon2id hashing, counted: the test below asserts it ran before the transaction was entered.
vi.mock('../../src/authn/password.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/authn/password.js')>();
  return { ...real, hashPassword: vi.fn(real.hashPassword) };
});

describeEachBackend('concurrent SCIM writes', (backend) => {
  let h: ScimHarness;
  let second: Gatehouse;
  let secondToken: string;
  beforeAll(async () => {
    h = await startScim(backend);
    // A second instance on the same database (two servers behind one load balancer).
    const config = loadConfig({}, { databaseUrl: h.gh.config.databaseUrl, logLevel: 'silent', issuer: ISSUER });
    second = await createGatehouse({ config, logger: createLogger('silent') });
    secondToken = (await second.apiTokens.create(cliContext(), { name: 'scim-2', scopes: ['scim'] })).token;
  });
  afterAll(async () => {
    await second?.close();
    await h?.close();
  });

  const postOn = (gh: Gatehouse, token: string, body: unknown) =>
    gh.http.inject({ method: 'POST', url: '/scim/v2/Users', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' }, payload: JSON.stringify(body) });

  it('a PUT racing creations that take its userName and email answers 409, never 500; each name and address has one owner', async () => {
    for (let round = 0; round < 3; round++) {
      const p = `race${round}`;
      const z = (await h.call('POST', '/Users', { body: userBody(`${p}-z`) })).body.id as string;
      const posts = [
        h.call('POST', '/Users', { body: userBody(`${p}-s1`, { emails: [{ value: `${p}-e@x.io` }] }) }),
        ...[0, 1, 2].map((k) => h.call('POST', '/Users', { body: userBody(`${p}-stall${k}`, { password: PASSWORD }) })),
        h.call('POST', '/Users', { body: userBody(`${p}-n`) }),
      ];
      const put = h.call('PUT', `/Users/${z}`, { body: userBody(`${p}-n`, { emails: [{ value: `${p}-e@x.io` }] }) });
      const [putRes, ...postRes] = await Promise.all([put, ...posts]);
      const statuses = [putRes!.status, ...postRes.map((r) => r.status)];
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      // The stalls never collide; the PUT and the two creations it collides with split the name and address.
      expect(postRes.slice(1, 4).map((r) => r.status)).toEqual([201, 201, 201]);
      if (putRes!.status === 200) expect([postRes[0]!.status, postRes[4]!.status]).toEqual([409, 409]);
      else {
        expect(putRes!.status).toBe(409);
        expect(putRes!.body.scimType).toBe('uniqueness');
      }
      const owners = await h.call('GET', `/Users?filter=${encodeURIComponent(`userName eq "${p}-n" or emails.value eq "${p}-e@x.io"`)}`);
      expect(owners.status).toBe(200);
      expect(owners.body.totalResults).toBe(putRes!.status === 200 ? 1 : postRes[0]!.status === 201 && postRes[4]!.status === 201 ? 2 : 1);
    }
  });

  it('two instances creating the same userNames (with passwords) in opposite order never answer 500: one 201 and one 409 per name', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `twin-${i}`);
    const a = names.map((n) => postOn(h.gh, h.token, userBody(n, { password: PASSWORD })));
    const b = [...names].reverse().map((n) => postOn(second, secondToken, userBody(n, { password: PASSWORD })));
    const res = await Promise.all([...a, ...b]);
    const byName = new Map<string, number[]>();
    res.forEach((r, i) => {
      const name = i < names.length ? names[i]! : [...names].reverse()[i - names.length]!;
      byName.set(name, [...(byName.get(name) ?? []), r.statusCode].sort());
    });
    expect(Object.fromEntries(byName)).toEqual(Object.fromEntries(names.map((n) => [n, [201, 409]])));
  });

  it('under concurrent creations the audit chain’s seq order and occurred_at order agree', async () => {
    const res = await Promise.all([
      ...Array.from({ length: 12 }, (_, i) => h.call('POST', '/Users', { body: userBody(`audit-${i}`, i % 3 === 0 ? { password: PASSWORD } : {}) })),
      ...Array.from({ length: 4 }, (_, i) => postOn(second, secondToken, userBody(`audit-2-${i}`))).map((p) => p.then((r) => ({ status: r.statusCode }))),
    ]);
    expect(res.map((r) => r.status)).toEqual(Array(16).fill(201));
    const rows = await h.gh.storage.rootDb.selectFrom('audit_events').select(['seq', 'occurred_at']).orderBy('seq').execute();
    expect(rows.length).toBeGreaterThan(16);
    const outOfOrder = rows.filter((r, i) => i > 0 && r.occurred_at < rows[i - 1]!.occurred_at);
    expect(outOfOrder).toEqual([]);
  });

  it('checks and hashes a creation’s password before its transaction (the write runner) is entered', async () => {
    let entered = 0;
    const runner = <T>(insert: () => Promise<T>) => {
      entered++;
      return insert();
    };
    const weak = await h.gh.users.create(cliContext(), { userName: 'hash-weak', password: 'hash-weak' }, runner).catch((e: unknown) => e);
    expect([(weak as GatehouseError).code, entered]).toEqual(['weak_password', 0]);
    // When the runner is entered the password is already hashed; the runner only inserts.
    const calls = vi.mocked(hashPassword).mock.calls.length;
    let hashedBefore = -1;
    let hashedInside = -1;
    const user = await h.gh.users.create(cliContext(), { userName: 'hash-ok', password: PASSWORD }, async (insert) => {
      entered++;
      hashedBefore = vi.mocked(hashPassword).mock.calls.length - calls;
      const u = await insert();
      hashedInside = vi.mocked(hashPassword).mock.calls.length - calls - hashedBefore;
      return u;
    });
    const stored = await h.gh.storage.rootDb.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirst();
    expect([user.userName, entered, hashedBefore, hashedInside, stored?.password_hash?.startsWith('$argon2id$')]).toEqual(['hash-ok', 1, 1, 0, true]);
  });

  it('applies every one of 30 concurrent PATCHes of one group (adds and removes, Entra and plain shapes) and of one user, sent without If-Match: all 200, never 412 (RFC 7644 §3.14 keeps it for If-Match)', async () => {
    const PATCH = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'] };
    const made = await Promise.all(Array.from({ length: 61 }, (_, i) => h.call('POST', '/Users', { body: userBody(`storm-u${i}`) })));
    const ids = made.map((m) => m.body.id as string);
    const [kept, old, added] = [ids[60]!, ids.slice(0, 30), ids.slice(30, 60)];
    const group = (await h.call('POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'storm', members: [...old, kept].map((value) => ({ value })) } })).body.id as string;
    const shapes = [
      (i: number) => [
        { op: 'Add', path: 'members', value: [{ value: added[i] }] },
        { op: 'Remove', path: `members[value eq "${old[i]}"]` },
      ],
      (i: number) => [
        { op: 'Remove', path: 'members', value: [{ value: old[i] }] },
        { op: 'Add', path: 'members', value: [{ value: added[i] }] },
      ],
      (i: number) => [
        { op: 'add', value: { members: [{ value: added[i] }] } },
        { op: 'remove', path: `members[value eq "${old[i]}"]` },
      ],
    ];
    const changes = await Promise.all(Array.from({ length: 30 }, (_, i) => h.call('PATCH', `/Groups/${group}`, { body: { ...PATCH, Operations: shapes[i % 3]!(i) } })));
    expect(changes.map((r) => r.status)).toEqual(Array(30).fill(200));
    const got = (await h.call('GET', `/Groups/${group}`)).body;
    expect((got.members as Array<{ value: string }>).map((m) => m.value).sort()).toEqual([...added, kept].sort());

    const user = ids[0]!;
    const phones = await Promise.all(
      Array.from({ length: 30 }, (_, i) => h.call('PATCH', `/Users/${user}`, { body: { ...PATCH, Operations: [{ op: 'add', path: 'phoneNumbers', value: [{ value: `+1 555 01${10 + i}`, type: 'work' }] }] } })),
    );
    expect(phones.map((r) => r.status)).toEqual(Array(30).fill(200));
    const numbers = ((await h.call('GET', `/Users/${user}`)).body.phoneNumbers as Array<{ value: string }>).map((p) => p.value).sort();
    expect(numbers).toEqual(Array.from({ length: 30 }, (_, i) => `+1 555 01${10 + i}`));
  });

  it('applies 10 concurrent PATCHes of one group split over two instances on one database, all 200', async () => {
    const PATCH = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'] };
    const made = await Promise.all(Array.from({ length: 10 }, (_, i) => h.call('POST', '/Users', { body: userBody(`twin-storm-${i}`) })));
    const group = (await h.call('POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'twin-storm' } })).body.id as string;
    const res = await Promise.all(
      made.map((m, i) => {
        const [gh, token] = i % 2 === 0 ? [h.gh, h.token] : [second, secondToken];
        return gh.http.inject({
          method: 'PATCH',
          url: `/scim/v2/Groups/${group}`,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
          payload: JSON.stringify({ ...PATCH, Operations: [{ op: 'add', path: 'members', value: [{ value: m.body.id }] }] }),
        });
      }),
    );
    expect(res.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
    const got = (await h.call('GET', `/Groups/${group}`)).body;
    expect((got.members as Array<{ value: string }>).map((m) => m.value).sort()).toEqual(made.map((m) => m.body.id as string).sort());
  });

  it('still answers 412 to a PATCH whose If-Match names an older version', async () => {
    const u = await h.call('POST', '/Users', { body: userBody('storm-ifmatch') });
    const etag = u.headers.etag as string;
    const PATCH = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'] };
    expect((await h.call('PATCH', `/Users/${u.body.id}`, { body: { ...PATCH, Operations: [{ op: 'replace', path: 'displayName', value: 'one' }] } })).status).toBe(200);
    const stale = await h.call('PATCH', `/Users/${u.body.id}`, { headers: { 'if-match': etag }, body: { ...PATCH, Operations: [{ op: 'replace', path: 'displayName', value: 'two' }] } });
    expect(stale.status).toBe(412);
  });

  it('groups single creations on SQLite only: on PostgreSQL each is its own transaction', async () => {
    // A creation that fails its insert (taken userName) must not take a concurrent one with it on either backend.
    await h.call('POST', '/Users', { body: userBody('grp-taken') });
    const res = await Promise.all(['grp-a', 'grp-taken', 'grp-b'].map((n) => h.call('POST', '/Users', { body: userBody(n) })));
    expect(res.map((r) => r.status)).toEqual([201, 409, 201]);
  });
});
