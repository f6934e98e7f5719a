import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IdentityFixture } from '../identity/fixture.js';
import { ctx, events, failure, identityFixture, tupleStrings } from '../identity/fixture.js';
import { describeEachBackend } from '../support/backends.js';

/** Stores OIDC artifacts as the OIDC adapter does: a session, a grant and its tokens for `accountId`. */
async function issueOidcArtifacts(f: IdentityFixture, accountId: string, tag: string): Promise<void> {
  const grantId = `grant-${tag}`;
  const rows = [
    { model: 'Session', id: `sess-${tag}`, account_id: accountId, grant_id: null },
    { model: 'Grant', id: grantId, account_id: accountId, grant_id: null },
    { model: 'AuthorizationCode', id: `code-${tag}`, account_id: accountId, grant_id: grantId },
    { model: 'AccessToken', id: `at-${tag}`, account_id: accountId, grant_id: grantId },
    // A row tied to the account only through its grant (no accountId in the payload).
    { model: 'RefreshToken', id: `rt-${tag}`, account_id: null, grant_id: grantId },
    // Not issued to any account: must survive.
    { model: 'Interaction', id: `int-${tag}`, account_id: null, grant_id: null },
  ];
  await f.storage.db
    .insertInto('oidc_payloads')
    .values(rows.map((r) => ({ tenant_id: 'default', ...r, payload: JSON.stringify({ accountId: r.account_id }), user_code: null, uid: null, expires_at: '2026-01-02T00:00:00.000Z', consumed_at: null })))
    .execute();
}

async function oidcIds(f: IdentityFixture): Promise<string[]> {
  return (await f.storage.db.selectFrom('oidc_payloads').select('id').orderBy('id').execute()).map((r) => r.id);
}

async function statusOps(f: IdentityFixture, id: string): Promise<string[]> {
  const rows = await f.storage.db.selectFrom('authz_changelog').select('operation').where('subject_id', '=', id).where('relation', '=', 'status').orderBy('revision').execute();
  return rows.map((r) => r.operation);
}

