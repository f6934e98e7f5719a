import { connect } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { createGatehouse, type Gatehouse, type Services } from '../../src/gatehouse.js';
import { buildHttpApp } from '../../src/http/app.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend } from '../support/backends.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

// Fresh-eyes test: slow clients against GATEHOUSE_REQUEST_TIMEOUT_SECONDS, on the node:http fast
// path (routes/authzen-fast.ts) and on Fastify (the same services without the fast path). A client
// that stalls or dribbles its body past the timeout is answered 408 and closed on both alike; one
// that dribbles within it is answered; nothing stays open, the server keeps serving.

const BODY = JSON.stringify({ subject: { type: 'user', id: 'ann' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'plan' } });

interface Outcome {
  /** Status of the answer, 0 when the server wrote nothing. */
  status: number;
  /** The answer's header names, lower-case, sorted (values vary: request ids). */
  headerNames: string[];
  /** Time from the first byte sent to the server closing the socket, in ms. */
  closedAfterMs: number;
}

/**
 * Opens a socket to `port`, writes `parts` one by one `gapMs` apart (stopping once the server
 * closes), then waits for the server to close the socket (at most `waitMs`).
 */
function slowClient(port: number, parts: Array<string | Buffer>, gapMs: number, waitMs = 8000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let started = 0;
    let closed = false;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${waitMs} ms`));
    }, waitMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      clearTimeout(giveUp);
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.slice(0, Math.max(0, text.indexOf('\r\n\r\n'))).split('\r\n');
      const status = text ? Number(head[0]?.split(' ')[1]) : 0;
      const headerNames = head.slice(1).map((l) => l.slice(0, l.indexOf(':')).toLowerCase()).sort();
      resolve({ status, headerNames, closedAfterMs: Date.now() - started });
    });
    socket.on('connect', async () => {
      started = Date.now();
      for (const p of parts) {
        if (closed) return;
        socket.write(p);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

const connections = (server: Server): Promise<number> => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

describeEachBackend('AuthZEN evaluation: slow clients against the request timeout, fast path and Fastify alike', (backend) => {
  let gh: Gatehouse;
  let plain: FastifyInstance;
  let drop: () => Promise<void>;
  let fastPort: number;
  let plainPort: number;
  let token: string;

  const head = (length = Buffer.byteLength(BODY), extra = '') =>
    `POST /access/v1/evaluation HTTP/1.1\r\nhost: pdp.test\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n${extra}\r\n`;

  beforeAll(async () => {
    const { url, drop: d } = await backend.create();
    drop = d;
    gh = await createGatehouse({
      config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'silent', host: '127.0.0.1', port: 0, requestTimeoutSeconds: 1 }),
      logger: pino({ level: 'silent' }),
    });
    fastPort = Number(new URL(await gh.listen()).port);
    plain = await buildHttpApp(gh as unknown as Services, { evaluationFastPath: false });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    plainPort = (plain.server.address() as { port: number }).port;
    token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    // Warm the token cache (the fast path takes only cached tokens).
    const warm = await slowClient(fastPort, [head(Buffer.byteLength(BODY), 'connection: close\r\n') + BODY], 0);
    expect(warm.status).toBe(200);
  });
  afterAll(async () => {
    await plain?.close();
    await gh?.close();
    await drop?.();
  });

  it('the server has a request timeout by default (60 s), headers within it', async () => {
    expect(loadConfig({}, {}).requestTimeoutSeconds).toBe(60);
    expect(loadConfig({ GATEHOUSE_REQUEST_TIMEOUT_SECONDS: '5' }, {}).requestTimeoutSeconds).toBe(5);
    expect(() => loadConfig({ GATEHOUSE_REQUEST_TIMEOUT_SECONDS: '0' }, {})).toThrow(/GATEHOUSE_REQUEST_TIMEOUT_SECONDS/);
    expect(gh.http.server.requestTimeout).toBe(1000);
    expect(gh.http.server.headersTimeout).toBe(1000);
  });

  it('a body that stalls half-way: 408 and closed after the timeout, on the fast path as on Fastify', async () => {
    const half = BODY.slice(0, 20);
    await admitOnFastPath(gh.apiTokens, token);
    const before = evaluationFastPathStats.taken;
    const [fast, slow] = await Promise.all([slowClient(fastPort, [head() + half], 0), slowClient(plainPort, [head() + half], 0)]);
    expect(evaluationFastPathStats.taken - before).toBe(1);
    for (const o of [fast, slow]) {
      expect(o.status).toBe(408);
      expect(o.closedAfterMs).toBeGreaterThanOrEqual(900);
      expect(o.closedAfterMs).toBeLessThan(4000);
    }
    expect(fast.headerNames).toEqual(slow.headerNames);
  });

  it('a body dribbled a byte every 150 ms past the timeout: 408 and closed, both paths alike', async () => {
    const parts = [head(), ...BODY.split('')];
    await admitOnFastPath(gh.apiTokens, token);
    const before = evaluationFastPathStats.taken;
    const [fast, slow] = await Promise.all([slowClient(fastPort, parts, 150), slowClient(plainPort, parts, 150)]);
    expect(evaluationFastPathStats.taken - before).toBe(1);
    expect(fast.status).toBe(408);
    expect(slow.status).toBe(408);
    expect(fast.headerNames).toEqual(slow.headerNames);
    expect(fast.closedAfterMs).toBeLessThan(4000);
  });

  it('headers dribbled past the timeout: 408 and closed, both alike', async () => {
    const parts = head().match(/[\s\S]{1,8}/g) as string[];
    const [fast, slow] = await Promise.all([slowClient(fastPort, parts, 150), slowClient(plainPort, parts, 150)]);
    expect(fast.status).toBe(408);
    expect(slow.status).toBe(408);
    expect(fast.closedAfterMs).toBeLessThan(4000);
  });

  it('a body dribbled within the timeout is answered, 200, on both paths, with the same headers', async () => {
    const parts = [head(Buffer.byteLength(BODY), 'connection: close\r\n'), BODY.slice(0, 30), BODY.slice(30, 60), BODY.slice(60)];
    await admitOnFastPath(gh.apiTokens, token);
    const before = evaluationFastPathStats.taken;
    const [fast, slow] = await Promise.all([slowClient(fastPort, parts, 100), slowClient(plainPort, parts, 100)]);
    expect(evaluationFastPathStats.taken - before).toBe(1);
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(200);
    expect(fast.headerNames).toEqual(slow.headerNames);
  });

  it('a request received in time but answered after the timeout is answered, not cut (the timeout is for receiving it)', async () => {
    // An evaluation asking for a revision the index never reaches waits 2 s (twice the timeout), then 503 revision_timeout.
    const parts = [head(Buffer.byteLength(BODY), 'connection: close\r\nx-gatehouse-at-least-revision: 999999\r\n') + BODY];
    const [fast, slow] = await Promise.all([slowClient(fastPort, parts, 0), slowClient(plainPort, parts, 0)]);
    for (const o of [fast, slow]) {
      expect(o.status).toBe(503);
      expect(o.closedAfterMs).toBeGreaterThanOrEqual(1900);
    }
  });

  it('a keep-alive connection idle longer than the timeout between two requests: both answered (the timeout runs from each request)', async () => {
    const parts = [head() + BODY, head() + BODY, head(Buffer.byteLength(BODY), 'connection: close\r\n') + BODY];
    const statuses = (port: number) =>
      new Promise<number[]>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.setEncoding('utf8').on('data', (c: string) => (text += c));
        socket.on('error', reject);
        socket.on('close', () => resolve([...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))));
        void (async () => {
          for (const p of parts) {
            socket.write(p);
            await new Promise((r) => setTimeout(r, 1600));
          }
        })();
      });
    const [fast, slow] = await Promise.all([statuses(fastPort), statuses(plainPort)]);
    expect(fast).toEqual([200, 200, 200]);
    expect(slow).toEqual([200, 200, 200]);
  });

  it('afterwards no connection is left open and both servers answer', async () => {
    await new Promise((r) => setTimeout(r, 100));
    expect(await connections(gh.http.server)).toBe(0);
    expect(await connections(plain.server)).toBe(0);
    for (const port of [fastPort, plainPort]) {
      const o = await slowClient(port, [head(Buffer.byteLength(BODY), 'connection: close\r\n') + BODY], 0);
      expect(o.status).toBe(200);
    }
  });
});
