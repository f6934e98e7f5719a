import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { createGatehouse, type Gatehouse } from '../../src/gatehouse.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { describeEachBackend, type Backend } from '../support/backends.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

// GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS (docs/configuration.md): a keep-alive connection left idle
// after its last answer is closed by the server after that many seconds (node:http adds 1 s of its
// own before it closes, so clients that trust the advertised `Keep-Alive: timeout=N` do not race
// the close), on the AuthZEN fast path as on Fastify; a request within it keeps the connection.

interface KeepAliveOutcome {
  /** Status of each answer, in order. */
  statuses: number[];
  /** The `Keep-Alive` header of the last answer. */
  keepAlive: string | undefined;
  /** From the last answer's last byte to the server closing the connection, in ms. */
  idleBeforeCloseMs: number;
}

/**
 * Sends `requests` on one connection to `port`, each once the previous answer is complete and
 * `gapMs` after it, then waits (at most `waitMs`) for the server to close the idle connection.
 */
function keepAliveClient(port: number, requests: string[], gapMs: number, waitMs = 10_000): Promise<KeepAliveOutcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let parsed = 0;
    const statuses: number[] = [];
    let keepAlive: string | undefined;
    let lastAnswerAt = 0;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the idle connection within ${waitMs} ms`));
    }, waitMs);
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      text += chunk;
      // Complete answers: a head, then a body of its Content-Length.
      for (;;) {
        const end = text.indexOf('\r\n\r\n', parsed);
        if (end < 0) return;
        const head = text.slice(parsed, end).split('\r\n');
        const length = Number(/^content-length: *(\d+)$/im.exec(head.join('\n'))?.[1] ?? 0);
        if (text.length < end + 4 + length) return;
        statuses.push(Number(head[0]?.split(' ')[1]));
        keepAlive = head.find((l) => /^keep-alive:/i.test(l))?.replace(/^keep-alive: */i, '');
        parsed = end + 4 + length;
        lastAnswerAt = Date.now();
        const next = requests[statuses.length];
        if (next !== undefined) setTimeout(() => socket.write(next), gapMs);
      }
    });
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ statuses, keepAlive, idleBeforeCloseMs: Date.now() - lastAnswerAt });
    });
    socket.on('connect', () => socket.write(requests[0] as string));
  });
}

async function start(backend: Backend, keepAliveTimeoutSeconds?: number): Promise<{ gh: Gatehouse; port: number; token: string; drop: () => Promise<void> }> {
  const { url, drop } = await backend.create();
  const gh = await createGatehouse({
    config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'silent', host: '127.0.0.1', port: 0, ...(keepAliveTimeoutSeconds === undefined ? {} : { keepAliveTimeoutSeconds }) }),
    logger: pino({ level: 'silent' }),
  });
  const port = Number(new URL(await gh.listen()).port);
  const token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
  return { gh, port, token, drop };
}

const BODY = JSON.stringify({ subject: { type: 'user', id: 'ann' }, action: { name: 'read' }, resource: { type: 'documents', id: 'q3' } });

describeEachBackend('HTTP keep-alive timeout (GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS)', (backend) => {
  let one: Awaited<ReturnType<typeof start>> | undefined;
  let three: Awaited<ReturnType<typeof start>> | undefined;
  let byDefault: Awaited<ReturnType<typeof start>> | undefined;

  beforeAll(async () => {
    [one, three, byDefault] = await Promise.all([start(backend, 1), start(backend, 3), start(backend)]);
  }, 60_000);
  afterAll(async () => {
    for (const i of [one, three, byDefault]) {
      await i?.gh.close();
      await i?.drop();
    }
  });

  const evaluation = (token: string) =>
    `POST /access/v1/evaluation HTTP/1.1\r\nhost: pdp.test\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`;
  const health = 'GET /healthz HTTP/1.1\r\nhost: pdp.test\r\n\r\n';

  it('the server is given the setting: 72 s by default, the headers timeout within the request timeout', () => {
    expect(byDefault!.gh.http.server.keepAliveTimeout).toBe(72_000);
    expect(one!.gh.http.server.keepAliveTimeout).toBe(1000);
    expect(three!.gh.http.server.keepAliveTimeout).toBe(3000);
    for (const i of [one!, three!, byDefault!]) {
      const s = i.gh.http.server;
      // node:http's rule: headersTimeout <= requestTimeout (it throws ERR_OUT_OF_RANGE otherwise).
      expect(s.headersTimeout).toBe(Math.min(60_000, s.requestTimeout));
      expect(s.requestTimeout).toBe(60_000);
    }
  });

  it('1 s: an idle connection is closed 1 s (plus node:http\'s 1 s) after its last answer, fast path and Fastify alike; a request within it keeps the connection', async () => {
    const i = one!;
    await admitOnFastPath(i.gh.apiTokens, i.token);
    const before = evaluationFastPathStats.taken;
    const [fast, fastify] = await Promise.all([
      keepAliveClient(i.port, [evaluation(i.token), evaluation(i.token)], 600),
      keepAliveClient(i.port, [health, health], 600),
    ]);
    expect(evaluationFastPathStats.taken - before).toBe(2);
    for (const o of [fast, fastify]) {
      // Two answers on one connection: the 600 ms pause did not close it.
      expect(o.statuses).toEqual([200, 200]);
      expect(o.keepAlive).toBe('timeout=1');
      expect(o.idleBeforeCloseMs).toBeGreaterThanOrEqual(950);
      expect(o.idleBeforeCloseMs).toBeLessThan(6000);
    }
  });

  it('3 s: an idle connection stays open at least 3 s after its last answer, then is closed', async () => {
    const i = three!;
    await admitOnFastPath(i.gh.apiTokens, i.token);
    const [fast, fastify] = await Promise.all([keepAliveClient(i.port, [evaluation(i.token)], 0), keepAliveClient(i.port, [health], 0)]);
    for (const o of [fast, fastify]) {
      expect(o.statuses).toEqual([200]);
      expect(o.keepAlive).toBe('timeout=3');
      expect(o.idleBeforeCloseMs).toBeGreaterThanOrEqual(2950);
      expect(o.idleBeforeCloseMs).toBeLessThan(9000);
    }
  });
});
