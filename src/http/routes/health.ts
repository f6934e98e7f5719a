import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Services } from '../../gatehouse.js';

/** `/healthz` (the process is up) and `/readyz` (the database answers). */
export async function healthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await sql`SELECT 1`.execute(services.storage.db);
      return { status: 'ok', database: services.storage.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: services.storage.kind });
    }
  });
}
