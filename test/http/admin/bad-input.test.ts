/**
 * Every admin API endpoint that takes a body gets the same table of bad requests: each must be
 * answered with a 4xx RFC 9457 problem (never a 500) and must leave the database unchanged.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../../support/backends.js';
import { expectProblem, snapshot, startAdmin, type AdminHarness } from './support.js';

interface Ids {
  user: string;
  group: string;
  role: string;
  sa: string;
}

interface Endpoint {
  method: 'POST' | 'PUT' | 'PATCH';
  path: (ids: Ids) => string;
  /** A valid body (undefined: the endpoint takes none). */
  valid?: (ids: Ids) => unknown;
  missing?: (ids: Ids) => unknown;
  wrongType?: (ids: Ids) => unknown;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: () => '/users', valid: () => ({ user_name: 'newbie' }), missing: () => ({ display_name: 'No name' }), wrongType: () => ({ user_name: 42 }) },
  { method: 'PATCH', path: (i) => `/users/${i.user}`, valid: () => ({ display_name: 'Changed' }), wrongType: () => ({ active: 'yes' }) },
  { method: 'POST', path: (i) => `/users/${i.user}/password`, valid: () => ({ password: 'correct horse battery staple' }), missing: () => ({}), wrongType: () => ({ password: 12345678 }) },
  { method: 'POST', path: (i) => `/users/${i.user}/totp` },
  { method: 'POST', path: (i) => `/users/${i.user}/deactivate` },
  { method: 'POST', path: (i) => `/users/${i.user}/activate` },
  { method: 'POST', path: () => '/groups', valid: () => ({ display_name: 'Second' }), missing: () => ({ description: 'x' }), wrongType: () => ({ display_name: ['x'] }) },
  { method: 'PATCH', path: (i) => `/groups/${i.group}`, valid: () => ({ description: 'changed' }), wrongType: () => ({ display_name: 1 }) },
  { method: 'POST', path: (i) => `/groups/${i.group}/members`, valid: (i) => ({ type: 'user', id: i.user }), missing: () => ({ type: 'user' }), wrongType: (i) => ({ type: 'robot', id: i.user }) },
  { method: 'POST', path: () => '/roles', valid: () => ({ name: 'Second', permissions: ['documents:read'] }), missing: () => ({ name: 'Second' }), wrongType: () => ({ name: 'Second', permissions: 'documents:read' }) },
  { method: 'PUT', path: (i) => `/roles/${i.role}/permissions`, valid: () => ({ permissions: ['documents:write'] }), missing: () => ({}), wrongType: () => ({ permissions: [1] }) },
  { method: 'POST', path: (i) => `/roles/${i.role}/assignments`, valid: (i) => ({ principal: { type: 'user', id: i.user } }), missing: () => ({ expires_at: null }), wrongType: (i) => ({ principal: { type: 'user', id: i.user }, expires_at: 'tomorrow' }) },
  { method: 'POST', path: () => '/service-accounts', valid: (i) => ({ name: 'second-bot', owner_user_id: i.user }), missing: () => ({ name: 'second-bot' }), wrongType: () => ({ name: 'second-bot', owner_user_id: 5 }) },
  { method: 'POST', path: (i) => `/service-accounts/${i.sa}/deactivate` },
  { method: 'POST', path: (i) => `/service-accounts/${i.sa}/activate` },
  { method: 'POST', path: () => '/applications', valid: () => ({ name: 'App', redirect_uris: ['https://app.example.com/cb'] }), missing: () => ({ name: 'App' }), wrongType: () => ({ name: 'App', redirect_uris: 'https://app.example.com/cb' }) },
];

interface Case {
  name: string;
  status: number;
  code: string;
  send: (ep: Endpoint, ids: Ids) => { raw?: string; body?: unknown; contentType?: string } | null;
}

const ONE_MIB = 1024 * 1024;

