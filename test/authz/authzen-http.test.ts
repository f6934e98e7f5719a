import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';
import { setEnabled, tuples, writeTuples } from './support.js';

interface Reply {
  status: number;
  contentType: string;
  requestId: unknown;
  body: any;
}

const evaluation = (subject: string, action: string, resourceType: string) => {
  const i = subject.indexOf(':');
  return { subject: { type: subject.slice(0, i), id: subject.slice(i + 1) }, action: { name: action }, resource: { type: resourceType, id: 'r-1' } };
};

describeEachBackend('AuthZEN access evaluation over HTTP', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let authzToken: string;
  let adminToken: string;

  async function post(opts: { body?: unknown; raw?: string | Buffer; contentType?: string | null; token?: string | null; requestId?: string }): Promise<Reply> {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? authzToken : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.requestId) headers['x-request-id'] = opts.requestId;
    const payload = opts.raw !== undefined ? opts.raw : opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
    const ct = opts.contentType === undefined ? 'application/json' : opts.contentType;
    if (ct && payload !== undefined) headers['content-type'] = ct;
    const res = await gh.http.inject({ method: 'POST', url: '/access/v1/evaluation', headers, ...(payload !== undefined ? { payload } : {}) });
    const contentType = String(res.headers['content-type'] ?? '');
    return { status: res.statusCode, contentType, requestId: res.headers['x-request-id'], body: contentType.includes('json') ? JSON.parse(res.body) : res.body };
  }

  const decide = async (subject: string, action: string, resourceType: string) => {
    const r = await post({ body: evaluation(subject, action, resourceType) });
    expect(r.status).toBe(200);
    return r.body as { decision: boolean };
  };

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0 }), logger: createLogger('silent') });
    authzToken = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    adminToken = (await gh.apiTokens.create(cliContext(), { name: 'admin', scopes: ['admin'] })).token;
    await writeTuples(gh.storage, gh.tuples, {
      writes: tuples(
        'permission:documents:read#granted@role:reader#assignee',
        'permission:documents:write#granted@role:writer#assignee',
        'role:reader#assignee@user:alice',
        'role:reader#assignee@group:staff#member',
        'group:staff#member@group:contractors#member',
        'group:contractors#member@user:bob',
        'role:writer#assignee@service_account:etl',
      ),
    });
  });
  afterAll(async () => {
    await gh.close();
    await drop();
  });

  it('allows a permitted action and denies another', async () => {
    expect(await decide('user:alice', 'read', 'documents')).toEqual({ decision: true });
    expect(await decide('user:alice', 'write', 'documents')).toEqual({ decision: false });
    expect(await decide('user:alice', 'read', 'invoices')).toEqual({ decision: false });
  });

  it('follows group membership and accepts service accounts', async () => {
    expect(await decide('user:bob', 'read', 'documents')).toEqual({ decision: true });
    expect(await decide('service_account:etl', 'write', 'documents')).toEqual({ decision: true });
    expect(await decide('service_account:etl', 'read', 'documents')).toEqual({ decision: false });
  });

  it('searches the built-in store by permission: holders, every resource of the type, held actions', async () => {
    const search = async (kind: string, body: unknown) => {
      const res = await gh.http.inject({ method: 'POST', url: `/access/v1/search/${kind}`, headers: { authorization: `Bearer ${authzToken}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      expect(res.statusCode).toBe(200);
      return JSON.parse(res.body).results;
    };
    expect(await search('subject', { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'documents', id: 'd1' } })).toEqual([
      { type: 'user', id: 'alice' },
      { type: 'user', id: 'bob' },
    ]);
    expect(await search('subject', { subject: { type: 'service_account' }, action: { name: 'write' }, resource: { type: 'documents', id: 'd1' } })).toEqual([{ type: 'service_account', id: 'etl' }]);
    expect(await search('resource', { subject: { type: 'user', id: 'bob' }, action: { name: 'read' }, resource: { type: 'documents' } })).toEqual([{ type: 'documents', id: '*' }]);
    expect(await search('resource', { subject: { type: 'user', id: 'bob' }, action: { name: 'write' }, resource: { type: 'documents' } })).toEqual([]);
    expect(await search('action', { subject: { type: 'service_account', id: 'etl' }, resource: { type: 'documents', id: 'd1' } })).toEqual([{ name: 'write' }]);
    expect(await search('action', { subject: { type: 'user', id: 'alice' }, resource: { type: 'invoices', id: 'i1' } })).toEqual([]);
  });

  it('answers false (not an error) for an unknown subject or subject type', async () => {
    expect(await decide('user:nobody', 'read', 'documents')).toEqual({ decision: false });
    expect(await decide('robot:r2', 'read', 'documents')).toEqual({ decision: false });
  });

  it('accepts properties and context, and echoes X-Request-ID', async () => {
    const r = await post({
      requestId: 'pep-req-42',
      body: {
        subject: { type: 'user', id: 'alice', properties: { department: 'legal' } },
        action: { name: 'read', properties: { method: 'GET' } },
        resource: { type: 'documents', id: 'd1', properties: { status: 'draft' } },
        context: { time: '2026-03-01T12:00:00Z' },
      },
    });
    expect(r).toEqual({ status: 200, contentType: 'application/json; charset=utf-8', requestId: 'pep-req-42', body: { decision: true } });
  });

  it('denies at once after the subject is disabled, and allows again after re-enabling', async () => {
    // A batch: alice as the default subject of two items, bob named by the third.
    const batch = async () => {
      const res = await gh.http.inject({
        method: 'POST',
        url: '/access/v1/evaluations',
        headers: { authorization: `Bearer ${authzToken}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          subject: { type: 'user', id: 'alice' },
          action: { name: 'read' },
          evaluations: [{ resource: { type: 'documents', id: '1' } }, { resource: { type: 'documents', id: '2' } }, { subject: { type: 'user', id: 'bob' }, resource: { type: 'documents', id: '3' } }],
        }),
      });
      expect(res.statusCode).toBe(200);
      return (JSON.parse(res.body) as { evaluations: Array<{ decision: boolean }> }).evaluations.map((e) => e.decision);
    };
    expect(await batch()).toEqual([true, true, true]);
    await setEnabled(gh.storage, gh.tuples, 'user', 'alice', false);
    expect(await decide('user:alice', 'read', 'documents')).toEqual({ decision: false });
    expect(await batch()).toEqual([false, false, true]);
    await setEnabled(gh.storage, gh.tuples, 'user', 'alice', true);
    expect(await decide('user:alice', 'read', 'documents')).toEqual({ decision: true });
    expect(await batch()).toEqual([true, true, true]);
  });

  it('denies at once after a role assignment is deleted', async () => {
    await writeTuples(gh.storage, gh.tuples, { deletes: tuples('group:contractors#member@user:bob') });
    expect(await decide('user:bob', 'read', 'documents')).toEqual({ decision: false });
  });

  it('answers 401 without a valid token and 403 without the authz scope', async () => {
    const none = await post({ body: evaluation('user:alice', 'read', 'documents'), token: null });
    expect({ status: none.status, code: none.body.error.code }).toEqual({ status: 401, code: 'unauthenticated' });
    const bad = await post({ body: evaluation('user:alice', 'read', 'documents'), token: 'ghp_not-a-real-token' });
    expect({ status: bad.status, code: bad.body.error.code }).toEqual({ status: 401, code: 'unauthenticated' });
    const wrong = await post({ body: evaluation('user:alice', 'read', 'documents'), token: adminToken });
    expect({ status: wrong.status, code: wrong.body.error.code }).toEqual({ status: 403, code: 'forbidden' });
    // Authentication comes before the body is looked at.
    const badBodyNoToken = await post({ raw: '{oops', token: null });
    expect(badBodyNoToken.status).toBe(401);
  });

  const valid = evaluation('user:alice', 'read', 'documents');
  const badInputs: Array<[string, Parameters<typeof post>[0]]> = [
    ['malformed JSON', { raw: '{"subject": {"type": "user",' }],
    ['JSON with a trailing comma', { raw: '{"subject": {"type": "user", "id": "a"},}' }],
    ['a prototype-pollution key', { raw: '{"__proto__": {"x": 1}, "subject": {"type": "user", "id": "a"}, "action": {"name": "read"}, "resource": {"type": "documents", "id": "1"}}' }],
    ['a prototype-pollution key spelled with escapes', { raw: '{"\\u005f_proto__": {"x": 1}, "subject": {"type": "user", "id": "a"}, "action": {"name": "read"}, "resource": {"type": "documents", "id": "1"}}' }],
    ['a constructor.prototype key', { raw: '{"subject": {"type": "user", "id": "a", "constructor": {"prototype": {"x": 1}}}, "action": {"name": "read"}, "resource": {"type": "documents", "id": "1"}}' }],
    ['a constructor.prototype key spelled with escapes', { raw: '{"subject": {"type": "user", "id": "a", "\\u0063onstructor": {"prototype": {"x": 1}}}, "action": {"name": "read"}, "resource": {"type": "documents", "id": "1"}}' }],
    ['text/plain content type', { raw: JSON.stringify(valid), contentType: 'text/plain' }],
    ['application/xml content type', { raw: '<evaluation/>', contentType: 'application/xml' }],
    ['form content type', { raw: 'subject=alice', contentType: 'application/x-www-form-urlencoded' }],
    ['no content type', { raw: JSON.stringify(valid), contentType: null }],
    ['an empty JSON body', { raw: '' }],
    ['no body at all', { contentType: null }],
    ['a JSON array', { body: [valid] }],
    ['JSON null', { raw: 'null' }],
    ['a JSON string', { body: 'evaluate please' }],
    ['missing subject', { body: { action: valid.action, resource: valid.resource } }],
    ['missing action', { body: { subject: valid.subject, resource: valid.resource } }],
    ['missing resource', { body: { subject: valid.subject, action: valid.action } }],
    ['missing subject.id', { body: { ...valid, subject: { type: 'user' } } }],
    ['missing action.name', { body: { ...valid, action: {} } }],
    ['missing resource.type', { body: { ...valid, resource: { id: '1' } } }],
    ['subject.id a number', { body: { ...valid, subject: { type: 'user', id: 42 } } }],
    ['action a string', { body: { ...valid, action: 'read' } }],
    ['resource.type null', { body: { ...valid, resource: { type: null, id: '1' } } }],
    ['empty subject.type', { body: { ...valid, subject: { type: '', id: 'alice' } } }],
    ['properties an array', { body: { ...valid, subject: { ...valid.subject, properties: [1, 2] } } }],
    ['context a string', { body: { ...valid, context: 'now' } }],
    ['an oversize id', { body: { ...valid, subject: { type: 'user', id: 'a'.repeat(300) } } }],
  ];

  it.each(badInputs)('answers 400 with an error body for %s', async (_name, req) => {
    const r = await post(req);
    expect(r.status).toBe(400);
    expect(r.contentType.split(';')[0]).toBe('application/json');
    expect(typeof r.body.error.code).toBe('string');
    expect(typeof r.body.error.message).toBe('string');
    expect(r.body.error.message.length).toBeGreaterThan(0);
    expect(typeof r.requestId).toBe('string');
  });

  it('takes __proto__ and constructor as values, and escaped names, like any other string', async () => {
    expect((await post({ body: { ...valid, resource: { type: 'documents', id: '__proto__' }, context: { note: 'constructor' } } })).body).toEqual({ decision: true });
    expect((await post({ raw: JSON.stringify(valid).replace('"read"', '"\\u0072ead"') })).body).toEqual({ decision: true });
    expect((await post({ raw: JSON.stringify(valid).replace('"read"', '"\\u0077rite"') })).body).toEqual({ decision: false });
  });

  it('ignores members it does not know (AuthZEN forward compatibility)', async () => {
    expect((await post({ body: { ...valid, verdict: 'allow' } })).body).toEqual({ decision: true });
    expect((await post({ body: { ...valid, subject: { ...valid.subject, role: 'admin' } } })).body).toEqual({ decision: true });
  });

  it('answers 413 with an error body for a body over the 1 MiB limit', async () => {
    const r = await post({ body: { ...valid, context: { blob: 'x'.repeat(1024 * 1024 + 10) } } });
    expect(r.status).toBe(413);
    expect(r.contentType.split(';')[0]).toBe('application/json');
    expect(r.body.error.code).toBe('payload_too_large');
    expect(typeof r.requestId).toBe('string');
  });

  it('names the problem in the error code', async () => {
    expect((await post({ raw: '{oops' })).body.error.code).toBe('invalid_input');
    expect((await post({ body: { ...valid, context: { blob: 'x'.repeat(1024 * 1024 + 10) } } })).body.error.code).toBe('payload_too_large');
    expect((await post({ raw: '<x/>', contentType: 'application/xml' })).body.error.code).toBe('unsupported_media_type');
    expect((await post({ body: { ...valid, action: {} } })).body.error).toMatchObject({ code: 'invalid_input', message: expect.stringContaining('action.name') });
  });

  it('answers each malformed batch item alone, and takes well-formed items with unknown members as they are', async () => {
    const res = await gh.http.inject({
      method: 'POST',
      url: '/access/v1/evaluations',
      headers: { authorization: `Bearer ${authzToken}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        subject: { type: 'user', id: 'alice', note: 'ignored' },
        action: { name: 'read' },
        evaluations: [
          { resource: { type: 'documents', id: 'r-1', extra: true } },
          { resource: { type: 'documents', id: 'r-1', properties: [1] } },
          { subject: { type: '' }, resource: { type: 'documents', id: 'r-1' } },
          { action: { name: 'write' }, resource: { type: 'documents', id: 'r-1' } },
          { resource: { type: 'documents' } },
        ],
      }),
    });
    expect(res.statusCode).toBe(200);
    const out = res.json() as { evaluations: Array<{ decision: boolean; context?: { error: { status: number; code: string; message: string } } }> };
    expect(out.evaluations.map((e) => e.decision)).toEqual([true, false, false, false, false]);
    expect(out.evaluations[0]).toEqual({ decision: true });
    expect(out.evaluations[1]!.context!.error).toMatchObject({ status: 400, code: 'invalid_input', message: expect.stringContaining('evaluations[1].resource.properties') });
    expect(out.evaluations[2]!.context!.error).toMatchObject({ status: 400, code: 'invalid_input', message: expect.stringContaining('evaluations[2].subject.type') });
    expect(out.evaluations[3]).toEqual({ decision: false });
    expect(out.evaluations[4]).toEqual({ decision: false, context: { error: { status: 400, code: 'invalid_input', message: 'resource.type and resource.id are required' } } });
  });

  it('works over a real socket', async () => {
    const base = await gh.listen();
    const ok = await fetch(`${base}/access/v1/evaluation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${authzToken}`, 'content-type': 'application/json', 'x-request-id': 'sock-1' },
      body: JSON.stringify(valid),
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('sock-1');
    expect(await ok.json()).toEqual({ decision: true });
    const big = await fetch(`${base}/access/v1/evaluation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${authzToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...valid, context: { blob: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });
});
