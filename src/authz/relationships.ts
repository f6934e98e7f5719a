/**
 * Relationship tuples of a store through OpenFGA's semantics: Write (writes and deletes in one
 * transaction, validated against the store's model), Read (paged), ReadChanges (the changelog).
 *
 * Write follows OpenFGA: at most 100 writes + deletes per request
 * (`exceeded_entity_limit`), at least one (`invalid_write_input`), no tuple twice in one request
 * (`cannot_allow_duplicate_tuples_in_one_request`), writing an existing tuple or deleting a
 * missing one fails the whole request (`write_failed_due_to_invalid_input`) unless
 * `on_duplicate` / `on_missing` is `ignore`. Written tuples must fit the model's type
 * restrictions (`type_not_found`, `relation_not_found`, `invalid_tuple`, `validation_error`).
 * Nothing is written when any check fails.
 */
import { sql } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { OperationContext } from '../kernel/context.js';
import { isGatehouseError } from '../kernel/errors.js';
import type { Storage } from '../storage/database.js';
import type { Clock } from '../kernel/clock.js';
import { AuthzModelService } from './models.js';
import { AuthzStoreService, decodeToken, encodeToken, pageSizeOf } from './stores.js';
import { AuthzAssertionService } from './assertions.js';
import { rowToTuple, type TupleStore } from './tuple-store.js';
import { BUILTIN_STORE_ID, formatTuple, type RelationTuple } from './tuples.js';
import { fgaInvalid, keyFromTuple, keyText, parseFgaObject, parseFgaUser, tupleFromKey, type FgaTupleKey } from './validation.js';

/** Largest number of writes + deletes in one Write (OpenFGA's default `maxTuplesPerWrite`). */
export const MAX_TUPLES_PER_WRITE = 100;

/** A Write request. */
export interface WriteTuplesRequest {
  writes?: FgaTupleKey[];
  deletes?: Array<Omit<FgaTupleKey, 'condition'>>;
  /** Validate writes against this model version (default: the store's latest). */
  authorizationModelId?: string;
  onDuplicate?: 'error' | 'ignore';
  onMissing?: 'error' | 'ignore';
}

/** A stored tuple with the time it was written. */
export interface ReadTuple {
  key: FgaTupleKey;
  /** ISO 8601 instant the tuple was written. */
  timestamp: string;
}

/** One change of ReadChanges. */
export interface TupleChange {
  tuple_key: FgaTupleKey;
  operation: 'TUPLE_OPERATION_WRITE' | 'TUPLE_OPERATION_DELETE';
  timestamp: string;
}

const KEY_COLUMNS = ['object_type', 'object_id', 'relation', 'subject_type', 'subject_id', 'subject_relation'] as const;

function isStringArray(v: unknown, n: number): v is string[] {
  return Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'string');
}

