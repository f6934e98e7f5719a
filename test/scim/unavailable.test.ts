/**
 * A SCIM 503 (database unavailable, or concurrent changes outlasting the retries) carries
 * Retry-After and the SCIM error schema; see src/http/routes/scim.ts sendScimError.
 */
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { sendScimError } from '../../src/http/routes/scim.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { ERROR_SCHEMA } from './support.js';

it('answers storage_unavailable with 503, Retry-After: 1 and the SCIM error schema', async () => {
  const app = Fastify({ logger: false });
  app.setErrorHandler(sendScimError);
  app.get('/x', async () => {
    throw new GatehouseError('storage_unavailable', 'the resource kept changing under concurrent writes; retry the request', { retryable: true });
  });
  const res = await app.inject({ method: 'GET', url: '/x' });
  expect(res.statusCode).toBe(503);
  expect(res.headers['retry-after']).toBe('1');
  expect(res.headers['content-type']).toContain('application/scim+json');
  expect(res.json()).toMatchObject({ schemas: [ERROR_SCHEMA], status: '503', detail: 'The service is temporarily unavailable.' });
  await app.close();
});
