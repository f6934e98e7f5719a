import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { createGatehouse, type Gatehouse, type Services } from '../../src/gatehouse.js';
import { buildHttpApp } from '../../src/http/app.js';
import { evaluationFastPathStats } from '../../src/http/routes/authzen-fast.js';
import { loadConfig } from '../../src/kernel/config.js';
import { cliContext } from '../../src/kernel/context.js';
import { loggerOptions } from '../../src/kernel/logger.js';
import { describeEachBackend } from '../support/backends.js';
import { rawRequest, type RawAnswer } from '../support/raw-http.js';
import { admitOnFastPath, COUNTING_TOKEN_CACHE_TTL_SECONDS } from '../support/fast-path.js';

// Fresh-eyes test: an unexpected (non-Gatehouse) exception inside the decision, thrown at once or
// rejected later, while the node:http fast path answers: a 500 in AuthZEN's error format, no stack
// and nothing of the error's message in the body, the same answer as the Fastify route gives, one
// 'unexpected error' line naming the request, and the server goes on serving.

const SECRET = 'postgres://gatehouse:hunter2@db.internal/prod';
const BODY = JSON.stringify({ subject: { type: 'user', id: 'ann' }, action: { name: 'viewer' }, resource: { type: 'doc', id: 'plan' } });

/** Sends one evaluation with `Connection: close` as raw bytes and reads the answer until the server closes. */
function raw(port: number, token: string, requestId: string): Promise<RawAnswer> {
  return rawRequest(
    port,
    `POST /access/v1/evaluation HTTP/1.1\r\nhost: pdp.test\r\nconnection: close\r\nx-request-id: ${requestId}\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
  );
}

describeEachBackend('AuthZEN fast path: an unexpected exception in the decision', (backend) => {
  let gh: Gatehouse;
  let plain: FastifyInstance;
  let drop: () => Promise<void>;
  let fastPort: number;
  let plainPort: number;
  let token: string;
  const lines: Array<Record<string, unknown>> = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    const { url, drop: d } = await backend.create();
    drop = d;
    const logger = pino(loggerOptions('info'), { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    gh = await createGatehouse({ config: loadConfig({}, { databaseUrl: url, apiTokenCacheTtlSeconds: COUNTING_TOKEN_CACHE_TTL_SECONDS, logLevel: 'info', host: '127.0.0.1', port: 0 }), logger });
    fastPort = Number(new URL(await gh.listen()).port);
    plain = await buildHttpApp(gh as unknown as Services, { evaluationFastPath: false });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    plainPort = (plain.server.address() as { port: number }).port;
    token = (await gh.apiTokens.create(cliContext(), { name: 'pep', scopes: ['authz'] })).token;
    // Warm the token cache (the fast path takes only cached tokens).
    expect((await raw(fastPort, token, 'warm')).status).toBe(200);
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await plain?.close();
    await gh?.close();
    await drop?.();
  });

  /** Sends the same request to both apps; checks both answers are the 500 and equal (but for the date). */
  async function bothFail(requestId: string): Promise<void> {
    await admitOnFastPath(gh.apiTokens, token);
    const before = evaluationFastPathStats.taken;
    const fast = await raw(fastPort, token, `${requestId}-fast`);
    expect(evaluationFastPathStats.taken - before).toBe(1);
    const slow = await raw(plainPort, token, `${requestId}-plain`);
    for (const [r, id] of [[fast, `${requestId}-fast`], [slow, `${requestId}-plain`]] as const) {
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)).toEqual({ error: { code: 'internal', message: 'An unexpected error occurred.' } });
      expect(r.body).not.toContain('hunter2');
      expect(r.body).not.toContain('at ');
      expect(r.headers['x-request-id']).toBe(id);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      delete r.headers.date;
      delete r.headers['x-request-id'];
      // Logged once, at error, with the request id and the error (its stack stays in the log).
      const logged = lines.filter((l) => l.msg === 'unexpected error' && l.request_id === id);
      expect(logged).toHaveLength(1);
      expect(logged[0]?.level).toBe(50);
      expect(JSON.stringify(logged[0]?.err)).toContain('TypeError');
    }
    expect(fast).toEqual(slow);
  }

  it('a TypeError thrown at once by the engine: 500 internal on both paths alike, nothing of it in the body', async () => {
    vi.spyOn(gh.authz, 'checkNow').mockImplementation(() => {
      throw new TypeError(`cannot read the index (${SECRET})`);
    });
    await bothFail('sync');
  });

  it('a TypeError rejected later (the decision waited for a revision): the same 500 on both paths', async () => {
    vi.spyOn(gh.authz, 'checkReady').mockReturnValue(undefined);
    vi.spyOn(gh.authz, 'check').mockImplementation(async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new TypeError(`lost the connection to ${SECRET}`);
    });
    await bothFail('async');
  });

  it('afterwards the process serves on both paths, with no unhandled rejection', async () => {
    for (const port of [fastPort, plainPort]) {
      const r = await raw(port, token, 'after');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ decision: false });
    }
    expect(unhandled).toEqual([]);
  });
});
