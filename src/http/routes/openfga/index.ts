/**
 * The OpenFGA-compatible HTTP API under `/stores` (bearer token with the `authz` scope), in
 * OpenFGA's request and response shapes and error codes, so the official SDKs work unmodified.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../gatehouse.js';
import { requireApiToken } from '../../auth.js';
import { sendOpenfgaError } from './errors.js';
import { AUTHZEN_PATH, unmatchedRoute } from '../../allowed-methods.js';
import { sendAuthzenError } from '../authzen.js';
import { managementRoutes } from './management.js';
import { queryRoutes } from './queries.js';
import { assertionRoutes } from './assertions.js';

/** Registers the routes under `/stores` (the caller mounts this plugin with that prefix), with its own authentication hook, error handler and 404. */
export async function openfgaRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.setErrorHandler((err, request, reply) => sendOpenfgaError(request, reply, err));
  app.setNotFoundHandler((request, reply) => (AUTHZEN_PATH.test(request.url) ? sendAuthzenError : sendOpenfgaError)(request, reply, unmatchedRoute(request, reply)));
  app.addHook('onRequest', requireApiToken(services, 'authz'));
  await managementRoutes(app, services);
  await queryRoutes(app, services);
  await assertionRoutes(app, services);
}
