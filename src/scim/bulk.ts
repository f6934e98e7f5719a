/**
 * SCIM Bulk (RFC 7644 §3.7), transport-free: reads a BulkRequest, runs its operations through
 * the same Users and Groups endpoints as single requests, all in one database transaction with a
 * SAVEPOINT per operation (storage/transactions.ts): a failed operation rolls back alone — no row
 * and no audit event of it remains — while the others commit together with their audit events
 * (§3.7 does not make a bulk request atomic, and this one is not: each operation keeps its own
 * outcome). Resolves `bulkId:<id>`
 * references between operations (§3.7.2) — an operation that refers to a later POST waits for
 * it; references that can never resolve (circular, unknown or failed) fail with 409 — honours
 * `failOnErrors` (§3.7.3) and the announced `maxOperations`.
 */
import { GatehouseError } from '../kernel/errors.js';
import type { OperationContext } from '../kernel/context.js';
import { lockAuthorizationGraph } from '../identity/shared.js';
import type { Storage } from '../storage/database.js';
import { runSharedTransaction } from '../storage/transactions.js';
import { scimInvalid, type ScimErrorBody } from './errors.js';
import { parseEtagCondition, etagOf } from './etag.js';
import type { ScimGroupEndpoint } from './group-endpoint.js';
import { isPlainObject } from './resource.js';
import type { ScimRef, ScimResult, ScimUserEndpoint } from './user-endpoint.js';

export const BULK_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

/** Most operations in one bulk request (announced as `bulk.maxOperations`). */
export const MAX_BULK_OPERATIONS = 1000;

/** Most operations run together in one savepoint (see `ScimBulkProcessor.runBatch`); a failure re-runs at most this many one by one. */
const BATCH_OPERATIONS = 50;

type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface BulkOperation {
  index: number;
  method: Method;
  bulkId?: string;
  version?: string;
  path: string;
  data?: unknown;
}

/** One entry of a BulkResponse. */
export interface BulkOperationResult {
  method: Method;
  bulkId?: string;
  version?: string;
  location?: string;
  status: string;
  response?: ScimErrorBody;
}

export interface BulkResponse {
  schemas: [typeof BULK_RESPONSE_SCHEMA];
  Operations: BulkOperationResult[];
}

/** Turns any error into a SCIM status and error body (the HTTP layer's one classification). */
export type ErrorMapper = (err: unknown) => { status: number; body: ScimErrorBody };

const BULK_REF_RE = /^bulkId:(.+)$/;

/** Every `bulkId:<id>` string value inside `v` (and the path). */
function referencesOf(v: unknown, out: Set<string>): Set<string> {
  if (typeof v === 'string') {
    const m = BULK_REF_RE.exec(v);
    if (m) out.add(m[1]!);
  } else if (Array.isArray(v)) for (const x of v) referencesOf(x, out);
  else if (isPlainObject(v)) for (const x of Object.values(v)) referencesOf(x, out);
  return out;
}

/** The last segment of a path (`/Users/bulkId:qwerty` → `bulkId:qwerty`), or the path when it has no resource id. */
function pathRef(path: string): string {
  const m = /^\/(?:Users|Groups)\/(bulkId:.+)$/.exec(path);
  return m ? m[1]! : path;
}

function substitute(v: unknown, ids: Map<string, string>): unknown {
  if (typeof v === 'string') {
    const m = BULK_REF_RE.exec(v);
    return m && ids.has(m[1]!) ? ids.get(m[1]!) : v;
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, ids));
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, ids)]));
  return v;
}

/**
 * Reads a BulkRequest body.
 * @throws GatehouseError `invalid_input` (scimType `invalidSyntax`: not a BulkRequest, an
 *   operation without method or path, a repeated bulkId; `invalidValue`: bad failOnErrors) or
 *   `payload_too_large` (more than {@link MAX_BULK_OPERATIONS} operations).
 */
