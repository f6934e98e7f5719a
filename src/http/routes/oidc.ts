/**
 * HTTP adapter of the OpenID Provider:
 * - `/oauth2/*` and `/.well-known/openid-configuration` are handed, raw, to oidc-provider (a Koa
 *   app) from an `onRequest` hook that hijacks the reply, so Fastify neither parses the body nor
 *   formats errors: oidc-provider answers with OAuth error JSON or its (Gatehouse-styled) error page;
 * - `/login/:uid` serves the sign-in interaction's HTML forms (GET) and takes their posts (POST).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from 'oidc-provider';
import type { Services } from '../../gatehouse.js';
import { classifyError } from '../errors.js';
import { LoginInteractions, type InteractionOutcome } from '../../oidc/interactions.js';
import { errorPage } from '../../oidc/views.js';

/** Passes the raw request to oidc-provider, keeping the request id and the security headers set so far. */
function mountProvider(app: FastifyInstance, services: Services): void {
  const callback = services.oidc.provider.callback();
  const passThrough = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Helmet writes its headers (CSP included) straight onto the raw response; headers set through
    // Fastify's reply (the request id) are copied. oidc-provider adds the hash of its own inline
    // scripts (form_post) to the CSP's script-src itself.
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) reply.raw.setHeader(name, value);
    }
    reply.hijack();
    await callback(request.raw, reply.raw);
  };
  const unreachable = async (): Promise<void> => undefined;
  app.all('/oauth2/*', { onRequest: passThrough }, unreachable);
  app.all('/.well-known/openid-configuration', { onRequest: passThrough }, unreachable);
}

function send(reply: FastifyReply, outcome: InteractionOutcome): FastifyReply {
  reply.header('cache-control', 'no-store');
  if (outcome.kind === 'redirect') return reply.redirect(outcome.location, 303);
  return reply.code(outcome.status).type('text/html; charset=utf-8').send(outcome.body);
}

/** Registers the provider mount and the sign-in pages. */
export async function oidcRoutes(app: FastifyInstance, services: Services): Promise<void> {
  mountProvider(app, services);
  const interactions = new LoginInteractions({
    oidc: services.oidc,
    totp: services.totp,
    storage: services.storage,
    audit: services.audit,
    clock: services.clock,
  });
  const issuerOrigin = new URL(services.config.issuer).origin;

  app.setErrorHandler((err, request, reply) => {
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8');
    if (err instanceof errors.OIDCProviderError) {
      // Expired or unknown interaction, or a cookie that does not match the URL.
      return reply.code(err.statusCode).send(
        errorPage({ title: 'Sign-in expired', message: 'This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.' }),
      );
    }
    const c = classifyError(err);
    if (c.unexpected) request.log.error({ err }, 'sign-in page failed');
    return reply.code(c.status).send(errorPage({ title: c.status >= 500 ? 'Something went wrong' : 'Request refused', message: c.message, code: c.code }));
  });

  app.get<{ Params: { uid: string } }>('/login/:uid', async (request, reply) =>
    send(reply, await interactions.show(request.raw, reply.raw, request.params.uid)),
  );

  app.post<{ Params: { uid: string } }>('/login/:uid', async (request, reply) => {
    // Same-origin check on top of the interaction cookie binding (see oidc/interactions.ts).
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== issuerOrigin && origin !== `${request.protocol}://${request.host}`) {
      return reply
        .code(403)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(errorPage({ title: 'Request refused', message: 'This form was posted from another site.' }));
    }
    const body = request.body && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {};
    const outcome = await interactions.submit(request.raw, reply.raw, request.params.uid, body, {
      requestId: String(request.id),
      sourceIp: request.ip,
    });
    return send(reply, outcome);
  });
}
