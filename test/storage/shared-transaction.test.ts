/**
 * runSharedTransaction (storage/transactions.ts), the transaction SCIM Bulk runs in: a failed
 * step rolls back alone; a service transaction that fails inside a step whose caller catches
 * the error leaves nothing behind (the step is re-run with a savepoint per service
 * transaction); storage.db is the shared transaction inside it; the memo follows rollbacks;
 * deferred work runs once before commit. On SQLite and PostgreSQL.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { GatehouseError } from '../../src/kernel/errors.js';
import { deferUntilCommit, GroupCommit, retryTransient, runSharedTransaction, TRANSIENT_ATTEMPTS, transactionMemo } from '../../src/storage/transactions.js';
import { describeEachBackend } from '../support/backends.js';

describeEachBackend('shared transaction with savepoints', (backend) => {
  let storage: Storage;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    storage = openStorage(created.url);
    await sql`CREATE TABLE sp_rows (id text PRIMARY KEY)`.execute(storage.db);
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });
  beforeEach(async () => {
    await sql`DELETE FROM sp_rows`.execute(storage.db);
  });

  // What a service does: its own transaction on storage.db.
  const insert = (id: string) => storage.db.transaction().execute((trx) => sql`INSERT INTO sp_rows (id) VALUES (${id})`.execute(trx));
  const rows = async () => (await sql<{ id: string }>`SELECT id FROM sp_rows ORDER BY id`.execute(storage.rootDb)).rows.map((r) => r.id);

  it('commits the steps that succeed and rolls back a failing one alone, even after it wrote', async () => {
    // Each step writes "<extra>" then "<id>"; the third repeats "a", so its "z-extra" must go too.
    const steps: Array<[string, string]> = [['a', 'a-extra'], ['b', 'b-extra'], ['a', 'z-extra'], ['c', 'c-extra']];
    const outcome = await runSharedTransaction(storage.rootDb, async (step) => {
      const out: string[] = [];
      for (const [id, extra] of steps) {
        try {
          await step(async () => {
            await insert(extra);
            await insert(id);
          });
          out.push(`${id} ok`);
        } catch {
          out.push(`${id} failed`);
        }
      }
      return out;
    });
    expect(outcome).toEqual(['a ok', 'b ok', 'a failed', 'c ok']);
    expect(await rows()).toEqual(['a', 'a-extra', 'b', 'b-extra', 'c', 'c-extra']);
  });

  it('leaves nothing of a service transaction that failed inside a step whose caller went on', async () => {
    await insert('taken');
    await runSharedTransaction(storage.rootDb, async (step) => {
      await step(async () => {
        try {
          await storage.db.transaction().execute(async (trx) => {
            await sql`INSERT INTO sp_rows (id) VALUES ('partial')`.execute(trx);
            await sql`INSERT INTO sp_rows (id) VALUES ('taken')`.execute(trx);
          });
        } catch {
          // a caller that handles the failure and writes something else
        }
        await insert('after');
      });
    });
    expect(await rows()).toEqual(['after', 'taken']);
  });

  it('reads its own writes through storage.db, restores the memo of a rolled-back step, and runs deferred work once', async () => {
    let deferred = 0;
    const seen = await runSharedTransaction(storage.rootDb, async (step) => {
      await step(async () => {
        await insert('x');
        transactionMemo(storage.db).set('k', 1);
        deferUntilCommit(storage.db, 'w', async () => void deferred++);
      });
      await step(async () => {
        transactionMemo(storage.db).set('k', 2);
        deferUntilCommit(storage.db, 'w', async () => void deferred++);
        throw new Error('fail');
      }).catch(() => undefined);
      return { rows: (await sql<{ id: string }>`SELECT id FROM sp_rows`.execute(storage.db)).rows.map((r) => r.id), memo: transactionMemo(storage.db).get('k') };
    });
    expect(seen).toEqual({ rows: ['x'], memo: 1 });
    expect(deferred).toBe(1);
    expect(deferUntilCommit(storage.db, 'w', async () => undefined)).toBe(false);
  });

  it('rolls back to a savepoint after earlier steps were released, nested or not', async () => {
    await runSharedTransaction(storage.rootDb, async (step) => {
      await step(() => insert('s1'));
      await step(async () => {
        await insert('s2-partial');
        await step(() => insert('s2-nested'));
        throw new Error('fail');
      }).catch(() => undefined);
      await step(() => insert('s3'));
    });
    expect(await rows()).toEqual(['s1', 's3']);
  });

  it('group commit: calls queued together share one transaction; a failing one rolls back alone; each settles after the commit', async () => {
    await insert('taken');
    const group = new GroupCommit(storage.rootDb);
    const seenCommitted: Array<[string, boolean]> = [];
    const call = (id: string) =>
      group.run(async () => {
        await insert(`${id}-extra`);
        await insert(id);
        return id;
      }).then(async (v) => {
        // Read outside the transaction (another connection on PostgreSQL): already committed.
        seenCommitted.push([v, (await rows()).includes(v)]);
        return v;
      });
    const outcomes = await Promise.allSettled([call('g1'), call('taken'), call('g2'), call('g3')]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<string>).value)).toEqual(['g1', 'g2', 'g3']);
    // Every fulfilled call's rows were committed, and the failed call left nothing (not even its first row).
    expect(await rows()).toEqual(['g1', 'g1-extra', 'g2', 'g2-extra', 'g3', 'g3-extra', 'taken']);
    // (each check reads the database, so they may finish in any order)
    expect(seenCommitted.sort((a, b) => a[0].localeCompare(b[0]))).toEqual([['g1', true], ['g2', true], ['g3', true]]);
    // A later call forms a new group.
    expect(await group.run(async () => (await insert('g4'), 'later'))).toBe('later');
    expect(await rows()).toContain('g4');
  });

  it('re-runs a shared transaction that deadlocked (two taking two rows in opposite order): both commit, none fails', async () => {
    await sql`INSERT INTO sp_rows (id) VALUES ('x'), ('y')`.execute(storage.rootDb);
    let calls = 0;
    // Each takes its first row in one step, waits until both hold one, then takes the other: on
    // PostgreSQL one of them is aborted with 40P01 and must be run again; on SQLite they run one after the other.
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothHold = new Promise<void>((r) => (release = r));
    const swap = (first: string, second: string) =>
      runSharedTransaction(storage.rootDb, async (step) => {
        const attempt = ++calls;
        await step(() => sql`UPDATE sp_rows SET id = id WHERE id = ${first}`.execute(storage.db));
        if (attempt <= 2 && backend.kind === 'postgres') {
          if (++arrived === 2) release();
          await bothHold;
        }
        await step(() => sql`UPDATE sp_rows SET id = id WHERE id = ${second}`.execute(storage.db));
        return first;
      });
    expect((await Promise.all([swap('x', 'y'), swap('y', 'x')])).sort()).toEqual(['x', 'y']);
    expect(calls).toBe(backend.kind === 'postgres' ? 3 : 2);
  });

  it('retryTransient re-runs work aborted by 40P01/40001, then answers storage_unavailable (503); other errors pass at once', async () => {
    let n = 0;
    const flaky = await retryTransient(async () => {
      if (++n < TRANSIENT_ATTEMPTS) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      return 'done';
    });
    expect([flaky, n]).toEqual(['done', TRANSIENT_ATTEMPTS]);
    n = 0;
    const err = await retryTransient(async () => {
      n++;
      throw new Error('wrapped', { cause: Object.assign(new Error('could not serialize access'), { code: '40001' }) });
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatehouseError);
    expect([(err as GatehouseError).code, (err as GatehouseError).status, n]).toEqual(['storage_unavailable', 503, TRANSIENT_ATTEMPTS]);
    n = 0;
    const other = await retryTransient(async () => {
      n++;
      throw Object.assign(new Error('duplicate'), { code: '23505' });
    }).catch((e: unknown) => e);
    expect([(other as { code: string }).code, n]).toEqual(['23505', 1]);
  });
});
