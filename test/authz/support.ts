/** Helpers for authorization tests: tuples written through TupleStore, checks through AuthzService. */
import { FixedClock } from '../../src/kernel/clock.js';
import type { OperationContext } from '../../src/kernel/context.js';
import type { Storage } from '../../src/storage/database.js';
import { TupleStore } from '../../src/authz/tuple-store.js';
import { BUILTIN_STORE_ID, parseTuple, type RelationTuple } from '../../src/authz/tuples.js';
import type { AuthzService } from '../../src/authz/service.js';

export const ctx: OperationContext = { tenantId: 'default', actor: { type: 'cli', id: 'tester' }, requestId: 'req-authz', source: 'admin' };

/** `object#relation@subject` strings, optionally with an expiry. */
export function tuples(...specs: Array<string | { t: string; expiresAt: string }>): RelationTuple[] {
  return specs.map((s) => (typeof s === 'string' ? parseTuple(s) : { ...parseTuple(s.t), expiresAt: s.expiresAt }));
}

/** Writes and deletes in one transaction; returns the revision. */
export async function writeTuples(storage: Storage, store: TupleStore, change: { writes?: RelationTuple[]; deletes?: RelationTuple[] }): Promise<number> {
  return storage.db.transaction().execute(async (trx) => (await store.write(trx, ctx, BUILTIN_STORE_ID, change)).revision);
}

/** Disables or enables a subject; returns the revision. */
export async function setEnabled(storage: Storage, store: TupleStore, type: string, id: string, enabled: boolean): Promise<number> {
  return storage.db.transaction().execute((trx) => store.setSubjectEnabled(trx, ctx, { type, id }, enabled));
}

/** Does `type:id` hold the permission `permission` (e.g. `documents:read`)? Waits for `atLeastRevision`. */
export async function holds(authz: AuthzService, subject: string, permission: string, atLeastRevision?: number): Promise<boolean> {
  const i = subject.indexOf(':');
  const res = await authz.check(ctx, {
    subject: { type: subject.slice(0, i), id: subject.slice(i + 1) },
    relation: 'granted',
    object: { type: 'permission', id: permission },
    atLeastRevision,
  });
  return res.decision;
}

export function newClock(): FixedClock {
  return new FixedClock('2026-03-01T12:00:00.000Z');
}
