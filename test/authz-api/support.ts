/** A running Gatehouse (listening on loopback) with an `authz` token, and an OpenFGA SDK client for it. */
import { OpenFgaClient } from '@openfga/sdk';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import { expect } from 'vitest';
import { GatehouseError } from '../../src/kernel/errors.js';
import type { Backend } from '../support/backends.js';

export interface Running {
  gh: Gatehouse;
  baseUrl: string;
  token: string;
  /** An SDK client; `storeId` / `authorizationModelId` optional. */
  client(opts?: { storeId?: string; authorizationModelId?: string; token?: string }): OpenFgaClient;
  /** A raw JSON request through app.inject. */
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** Starts Gatehouse on a fresh database of `backend`. */
export async function startGatehouse(backend: Backend): Promise<Running> {
  const { url, drop } = await backend.create();
  const gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', port: 0, host: '127.0.0.1' }), logger: createLogger('silent') });
  const baseUrl = await gh.listen();
  const token = (await gh.apiTokens.create(cliContext(), { name: 'fga', scopes: ['authz'] })).token;
  return {
    gh,
    baseUrl,
    token,
    client: (opts = {}) =>
      new OpenFgaClient({
        apiUrl: baseUrl,
        storeId: opts.storeId,
        authorizationModelId: opts.authorizationModelId,
        credentials: { method: 'api_token' as never, config: { token: opts.token ?? token } } as never,
        retryParams: { maxRetry: 0 },
      }),
    async call(method, path, body, headers = {}) {
      const res = await gh.http.inject({
        method: method as 'GET',
        url: path,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const ct = String(res.headers['content-type'] ?? '');
      return { status: res.statusCode, body: ct.includes('json') ? JSON.parse(res.body) : res.body, headers: res.headers };
    },
    async close() {
      await gh.close();
      await drop();
    },
  };
}

/** The document-sharing model used across these tests (DSL). */
export const DOCS_MODEL = `model
  schema 1.1

type user

type team
  relations
    define member: [user, team#member]

type folder
  relations
    define owner: [user]
    define parent: [folder]
    define viewer: [user, user:*, team#member] or owner or viewer from parent

type document
  relations
    define parent: [folder]
    define owner: [user]
    define blocked: [user]
    define editor: [user, team#member with in_office] or owner
    define viewer: ([user, user:*, team#member] or editor or viewer from parent) but not blocked

condition in_office(ip: ipaddress, office: string) {
  ip.in_cidr(office)
}
`;

/** POST `body` as JSON to `path` over real HTTP with the running instance's token; status and parsed body. */
export async function postJson(r: Running, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${r.baseUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

/** OpenFGA Check over HTTP in `store`: `allowed`, or the error code of a 400 (any other status fails the test). */
export async function checkOrCode(r: Running, store: string, user: string, relation: string, object: string): Promise<boolean | string> {
  const res = await postJson(r, `/stores/${store}/check`, { tuple_key: { user, relation, object } });
  if (res.status === 200) return res.body.allowed as boolean;
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  return res.body.code as string;
}

/** The GatehouseError `fn` throws (any other throw is rethrown; no throw fails the test). */
export function failure(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatehouseError) return err;
    throw err;
  }
  throw new Error('expected an error');
}
