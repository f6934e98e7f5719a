import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';

// Fresh-eyes test: a request that arrives on an open keep-alive connection once the server has
// begun to close (graceful stop, SIGTERM) is refused with 503 and `Connection: close` in its own
// API's error format (AuthZEN, OpenFGA, SCIM, problem details), with the security headers and the
// request id, as every other Gatehouse error is; not in Fastify's own JSON.

const BODY = JSON.stringify({ subject: { type: 'user', id: 'ann' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'plan' } });

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits what a connection received into its answers (each with a Content-Length). */
function answers(text: string): Answer[] {
  const out: Answer[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const split = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, split).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
    const length = Number(headers['content-length'] ?? 0);
    out.push({ status: Number(head[0]?.split(' ')[1]), headers, body: rest.slice(split + 4, split + 4 + length) });
    rest = rest.slice(split + 4 + length);
  }
  return out;
}

describeEachBackend('HTTP: a request arriving while the server closes', (backend) => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let port: number;
  let token: string;
  let adminToken: string;
  let scimToken: string;

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, logLevel: 'silent', host: '127.0.0.1', port: 0 }), logger: pino({ level: 'silent' }) });
    port = Number(new URL(await gh.listen()).port);
    token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    adminToken = (await gh.apiTokens.create(cliContext(), { name: 'admin', scopes: ['admin'] })).token;
    scimToken = (await gh.apiTokens.create(cliContext(), { name: 'scim', scopes: ['scim'] })).token;
  });
  afterAll(async () => {
    await gh?.close();
    await drop?.();
  });

  it('is answered 503 in its API format, with Connection: close, on AuthZEN, OpenFGA, SCIM and /api/v1', async () => {
    const held = (authorization: string) =>
      // Waits 2 s for a revision the index never reaches: its connection is busy when the close begins.
      `POST /access/v1/evaluation HTTP/1.1\r\nhost: t\r\nauthorization: Bearer ${token}\r\nx-gatehouse-at-least-revision: 999999\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`.replace(token, authorization);
    const late: Array<[string, string]> = [
      ['authzen', `POST /access/v1/evaluation HTTP/1.1\r\nhost: t\r\nx-request-id: late-authzen\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`],
      ['openfga', `GET /stores HTTP/1.1\r\nhost: t\r\nx-request-id: late-openfga\r\nauthorization: Bearer ${token}\r\n\r\n`],
      ['scim', `GET /scim/v2/Users HTTP/1.1\r\nhost: t\r\nx-request-id: late-scim\r\nauthorization: Bearer ${scimToken}\r\n\r\n`],
      ['admin', `GET /api/v1/api-tokens HTTP/1.1\r\nhost: t\r\nx-request-id: late-admin\r\nauthorization: Bearer ${adminToken}\r\n\r\n`],
    ];
    // Each step waits for the server's own event, not for a time (on a loaded machine a timer can
    // fire before the server has read bytes written before it): every held request's head parsed
    // before the close begins, the server no longer listening (the preClose hook has run) before the
    // second requests are written.
    let parsed = 0;
    const allHeld = new Promise<void>((resolve) => {
      const onRequest = () => {
        if (++parsed < late.length) return;
        gh.http.server.off('request', onRequest);
        resolve();
      };
      gh.http.server.on('request', onRequest);
    });
    const sockets = late.map(([, second]) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8').on('data', (c: string) => (text += c));
      socket.on('error', () => undefined);
      const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
      socket.write(held(token));
      return { socket, second, closed };
    });
    await allHeld;
    const closing = gh.close();
    while (gh.http.server.listening) await new Promise((r) => setTimeout(r, 5));
    for (const s of sockets) s.socket.write(s.second);
    const received = await Promise.all(sockets.map((s) => s.closed));
    await closing;
    const lateAnswers = received.map((t) => {
      const [first, second] = answers(t);
      expect(first?.status).toBe(503);
      expect(JSON.parse(first?.body ?? '')).toMatchObject({ error: { code: 'revision_timeout' } });
      return second!;
    });
    const [authzen, openfga, scim, admin] = lateAnswers;
    for (const [a, name] of lateAnswers.map((a, i) => [a, late[i]![0]] as const)) {
      expect(a.status).toBe(503);
      expect(a.headers.connection).toBe('close');
      expect(a.headers['x-request-id']).toBe(`late-${name}`);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(JSON.parse(authzen!.body)).toEqual({ error: { code: 'shutting_down', message: expect.any(String) } });
    expect(JSON.parse(openfga!.body)).toEqual({ code: 'unavailable', message: expect.any(String) });
    expect(JSON.parse(scim!.body)).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '503' });
    expect(JSON.parse(admin!.body)).toMatchObject({ code: 'shutting_down', status: 503 });
    expect(admin!.headers['content-type']).toMatch(/^application\/problem\+json/);
  }, 20_000);
});