describeEachBackend('deprovisioning', (backend) => {
  let f: IdentityFixture;
  let group: string;
  let role: string;
  beforeAll(async () => {
    f = await identityFixture(backend);
    group = (await f.groups.create(ctx, { displayName: 'staff' })).id;
    role = (await f.roles.create(ctx, { name: 'reader', permissions: ['documents:read'] })).id;
  });
  afterAll(async () => f.close());

  async function userWithAccess(userName: string): Promise<string> {
    const u = await f.users.create(ctx, { userName, emails: [{ value: `${userName}@example.com` }], password: 'a long enough passphrase' });
    await f.groups.addMembers(ctx, group, [{ type: 'user', id: u.id }]);
    await f.roles.assign(ctx, role, { type: 'user', id: u.id });
    await issueOidcArtifacts(f, u.id, userName);
    return u.id;
  }

  it('suspending ends every OIDC artifact of the account, writes a disable entry, and keeps grants', async () => {
    const id = await userWithAccess('sam');
    await issueOidcArtifacts(f, 'someone-else', 'other');
    const u = await f.users.setActive(ctx, id, false);
    expect(u).toMatchObject({ active: false, status: 'suspended', version: 2 });
    expect(await oidcIds(f)).toEqual(['at-other', 'code-other', 'grant-other', 'int-other', 'int-sam', 'rt-other', 'sess-other']);
    expect(await statusOps(f, id)).toEqual(['disable']);
    const t = await tupleStrings(f);
    expect(t).toContain(`group:${group}#member@user:${id}`);
    expect(t).toContain(`role:${role}#assignee@user:${id}`);
    const ev = (await events(f, 'identity.deprovision')).filter((e) => e.target?.id === id);
    expect(ev.map((e) => e.details)).toEqual([
      expect.objectContaining({ mode: 'suspend', tuplesDeleted: 0, oidcArtifactsDeleted: 5, totpDeleted: 0, emailsDeleted: 0, source: 'admin' }),
    ]);
    expect((await events(f, 'user.suspend')).at(-1)?.target).toEqual({ type: 'user', id });
    // Suspended users are still found by userName (they exist), and keep their email.
    expect((await f.users.findByUserName(ctx, 'SAM'))?.status).toBe('suspended');
  });

  it('reactivation writes an enable entry; the kept grants count again', async () => {
    const id = (await f.users.findByUserName(ctx, 'sam'))?.id as string;
    const u = await f.users.setActive(ctx, id, true);
    expect(u).toMatchObject({ active: true, status: 'active', version: 3 });
    expect(await statusOps(f, id)).toEqual(['disable', 'enable']);
    expect(await tupleStrings(f)).toContain(`role:${role}#assignee@user:${id}`);
  });

  it('a replace with active=false deprovisions too (the SCIM PUT path), and true reactivates', async () => {
    const id = await userWithAccess('pat');
    await f.users.replace(ctx, id, { userName: 'pat', emails: [{ value: 'pat@example.com' }], active: false });
    expect((await oidcIds(f)).filter((i) => i.endsWith('-pat'))).toEqual(['int-pat']);
    expect(await statusOps(f, id)).toEqual(['disable']);
    await f.users.replace(ctx, id, { userName: 'pat', active: true });
    expect(await statusOps(f, id)).toEqual(['disable', 'enable']);
  });

  it('creating a user inactive writes a disable entry from the start', async () => {
    const u = await f.users.create(ctx, { userName: 'staged-one', active: false });
    expect(u.status).toBe('suspended');
    expect(await statusOps(f, u.id)).toEqual(['disable']);
  });

  it('deleting removes grants from the live graph, OIDC artifacts, emails and TOTP; keeps a deprovisioned row; frees the userName', async () => {
    const id = await userWithAccess('lee');
    await f.storage.db.insertInto('user_totp').values({ tenant_id: 'default', user_id: id, secret: 'JBSWY3DPEHPK3PXP', last_used_step: null, created_at: '2026-01-01T00:00:00.000Z' }).execute();
    await f.users.delete(ctx, id);

    await failure(() => f.users.get(ctx, id), 'not_found');
    expect(await f.users.findByUserName(ctx, 'lee')).toBeNull();
    expect(await f.users.findByEmail(ctx, 'lee@example.com')).toBeNull();
    const row = await f.storage.db.selectFrom('users').select(['status', 'password_hash', 'user_name']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'deprovisioned', password_hash: null, user_name: 'lee' });
    expect(await f.storage.db.selectFrom('user_totp').select('user_id').where('user_id', '=', id).execute()).toEqual([]);
    expect(await f.storage.db.selectFrom('user_emails').select('value').where('user_id', '=', id).execute()).toEqual([]);
    expect((await tupleStrings(f)).filter((t) => t.includes(id))).toEqual([]);
    expect((await oidcIds(f)).filter((i) => i.endsWith('-lee'))).toEqual(['int-lee']);
    expect(await statusOps(f, id)).toEqual(['disable']);
    const deletes = await f.storage.db.selectFrom('authz_changelog').select(['object_type']).where('operation', '=', 'delete').where('subject_id', '=', id).orderBy('object_type').execute();
    expect(deletes.map((d) => d.object_type)).toEqual(['group', 'role']);
    const ev = (await events(f, 'identity.deprovision')).filter((e) => e.target?.id === id);
    expect(ev.map((e) => e.details)).toEqual([expect.objectContaining({ mode: 'delete', tuplesDeleted: 2, oidcArtifactsDeleted: 5, totpDeleted: 1, emailsDeleted: 1 })]);
    expect((await events(f, 'user.delete')).at(-1)?.target).toEqual({ type: 'user', id });

    // The userName and the address are free for a new person; the old row stays for audit.
    const again = await f.users.create(ctx, { userName: 'LEE', emails: [{ value: 'Lee@Example.com' }] });
    expect(again.id).not.toBe(id);
    expect((await f.users.findByUserName(ctx, 'lee'))?.id).toBe(again.id);
    expect(await f.storage.db.selectFrom('users').select('id').where('user_name_norm', '=', 'lee').execute()).toHaveLength(2);
    await failure(() => f.users.delete(ctx, id), 'not_found');
    expect((await f.users.list(ctx, {}, { startIndex: 1, count: 100 })).items.map((u) => u.id)).not.toContain(id);
  });

  it('runs inside the caller transaction: a failure after it rolls everything back', async () => {
    const id = await userWithAccess('kim');
    const before = await oidcIds(f);
    const auditBefore = (await f.audit.list(f.storage.db, 'default', { limit: 1000 })).length;
    await expect(
      f.storage.db.transaction().execute(async (trx) => {
        const res = await f.deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id }, 'delete');
        expect(res).toMatchObject({ tuplesDeleted: 2, oidcArtifactsDeleted: 5, emailsDeleted: 1 });
        throw new Error('caller failed after deprovisioning');
      }),
    ).rejects.toThrow('caller failed after deprovisioning');
    expect(await oidcIds(f)).toEqual(before);
    expect(await statusOps(f, id)).toEqual([]);
    expect((await tupleStrings(f)).filter((t) => t.includes(id))).toHaveLength(2);
    expect((await f.users.get(ctx, id)).emails).toEqual([{ value: 'kim@example.com' }]);
    expect((await f.audit.list(f.storage.db, 'default', { limit: 1000 })).length).toBe(auditBefore);
  });

  it('deprovisions service accounts the same way', async () => {
    const owner = (await f.users.findByUserName(ctx, 'sam'))?.id as string;
    const sa = await f.serviceAccounts.create(ctx, { name: 'robot', ownerUserId: owner });
    await f.roles.assign(ctx, role, { type: 'service_account', id: sa.id });
    await issueOidcArtifacts(f, sa.id, 'robot');
    await f.serviceAccounts.setActive(ctx, sa.id, false);
    expect((await oidcIds(f)).filter((i) => i.endsWith('-robot'))).toEqual(['int-robot']);
    expect(await statusOps(f, sa.id)).toEqual(['disable']);
    expect(await tupleStrings(f)).toContain(`role:${role}#assignee@service_account:${sa.id}`);
    await f.serviceAccounts.delete(ctx, sa.id);
    expect(await statusOps(f, sa.id)).toEqual(['disable', 'disable']);
    expect((await tupleStrings(f)).filter((t) => t.includes(sa.id))).toEqual([]);
  });

  it('deleting the owner of a service account removes the ownership tuple', async () => {
    const owner = await f.users.create(ctx, { userName: 'owner-to-go' });
    const sa = await f.serviceAccounts.create(ctx, { name: 'orphan', ownerUserId: owner.id });
    await f.users.delete(ctx, owner.id);
    expect((await tupleStrings(f)).filter((t) => t.startsWith(`service_account:${sa.id}#owner`))).toEqual([]);
    expect((await f.serviceAccounts.get(ctx, sa.id)).ownerUserId).toBe(owner.id);
  });

  it('keeps the audit chain intact', async () => {
    expect(await f.audit.verify(f.storage.db, 'default')).toMatchObject({ ok: true });
  });
});
