/**
 * Starts a Gatehouse on a fresh database of the given backend and returns a small SCIM client
 * over `app.inject` (real Fastify routing, hooks, body parsing and serialisation).
 */
import { expect } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig, type Config } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { Backend } from '../support/backends.js';

export const ISSUER = 'https://id.example.test';
export const BASE = `${ISSUER}/scim/v2`;
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export interface Reply {
  status: number;
  headers: Record<string, unknown>;
  contentType: string;
  body: any;
  text: string;
}

export interface CallOptions {
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  /** null: send no token. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface ScimHarness {
  gh: Gatehouse;
  token: string;
  adminToken: string;
  /** Sends a request to /scim/v2`path` with the scim token unless `token` is given. */
  call(method: string, path: string, opts?: CallOptions): Promise<Reply>;
  close(): Promise<void>;
}

export async function startScim(backend: Backend, bodyLimitBytes?: number, overrides: Partial<Config> = {}): Promise<ScimHarness> {
  const { url, drop } = await backend.create();
  const config = loadConfig({}, { databaseUrl: url, logLevel: 'silent', issuer: ISSUER, ...(bodyLimitBytes ? { bodyLimitBytes } : {}), ...overrides });
  const gh = await createGatehouse({ config, logger: createLogger('silent') });
  const scim = await gh.apiTokens.create(cliContext(), { name: 'scim-test', scopes: ['scim'] });
  const admin = await gh.apiTokens.create(cliContext(), { name: 'admin-test', scopes: ['admin'] });
  return {
    gh,
    token: scim.token,
    adminToken: admin.token,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const token = opts.token === undefined ? scim.token : opts.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | Buffer | undefined;
      if (opts.raw !== undefined) payload = opts.raw;
      else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
      if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/scim+json';
      else if (opts.contentType) headers['content-type'] = opts.contentType;
      const res = await gh.http.inject({ method: method as 'GET', url: `/scim/v2${path}`, headers, ...(payload !== undefined ? { payload } : {}) });
      const contentType = String(res.headers['content-type'] ?? '');
      let body: unknown = undefined;
      if (res.body && contentType.includes('json')) body = JSON.parse(res.body);
      return { status: res.statusCode, headers: res.headers, contentType, body, text: res.body };
    },
    async close() {
      await gh.close();
      await drop();
    },
  };
}

/** Asserts a SCIM error reply (RFC 7644 §3.12) with `status` and, if given, `scimType`. */
export function expectScimError(res: Reply, status: number, scimType?: string): void {
  expect({ status: res.status, contentType: res.contentType.split(';')[0] }).toEqual({ status, contentType: 'application/scim+json' });
  expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
  expect(res.body.status).toBe(String(status));
  expect(res.body.scimType).toBe(scimType);
  expect(typeof res.body.detail).toBe('string');
  expect(res.text).not.toMatch(/at [\w.]+ \(|node_modules|\.ts:\d+/);
}

/** A minimal valid SCIM user body. */
export function userBody(userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemas: [USER_SCHEMA], userName, ...extra };
}
