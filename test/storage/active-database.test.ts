/**
 * storage.db (activeDatabase, storage/transactions.ts and storage/executor-view.ts): outside a
 * shared transaction one stable view of the root database, whose methods are the same function
 * objects on every access (no allocation per query) and whose `transaction()` runs deferred work
 * just before commit; inside runSharedTransaction the shared transaction's view, whose queries run
 * in that transaction. On SQLite and PostgreSQL.
 */
import { Kysely, sql, Transaction, type QueryExecutorProvider } from 'kysely';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { deferUntilCommit, runSharedTransaction, transactionMemo } from '../../src/storage/transactions.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('storage.db view', (backend) => {
  let storage: Storage;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    storage = openStorage(created.url);
    await sql`CREATE TABLE view_rows (id text PRIMARY KEY)`.execute(storage.db);
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });
  beforeEach(async () => {
    await sql`DELETE FROM view_rows`.execute(storage.db);
  });

  const ids = async (db: QueryExecutorProvider) => (await sql<{ id: string }>`SELECT id FROM view_rows ORDER BY id`.execute(db)).rows.map((r) => r.id);

  it('outside a transaction: the same view and the same method objects on every access, queries on the root database', async () => {
    const db = storage.db;
    expect(storage.db).toBe(db);
    expect(db).not.toBe(storage.rootDb);
    expect(storage.db.selectFrom).toBe(db.selectFrom);
    expect(storage.db.getExecutor).toBe(db.getExecutor);
    expect(storage.db.insertInto).toBe(storage.db.insertInto);
    expect(db).toBeInstanceOf(Kysely);
    expect(db.isTransaction).toBe(false);
    expect(db.getExecutor()).toBe(storage.rootDb.getExecutor());
    await sql`INSERT INTO view_rows (id) VALUES ('r1')`.execute(db);
    expect(await ids(storage.rootDb)).toEqual(['r1']);
    expect(transactionMemo(db).size).toBe(0);
  });

  it('inside a shared transaction: one view per transaction, its methods stable, its queries in the transaction', async () => {
    const outside = storage.db;
    const seen = await runSharedTransaction(storage.rootDb, async (step) => {
      const db = storage.db;
      expect(db).not.toBe(outside);
      expect(storage.db).toBe(db);
      expect(db.selectFrom).toBe(storage.db.selectFrom);
      expect(db).toBeInstanceOf(Transaction);
      expect(db.isTransaction).toBe(true);
      await step(() => storage.db.transaction().execute((trx) => sql`INSERT INTO view_rows (id) VALUES ('in-trx')`.execute(trx)));
      // Read through storage.db: the uncommitted row of this transaction is there.
      return { db, rows: await ids(storage.db) };
    });
    expect(seen.rows).toEqual(['in-trx']);
    expect(storage.db).toBe(outside); // outside again: the root's view
    // A transaction that throws leaves nothing, though its statements went through storage.db.
    await expect(
      runSharedTransaction(storage.rootDb, async (step) => {
        await step(() => sql`INSERT INTO view_rows (id) VALUES ('rolled-back')`.execute(storage.db));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await ids(storage.rootDb)).toEqual(['in-trx']);
  });

  it('storage.db.transaction(): deferred work runs once, in the transaction, just before commit; not when it rolls back', async () => {
    const order: string[] = [];
    await storage.db.transaction().execute(async (trx) => {
      for (const key of ['w', 'w']) {
        expect(deferUntilCommit(trx, key, async () => {
          order.push('deferred');
          // Sees the transaction's writes and writes in it.
          expect(await ids(trx)).toEqual(['body']);
          await sql`INSERT INTO view_rows (id) VALUES ('deferred')`.execute(trx);
        })).toBe(true);
      }
      await sql`INSERT INTO view_rows (id) VALUES ('body')`.execute(trx);
      order.push('body');
    });
    expect(order).toEqual(['body', 'deferred']);
    expect(await ids(storage.rootDb)).toEqual(['body', 'deferred']);

    let ran = false;
    await expect(
      storage.db.transaction().execute(async (trx) => {
        deferUntilCommit(trx, 'w', async () => void (ran = true));
        await sql`INSERT INTO view_rows (id) VALUES ('gone')`.execute(trx);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(ran).toBe(false);
    expect(await ids(storage.rootDb)).toEqual(['body', 'deferred']);
    // rootDb's own transactions are not storage.db's: nothing is deferred there.
    await storage.rootDb.transaction().execute(async (trx) => expect(deferUntilCommit(trx, 'w', async () => undefined)).toBe(false));
  });
});
