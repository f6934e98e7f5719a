/**
 * A fresh database with the identity services over it, for the identity and lifecycle suites.
 */
import { AuditLog, type AuditEvent } from '../../src/audit/audit-log.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { FixedClock } from '../../src/kernel/clock.js';
import type { OperationContext } from '../../src/kernel/context.js';
import { isGatehouseError, type ErrorCode } from '../../src/kernel/errors.js';
import { createIdentityServices, type IdentityServices } from '../../src/identity/index.js';
import type { Storage } from '../../src/storage/database.js';
import { freshStorage, type Backend } from '../support/backends.js';

export const ctx: OperationContext = { tenantId: 'default', actor: { type: 'cli', id: 'tester' }, requestId: 'req-1', source: 'admin' };

export interface IdentityFixture extends IdentityServices {
  storage: Storage;
  audit: AuditLog;
  tuples: TupleStore;
  clock: FixedClock;
  close(): Promise<void>;
}

/** Opens a fresh, migrated database on `backend` and builds the identity services on it. */
export async function identityFixture(backend: Backend): Promise<IdentityFixture> {
  const { storage, close } = await freshStorage(backend);
  const clock = new FixedClock('2026-01-01T00:00:00.000Z');
  const audit = new AuditLog(storage.kind, clock);
  const tuples = new TupleStore(clock);
  return { storage, audit, tuples, clock, close, ...createIdentityServices({ storage, audit, tuples, clock }) };
}

/** Runs `fn` and returns the GatehouseError it throws (fails if it resolves or throws something else). */
export async function failure(fn: () => Promise<unknown>, code: ErrorCode): Promise<{ code: string; message: string; details: Record<string, unknown> | undefined }> {
  try {
    await fn();
  } catch (err) {
    if (isGatehouseError(err)) {
      if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`);
      return { code: err.code, message: err.message, details: err.details };
    }
    throw err;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

/** Audit events with `action`, oldest first. */
export async function events(f: IdentityFixture, action: string): Promise<AuditEvent[]> {
  return f.audit.list(f.storage.db, 'default', { action, limit: 1000 });
}

/** The built-in store's tuples as `object#relation@subject` strings, sorted. */
export async function tupleStrings(f: IdentityFixture): Promise<string[]> {
  const rows = await f.storage.db.selectFrom('authz_tuples').selectAll().where('tenant_id', '=', 'default').execute();
  return rows
    .map((r) => `${r.object_type}:${r.object_id}#${r.relation}@${r.subject_type}:${r.subject_id}${r.subject_relation ? `#${r.subject_relation}` : ''}`)
    .sort();
}
