/**
 * A PostgreSQL connection ended by the server (pg_terminate_backend, a restart, an idle timeout)
 * while Gatehouse holds it between two queries — inside a transaction — must fail that
 * transaction, not the process: node-postgres emits 'error' on a checked-out client, and with no
 * listener Node throws it as an uncaught exception (which kills `gatehouse serve`).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('connection ended by the server', (backend) => {
  let storage: Storage;
  let other: Storage;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    storage = openStorage(created.url);
    other = openStorage(created.url, { poolSize: 1 });
  });
  afterAll(async () => {
    await storage?.close();
    await other?.close();
    await drop?.();
  });

  it('inside a transaction: the transaction fails, the process does not get an uncaught error, the storage still answers', async () => {
    if (backend.kind !== 'postgres') return;
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.prependListener('uncaughtException', record);
    try {
      const outcome = await storage.db
        .transaction()
        .execute(async (trx) => {
          const pid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx)).rows[0]!.pid;
          await sql`SELECT pg_terminate_backend(${pid})`.execute(other.db);
          await new Promise((r) => setTimeout(r, 300)); // the FATAL arrives while no query runs on the client
          await sql`SELECT 1`.execute(trx);
        })
        .then(() => 'committed', (e: unknown) => `failed: ${(e as Error).message}`);
      expect(outcome).toMatch(/^failed/);
      expect(uncaught.map((e) => (e as Error).message)).toEqual([]);
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(storage.db)).rows).toEqual([{ one: 1 }]);
    } finally {
      process.removeListener('uncaughtException', record);
    }
  });
});
