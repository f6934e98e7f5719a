import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, startAdmin, type AdminHarness } from './support.js';

describeEachBackend('admin API: users', (backend) => {
  let h: AdminHarness;
  let id: string;
  beforeAll(async () => {
    h = await startAdmin(backend);
  });
  afterAll(async () => h?.close());

  it('creates a user and answers it in snake_case', async () => {
    const res = await h.call('POST', '/users', {
      body: {
        user_name: 'Alice.Liddell',
        external_id: 'hr-1001',
        name: { given_name: 'Alice', family_name: 'Liddell' },
        display_name: 'Alice Liddell',
        emails: [{ value: 'alice@example.com', type: 'work', primary: true }],
        enterprise: { department: 'Engineering', employee_number: 'E-1' },
      },
    });
    expect(res.status).toBe(201);
    expect(res.contentType).toBe('application/json; charset=utf-8');
    id = res.body.id;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    expect(res.body).toMatchObject({
      user_name: 'Alice.Liddell',
      external_id: 'hr-1001',
      name: { given_name: 'Alice', family_name: 'Liddell', formatted: null, middle_name: null },
      display_name: 'Alice Liddell',
      emails: [{ value: 'alice@example.com', type: 'work', primary: true, display: null }],
      active: true,
      status: 'active',
      enterprise: { department: 'Engineering', employee_number: 'E-1', manager_id: null },
      is_admin: false,
      has_password: false,
      version: 1,
    });
    expect(Object.keys(res.body).filter((k) => /[A-Z]/.test(k))).toEqual([]);
  });

  it('reads, lists and filters users', async () => {
    const got = await h.call('GET', `/users/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.user_name).toBe('Alice.Liddell');
    await h.call('POST', '/users', { body: { user_name: 'bob' } });
    const all = await h.call('GET', '/users?count=10');
    expect(all.status).toBe(200);
    expect({ total: all.body.total_results, start: all.body.start_index, per: all.body.items_per_page }).toEqual({ total: 2, start: 1, per: 2 });
    expect(all.body.items.map((u: { user_name: string }) => u.user_name).sort()).toEqual(['Alice.Liddell', 'bob']);
    const byName = await h.call('GET', '/users?user_name=alice.liddell');
    expect(byName.body.items.map((u: { id: string }) => u.id)).toEqual([id]);
    const byExt = await h.call('GET', '/users?external_id=hr-1001');
    expect(byExt.body.total_results).toBe(1);
    const page2 = await h.call('GET', '/users?start_index=2&count=1');
    expect({ total: page2.body.total_results, start: page2.body.start_index, n: page2.body.items.length }).toEqual({ total: 2, start: 2, n: 1 });
  });

  it('updates some attributes with PATCH, merging nested ones', async () => {
    const res = await h.call('PATCH', `/users/${id}`, { body: { display_name: 'Alice L.', enterprise: { division: 'R&D' } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ display_name: 'Alice L.', external_id: 'hr-1001', enterprise: { department: 'Engineering', division: 'R&D', employee_number: 'E-1' }, version: 2 });
    const cleared = await h.call('PATCH', `/users/${id}`, { body: { external_id: null } });
    expect(cleared.body.external_id).toBeNull();
    expect(cleared.body.display_name).toBe('Alice L.');
  });

  it('sets a password (204) and refuses a weak one with weak_password', async () => {
    const ok = await h.call('POST', `/users/${id}/password`, { body: { password: 'correct horse battery staple' } });
    expect(ok.status).toBe(204);
    expect(ok.text).toBe('');
    expect((await h.call('GET', `/users/${id}`)).body.has_password).toBe(true);
    const weak = await h.call('POST', `/users/${id}/password`, { body: { password: 'short' } });
    expectProblem(weak, 400, 'weak_password');
  });

  it('enrolls TOTP once: SHA-1, 6 digits, 30 s, no-store', async () => {
    const res = await h.call('POST', `/users/${id}/totp`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(Object.keys(res.body).sort()).toEqual(['otpauth_uri', 'secret']);
    expect(res.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(res.body.otpauth_uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(uri.searchParams.get('secret')).toBe(res.body.secret);
    expect((uri.searchParams.get('algorithm') ?? 'SHA1').toUpperCase()).toBe('SHA1');
    expect(uri.searchParams.get('digits') ?? '6').toBe('6');
    expect(uri.searchParams.get('period') ?? '30').toBe('30');
    const stored = await h.gh.storage.db.selectFrom('user_totp').select('secret').where('user_id', '=', id).executeTakeFirstOrThrow();
    expect(stored.secret).toBe(res.body.secret);
  });

  it('deactivates, activates and deactivates by PATCH', async () => {
    const off = await h.call('POST', `/users/${id}/deactivate`);
    expect(off.status).toBe(200);
    expect({ active: off.body.active, status: off.body.status }).toEqual({ active: false, status: 'suspended' });
    const on = await h.call('POST', `/users/${id}/activate`, { body: {} });
    expect({ active: on.body.active, status: on.body.status }).toEqual({ active: true, status: 'active' });
    const patched = await h.call('PATCH', `/users/${id}`, { body: { active: false } });
    expect({ active: patched.body.active, status: patched.body.status }).toEqual({ active: false, status: 'suspended' });
    const events = await h.call('GET', `/audit?target_id=${id}&limit=1000`);
    expect(events.body.items.map((e: { action: string }) => e.action)).toContain('user.create');
  });

  it('conflicts on a taken userName (case-insensitive) and 404s unknown ids', async () => {
    expectProblem(await h.call('POST', '/users', { body: { user_name: 'ALICE.liddell' } }), 409, 'conflict');
    expectProblem(await h.call('GET', '/users/0190a8a0-0000-7000-8000-000000000000'), 404, 'not_found');
    expectProblem(await h.call('POST', '/users/0190a8a0-0000-7000-8000-000000000000/password', { body: { password: 'correct horse battery staple' } }), 404, 'not_found');
  });

  it('deletes a user (204), after which it is gone', async () => {
    const del = await h.call('DELETE', `/users/${id}`);
    expect(del.status).toBe(204);
    expectProblem(await h.call('GET', `/users/${id}`), 404, 'not_found');
    const list = await h.call('GET', '/users');
    expect(list.body.items.map((u: { user_name: string }) => u.user_name)).toEqual(['bob']);
  });
});