/** Tuple writes, reads and changes of customer stores. */
export class RelationshipService {
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly tuples: TupleStore,
    private readonly stores: AuthzStoreService,
    private readonly models: AuthzModelService,
  ) {}

  /**
   * Writes and deletes tuples in one transaction (OpenFGA Write).
   * @returns the changelog revision (consistency token) and the model id the writes were validated against.
   * @throws GatehouseError `not_found` (`store_id_not_found`); `invalid_input` with `details.openfga`
   *   as listed in the module comment; nothing is written on any error.
   */
  async write(ctx: OperationContext, storeId: string, req: WriteTuplesRequest): Promise<{ revision: number; authorizationModelId: string }> {
    return this.apply(ctx, storeId, req, MAX_TUPLES_PER_WRITE);
  }

  /**
   * Writes and deletes any number of tuples in one transaction, with Write's validation and
   * errors but no 100-tuple limit: the CLI's tuple files and imports (`gatehouse authz tuples
   * write`, `gatehouse authz import`), which must not leave part of a file written when a later
   * tuple is invalid or already exists. Every tuple is validated before anything is written.
   * @returns the changelog revision of the one transaction, and the model id used.
   * @throws as {@link write}, except `exceeded_entity_limit`; nothing is written on any error.
   */
  async writeAll(ctx: OperationContext, storeId: string, req: WriteTuplesRequest): Promise<{ revision: number; authorizationModelId: string }> {
    return this.apply(ctx, storeId, req, Number.POSITIVE_INFINITY);
  }

  private async apply(ctx: OperationContext, storeId: string, req: WriteTuplesRequest, limit: number): Promise<{ revision: number; authorizationModelId: string }> {
    await this.stores.get(ctx, storeId);
    if (storeId === BUILTIN_STORE_ID) {
      throw fgaInvalid('validation_error', "the built-in store's tuples are Gatehouse's identities, groups and roles: change them through the identity APIs");
    }
    const writesIn = req.writes ?? [];
    const deletesIn = req.deletes ?? [];
    if (!Array.isArray(writesIn) || !Array.isArray(deletesIn)) throw fgaInvalid('validation_error', 'writes.tuple_keys and deletes.tuple_keys must be arrays');
    if (writesIn.length + deletesIn.length === 0) throw fgaInvalid('invalid_write_input', 'Invalid input. Make sure you provide at least one write, or at least one delete');
    if (writesIn.length + deletesIn.length > limit) {
      throw fgaInvalid('exceeded_entity_limit', `The number of write operations exceeds the allowed limit of ${MAX_TUPLES_PER_WRITE}`, { limit: MAX_TUPLES_PER_WRITE });
    }
    const model = await this.models.resolve(ctx, storeId, req.authorizationModelId);
    const seen = new Set<string>();
    const unique = (k: { user: string; relation: string; object: string }) => {
      const text = keyText(k);
      if (seen.has(text)) {
        throw fgaInvalid('cannot_allow_duplicate_tuples_in_one_request', `duplicate tuple in write: user: '${k.user}', relation: '${k.relation}', object: '${k.object}'`, { tuple: text });
      }
      seen.add(text);
    };
    const writes = writesIn.map((k) => {
      const t = tupleFromKey(k);
      unique(k);
      model.view.validateTuple(t, keyText(k));
      return t;
    });
    const deletes = deletesIn.map((k) => {
      const t = tupleFromKey({ user: k?.user, relation: k?.relation, object: k?.object });
      unique(k);
      return t;
    });
    try {
      const revision = await this.storage.db.transaction().execute(async (trx) => {
        const res = await this.tuples.write(trx, ctx, storeId, { writes, deletes }, { onDuplicate: req.onDuplicate ?? 'error', onMissing: req.onMissing ?? 'error' });
        await this.audit.append(trx, ctx, {
          action: 'authz_tuple.write',
          target: { type: 'authz_store', id: storeId },
          details: { revision: res.revision, written: res.written.map(formatTuple).slice(0, 100), deleted: res.deleted.map(formatTuple).slice(0, 100) },
        });
        return res.revision;
      });
      return { revision, authorizationModelId: model.id };
    } catch (err) {
      if (isGatehouseError(err, 'conflict')) {
        throw fgaInvalid('write_failed_due_to_invalid_input', `cannot write a tuple which already exists: ${String(err.details?.tuple ?? '')}`, { tuple: err.details?.tuple });
      }
      if (isGatehouseError(err, 'not_found')) {
        throw fgaInvalid('write_failed_due_to_invalid_input', `cannot delete a tuple which does not exist: ${String(err.details?.tuple ?? '')}`, { tuple: err.details?.tuple });
      }
      throw err;
    }
  }

  /**
   * Reads stored tuples matching a filter, without evaluation (OpenFGA Read), paged.
   *
   * Filter rules (OpenFGA): none → every tuple; `object` is `type:id` or `type:` (type only, then
   * `user` is required); `user` is `type:id`, `type:*` or `type:id#relation`.
   * @throws GatehouseError `not_found` (`store_id_not_found`), `invalid_input` (`validation_error`,
   *   `page_size_invalid`, `invalid_continuation_token`).
   */
  async read(
    ctx: OperationContext,
    storeId: string,
    req: { tupleKey?: { user?: string; relation?: string; object?: string }; pageSize?: unknown; continuationToken?: string },
  ): Promise<{ tuples: ReadTuple[]; continuationToken: string }> {
    await this.stores.get(ctx, storeId);
    const size = pageSizeOf(req.pageSize);
    const k = req.tupleKey ?? {};
    let q = this.storage.db.selectFrom('authz_tuples').selectAll().where('tenant_id', '=', ctx.tenantId).where('store_id', '=', storeId);
    if (k.object) {
      if (k.object.endsWith(':') && k.object.indexOf(':') === k.object.length - 1) {
        if (!k.user) throw fgaInvalid('validation_error', "the 'user' field is required when the 'object' field is a type only ('type:')");
        q = q.where('object_type', '=', k.object.slice(0, -1));
      } else {
        const o = parseFgaObject(k.object);
        q = q.where('object_type', '=', o.type).where('object_id', '=', o.id);
      }
    } else if (k.user || k.relation) {
      throw fgaInvalid('validation_error', "the 'object' field is required when a tuple_key filter is given");
    }
    if (k.relation) q = q.where('relation', '=', k.relation);
    if (k.user) {
      const u = parseFgaUser(k.user);
      q = q.where('subject_type', '=', u.type).where('subject_id', '=', u.id).where('subject_relation', '=', u.relation);
    }
    if (req.continuationToken) {
      const after = decodeToken(req.continuationToken, (v): v is { k: string[] } => isStringArray((v as { k?: unknown })?.k, KEY_COLUMNS.length));
      const [a, b, c, d, e, f] = after.k as [string, string, string, string, string, string];
      // Row-value comparison (keyset paging), supported by PostgreSQL and SQLite alike.
      q = q.where(sql<boolean>`(object_type, object_id, relation, subject_type, subject_id, subject_relation) > (${a}, ${b}, ${c}, ${d}, ${e}, ${f})`);
    }
    for (const c of KEY_COLUMNS) q = q.orderBy(c);
    const rows = await q.limit(size + 1).execute();
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return {
      tuples: page.map((r) => ({ key: keyFromTuple(rowToTuple(r)), timestamp: r.created_at })),
      continuationToken: rows.length > size && last ? encodeToken({ k: KEY_COLUMNS.map((c) => last[c]) }) : '',
    };
  }

  /**
   * Tuple changes of a store in commit order (OpenFGA ReadChanges), paged. The returned token
   * always marks the position reached, so a caller can poll with it for later changes.
   * @param req.type only changes of objects of this type; `startTime` (ISO 8601) only changes at or after it (ignored with a token).
   * @throws GatehouseError `not_found` (`store_id_not_found`), `invalid_input` (`page_size_invalid`,
   *   `invalid_continuation_token`, `query_string_type_continuation_token_mismatch`, `invalid_start_time`).
   */
  async readChanges(
    ctx: OperationContext,
    storeId: string,
    req: { type?: string; pageSize?: unknown; continuationToken?: string; startTime?: string },
  ): Promise<{ changes: TupleChange[]; continuationToken: string }> {
    await this.stores.get(ctx, storeId);
    const size = pageSizeOf(req.pageSize);
    const type = req.type ?? '';
    let q = this.storage.db
      .selectFrom('authz_changelog')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('store_id', '=', storeId)
      .where('operation', 'in', ['write', 'delete']);
    if (type) q = q.where('object_type', '=', type);
    if (req.continuationToken) {
      const after = decodeToken(req.continuationToken, (v): v is { r: number; k: string[]; t: string } => {
        const o = v as { r?: unknown; k?: unknown; t?: unknown };
        return Number.isSafeInteger(o?.r) && isStringArray(o?.k, KEY_COLUMNS.length + 1) && typeof o?.t === 'string';
      });
      if (after.t !== type) throw fgaInvalid('query_string_type_continuation_token_mismatch', "The type in the querystring and the continuation token don't match");
      const [a, b, c, d, e, f, op] = after.k as [string, string, string, string, string, string, string];
      q = q.where(sql<boolean>`(revision, object_type, object_id, relation, subject_type, subject_id, subject_relation, operation) > (${after.r}, ${a}, ${b}, ${c}, ${d}, ${e}, ${f}, ${op})`);
    } else if (req.startTime) {
      const t = new Date(req.startTime);
      if (Number.isNaN(t.getTime())) throw fgaInvalid('invalid_start_time', 'start_time must be an ISO 8601 timestamp');
      q = q.where('created_at', '>=', t.toISOString());
    }
    const rows = await q
      .orderBy('revision')
      .orderBy('object_type')
      .orderBy('object_id')
      .orderBy('relation')
      .orderBy('subject_type')
      .orderBy('subject_id')
      .orderBy('subject_relation')
      .orderBy('operation')
      .limit(size)
      .execute();
    const last = rows[rows.length - 1];
    const token = last
      ? encodeToken({ r: Number(last.revision), k: [...KEY_COLUMNS.map((c) => last[c]), last.operation], t: type })
      : (req.continuationToken ?? '');
    return {
      changes: rows.map((r) => ({
        tuple_key: keyFromTuple(rowToTuple(r)),
        operation: r.operation === 'delete' ? 'TUPLE_OPERATION_DELETE' : 'TUPLE_OPERATION_WRITE',
        timestamp: r.created_at,
      })),
      continuationToken: token,
    };
  }
}

/** Converts a tuple to the OpenFGA key form (re-exported for the CLI). */
export function tupleKeyOf(t: RelationTuple): FgaTupleKey {
  return keyFromTuple(t);
}

/** The store, model and tuple services of the OpenFGA-compatible API, for the composition root. */
export function createAuthzStoreServices(s: { storage: Storage; audit: AuditLog; clock: Clock; tuples: TupleStore }): {
  authzStores: AuthzStoreService;
  authzModels: AuthzModelService;
  authzTuples: RelationshipService;
  authzAssertions: AuthzAssertionService;
} {
  const authzStores = new AuthzStoreService(s.storage, s.audit, s.clock, s.tuples);
  const authzModels = new AuthzModelService(s.storage, s.audit, s.clock, s.tuples, authzStores);
  return {
    authzStores,
    authzModels,
    authzTuples: new RelationshipService(s.storage, s.audit, s.tuples, authzStores, authzModels),
    authzAssertions: new AuthzAssertionService(s.storage, s.audit, s.clock, authzModels),
  };
}
