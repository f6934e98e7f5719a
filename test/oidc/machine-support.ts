/**
 * Helpers for the machine-identity and grant tests: a listening Gatehouse with resource servers
 * configured and every log line captured (to prove no secret reaches the logs), service accounts
 * with credentials, and openid-client configurations for them.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import * as client from 'openid-client';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import type { Config } from '../../src/kernel/config.js';
import { loadConfig } from '../../src/kernel/config.js';
import { systemContext } from '../../src/kernel/context.js';
import { loggerOptions } from '../../src/kernel/logger.js';
import { newId, randomToken } from '../../src/kernel/ids.js';
import { sha256Hex } from '../../src/kernel/secrets.js';
import { REDIRECT_URI, freePort, seedUser } from './support.js';

/** The resource server every test uses (RFC 8707). */
export const API_RESOURCE = 'https://api.example.test/';
export const API_SCOPES = 'documents:read documents:write';

/** Log lines captured from a Gatehouse (JSON text, debug level). */
export class LogCapture {
  readonly lines: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      this.lines.push(chunk.toString('utf8'));
      done();
    },
  });
  text(): string {
    return this.lines.join('');
  }
}

/** Starts Gatehouse with the test resource server and a debug logger into `logs`. */
export async function startMachineGatehouse(
  databaseUrl: string,
  overrides: Partial<Config> = {},
  port?: number,
): Promise<{ gh: Gatehouse; base: string; port: number; logs: LogCapture }> {
  const p = port ?? (await freePort());
  const config = loadConfig(
    {},
    {
      databaseUrl,
      port: p,
      host: '127.0.0.1',
      logLevel: 'debug',
      issuer: `http://127.0.0.1:${p}`,
      resourceServers: { [API_RESOURCE]: { scope: API_SCOPES, accessTokenTtlSeconds: 300 } },
      ...overrides,
    },
  );
  const logs = new LogCapture();
  const logger = pino(loggerOptions('debug'), logs.stream);
  const gh = await createGatehouse({ config, logger });
  const base = await gh.listen();
  return { gh, base, port: p, logs };
}

/** A user to own service accounts, and a service account owned by it. */
export async function seedServiceAccount(gh: Gatehouse, name: string, ownerUserId?: string): Promise<{ id: string; ownerUserId: string }> {
  const owner = ownerUserId ?? (await seedUser(gh, { userName: `owner-of-${name}` }));
  const sa = await gh.serviceAccounts.create(systemContext(), { name, description: `${name} automation`, ownerUserId: owner });
  return { id: sa.id, ownerUserId: owner };
}

/** Adds a client secret credential; returns the secret and credential id. */
export async function addSecret(gh: Gatehouse, saId: string): Promise<{ secret: string; credentialId: string }> {
  const c = await gh.credentials.create(systemContext(), saId, { kind: 'client_secret', name: 'ci secret' });
  return { secret: c.secret!, credentialId: c.credential.id };
}

/** Generates an ES256 key pair and registers its public JWK; returns the private key. */
export async function addKey(gh: Gatehouse, saId: string, alg: 'ES256' | 'RS256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = await exportJWK(publicKey);
  const c = await gh.credentials.create(systemContext(), saId, { kind: 'public_key', name: `${alg} key`, publicKey: { jwk } });
  return { privateKey, credentialId: c.credential.id, kid: c.credential.id };
}

const insecure = { execute: [client.allowInsecureRequests] };

/** openid-client configuration for a service account with a client secret (basic or post). */
export async function secretClient(base: string, saId: string, secret: string, method: 'basic' | 'post' = 'basic'): Promise<client.Configuration> {
  const auth = method === 'basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
  return client.discovery(new URL(base), saId, undefined, auth, insecure);
}

/** openid-client configuration for a service account using private_key_jwt. */
export async function keyClient(base: string, saId: string, privateKey: client.CryptoKey, kid?: string): Promise<client.Configuration> {
  return client.discovery(new URL(base), saId, undefined, client.PrivateKeyJwt(kid ? { key: privateKey, kid } : privateKey), insecure);
}

/** A raw form POST (for malformed-request tests). */
export async function postForm(url: string, body: string | Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; text: string; type: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { status: res.status, json, text, type: res.headers.get('content-type') };
}

/**
 * The OAuth error code of a failed openid-client call: from the JSON body (`error`) or, for a
 * 401 with `WWW-Authenticate`, from the challenge's `error` parameter.
 */
export async function oauthError(p: Promise<unknown>): Promise<{ error: string | undefined; status: number | undefined }> {
  try {
    await p;
  } catch (e) {
    const err = e as { error?: string; status?: number; cause?: unknown };
    if (err.error) return { error: err.error, status: err.status };
    const challenge = Array.isArray(err.cause) ? (err.cause[0] as { parameters?: { error?: string } }) : undefined;
    const res = (err.cause as { status?: number } | undefined)?.status;
    return { error: challenge?.parameters?.error, status: err.status ?? res };
  }
  throw new Error('expected the call to fail');
}

/** Inserts an application with extra client metadata (device grant, back-channel logout, ...). */
export async function seedApp(
  gh: Gatehouse,
  metadata: Record<string, unknown>,
  opts: { public?: boolean } = {},
): Promise<{ clientId: string; clientSecret: string | null }> {
  const clientId = newId();
  const secret = opts.public ? null : `gh_cs_${randomToken(32)}`;
  const now = new Date().toISOString();
  const full = {
    client_id: clientId,
    client_name: 'Grant test app',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: opts.public ? 'none' : 'client_secret_basic',
    ...metadata,
  };
  await gh.storage.db
    .insertInto('applications')
    .values({ tenant_id: 'default', id: clientId, name: String(full.client_name), client_secret_hash: secret ? sha256Hex(secret) : null, metadata: JSON.stringify(full), owner_user_id: null, status: 'active', created_at: now, updated_at: now })
    .execute();
  return { clientId, clientSecret: secret };
}