export function readBulkRequest(body: unknown): { failOnErrors: number | null; operations: BulkOperation[] } {
  if (!isPlainObject(body)) throw scimInvalid('invalidSyntax', 'the request body must be a BulkRequest JSON object');
  const get = (name: string) => Object.entries(body).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  for (const k of Object.keys(body)) {
    if (!['schemas', 'failonerrors', 'operations'].includes(k.toLowerCase())) throw scimInvalid('invalidSyntax', `unknown member "${k}" in a BulkRequest`);
  }
  const schemas = get('schemas');
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === BULK_REQUEST_SCHEMA.toLowerCase())) {
    throw scimInvalid('invalidSyntax', `"schemas" must be ["${BULK_REQUEST_SCHEMA}"]`);
  }
  const foe = get('failOnErrors');
  if (foe !== undefined && foe !== null && (typeof foe !== 'number' || !Number.isInteger(foe) || foe < 1)) {
    throw scimInvalid('invalidValue', '"failOnErrors" must be a positive integer');
  }
  const ops = get('Operations');
  if (!Array.isArray(ops) || ops.length === 0) throw scimInvalid('invalidSyntax', '"Operations" must be a non-empty array');
  if (ops.length > MAX_BULK_OPERATIONS) {
    throw new GatehouseError('payload_too_large', `a bulk request may hold at most ${MAX_BULK_OPERATIONS} operations (maxOperations); this one has ${ops.length}`, {
      maxOperations: MAX_BULK_OPERATIONS,
    });
  }
  const bulkIds = new Set<string>();
  const operations = ops.map((raw, index): BulkOperation => {
    if (!isPlainObject(raw)) throw scimInvalid('invalidSyntax', `Operations[${index}] must be an object`);
    const op: Partial<BulkOperation> = { index };
    for (const [k, v] of Object.entries(raw)) {
      switch (k.toLowerCase()) {
        case 'method': {
          const m = typeof v === 'string' ? v.toUpperCase() : '';
          if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(m)) throw scimInvalid('invalidSyntax', `Operations[${index}].method must be POST, PUT, PATCH or DELETE`);
          op.method = m as Method;
          break;
        }
        case 'bulkid':
          if (typeof v !== 'string' || !v || v.length > 256) throw scimInvalid('invalidSyntax', `Operations[${index}].bulkId must be a non-empty string`);
          if (bulkIds.has(v)) throw scimInvalid('invalidSyntax', `bulkId "${v}" is used by more than one operation`);
          bulkIds.add(v);
          op.bulkId = v;
          break;
        case 'version':
          if (typeof v !== 'string') throw scimInvalid('invalidSyntax', `Operations[${index}].version must be a string`);
          op.version = v;
          break;
        case 'path':
          if (typeof v !== 'string' || !v.startsWith('/')) throw scimInvalid('invalidSyntax', `Operations[${index}].path must be a resource path such as "/Users"`);
          op.path = v;
          break;
        case 'data':
          op.data = v;
          break;
        default:
          throw scimInvalid('invalidSyntax', `unknown member "${k}" in Operations[${index}]`);
      }
    }
    if (!op.method || !op.path) throw scimInvalid('invalidSyntax', `Operations[${index}] needs "method" and "path"`);
    return op as BulkOperation;
  });
  return { failOnErrors: typeof foe === 'number' ? foe : null, operations };
}

/** A PUT or PATCH result as the BulkResponse lists it. */
function refOf(res: ScimResult, type: string): ScimRef {
  return { id: res.id, version: res.version, location: (res.doc.meta as { location?: string } | undefined)?.location ?? `${type}/${res.id}` };
}

/** A POST /Users with a bulkId and no version (the batches run it through `createRefs`). */
function isUserCreation(op: BulkOperation): boolean {
  return op.method === 'POST' && op.path === '/Users' && op.bulkId !== undefined && op.version === undefined;
}

/** Runs one operation in its own savepoint of the bulk's transaction. */
type Step = <T>(work: () => Promise<T>) => Promise<T>;

/** Runs bulk requests against the Users and Groups endpoints. */
export class ScimBulkProcessor {
  /** @param storage - the database the endpoints' services write to (the bulk's transaction is opened on it). */
  constructor(
    private readonly users: ScimUserEndpoint,
    private readonly groups: ScimGroupEndpoint,
    private readonly toError: ErrorMapper,
    private readonly storage: Storage,
  ) {}

