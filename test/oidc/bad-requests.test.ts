/**
 * Malformed and hostile requests to every OAuth endpoint get the standard OAuth error (JSON with
 * `error`, 400 or 401), never a 500, and never echo a secret. SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gatehouse } from '../../src/gatehouse.js';
import { describeEachBackend } from '../support/backends.js';
import { addSecret, postForm, seedServiceAccount, startMachineGatehouse, type LogCapture } from './machine-support.js';

const OAUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'unsupported_token_type',
  'invalid_token',
  'authorization_pending',
  'invalid_request_object',
]);

describeEachBackend('OAuth endpoints under bad input', (backend) => {
  let gh: Gatehouse;
  let base: string;
  let logs: LogCapture;
  let drop: () => Promise<void>;
  let basic: string;
  let saId: string;
  let secret: string;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    ({ gh, base, logs } = await startMachineGatehouse(db.url));
    const sa = await seedServiceAccount(gh, 'fuzz-target');
    saId = sa.id;
    secret = (await addSecret(gh, sa.id)).secret;
    basic = `Basic ${Buffer.from(`${saId}:${secret}`).toString('base64')}`;
  });

  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('answers every malformed token, introspection, revocation, PAR and device request with an OAuth error', async () => {
    const auth = () => ({ authorization: basic });
    const assertion = (payload: object) => `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.AAAA`;
    const cases: Array<[string, string, string | Record<string, string>, Record<string, string>]> = [
      ['no grant_type', '/oauth2/token', {}, auth()],
      ['unknown grant_type', '/oauth2/token', { grant_type: 'password', username: 'a', password: 'b' }, auth()],
      ['no client authentication', '/oauth2/token', { grant_type: 'client_credentials' }, {}],
      ['unknown client', '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('nobody:x').toString('base64')}` }],
      ['garbage Basic header', '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: 'Basic %%%' }],
      ['Basic without colon', '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('justid').toString('base64')}` }],
      ['Bearer at the token endpoint', '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: 'Bearer abc' }],
      ['two auth methods', '/oauth2/token', { grant_type: 'client_credentials', client_secret: secret }, auth()],
      ['duplicate parameter', '/oauth2/token', 'grant_type=client_credentials&grant_type=client_credentials', auth()],
      ['garbage client_assertion', '/oauth2/token', { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'not.a.jwt' }, {}],
      ['assertion without type', '/oauth2/token', { grant_type: 'client_credentials', client_assertion: assertion({ sub: 'x' }) }, {}],
      ['assertion for a secret-only account', '/oauth2/token', { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion({ sub: 'SA', iss: 'SA', aud: 'x', exp: 9999999999, jti: 'j' }) }, {}],
      ['unsigned (alg none) assertion', '/oauth2/token', { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"SA"}').toString('base64url')}.` }, {}],
      ['unknown resource', '/oauth2/token', { grant_type: 'client_credentials', resource: 'https://evil.example/' }, auth()],
      ['resource with fragment', '/oauth2/token', { grant_type: 'client_credentials', resource: 'https://api.example.test/#x' }, auth()],
      ['scope not allowed', '/oauth2/token', { grant_type: 'client_credentials', scope: 'openid' }, auth()],
      ['bad DPoP proof', '/oauth2/token', { grant_type: 'client_credentials' }, { ...auth(), dpop: 'garbage' }],
      ['refresh_token grant not allowed', '/oauth2/token', { grant_type: 'refresh_token', refresh_token: 'x' }, auth()],
      ['authorization_code not allowed', '/oauth2/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: 'http://x' }, auth()],
      ['device code unknown', '/oauth2/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x' }, auth()],
      ['token exchange without subject', '/oauth2/token', { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' }, auth()],
      ['token exchange with actor', '/oauth2/token', { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'a', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', actor_token: 'b', actor_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, auth()],
      ['token exchange with audience', '/oauth2/token', { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'a', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: 'x' }, auth()],
      ['control characters', '/oauth2/token', { grant_type: 'client_credentials\u0000', scope: '\u0007' }, auth()],
      ['introspection without token', '/oauth2/introspect', {}, auth()],
      ['introspection unauthenticated', '/oauth2/introspect', { token: 'x' }, {}],
      ['revocation without token', '/oauth2/revoke', {}, auth()],
      ['PAR without parameters', '/oauth2/par', {}, auth()],
      ['PAR by a client without redirect URIs', '/oauth2/par', { response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }, auth()],
      ['device authorization by a client without the grant', '/oauth2/device/auth', { scope: 'openid' }, auth()],
    ];
    for (const [name, path, body, headers] of cases) {
      const b = typeof body === 'string' ? body : Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v.replace('SA', saId)]));
      const res = await postForm(`${base}${path}`, b, headers);
      expect.soft(res.status, name).toBeGreaterThanOrEqual(400);
      expect.soft(res.status, name).toBeLessThan(500);
      expect.soft(res.type, name).toContain('application/json');
      expect.soft(OAUTH_ERRORS.has(String(res.json.error)), `${name}: ${res.text.slice(0, 200)}`).toBe(true);
      expect.soft(res.text, name).not.toContain(secret);
    }
  });

  it('answers requests that are odd but valid by the RFCs as they say, not with an error', async () => {
    // RFC 7009 §2.2: an unknown token (whatever the hint) is answered 200.
    const revoke = await postForm(`${base}/oauth2/revoke`, { token: 'x', token_type_hint: 'weird' }, { authorization: basic });
    expect(revoke.status).toBe(200);
    // RFC 6749 §3.3: scopes the server does not know are left out of the token, not an error.
    const huge = await postForm(`${base}/oauth2/token`, { grant_type: 'client_credentials', scope: 'x'.repeat(50_000) }, { authorization: basic });
    expect(huge.status).toBe(200);
    expect(huge.json.scope).toBeUndefined();
    // RFC 7662 §2.2: an unknown token is `active: false`.
    const intro = await postForm(`${base}/oauth2/introspect`, { token: 'nope' }, { authorization: basic });
    expect(intro.json).toEqual({ active: false });
  });

  it('answers a JSON body, a wrong method and a wrong media type without a 500', async () => {
    const json = await fetch(`${base}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic }, body: '{"grant_type":"client_credentials"}' });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    const get = await fetch(`${base}/oauth2/token`);
    expect(get.status).toBeLessThan(500);
    const text = await fetch(`${base}/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: basic }, body: 'token=x' });
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('logged no server_error and no secret', async () => {
    const text = logs.text();
    expect(text).not.toContain('server_error');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(basic.slice(6));
  });
});