const CASES: Case[] = [
  { name: 'malformed JSON', status: 400, code: 'invalid_input', send: () => ({ raw: '{"name": ', contentType: 'application/json' }) },
  { name: 'JSON with a __proto__ key', status: 400, code: 'invalid_input', send: () => ({ raw: '{"__proto__": {"x": 1}}', contentType: 'application/json' }) },
  { name: 'text/plain content type', status: 415, code: 'unsupported_media_type', send: (ep, i) => ({ raw: JSON.stringify(ep.valid?.(i) ?? {}), contentType: 'text/plain' }) },
  { name: 'form content type', status: 415, code: 'unsupported_media_type', send: () => ({ raw: 'name=x', contentType: 'application/x-www-form-urlencoded' }) },
  { name: 'a JSON array', status: 400, code: 'invalid_input', send: () => ({ body: [] }) },
  { name: 'JSON null', status: 400, code: 'invalid_input', send: () => ({ raw: 'null', contentType: 'application/json' }) },
  { name: 'an unknown member', status: 400, code: 'invalid_input', send: (ep, i) => ({ body: { ...((ep.valid?.(i) as object) ?? {}), unexpected_member: true } }) },
  { name: 'a missing member', status: 400, code: 'invalid_input', send: (ep, i) => (ep.missing ? { body: ep.missing(i) } : null) },
  { name: 'a wrong type', status: 400, code: 'invalid_input', send: (ep, i) => (ep.wrongType ? { body: ep.wrongType(i) } : null) },
  {
    name: 'an oversize body (1 MiB + 1)',
    status: 413,
    code: 'payload_too_large',
    send: () => {
      const head = '{"name":"';
      return { raw: `${head}${'a'.repeat(ONE_MIB + 1 - head.length - 2)}"}`, contentType: 'application/json' };
    },
  },
];

describeEachBackend('admin API: bad input', (backend) => {
  let h: AdminHarness;
  let ids: Ids;
  beforeAll(async () => {
    h = await startAdmin(backend);
    const user = (await h.call('POST', '/users', { body: { user_name: 'target' } })).body.id;
    const group = (await h.call('POST', '/groups', { body: { display_name: 'Target group' } })).body.id;
    const role = (await h.call('POST', '/roles', { body: { name: 'Target role', permissions: ['documents:read'] } })).body.id;
    const sa = (await h.call('POST', '/service-accounts', { body: { name: 'target-bot', owner_user_id: user } })).body.id;
    ids = { user, group, role, sa };
  });
  afterAll(async () => h?.close());

  it('the oversize body is exactly one byte over the limit', () => {
    const sent = CASES.find((c) => c.status === 413)!.send(ENDPOINTS[0]!, ids)!;
    expect(Buffer.byteLength(sent.raw!)).toBe(ONE_MIB + 1);
    expect(h.gh.config.bodyLimitBytes).toBe(ONE_MIB);
  });

  for (const ep of ENDPOINTS) {
    it(`${ep.method} ${ep.path({ user: '{id}', group: '{id}', role: '{id}', sa: '{id}' })}: every bad request is a 4xx problem and changes nothing`, async () => {
      const before = await snapshot(h.gh);
      let sentCases = 0;
      for (const c of CASES) {
        const req = c.send(ep, ids);
        if (!req) continue;
        sentCases++;
        const res = await h.call(ep.method, ep.path(ids), req);
        expect({ case: c.name, status: res.status, code: res.body?.code }).toEqual({ case: c.name, status: c.status, code: c.code });
        expectProblem(res, c.status, c.code);
        expect(await snapshot(h.gh), c.name).toEqual(before);
      }
      expect(sentCases).toBeGreaterThanOrEqual(ep.valid ? 9 : 8);
      // The table's valid body is accepted, so each refusal above was caused by the defect alone.
      const ok = await h.call(ep.method, ep.path(ids), ep.valid ? { body: ep.valid(ids), contentType: 'application/json; charset=utf-8' } : {});
      expect(ok.status, JSON.stringify(ok.body)).toBeLessThan(300);
    });
  }

  it('refuses bad query parameters and path values with 400', async () => {
    expectProblem(await h.call('GET', '/users?count=abc'), 400, 'invalid_input');
    expectProblem(await h.call('GET', '/users?count=1001'), 400, 'invalid_input');
    expectProblem(await h.call('GET', '/users?start_index=0'), 400, 'invalid_input');
    expectProblem(await h.call('GET', '/users?startIndex=1'), 400, 'invalid_input');
    // Path values longer than the router's limit (100) are refused before routing, still as problem details.
    expectProblem(await h.call('GET', `/users/${'x'.repeat(129)}`), 414, 'invalid_input');
  });
});