  /**
   * Runs a BulkRequest body. Operations run in request order, except that one referring to the
   * bulkId of a later POST runs after it. Results are listed in request order; with
   * `failOnErrors` n, processing stops at the n-th error and later operations are not listed.
   * @throws GatehouseError for a body that is not a valid BulkRequest (see {@link readBulkRequest}).
   */
  async run(ctx: OperationContext, body: unknown): Promise<BulkResponse> {
    const { failOnErrors, operations } = readBulkRequest(body);
    // The audit events are chained at commit (the chain head is the last lock taken). On PostgreSQL
    // the authorization graph lock is taken first, the order every other writer takes them in,
    // so an operation that changes memberships cannot deadlock with a concurrent writer.
    return runSharedTransaction(this.storage.rootDb, (step) => this.runAll(ctx, failOnErrors, operations, step), (trx) => lockAuthorizationGraph(trx, this.storage));
  }

  private async runAll(ctx: OperationContext, failOnErrors: number | null, operations: BulkOperation[], step: Step): Promise<BulkResponse> {
    const definedBy = new Map(operations.filter((o) => o.method === 'POST' && o.bulkId).map((o) => [o.bulkId!, o]));
    const created = new Map<string, string>();
    const failedBulkIds = new Set<string>();
    const results = new Map<number, BulkOperationResult>();
    let errors = 0;
    const record = (op: BulkOperation, result: BulkOperationResult) => {
      results.set(op.index, result);
      if (Number(result.status) >= 400) {
        errors++;
        if (op.bulkId) failedBulkIds.add(op.bulkId);
      }
    };
    const stopped = () => failOnErrors !== null && errors >= failOnErrors;
    // Operations without bulkId references, in a row, are run together (see runBatch); one with
    // references waits until those before it have run, so it sees their ids.
    let batch: BulkOperation[] = [];
    const flush = async () => {
      const ops = batch;
      batch = [];
      const together = ops.length > 1 ? await this.runBatch(ctx, ops, created, step) : null;
      for (let i = 0; i < ops.length && !stopped(); i++) record(ops[i]!, together ? together[i]! : await this.execute(ctx, ops[i]!, null, created, step));
    };
    let pending = [...operations];
    while (pending.length > 0) {
      const waiting: BulkOperation[] = [];
      let progressed = false;
      for (const op of pending) {
        if (stopped()) break;
        const refs = [...referencesOf([pathRef(op.path), op.data], new Set())];
        if (refs.length === 0) {
          progressed = true;
          batch.push(op);
          if (batch.length >= BATCH_OPERATIONS) await flush();
          continue;
        }
        await flush();
        if (stopped()) break;
        const blockedBy = refs.filter((r) => !created.has(r));
        const canWait = blockedBy.every((r) => definedBy.has(r) && !failedBulkIds.has(r) && !results.has(definedBy.get(r)!.index) && r !== op.bulkId);
        if (blockedBy.length > 0 && canWait) {
          waiting.push(op);
          continue;
        }
        progressed = true;
        record(
          op,
          blockedBy.length > 0
            ? this.failure(op, new GatehouseError('conflict', `bulkId reference(s) ${blockedBy.map((r) => `"bulkId:${r}"`).join(', ')} cannot be resolved`, { scimType: 'invalidValue' }))
            : await this.execute(ctx, op, created, created, step),
        );
      }
      await flush();
      if (stopped()) break;
      if (!progressed) {
        // Circular references: each waits for another that never runs (RFC 7644 §3.7.1 allows answering 409).
        for (const op of waiting) {
          results.set(op.index, this.failure(op, new GatehouseError('conflict', 'circular bulkId references cannot be resolved', { scimType: 'invalidValue' })));
          errors++;
        }
        break;
      }
      pending = waiting;
    }
    return { schemas: [BULK_RESPONSE_SCHEMA], Operations: [...results.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r) };
  }

