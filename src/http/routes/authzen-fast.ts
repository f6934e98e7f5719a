/**
 * A dispatcher in front of Fastify for the one request every application sends on every request
 * of its own: a single Access Evaluation (`POST /access/v1/evaluation`, AuthZEN 1.0 §6) against the
 * default store, with a cached API token. It answers that request straight on `node:http`, with the
 * same steps and the same answers as the Fastify route in `authzen.ts` (whose functions it calls:
 * request id and its echo, the security headers, the token check, the JSON body parser, the
 * request shape check, the decision, the AuthZEN error format, the completion log line), without
 * Fastify's per-request objects and hook runners (about a fifth of the request's CPU time).
 *
 * It takes a request only when everything that could make the answer differ from the plain case is
 * absent, decided from the request line and headers before any body byte is read; every other
 * request goes to Fastify untouched:
 * method `POST`, path exactly `/access/v1/evaluation` (no query string), `Content-Type` exactly
 * `application/json`, a non-zero `Content-Length` within the body limit and no `Transfer-Encoding`,
 * no `x-gatehouse-at-least-revision`, and a bearer token that the API token cache admits with the
 * `authz` scope (an unknown, expired, revoked or uncached token, or one without the scope, goes to
 * Fastify, which reads the database and answers 401/403 as it always does). While the server
 * closes, Fastify answers (503).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FastifyRequest } from 'fastify';
import type { Logger } from '../../kernel/logger.js';
import type { Services } from '../../gatehouse.js';
import type { AuthzenPdp, EvaluationResponse } from '../../authz/authzen.js';
import type { ApiToken } from '../../identity/types.js';
import { DEFAULT_TENANT } from '../../kernel/context.js';
import { apiTokenContext, bearerTokenIn } from '../auth.js';
import { AT_LEAST_REVISION_HEADER } from '../consistency.js';
import { requestIdFor } from '../headers.js';
import { authzenError, echoedRequestId, evaluationRequestOf } from './authzen.js';

/** Answers `req` and returns true, or returns false having touched nothing (Fastify then answers). */
export type FastHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** A content-type parser as Fastify calls it (json-body.ts `jsonBodyParser`). */
type BodyParser = (request: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void) => void;

/** What the fast path shares with the Fastify app it stands in front of. */
export interface EvaluationFastPathOptions {
  /** The app's logger (`app.log`: Fastify's pino child, with its serializers). */
  log: Logger;
  apiTokens: Pick<Services['apiTokens'], 'authenticateCached'>;
  /** The PDP of the AuthZEN routes (same store cache). */
  pdp: AuthzenPdp;
  /** The security headers of every response (headers.ts `securityHeaders`). */
  securityHeaders: Readonly<Record<string, string>>;
  /** The app's body limit, in bytes. */
  bodyLimitBytes: number;
  /** The app's JSON body parser for `application/json` (json-body.ts). */
  parseJson: BodyParser;
}

const PATH = '/access/v1/evaluation';

/** Requests this process answered on the fast path (all apps together): what tests and operators read to see it in use. */
export const evaluationFastPathStats = { taken: 0 };
const DIGITS = /^[1-9][0-9]{0,15}$/;
/** The two bodies of a decision without context, as `JSON.stringify` writes them (deny, permit). */
const DECISION_BODY = [JSON.stringify({ decision: false }), JSON.stringify({ decision: true })] as const;

