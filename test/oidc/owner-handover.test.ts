/**
 * The owner-leaver policy `handover` (GATEHOUSE_SERVICE_ACCOUNT_OWNER_LEAVER_POLICY): when the
 * owner is deleted, the owner's active manager becomes the owner and the service account keeps
 * working; with no active manager it is disabled. SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as client from 'openid-client';
import type { Gatehouse } from '../../src/gatehouse.js';
import { systemContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { seedUser } from './support.js';
import { addSecret, oauthError, secretClient, seedServiceAccount, startMachineGatehouse } from './machine-support.js';

const ctx = systemContext();

describeEachBackend('Service account owner handover', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base } = await startMachineGatehouse(db.url, { serviceAccountOwnerLeaverPolicy: 'handover' }));
  });

  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('hands a departed owner’s service accounts to the active manager, with the owner tuple moved', async () => {
    const managerId = await seedUser(gh, { userName: 'manager' });
    const ownerId = await seedUser(gh, { userName: 'leaver' });
    await gh.storage.db.updateTable('users').set({ manager_id: managerId }).where('id', '=', ownerId).execute();
    const sa = await seedServiceAccount(gh, 'handed-over', ownerId);
    const { secret } = await addSecret(gh, sa.id);
    const rp = await secretClient(base, sa.id, secret);
    await client.clientCredentialsGrant(rp, {});

    await gh.users.delete(ctx, ownerId);
    const after = await gh.serviceAccounts.get(ctx, sa.id);
    expect(after).toMatchObject({ ownerUserId: managerId, status: 'active' });
    const owners = await gh.storage.db.selectFrom('authz_tuples').select('subject_id').where('object_type', '=', 'service_account').where('object_id', '=', sa.id).where('relation', '=', 'owner').execute();
    expect(owners.map((o) => o.subject_id)).toEqual([managerId]);
    expect((await client.clientCredentialsGrant(rp, {})).access_token).toBeTruthy();
    const audit = await gh.storage.db.selectFrom('audit_events').select(['before', 'after']).where('action', '=', 'service_account.owner_handover').where('target_id', '=', sa.id).execute();
    expect(audit.map((a) => [JSON.parse(a.before!).ownerUserId, JSON.parse(a.after!).ownerUserId])).toEqual([[ownerId, managerId]]);
  });

  it('disables the service account when the departed owner has no active manager', async () => {
    const ownerId = await seedUser(gh, { userName: 'no-manager' });
    const sa = await seedServiceAccount(gh, 'orphaned', ownerId);
    const { secret } = await addSecret(gh, sa.id);
    const rp = await secretClient(base, sa.id, secret);
    await gh.users.setActive(ctx, ownerId, false);
    expect((await gh.serviceAccounts.get(ctx, sa.id)).status).toBe('suspended');
    expect(await oauthError(client.clientCredentialsGrant(rp, {}))).toMatchObject({ error: 'invalid_client' });
  });
});
