import { createServer, type Server } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import type { Logger } from '../kernel/logger.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Services } from '../gatehouse.js';
import { sendProblem } from './problem.js';
import { AUTHZEN_PATH, trackRoutes, unmatchedRoute } from './allowed-methods.js';
import { requestIdFor, securityHeaders } from './headers.js';
import { nulInUrl, refuseNul } from './json-body.js';
import { healthRoutes } from './routes/health.js';
import { authzenRoutes, sendAuthzenError } from './routes/authzen.js';
import type { FastHandler } from './routes/authzen-fast.js';
import { openfgaRoutes } from './routes/openfga/index.js';
import { scimRoutes, sendScimError } from './routes/scim.js';
import { sendOpenfgaError } from './routes/openfga/errors.js';
import { oidcRoutes } from './routes/oidc.js';
import { accountRoutes } from './routes/account/index.js';
import { adminApi } from './routes/admin/index.js';

/**
 * One log line per request, when it completes (request method, redacted URL, status, response
 * time, request id), instead of Fastify's two: the "incoming request" line moves to `debug`.
 * Halves the per-request cost of logging (JSON encoding and redaction) at `info`.
 *
 * The completion line is written without building the request's child logger when the request
 * wrote nothing else ({@link LazyRequestLogger.infoOnce}).
 */
class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else {
      const entry = { req: request, res: reply, responseTime: reply.elapsedTime };
      if (reply.log instanceof LazyRequestLogger) reply.log.infoOnce(entry, 'request completed');
      else reply.log.info(entry, 'request completed');
    }
  }
}

/**
 * A request's logger (`request.log`), bound to its request id: the pino child logger is built on
 * the first line the request actually writes (most requests write none but the completion line,
 * which {@link RequestLogController} writes through the parent logger). Same lines, same redaction.
 */
class LazyRequestLogger {
  #child: Logger | undefined;

  constructor(
    private readonly root: Logger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: Record<string, unknown>,
  ) {}

  /** Whether a line at `level` would be written (without building the child when the parent answers it). */
  private enabled(level: string): boolean {
    return this.#child !== undefined || this.options.level !== undefined || this.root.isLevelEnabled(level);
  }