/** The fast path for single Access Evaluations (see the module comment). */
export function evaluationFastPath(o: EvaluationFastPathOptions): FastHandler {
  const staticHeaders: string[] = [];
  for (const [name, value] of Object.entries(o.securityHeaders)) staticHeaders.push(name, value);
  const logCompletion = (): boolean => o.log.isLevelEnabled('info');

  /**
   * The rest of a taken request, run at the end of the event loop's turn (`setImmediate`), when
   * its body has usually arrived: the requests of one turn are then served one after another while
   * the code and data they share are still in the CPU's caches. `startedAt`: the arrival time
   * (`performance.now()`, ms) when completions are logged, else -1; `arrivalId`: the request id
   * already logged at arrival (debug level), if any.
   */
  const serve = (req: IncomingMessage, res: ServerResponse, token: ApiToken, startedAt: number, arrivalId: string | undefined): void => {
    if (req.destroyed) return; // the client went away, or the parser closed its connection: no one to answer
    const h = req.headers;
    const given = h['x-request-id'];
    const id = arrivalId ?? requestIdFor(given);
    const shownId = echoedRequestId(given, id) ?? id;
    const socket = req.socket;
    const sourceIp = socket.remoteAddress;

    /** `closeConnection`: answer `Connection: close` and close, as Fastify does after a body its parser refused. */
    const send = (status: number, payload: string, closeConnection = false): void => {
      if (res.destroyed) return;
      if (startedAt >= 0) {
        res.once('finish', () => {
          o.log.info({ request_id: id, req: loggedReq(req), res: { statusCode: res.statusCode }, responseTime: performance.now() - startedAt }, 'request completed');
        });
      }
      const length = String(Buffer.byteLength(payload));
      res.writeHead(
        status,
        closeConnection
          ? [...staticHeaders, 'x-request-id', shownId, 'connection', 'close', 'content-type', 'application/json; charset=utf-8', 'content-length', length]
          : [...staticHeaders, 'x-request-id', shownId, 'content-type', 'application/json; charset=utf-8', 'content-length', length],
      );
      res.end(payload);
    };
    const fail = (err: unknown, closeConnection = false): void => {
      const { status, body, unexpected } = authzenError(err);
      if (unexpected) o.log.error({ request_id: id, err }, 'unexpected error');
      send(status, JSON.stringify(body), closeConnection);
    };
    const answer = (r: EvaluationResponse): void => send(200, r.context === undefined ? DECISION_BODY[r.decision ? 1 : 0] : JSON.stringify(r));
    const decide = (text: string): void => {
      o.parseJson(undefined as unknown as FastifyRequest, text, (err, value) => {
        // Fastify's content-type parser closes the connection after a refused body (the client
        // may send more); so does this path, with the same headers (lib/content-type-parser.js).
        if (err) return fail(err, true);
        let out: EvaluationResponse | Promise<EvaluationResponse>;
        try {
          const body = evaluationRequestOf(value);
          out = o.pdp.evaluateNow(apiTokenContext(token, id, sourceIp as string, 'admin'), null, body);
        } catch (e) {
          return fail(e);
        }
        if (out instanceof Promise) out.then(answer, fail);
        else answer(out);
      });
    };
    // The body: read in one call when the request is complete (no listeners, no flowing mode);
    // otherwise collected as it comes. A client that goes away mid-body gets no answer.
    const expected = Number(h['content-length']);
    if (req.complete && req.readableLength === expected) {
      const whole = req.read() as Buffer | null;
      if (whole !== null) return decide(whole.toString('utf8'));
    }
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    req.on('error', () => {
      chunks.length = 0;
    });
    req.on('end', () => decide(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, received).toString('utf8')));
  };

  return (req, res) => {
    if (req.method !== 'POST' || req.url !== PATH) return false;
    const h = req.headers;
    if (h['content-type'] !== 'application/json' || h['transfer-encoding'] !== undefined || h[AT_LEAST_REVISION_HEADER] !== undefined) return false;
    const length = h['content-length'];
    if (length === undefined || !DIGITS.test(length) || Number(length) > o.bodyLimitBytes) return false;
    const bearer = bearerTokenIn(h.authorization);
    if (bearer === null) return false;
    const token = o.apiTokens.authenticateCached(DEFAULT_TENANT, bearer, req.socket);
    if (!token || !token.scopes.includes('authz')) return false;

    evaluationFastPathStats.taken++;
    // The completion line's level is read once, when the request arrives (its clock only then).
    const startedAt = logCompletion() ? performance.now() : -1;
    // RequestLogController.incomingRequest (app.ts): at debug, a line when the request arrives.
    let arrivalId: string | undefined;
    if (o.log.isLevelEnabled('debug')) {
      arrivalId = requestIdFor(h['x-request-id']);
      o.log.debug({ request_id: arrivalId, req: loggedReq(req) }, 'incoming request');
    }
    setImmediate(serve, req, res, token, startedAt, arrivalId);
    return true;
  };
}

/** The request as the logger's `req` serializer reads a FastifyRequest (kernel/logger.ts). */
function loggedReq(req: IncomingMessage): { method: string | undefined; url: string | undefined; host: string; ip: string | undefined; socket: IncomingMessage['socket'] } {
  return { method: req.method, url: req.url, host: req.headers.host ?? '', ip: req.socket.remoteAddress, socket: req.socket };
}