  /**
   * Runs `ops` (operations without bulkId references) in one savepoint, one after the other: the
   * savepoint statements of one step instead of one step each. When all succeed, answers their
   * results (the POSTs' ids recorded in `created`). When one fails, the savepoint is rolled back
   * (nothing of the batch remains) and null is answered: the caller runs each operation again in
   * its own savepoint, so the outcomes are those of operations run one by one.
   */
  private async runBatch(ctx: OperationContext, ops: BulkOperation[], created: Map<string, string>, step: Step): Promise<BulkOperationResult[] | null> {
    let done: Array<{ result: BulkOperationResult; id?: string }>;
    try {
      done = await step(async () => {
        if (ops.every(isUserCreation)) return this.createUsers(ctx, ops);
        const out: Array<{ result: BulkOperationResult; id?: string }> = [];
        for (const op of ops) out.push(await this.apply(ctx, op, null));
        return out;
      });
    } catch {
      return null;
    }
    ops.forEach((op, i) => {
      const id = done[i]!.id;
      if (op.method === 'POST' && op.bulkId && id !== undefined) created.set(op.bulkId, id);
    });
    return done.map((d) => d.result);
  }

  /**
   * A batch of user creations stored together: one `createRefs` (multi-row inserts per table, one
   * `user.create` event each), answered as {@link apply} answers each.
   * @throws the first error (the caller then runs each alone).
   */
  private async createUsers(ctx: OperationContext, ops: BulkOperation[]): Promise<Array<{ result: BulkOperationResult; id: string }>> {
    const refs = await this.users.createRefs(ctx, ops.map((op) => op.data));
    return ops.map((op, i) => {
      const res = refs[i]!;
      return { result: { method: op.method, status: '201', bulkId: op.bulkId, location: res.location, version: etagOf(res.version) }, id: res.id };
    });
  }

  private failure(op: BulkOperation, err: unknown): BulkOperationResult {
    const { status, body } = this.toError(err);
    const r: BulkOperationResult = { method: op.method, status: String(status), response: body };
    if (op.bulkId) r.bulkId = op.bulkId;
    return r;
  }

  /** @param refsFrom - the ids to put for the operation's `bulkId:` references; null when it has none (its data is used as sent). */
  private async execute(ctx: OperationContext, op: BulkOperation, refsFrom: Map<string, string> | null, created: Map<string, string>, step: Step): Promise<BulkOperationResult> {
    try {
      const r = await step(() => this.apply(ctx, op, refsFrom));
      if (op.method === 'POST' && op.bulkId && r.id !== undefined) created.set(op.bulkId, r.id);
      return r.result;
    } catch (err) {
      return this.failure(op, err);
    }
  }

  /** Runs one operation. @throws GatehouseError as the endpoint does; the caller rolls its savepoint back. */
  private async apply(ctx: OperationContext, op: BulkOperation, created: Map<string, string> | null): Promise<{ result: BulkOperationResult; id?: string }> {
    const ref = pathRef(op.path);
    const path = ref === op.path || !created ? op.path : op.path.slice(0, op.path.length - ref.length) + (substitute(ref, created) as string);
    const data = created ? substitute(op.data, created) : op.data;
    const m = /^\/(Users|Groups)(?:\/([^/?#]+))?$/.exec(path);
    if (!m) throw new GatehouseError('not_found', `no bulk target "${op.path}": use /Users, /Groups, /Users/{id} or /Groups/{id}`);
    const endpoint = m[1] === 'Users' ? this.users : this.groups;
    const id = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    const ifMatch = op.version === undefined ? undefined : parseEtagCondition(op.version);
    let res: ScimRef | undefined;
    let status = 200;
    if (op.method === 'POST') {
      if (id !== undefined) throw scimInvalid('invalidSyntax', 'POST takes a resource type path (/Users or /Groups), not a resource');
      if (!op.bulkId) throw scimInvalid('invalidSyntax', 'a POST operation needs a "bulkId" (RFC 7644 §3.7)');
      res = await endpoint.createRef(ctx, data);
      status = 201;
    } else {
      if (id === undefined) throw scimInvalid('invalidSyntax', `${op.method} takes a resource path such as /Users/{id}`);
      if (op.method === 'PUT') res = refOf(await endpoint.replace(ctx, id, data, ifMatch), m[1]!);
      else if (op.method === 'PATCH') res = refOf(await endpoint.patch(ctx, id, data, ifMatch), m[1]!);
      else {
        await endpoint.delete(ctx, id, ifMatch);
        status = 204;
      }
    }
    const r: BulkOperationResult = { method: op.method, status: String(status) };
    if (op.bulkId) r.bulkId = op.bulkId;
    if (res) {
      r.location = res.location;
      r.version = etagOf(res.version);
    }
    return { result: r, id: res?.id };
  }
}
