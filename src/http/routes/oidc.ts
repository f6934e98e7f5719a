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
import { isCrossSiteRequest } from '../same-origin.js';
import { LoginInteractions, type InteractionOutcome, type InteractionRequestMeta } from '../../oidc/interactions.js';
import { SESSION_COOKIE } from '../../authn/sessions.js';
import { errorPage } from '../../oidc/views.js';

/** Passes the raw request to oidc-provider, keeping the request id and the security headers set so far. */
function mountProvider(app: FastifyInstance, services: Services): void {
  const callback = services.oidc.provider.callback();
  const passThrough = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // The security headers (CSP included) and the request id are set through Fastify's reply
    // (app.ts): copy them onto the raw response. oidc-provider adds the hash of its own inline
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
  if (outcome.cookies?.length) {
    // oidc-provider may have set its own cookies on the raw response: append, never replace.
    const prior = reply.raw.getHeader('set-cookie');
    const list = prior === undefined ? [] : Array.isArray(prior) ? prior.map(String) : [String(prior)];
    reply.raw.setHeader('set-cookie', [...list, ...outcome.cookies]);
  }
  if (outcome.kind === 'redirect') return reply.redirect(outcome.location, 303);
  return reply.code(outcome.status).type('text/html; charset=utf-8').send(outcome.body);
}

/** Registers the provider mount and the sign-in pages. */
export async function oidcRoutes(app: FastifyInstance, services: Services): Promise<void> {
  mountProvider(app, services);
  const interactions = new LoginInteractions({
    oidc: services.oidc,
    authn: services.authn,
    clock: services.clock,
    secureCookies: new URL(services.config.issuer).protocol === 'https:',
    sessionTtlSeconds: services.config.sessionTtlSeconds,
  });
  const metaOf = (request: FastifyRequest): InteractionRequestMeta => ({
    requestId: String(request.id),
    sourceIp: request.ip,
    sessionToken: request.cookies[SESSION_COOKIE],
    userAgent: request.headers['user-agent'],
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
    send(reply, await interactions.show(request.raw, reply.raw, request.params.uid, metaOf(request))),
  );

  // Same-origin check on top of the interaction cookie binding (see oidc/interactions.ts).
  const crossSite = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    if (!isCrossSiteRequest(request.headers, [issuerOrigin, `${request.protocol}://${request.host}`])) return undefined;
    return reply
      .code(403)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(errorPage({ title: 'Request refused', message: 'This form was posted from another site.' }));
  };
  const formOf = (request: FastifyRequest) => (request.body && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {});

  app.post<{ Params: { uid: string } }>('/login/:uid', async (request, reply) => {
    return crossSite(request, reply) ?? send(reply, await interactions.submit(request.raw, reply.raw, request.params.uid, formOf(request), metaOf(request)));
  });
  app.post<{ Params: { uid: string } }>('/login/:uid/passkey/options', async (request, reply) => {
    if (crossSite(request, reply)) return reply;
    const options = await interactions.passkeyOptions(request.raw, reply.raw, request.params.uid);
    return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(options));
  });
  app.post<{ Params: { uid: string } }>('/login/:uid/passkey', async (request, reply) => {
    return crossSite(request, reply) ?? send(reply, await interactions.submitPasskey(request.raw, reply.raw, request.params.uid, formOf(request), metaOf(request)));
  });
}