  private get log(): Logger {
    return (this.#child ??= this.root.child(this.bindings, this.options));
  }

  /**
   * Writes `entry` at `info` as the request's child logger would (its bindings first, then
   * `entry`'s members; same serializers and redaction), through the parent logger when the
   * child was never built.
   */
  infoOnce(entry: Record<string, unknown>, msg: string): void {
    if (this.#child || this.options.level !== undefined) this.log.info(entry, msg);
    else if (this.root.isLevelEnabled('info')) this.root.info({ ...this.bindings, ...entry }, msg);
  }

  get level(): string {
    return this.#child?.level ?? this.root.level;
  }

  set level(value: string) {
    this.log.level = value;
  }

  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): Logger {
    return this.log.child(bindings, options);
  }

  fatal(...args: unknown[]): void {
    if (this.enabled('fatal')) (this.log.fatal as (...a: unknown[]) => void)(...args);
  }

  error(...args: unknown[]): void {
    if (this.enabled('error')) (this.log.error as (...a: unknown[]) => void)(...args);
  }

  warn(...args: unknown[]): void {
    if (this.enabled('warn')) (this.log.warn as (...a: unknown[]) => void)(...args);
  }

  info(...args: unknown[]): void {
    if (this.enabled('info')) (this.log.info as (...a: unknown[]) => void)(...args);
  }

  debug(...args: unknown[]): void {
    if (this.enabled('debug')) (this.log.debug as (...a: unknown[]) => void)(...args);
  }

  trace(...args: unknown[]): void {
    if (this.enabled('trace')) (this.log.trace as (...a: unknown[]) => void)(...args);
  }

  silent(): void {}
}

/** Options of {@link buildHttpApp}. */
export interface HttpAppOptions {
  /**
   * Answer plain single AuthZEN evaluations on the node:http fast path (routes/authzen-fast.ts)
   * instead of through Fastify; same answers either way (default true; tests compare the two).
   */
  evaluationFastPath?: boolean;
}

/**
 * Builds the Fastify app: request ids (a safe incoming `X-Request-ID` is kept, else a UUIDv7),
 * JSON logs, the body limit, security headers, and every API under its prefix.
 * Each API registers its own error handler in its protocol's format; anything outside them
 * answers RFC 9457 problem details.
 */
export async function buildHttpApp(services: Services, options: HttpAppOptions = {}): Promise<FastifyInstance> {
  // The node:http fast path for single AuthZEN evaluations (routes/authzen-fast.ts), set once the
  // AuthZEN routes are registered; it declines every request while the app closes.
  let fastPath: FastHandler | undefined;
  let closing = false;
  // GATEHOUSE_REQUEST_TIMEOUT_SECONDS: the whole request (headers and body) must arrive within it,
  // on the fast path as on Fastify (node:http answers 408 through Fastify's clientError handler
  // and closes); the headers alone within 60 s at most. node:http checks every half of it (30 s at most).
  const requestTimeoutMs = services.config.requestTimeoutSeconds * 1000;
  // GATEHOUSE_KEEP_ALIVE_TIMEOUT_SECONDS: how long a connection may stay idle after its last answer
  // (node:http closes it 1 s later). Independent of the timeouts above: node:http counts those from a
  // request's first byte, not over the idle time between requests, so headersTimeout stays
  // min(60 s, requestTimeout), the one bound node:http enforces (headersTimeout <= requestTimeout).
  const keepAliveTimeoutMs = services.config.keepAliveTimeoutSeconds * 1000;
  const app = Fastify({
    serverFactory: (handler, factoryOptions) => {
      const opts = factoryOptions as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number };
      const requestTimeout = opts.requestTimeout || requestTimeoutMs;
      const server = createServer(
        { requestTimeout, headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.min(30_000, Math.ceil(requestTimeout / 2)) },
        (req, res) => {
          if (fastPath === undefined || closing || !fastPath(req, res)) handler(req, res);
        },
      );
      // What Fastify sets on the server it creates itself (lib/server.js).
      server.keepAliveTimeout = opts.keepAliveTimeout || keepAliveTimeoutMs;
      server.setTimeout(opts.connectionTimeout ?? 0);
      if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
      return server;
    },
    loggerInstance: services.logger as unknown as FastifyBaseLogger,
    bodyLimit: services.config.bodyLimitBytes,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    trustProxy: false,
    genReqId: (req) => requestIdFor(req.headers['x-request-id']),
    logController: new RequestLogController({ requestIdLogLabel: 'request_id' }),
    childLoggerFactory: (logger, bindings, options) => new LazyRequestLogger(logger as unknown as Logger, bindings, options as Record<string, unknown>) as unknown as FastifyBaseLogger,
    // A request arriving while the app closes is refused (503 `shutting_down`, Connection: close) by
    // the onRequest hook below, in its API's error format, instead of in Fastify's own JSON.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    frameworkErrors: (err, request, reply) => sendInApiFormat(request, reply, err),
  });
  // Security headers (helmet's, computed once) and the request id on every response; a URL
  // holding U+0000 is refused (json-body.ts); while the app closes, every request is refused. One hook for them.
  const headers = await securityHeaders();
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers);
    reply.header('x-request-id', request.id as string);
    done(closing ? new GatehouseError('shutting_down', 'the server is shutting down; send the request again') : nulInUrl(request));
  });
  await app.register(formbody, { bodyLimit: services.config.bodyLimitBytes });
  refuseNul(app, services.config.bodyLimitBytes);
  app.setErrorHandler((err, request, reply) => sendProblem(request, reply, err));
  app.setNotFoundHandler((request, reply) => (AUTHZEN_PATH.test(request.url) ? sendAuthzenError : sendProblem)(request, reply, unmatchedRoute(request, reply)));
  trackRoutes(app);

  await app.register(async (scope) => healthRoutes(scope, services));
  // --- API registration (each module adds one line) ---
  app.addHook('preClose', (done) => {
    closing = true;
    closeConnectionsWhenDone(app.server);
    done();
  });
  const useFastPath = options.evaluationFastPath ?? true;
  await app.register(async (scope) => authzenRoutes(scope, services, useFastPath ? { use: (h) => (fastPath = h), securityHeaders: headers } : undefined));
  await app.register(async (scope) => openfgaRoutes(scope, services), { prefix: '/stores' });
  await app.register(async (scope) => scimRoutes(scope, services), { prefix: '/scim/v2' });
  // Cookies are read only by the sign-in and account pages: the parser's hooks run there only.
  await app.register(async (scope) => {
    await scope.register(cookie);
    await oidcRoutes(scope, services);
  });
  await app.register(async (scope) => {
    await scope.register(cookie);
    await accountRoutes(scope, services);
  });
  await app.register(async (scope) => adminApi(scope, services), { prefix: '/api/v1' });

  return app;
}

/** How often, in ms, a closing server closes the connections that have gone idle since it began to close. */
const CLOSING_SWEEP_MS = 50;
/** How long, in ms, a closing server lets requests in flight finish before it closes every connection. */
export const CLOSE_GRACE_MS = 5_000;

/**
 * While `server` closes: every {@link CLOSING_SWEEP_MS}, closes the keep-alive connections that
 * have answered the request they were serving when it began to close (Fastify closes only those
 * idle at that instant, and node:http keeps the others open after their answer, so one pooled
 * client held the shutdown until its keep-alive timeout); after {@link CLOSE_GRACE_MS}, closes
 * every connection left (a client stalled mid-request), so the close completes (`gatehouse serve`
 * gives up, exit 1, after 10 s).
 */
function closeConnectionsWhenDone(server: Server): void {
  if (!server.listening) return;
  const started = Date.now();
  const sweep = setInterval(() => {
    if (Date.now() - started >= CLOSE_GRACE_MS) server.closeAllConnections();
    else server.closeIdleConnections();
  }, CLOSING_SWEEP_MS);
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
}

/**
 * Errors raised before routing (a malformed URL, a path parameter over Fastify's length limit),
 * answered in the format of the API the path belongs to, as its routes would answer.
 */
function sendInApiFormat(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const path = request.url;
  if (path === '/scim/v2' || path.startsWith('/scim/v2/')) return sendScimError(err, request, reply);
  if (AUTHZEN_PATH.test(path)) return sendAuthzenError(request, reply, err);
  if (path === '/stores' || path.startsWith('/stores/') || path.startsWith('/stores?')) return sendOpenfgaError(request, reply, err);
  return sendProblem(request, reply, err);
}
