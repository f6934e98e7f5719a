/**
 * A named prepared statement (storage/prepared.ts) must stay usable on its connection after an
 * execution that failed on the client side, while binding the parameters (a value node-postgres
 * cannot serialise). node-postgres answers such an error by closing the named statement on the
 * server (Close 'S') yet keeps it in its per-connection "already parsed" list, so every later
 * execution of that text on the connection sends only Bind and fails with 26000
 * "prepared statement gh_pN does not exist" until the connection is dropped.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { insertRows } from '../../src/storage/insert-rows.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('prepared insert after a client-side bind error', (backend) => {
  let storage: Storage;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    storage = openStorage(created.url, { poolSize: 1 }); // one connection: the one that prepared the text
    await sql`CREATE TABLE prep_bind (id text PRIMARY KEY, doc text)`.execute(storage.db);
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  const insert = (id: string, doc: unknown) => insertRows(storage.db, { table: 'prep_bind' as never, rows: [{ id, doc }] as never });

  it('the text still runs after an execution whose parameter could not be serialised', async () => {
    await insert('a', 'first');
    await expect(insert('b', { n: 1n })).rejects.toThrow();
    await insert('c', 'after');
    const ids = (await sql<{ id: string }>`SELECT id FROM prep_bind ORDER BY id`.execute(storage.db)).rows.map((r) => r.id);
    expect(ids).toEqual(['a', 'c']);
  });

  it('also when the failing execution is the first of its text on the connection', async () => {
    const insert2 = (id: string, doc: unknown) =>
      insertRows(storage.db, { table: 'prep_bind' as never, rows: [{ id, doc }, { id: `${id}2`, doc: 'x' }] as never });
    await expect(insert2('d', { n: 1n })).rejects.toThrow();
    await insert2('e', 'after');
    const ids = (await sql<{ id: string }>`SELECT id FROM prep_bind WHERE id >= 'd' ORDER BY id`.execute(storage.db)).rows.map((r) => r.id);
    expect(ids).toEqual(['e', 'e2']);
  });
});
