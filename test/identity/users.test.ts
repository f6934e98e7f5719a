import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyPassword } from '../../src/authn/password.js';
import type { UserInput } from '../../src/identity/types.js';
import { describeEachBackend } from '../support/backends.js';
import { ctx, events, failure, identityFixture, type IdentityFixture } from './fixture.js';

const full: UserInput = {
  userName: 'Alice.Smith',
  externalId: 'ext-ALICE',
  name: { givenName: 'Alice', familyName: 'Smith', formatted: 'Alice Smith' },
  displayName: 'Alice Smith',
  title: 'Engineer',
  locale: 'en-GB',
  emails: [
    { value: 'Alice@Example.com', type: 'work', primary: true },
    { value: 'alice@home.example', type: 'home' },
  ],
  enterprise: { employeeNumber: 'E-1', department: 'R&D', costCenter: 'CC9', manager: { value: 'm-1' } },
  extra: { phoneNumbers: [{ value: '+44 20 0000 0000', type: 'work' }] },
};

describeEachBackend('UserService contract', (backend) => {
  let f: IdentityFixture;
  beforeAll(async () => {
    f = await identityFixture(backend);
  });
  afterAll(async () => f.close());

  it('creates a user with core and enterprise attributes and reads it back', async () => {
    const u = await f.users.create(ctx, full);
    expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(u).toMatchObject({
      userName: 'Alice.Smith',
      externalId: 'ext-ALICE',
      name: { givenName: 'Alice', familyName: 'Smith', formatted: 'Alice Smith' },
      displayName: 'Alice Smith',
      title: 'Engineer',
      locale: 'en-GB',
      nickName: null,
      active: true,
      status: 'active',
      isAdmin: false,
      hasPassword: false,
      version: 1,
      created: '2026-01-01T00:00:00.000Z',
      lastModified: '2026-01-01T00:00:00.000Z',
      enterprise: { employeeNumber: 'E-1', department: 'R&D', costCenter: 'CC9', manager: { value: 'm-1' } },
      extra: { phoneNumbers: [{ value: '+44 20 0000 0000', type: 'work' }] },
    });
    expect(u.emails).toEqual([
      { value: 'Alice@Example.com', type: 'work', primary: true },
      { value: 'alice@home.example', type: 'home' },
    ]);
    expect(await f.users.get(ctx, u.id)).toEqual(u);
    const created = await events(f, 'user.create');
    expect(created.at(-1)?.target).toEqual({ type: 'user', id: u.id });
    expect((created.at(-1)?.after as { userName: string }).userName).toBe('Alice.Smith');
  });

  it('keeps the userName as given but finds it case-insensitively (NFC + case fold)', async () => {
    expect((await f.users.findByUserName(ctx, 'alice.smith'))?.userName).toBe('Alice.Smith');
    expect((await f.users.findByUserName(ctx, 'ALICE.SMITH'))?.userName).toBe('Alice.Smith');
    expect((await f.users.findByEmail(ctx, 'ALICE@example.COM'))?.userName).toBe('Alice.Smith');
    expect(await f.users.findByUserName(ctx, 'nobody')).toBeNull();
    expect(await f.users.findByEmail(ctx, 'nobody@example.com')).toBeNull();
  });

  it('refuses a userName equal after case folding: Alice.Smith vs alice.smith', async () => {
    const e = await failure(() => f.users.create(ctx, { userName: 'alice.smith' }), 'conflict');
    expect(e.details).toEqual({ attribute: 'userName' });
  });

  it('treats STRASSE and straße as the same userName (full case folding), and NFC forms as equal', async () => {
    await f.users.create(ctx, { userName: 'STRASSE' });
    expect((await failure(() => f.users.create(ctx, { userName: 'straße' }), 'conflict')).details).toEqual({ attribute: 'userName' });
    await f.users.create(ctx, { userName: 'Am\u00e9lie' }); // precomposed é
    expect((await failure(() => f.users.create(ctx, { userName: 'ame\u0301lie' }), 'conflict')).details).toEqual({ attribute: 'userName' });
    expect((await f.users.findByUserName(ctx, 'Strasse'))?.userName).toBe('STRASSE');
  });

  it('refuses an email taken by another user after case folding, and writes nothing (all-or-nothing)', async () => {
    const before = await f.storage.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const e = await failure(() => f.users.create(ctx, { userName: 'bob', emails: [{ value: 'bob@example.com' }, { value: 'alice@EXAMPLE.com' }] }), 'conflict');
    expect(e.details).toEqual({ attribute: 'emails' });
    const after = await f.storage.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    expect(await f.users.findByUserName(ctx, 'bob')).toBeNull();
    expect(await f.users.findByEmail(ctx, 'bob@example.com')).toBeNull();
  });

  it('rejects invalid input with invalid_input naming the field', async () => {
    expect((await failure(() => f.users.create(ctx, { userName: '' }), 'invalid_input')).details).toMatchObject({ field: 'userName' });
    expect((await failure(() => f.users.create(ctx, { userName: ' padded ' }), 'invalid_input')).details).toMatchObject({ field: 'userName' });
    expect((await failure(() => f.users.create(ctx, { userName: 'x1', emails: [{ value: 'not-an-email' }] }), 'invalid_input')).details).toMatchObject({
      field: 'emails[0].value',
    });
    expect(
      (await failure(() => f.users.create(ctx, { userName: 'x2', emails: [{ value: 'a@x.example', primary: true }, { value: 'b@x.example', primary: true }] }), 'invalid_input'))
        .details,
    ).toMatchObject({ field: 'emails' });
    expect(
      (await failure(() => f.users.create(ctx, { userName: 'x3', emails: [{ value: 'Same@x.example' }, { value: 'same@X.example' }] }), 'invalid_input')).details,
    ).toMatchObject({ field: 'emails[1].value' });
    expect((await failure(() => f.users.create(ctx, { userName: 'x4', active: 'yes' as unknown as boolean }), 'invalid_input')).details).toMatchObject({ field: 'active' });
    expect(await f.users.findByUserName(ctx, 'x1')).toBeNull();
  });

  it('refuses identifiers that only look like others: invisible format characters and broken Unicode', async () => {
    await f.users.create(ctx, { userName: 'bob.lookalike@example.com' });
    for (const userName of ['b\u200bob.lookalike@example.com', '\u202eevil@example.com', 'zero\u2060joiner', 'soft\u00adhyphen']) {
      const err = await failure(() => f.users.create(ctx, { userName }), 'invalid_input');
      expect(err.message).toBe('userName must not contain invisible format characters');
    }
    const broken = await failure(() => f.users.create(ctx, { userName: 'sur\ud800x' }), 'invalid_input');
    expect(broken.message).toBe('userName is not well-formed Unicode text');
    const email = await failure(() => f.users.create(ctx, { userName: 'x5', emails: [{ value: 'bob\u200b@example.com' }] }), 'invalid_input');
    expect(email.details).toMatchObject({ field: 'emails[0].value' });
    // Characters that are visible and legitimate in names still pass.
    expect((await f.users.create(ctx, { userName: 'zoë.ñúñez@example.com' })).userName).toBe('zoë.ñúñez@example.com');
  });

  it('hashes an initial password with argon2id and refuses a weak one without creating the user', async () => {
    const u = await f.users.create(ctx, { userName: 'carol', password: 'correct horse battery staple' });
    expect(u.hasPassword).toBe(true);
    const row = await f.storage.db.selectFrom('users').select('password_hash').where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(row.password_hash as string, 'correct horse battery staple')).toBe(true);
    expect((await failure(() => f.users.create(ctx, { userName: 'dave', password: 'short' }), 'weak_password')).details).toMatchObject({ reason: 'too_short' });
    expect(await f.users.findByUserName(ctx, 'dave')).toBeNull();
  });

  it('sets a password and audits it without the secret', async () => {
    const u = await f.users.create(ctx, { userName: 'erin' });
    await f.users.setPassword(ctx, u.id, 'a long enough passphrase');
    const after = await f.users.get(ctx, u.id);
    expect(after.hasPassword).toBe(true);
    expect(after.version).toBe(2);
    const ev = (await events(f, 'user.password_set')).at(-1);
    expect(ev?.target).toEqual({ type: 'user', id: u.id });
    expect(JSON.stringify(ev)).not.toContain('passphrase');
    await failure(() => f.users.setPassword(ctx, u.id, 'erin-erin-erin'), 'weak_password');
    await failure(() => f.users.setPassword(ctx, 'no-such-id', 'a long enough passphrase'), 'not_found');
  });

  it('creates an administrator', async () => {
    const admin = await f.users.createAdministrator(ctx, { userName: 'root-admin', password: 'admin passphrase 2026' });
    expect(admin).toMatchObject({ userName: 'root-admin', isAdmin: true, active: true, status: 'active', hasPassword: true });
    await failure(() => f.users.createAdministrator(ctx, { userName: 'Root-Admin', password: 'admin passphrase 2026' }), 'conflict');
    await failure(() => f.users.createAdministrator(ctx, { userName: 'admin2', password: 'short' }), 'weak_password');
  });

  it('replaces all attributes, increments the version and enforces expectedVersion', async () => {
    const u = await f.users.create(ctx, { userName: 'frank', title: 'Intern', emails: [{ value: 'frank@example.com' }] });
    const r = await f.users.replace(ctx, u.id, { userName: 'Frank', displayName: 'Frank F', emails: [{ value: 'f.f@example.com', primary: true }] }, 1);
    expect(r).toMatchObject({ userName: 'Frank', displayName: 'Frank F', title: null, version: 2 });
    expect(r.emails).toEqual([{ value: 'f.f@example.com', primary: true }]);
    // The old address is free again.
    expect(await f.users.findByEmail(ctx, 'frank@example.com')).toBeNull();
    const e = await failure(() => f.users.replace(ctx, u.id, { userName: 'Frank' }, 1), 'precondition_failed');
    expect(e.details).toMatchObject({ currentVersion: 2 });
    const ev = (await events(f, 'user.update')).at(-1);
    expect((ev?.before as { title: string }).title).toBe('Intern');
    expect((ev?.after as { title: string | null }).title).toBeNull();
  });

  it('rolls a failed replace back completely (email conflict after the row update)', async () => {
    const u = await f.users.create(ctx, { userName: 'grace', title: 'Lead', emails: [{ value: 'grace@example.com' }] });
    await failure(() => f.users.replace(ctx, u.id, { userName: 'grace2', emails: [{ value: 'ALICE@example.com' }] }), 'conflict');
    const again = await f.users.get(ctx, u.id);
    expect(again).toMatchObject({ userName: 'grace', title: 'Lead', version: 1 });
    expect(again.emails).toEqual([{ value: 'grace@example.com' }]);
    expect(await f.users.findByUserName(ctx, 'grace2')).toBeNull();
  });

  it('lists with filters and SCIM paging', async () => {
    const all = await f.users.list(ctx, {}, { startIndex: 1, count: 1000 });
    expect(all.totalResults).toBe(all.items.length);
    expect(all.totalResults).toBeGreaterThanOrEqual(8);
    const page2 = await f.users.list(ctx, {}, { startIndex: 2, count: 2 });
    expect(page2).toMatchObject({ totalResults: all.totalResults, startIndex: 2 });
    expect(page2.items.map((u) => u.id)).toEqual(all.items.slice(1, 3).map((u) => u.id));
    expect((await f.users.list(ctx, { userName: 'ALICE.smith' }, { startIndex: 1, count: 10 })).items.map((u) => u.userName)).toEqual(['Alice.Smith']);
    expect((await f.users.list(ctx, { externalId: 'ext-ALICE' }, { startIndex: 1, count: 10 })).totalResults).toBe(1);
    expect((await f.users.list(ctx, { externalId: 'ext-alice' }, { startIndex: 1, count: 10 })).totalResults).toBe(0);
    expect((await f.users.list(ctx, { email: 'alice@home.EXAMPLE' }, { startIndex: 1, count: 10 })).items[0]?.userName).toBe('Alice.Smith');
    const counted = await f.users.list(ctx, {}, { startIndex: 1, count: 0 });
    expect(counted).toEqual({ totalResults: all.totalResults, startIndex: 1, items: [] });
    await failure(() => f.users.list(ctx, {}, { startIndex: 1, count: 1001 }), 'invalid_input');
  });

  it('lets exactly one of two concurrent creates of the same normalised userName succeed', async () => {
    const results = await Promise.allSettled([f.users.create(ctx, { userName: 'Zoë' }), f.users.create(ctx, { userName: 'ZOË' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as { code: string; details: unknown }).code).toBe('conflict');
    expect((rejected.reason as { details: unknown }).details).toEqual({ attribute: 'userName' });
  });

  it('answers not_found for unknown ids', async () => {
    await failure(() => f.users.get(ctx, '00000000-0000-7000-8000-000000000000'), 'not_found');
    await failure(() => f.users.replace(ctx, 'nope', { userName: 'x' }), 'not_found');
    await failure(() => f.users.setActive(ctx, 'nope', false), 'not_found');
    await failure(() => f.users.delete(ctx, 'nope'), 'not_found');
  });

  it('keeps the audit chain intact', async () => {
    expect(await f.audit.verify(f.storage.db, 'default')).toMatchObject({ ok: true });
  });
});
