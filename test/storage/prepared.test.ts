/**
 * Named prepared statements on PostgreSQL (storage/prepared.ts, used by insert-rows.ts): a
 * single-row insert text is prepared once on the connection and reused; a failing execution, a
 * rolled-back transaction and a bulk insert behave as unnamed statements do. SQLite runs the
 * same inserts (its own statement cache) and must give the same rows.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { isUniqueViolation, openStorage, type Storage } from '../../src/storage/database.js';
import { insertRows } from '../../src/storage/insert-rows.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('prepared insert statements', (backend) => {
  let storage: Storage;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    // One connection, so pg_prepared_statements (per session) shows what the inserts prepared.
    storage = openStorage(created.url, { poolSize: 1 });
    await sql`CREATE TABLE prep_rows (id text PRIMARY KEY, n integer)`.execute(storage.db);
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });
  beforeEach(async () => {
    await sql`DELETE FROM prep_rows`.execute(storage.db);
  });

  const insert = (...rows: Array<{ id: string; n: number }>) => insertRows(storage.db, { table: 'prep_rows' as never, rows: rows as never });
  const rows = async () => (await sql<{ id: string; n: number }>`SELECT id, n FROM prep_rows ORDER BY id`.execute(storage.db)).rows.map((r) => `${r.id}=${r.n}`);
  const prepared = async () =>
    backend.kind === 'postgres' ? (await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%prep_rows%'`.execute(storage.db)).rows.map((r) => r.statement) : [];

  it('stores the rows; on PostgreSQL the one-row text is prepared once and reused, also after a unique violation', async () => {
    await insert({ id: 'a', n: 1 });
    await insert({ id: 'b', n: 2 });
    const err = await insert({ id: 'a', n: 3 }).catch((e: unknown) => e);
    expect(isUniqueViolation(err)).toBe(true);
    await insert({ id: 'c', n: 4 });
    expect(await rows()).toEqual(['a=1', 'b=2', 'c=4']);
    if (backend.kind === 'postgres') expect(await prepared()).toEqual(['insert into "prep_rows" ("id", "n") values ($1, $2)']);
  });

  it('a rolled-back transaction leaves no row and the prepared statement still runs after it', async () => {
    await expect(
      storage.db.transaction().execute(async (trx) => {
        await insertRows(trx, { table: 'prep_rows' as never, rows: [{ id: 'x', n: 1 }] as never });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await insert({ id: 'y', n: 2 });
    expect(await rows()).toEqual(['y=2']);
  });

  it('a bulk insert (more than 1,000 parameters) runs unnamed: nothing more is prepared', async () => {
    const before = await prepared();
    await insert(...Array.from({ length: 600 }, (_, i) => ({ id: `r${String(i).padStart(3, '0')}`, n: i })));
    expect((await rows()).length).toBe(600);
    expect(await prepared()).toEqual(before);
  });
});

describeEachBackend('prepared insert statements switched off (preparedStatements: false)', (backend) => {
  let storage: Storage;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    storage = openStorage(created.url, { poolSize: 1, preparedStatements: false });
    await sql`CREATE TABLE prep_off (id text PRIMARY KEY, n integer)`.execute(storage.db);
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  it('stores the rows and, on PostgreSQL, prepares no named statement (for poolers that do not keep them)', async () => {
    await insertRows(storage.db, { table: 'prep_off' as never, rows: [{ id: 'a', n: 1 }] as never });
    await insertRows(storage.db, { table: 'prep_off' as never, rows: [{ id: 'b', n: 2 }] as never });
    const rows = (await sql<{ id: string; n: number }>`SELECT id, n FROM prep_off ORDER BY id`.execute(storage.db)).rows;
    expect(rows.map((r) => `${r.id}=${r.n}`)).toEqual(['a=1', 'b=2']);
    if (backend.kind === 'postgres') {
      const named = (await sql<{ name: string }>`SELECT name FROM pg_prepared_statements`.execute(storage.db)).rows;
      expect(named).toEqual([]);
    }
  });
});
