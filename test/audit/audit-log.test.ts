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

describeEachBackend('audit events chained with their rows in one statement (insertWithEvent)', (backend) => {
  let storage: Storage;
  let close: () => Promise<void>;
  const clock = new FixedClock('2026-03-01T10:00:00Z');
  let audit: AuditLog;
  beforeAll(async () => {
    ({ storage, close } = await freshStorage(backend));
    audit = new AuditLog(storage.kind, clock);
  });
  afterAll(async () => close());

  const group = (id: string, name: string) => ({
    table: 'groups' as const,
    rows: [{ tenant_id: 'default', id, display_name: name, display_name_norm: name.toLowerCase(), external_id: null, description: null, extra: '{}', created_at: '2026-03-01T10:00:00.000Z', updated_at: '2026-03-01T10:00:00.000Z', version: 1 }],
  });

  it('on PostgreSQL stores the rows and a chained event whose hash PostgreSQL computed as entryHash does, genesis head included; elsewhere does nothing', async () => {
    const odd = { name: 'Zoë Ström “quoted” \\ \u2028 𝄞', nested: { b: [1, null, 'x'], a: true } };
    const done = await audit.insertWithEvent(storage.db, { ...ctx, sourceIp: '203.0.113.9' }, [group('g1', 'Straße')], { action: 'group.create', target: { type: 'group', id: 'g1' }, after: odd, details: { source: 'scim' } });
    expect(done).toBe(backend.kind === 'postgres');
    const groups = await storage.db.selectFrom('groups').select('id').execute();
    if (backend.kind !== 'postgres') {
      expect(groups).toEqual([]);
      return;
    }
    expect(groups).toEqual([{ id: 'g1' }]);
    expect(await audit.insertWithEvent(storage.db, ctx, [group('g2', 'two')], { action: 'group.create', target: { type: 'group', id: 'g2' } })).toBe(true);
    const events = await audit.list(storage.db, 'default', { limit: 10 });
    expect(events.map((e) => [e.seq, e.action, e.target?.id, e.occurredAt])).toEqual([
      [1, 'group.create', 'g1', '2026-03-01T10:00:00.000Z'],
      [2, 'group.create', 'g2', '2026-03-01T10:00:00.000Z'],
    ]);
    expect(events[0]).toMatchObject({ after: odd, details: { source: 'scim' }, sourceIp: '203.0.113.9', requestId: 'req-1' });
    expect(await audit.verify(storage.db, 'default')).toEqual({ ok: true, checked: 2 });
  });

  it('on PostgreSQL stores nothing when a row fails (unique violation), and refuses inside a transaction', async () => {
    if (backend.kind !== 'postgres') return;
    await expect(audit.insertWithEvent(storage.db, ctx, [group('g3', 'Straße')], { action: 'group.create' })).rejects.toMatchObject({ code: '23505' });
    await storage.db.transaction().execute(async (trx) => {
      expect(await audit.insertWithEvent(trx, ctx, [group('g4', 'four')], { action: 'group.create' })).toBe(false);
    });
    expect((await storage.db.selectFrom('groups').select('id').orderBy('id').execute()).map((r) => r.id)).toEqual(['g1', 'g2']);
    expect(await audit.verify(storage.db, 'default')).toEqual({ ok: true, checked: 2 });
  });

  it('never dates an event before the chain head’s, whichever way it is chained (a server whose clock is behind)', async () => {
    clock.set('2026-03-01T12:00:00Z');
    await storage.db.transaction().execute((trx) => audit.append(trx, ctx, { action: 'x.ahead' }));
    clock.set('2026-03-01T11:00:00Z');
    await storage.db.transaction().execute((trx) => audit.append(trx, ctx, { action: 'x.behind' }));
    await audit.insertWithEvent(storage.db, ctx, [group('g5', 'five')], { action: 'x.behind.one-statement' });
    const events = await audit.list(storage.db, 'default', { limit: 10, action: undefined });
    expect(events.filter((e) => e.action.startsWith('x.')).map((e) => [e.action, e.occurredAt])).toEqual([
      ['x.ahead', '2026-03-01T12:00:00.000Z'],
      ['x.behind', '2026-03-01T12:00:00.000Z'],
      ...(backend.kind === 'postgres' ? [['x.behind.one-statement', '2026-03-01T12:00:00.000Z']] : []),
    ]);
    expect((await audit.verify(storage.db, 'default')).ok).toBe(true);
  });
});
