import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import { AuditLog, GENESIS_HASH } from '../../src/audit/audit-log.js';
import { FixedClock } from '../../src/kernel/clock.js';
import type { OperationContext } from '../../src/kernel/context.js';
import type { Storage } from '../../src/storage/database.js';
import { describeEachBackend, freshStorage } from '../support/backends.js';

const ctx: OperationContext = { tenantId: 'default', actor: { type: 'cli', id: 'tester' }, requestId: 'req-1' };

describeEachBackend('audit log hash chain', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let audit: AuditLog;
  beforeAll(async () => {
    ({ storage, close } = await freshStorage(backend));
    audit = new AuditLog(storage.kind, new FixedClock('2026-01-01T00:00:00Z'));
  });
  afterAll(async () => close());

  it('appends entries that chain from the genesis hash', async () => {
    for (let i = 0; i < 5; i++) {
      await storage.db.transaction().execute((trx) =>
        audit.append(trx, ctx, { action: 'user.create', target: { type: 'user', id: `u${i}` }, after: { userName: `u${i}` } }),
      );
    }
    const events = await audit.list(storage.db, 'default', { limit: 10 });
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const first = await storage.db.selectFrom('audit_events').select('prev_hash').where('seq', '=', 1).executeTakeFirstOrThrow();
    expect(first.prev_hash).toBe(GENESIS_HASH);
    expect(events[2]?.after).toEqual({ userName: 'u2' });
    expect(await audit.verify(storage.db, 'default')).toEqual({ ok: true, checked: 5 });
  });

  it('filters and pages', async () => {
    const page = await audit.list(storage.db, 'default', { limit: 2, afterSeq: 2 });
    expect(page.map((e) => e.seq)).toEqual([3, 4]);
    const byTarget = await audit.list(storage.db, 'default', { limit: 10, targetId: 'u4' });
    expect(byTarget).toHaveLength(1);
    expect(byTarget[0]?.actor).toEqual({ type: 'cli', id: 'tester' });
  });

  it('names the first altered entry after a row is edited by hand', async () => {
    await sql`UPDATE audit_events SET after = '{"userName":"mallory"}' WHERE seq = 3`.execute(storage.db);
    const v = await audit.verify(storage.db, 'default');
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(3);
    expect(v.firstBad?.reason).toBe('altered');
  });

  it('names a removed entry', async () => {
    await sql`UPDATE audit_events SET after = '{"userName":"u2"}' WHERE seq = 3`.execute(storage.db);
    expect((await audit.verify(storage.db, 'default')).ok).toBe(true);
    await sql`DELETE FROM audit_events WHERE seq = 2`.execute(storage.db);
    const v = await audit.verify(storage.db, 'default');
    expect(v).toMatchObject({ ok: false, checked: 1, firstBad: { seq: 2, reason: 'missing' } });
  });

  it('names a chain cut short at its end', async () => {
    const { storage: s2, close: c2 } = await freshStorage(backend);
    try {
      for (let i = 0; i < 3; i++) await s2.db.transaction().execute((trx) => audit.append(trx, ctx, { action: 'x' }));
      await sql`DELETE FROM audit_events WHERE seq = 3`.execute(s2.db);
      expect(await audit.verify(s2.db, 'default')).toMatchObject({ ok: false, firstBad: { seq: 3, reason: 'truncated' } });
    } finally {
      await c2();
    }
  });
});
