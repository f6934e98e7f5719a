import { afterAll, beforeAll, expect, it } from 'vitest';
import { sha256Hex } from '../../src/kernel/secrets.js';
import { describeEachBackend } from '../support/backends.js';
import { ctx, events, failure, identityFixture, tupleStrings, type IdentityFixture } from './fixture.js';

describeEachBackend('ServiceAccountService contract', (backend) => {
  let f: IdentityFixture;
  let owner: string;
  beforeAll(async () => {
    f = await identityFixture(backend);
    owner = (await f.users.create(ctx, { userName: 'owner' })).id;
  });
  afterAll(async () => f.close());

  it('creates an account owned by a user, with the owner tuple', async () => {
    const sa = await f.serviceAccounts.create(ctx, { name: 'Deploy-Bot', description: 'CI deploys', ownerUserId: owner });
    expect(sa).toMatchObject({ name: 'Deploy-Bot', description: 'CI deploys', ownerUserId: owner, active: true, status: 'active' });
    expect(await f.serviceAccounts.get(ctx, sa.id)).toEqual(sa);
    expect(await tupleStrings(f)).toContain(`service_account:${sa.id}#owner@user:${owner}`);
    expect((await events(f, 'service_account.create')).at(-1)?.target).toEqual({ type: 'service_account', id: sa.id });
  });

  it('refuses a missing owner, a taken (normalised) name and bad input', async () => {
    await failure(() => f.serviceAccounts.create(ctx, { name: 'x', ownerUserId: 'ghost' }), 'not_found');
    expect((await failure(() => f.serviceAccounts.create(ctx, { name: 'deploy-bot', ownerUserId: owner }), 'conflict')).details).toEqual({ attribute: 'name' });
    await failure(() => f.serviceAccounts.create(ctx, { name: '', ownerUserId: owner }), 'invalid_input');
    expect((await f.serviceAccounts.list(ctx, { startIndex: 1, count: 10 })).totalResults).toBe(1);
  });

  it('suspends and reactivates with disable / enable changelog entries', async () => {
    const sa = await f.serviceAccounts.create(ctx, { name: 'sync', ownerUserId: owner });
    expect((await f.serviceAccounts.setActive(ctx, sa.id, false)).status).toBe('suspended');
    expect((await f.serviceAccounts.setActive(ctx, sa.id, false)).status).toBe('suspended');
    expect((await f.serviceAccounts.setActive(ctx, sa.id, true)).active).toBe(true);
    const ops = await f.storage.db.selectFrom('authz_changelog').select('operation').where('subject_id', '=', sa.id).where('relation', '=', 'status').orderBy('revision').execute();
    expect(ops.map((o) => o.operation)).toEqual(['disable', 'enable']);
  });

  it('deletes: keeps a deprovisioned row, frees the name, removes its tuples', async () => {
    const sa = await f.serviceAccounts.create(ctx, { name: 'temp-bot', ownerUserId: owner });
    const g = await f.groups.create(ctx, { displayName: 'bots', members: [{ type: 'service_account', id: sa.id }] });
    await f.serviceAccounts.delete(ctx, sa.id);
    await failure(() => f.serviceAccounts.get(ctx, sa.id), 'not_found');
    const row = await f.storage.db.selectFrom('service_accounts').select('status').where('id', '=', sa.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('deprovisioned');
    expect((await tupleStrings(f)).filter((t) => t.includes(sa.id))).toEqual([]);
    expect((await f.groups.get(ctx, g.id)).members).toEqual([]);
    expect((await f.serviceAccounts.create(ctx, { name: 'TEMP-BOT', ownerUserId: owner })).name).toBe('TEMP-BOT');
  });
});

describeEachBackend('ApplicationService contract', (backend) => {
  let f: IdentityFixture;
  beforeAll(async () => {
    f = await identityFixture(backend);
  });
  afterAll(async () => f.close());

  it('registers a confidential client: secret shown once, stored as SHA-256 hex, metadata without it', async () => {
    const created = await f.applications.create(ctx, { name: 'Wiki', redirectUris: ['https://wiki.example/callback', 'http://localhost:3000/cb'] });
    expect(created.client_secret).toMatch(/^gh_cs_[A-Za-z0-9_-]{43}$/);
    expect(created.application).toEqual({
      id: created.client_id,
      name: 'Wiki',
      redirectUris: ['https://wiki.example/callback', 'http://localhost:3000/cb'],
      tokenEndpointAuthMethod: 'client_secret_basic',
      public: false,
      created: '2026-01-01T00:00:00.000Z',
    });
    const row = await f.storage.db.selectFrom('applications').selectAll().where('id', '=', created.client_id).executeTakeFirstOrThrow();
    expect(row.client_secret_hash).toBe(sha256Hex(created.client_secret as string));
    expect(JSON.parse(row.metadata)).toEqual({
      client_id: created.client_id,
      client_name: 'Wiki',
      redirect_uris: ['https://wiki.example/callback', 'http://localhost:3000/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(row.metadata).not.toContain(created.client_secret as string);
    expect(await f.applications.clientMetadata('default', created.client_id)).toEqual(JSON.parse(row.metadata));
    expect(await f.applications.verifyClientSecret('default', created.client_id, created.client_secret as string)).toBe(true);
    expect(await f.applications.verifyClientSecret('default', created.client_id, 'gh_cs_wrong')).toBe(false);
    const ev = (await events(f, 'application.create')).at(-1);
    expect(JSON.stringify(ev)).not.toContain(created.client_secret as string);
  });

  it('registers a public client with token_endpoint_auth_method none and no secret', async () => {
    const created = await f.applications.create(ctx, { name: 'SPA', redirectUris: ['https://spa.example/cb'], public: true });
    expect(created.client_secret).toBeNull();
    expect(created.application).toMatchObject({ public: true, tokenEndpointAuthMethod: 'none' });
    const meta = await f.applications.clientMetadata('default', created.client_id);
    expect(meta?.token_endpoint_auth_method).toBe('none');
    expect(await f.applications.verifyClientSecret('default', created.client_id, '')).toBe(false);
  });

  it('validates redirect URIs: absolute https (http only on loopback), no fragment, no wildcard', async () => {
    for (const bad of [[], ['/relative/cb'], ['ftp://files.example/cb'], ['https://app.example/cb#frag'], ['javascript:alert(1)'], ['https://a.example/ cb']]) {
      await failure(() => f.applications.create(ctx, { name: 'Bad', redirectUris: bad }), 'invalid_input');
    }
    expect((await failure(() => f.applications.create(ctx, { name: 'Bad', redirectUris: ['http://evil.example/cb'] }), 'invalid_input')).message).toBe(
      'redirectUris[0] must use https (plain http is allowed only on 127.0.0.1, [::1] or localhost)',
    );
    expect((await failure(() => f.applications.create(ctx, { name: 'Bad', redirectUris: ['https://*.example.com/cb'] }), 'invalid_input')).message).toMatch(/must not contain a wildcard/);
    for (const ok of ['http://127.0.0.1:9999/cb', 'http://[::1]:8000/cb', 'http://localhost/cb']) {
      const created = await f.applications.create(ctx, { name: `Loopback ${ok}`, redirectUris: [ok] });
      expect(created.application.redirectUris).toEqual([ok]);
      await f.applications.delete(ctx, created.client_id);
    }
    expect((await f.applications.list(ctx, { startIndex: 1, count: 10 })).items.map((a) => a.name)).toEqual(['Wiki', 'SPA']);
  });

  it('gets, lists and deletes', async () => {
    const created = await f.applications.create(ctx, { name: 'Temp', redirectUris: ['https://t.example/cb'] });
    expect(await f.applications.get(ctx, created.client_id)).toEqual(created.application);
    await f.applications.delete(ctx, created.client_id);
    await failure(() => f.applications.get(ctx, created.client_id), 'not_found');
    expect(await f.applications.clientMetadata('default', created.client_id)).toBeNull();
    expect(await f.applications.verifyClientSecret('default', created.client_id, created.client_secret as string)).toBe(false);
    await failure(() => f.applications.delete(ctx, created.client_id), 'not_found');
    expect((await events(f, 'application.delete')).at(-1)?.target).toEqual({ type: 'application', id: created.client_id });
  });
});
