/**
 * Starts a Gatehouse on a fresh database of the given backend and returns a small client for
 * the admin API over `app.inject` (real Fastify routing, hooks, body parsing and serialisation).
 */
import { expect } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../../src/gatehouse.js';
import { loadConfig } from '../../../src/kernel/config.js';
import { cliContext } from '../../../src/kernel/context.js';
import { createLogger } from '../../../src/kernel/logger.js';
import { adminRoutes } from '../../../src/http/routes/admin/index.js';
import type { AdminRoute } from '../../../src/http/routes/admin/route.js';
import type { Backend } from '../../support/backends.js';

/** Finds the route declaration that serves `method path` (path relative to /api/v1, without the query). */
function routeFor(routes: AdminRoute[], method: string, path: string): AdminRoute | undefined {
  return routes.find((r) => r.method === method.toLowerCase() && new RegExp(`^${r.path.replace(/\{[a-z_]+\}/g, '[^/]+')}$`).test(path));
}

export interface AdminHarness {
  gh: Gatehouse;
  /** A token with the `admin` scope. */
  token: string;
  /** A token with only the `scim` scope. */
  scimToken: string;
  /** Sends a request to /api/v1`path` with the admin token unless `token` is given (null: none). */
  call(method: string, path: string, opts?: { body?: unknown; raw?: string | Buffer; contentType?: string; token?: string | null }): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Record<string, unknown>;
  contentType: string;
  body: any;
  text: string;
}

export async function startAdmin(backend: Backend): Promise<AdminHarness> {
  const { url, drop } = await backend.create();
  const config = loadConfig({}, { databaseUrl: url, logLevel: 'silent' });
  const gh = await createGatehouse({ config, logger: createLogger('silent') });
  const admin = await gh.apiTokens.create(cliContext(), { name: 'admin-test', scopes: ['admin'] });
  const scim = await gh.apiTokens.create(cliContext(), { name: 'scim-test', scopes: ['scim'] });
  const routes = adminRoutes(gh);
  const harness: AdminHarness = {
    gh,
    token: admin.token,
    scimToken: scim.token,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      const token = opts.token === undefined ? admin.token : opts.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | Buffer | undefined;
      if (opts.raw !== undefined) payload = opts.raw;
      else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
      if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      else if (opts.contentType) headers['content-type'] = opts.contentType;
      const res = await gh.http.inject({ method: method as 'GET', url: `/api/v1${path}`, headers, ...(payload !== undefined ? { payload } : {}) });
      const contentType = String(res.headers['content-type'] ?? '');
      let body: unknown = undefined;
      if (res.body && contentType.includes('json')) body = JSON.parse(res.body);
      // Every success body must match the schema the OpenAPI document publishes for it, with no
      // undocumented members (zod objects drop unknown keys, so a parse that changes the body fails).
      const route = routeFor(routes, method, path.split('?')[0]!);
      if (route && res.statusCode === route.success.status && route.success.schema) {
        expect(route.success.schema.parse(body), `${method} ${path} response matches its schema`).toEqual(body);
      }
      return { status: res.statusCode, headers: res.headers, contentType, body, text: res.body };
    },
    async close() {
      await gh.close();
      await drop();
    },
  };
  return harness;
}

/** Asserts an RFC 9457 problem reply with `status` and `code`. */
export function expectProblem(res: Reply, status: number, code: string): void {
  expect({ status: res.status, contentType: res.contentType.split(';')[0], code: res.body?.code }).toEqual({ status, contentType: 'application/problem+json', code });
  expect(res.body).toMatchObject({ type: `https://gatehouse.dev/problems/${code}`, status, code });
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.detail).toBe('string');
  expect(typeof res.body.request_id).toBe('string');
}

/** Row counts of every table an admin API change touches, plus the audit chain head. */
export async function snapshot(gh: Gatehouse): Promise<Record<string, number>> {
  const tables = ['users', 'user_emails', 'user_totp', 'groups', 'service_accounts', 'roles', 'applications', 'authz_tuples', 'authz_changelog', 'audit_events', 'oidc_payloads'] as const;
  const out: Record<string, number> = {};
  for (const t of tables) {
    const row = await gh.storage.db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    out[t] = Number(row.n);
  }
  const versions = await gh.storage.db.selectFrom('users').select(['id', 'version', 'status']).orderBy('id').execute();
  out.user_versions = versions.reduce((acc, v) => acc + Number(v.version) * 7 + (v.status === 'active' ? 1 : 0), 0);
  return out;
}
