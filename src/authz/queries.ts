/**
 * The list and governance queries of {@link AuthzService}, answered from the index once the
 * service has settled the requested revision: ListObjects, ListUsers, Expand (OpenFGA semantics)
 * and the decision log's "last used" reads.
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import type { Storage } from '../storage/database.js';
import {
  MAX_LIST_RESULTS,
  type ExpandRequest,
  type ExpandResult,
  type ListObjectsRequest,
  type ListObjectsResult,
  type ListUsersRequest,
  type ListUsersResult,
  type ListedUser,
  type SubjectRef,
  type TupleLastUsed,
} from './contract.js';
import type { DecisionLog } from './decision-log.js';
import type { Evaluator } from './evaluator.js';
import { expandTree } from './expand.js';
import { StoreGraph } from './graph.js';
import { listObjectNodes } from './list-objects.js';
import { listUserNodes, type NodeFilter } from './list-users.js';
import { Scopes, requireText } from './scope.js';
import { BUILTIN_STORE_ID, formatTuple, validateTupleShape, type RelationTuple } from './tuples.js';

/** `limit` of a list request: at most {@link MAX_LIST_RESULTS}. @throws GatehouseError `invalid_input`. */
function listLimit(n: number | undefined): number {
  if (n === undefined) return MAX_LIST_RESULTS;
  if (!Number.isSafeInteger(n) || n < 1) throw new GatehouseError('invalid_input', 'limit must be a positive integer', { field: 'limit' });
  return Math.min(n, MAX_LIST_RESULTS);
}

/** ListObjects, ListUsers, Expand and last-used reads over one service's index. */
export class AuthzQueries {
  constructor(
    private readonly scopes: Scopes,
    private readonly evaluator: Evaluator,
    private readonly storage: Storage,
    private readonly decisionLog: DecisionLog | undefined,
  ) {}

  /** See {@link AuthzService.listObjects}. */
  listObjects(ctx: OperationContext, req: ListObjectsRequest): ListObjectsResult {
    Scopes.validateSubject(req.subject);
    requireText(req.relation, 'relation');
    requireText(req.objectType, 'objectType');
    const limit = listLimit(req.limit);
    const revision = this.scopes.index.revision;
    const sc = this.scopes.scope(ctx, req);
    if (!sc.model) return { objects: [], revision };
    const ids = this.scopes.resolve(sc, sc.model, req.objectType, req.relation, req.subject);
    if (!ids || !sc.view || ids.st < 0 || this.scopes.isDisabled(ctx, req.subject)) return { objects: [], revision };
    const view = sc.view;
    const nodes = listObjectNodes(
      this.evaluator,
      view,
      sc.model,
      { subjectType: ids.st, subjectNode: view.lookupNodeOfType(ids.st, req.subject.id), subjectRelation: ids.sr, objectType: ids.ot, relation: ids.rel },
      sc.nowMs,
      sc.context,
      limit,
    );
    const prefix = `${req.objectType}:`;
    const objects = nodes.map((n) => prefix + view.describe(n).id).sort();
    return { objects, revision };
  }

  /** See {@link AuthzService.listUsers}. */
  listUsers(ctx: OperationContext, req: ListUsersRequest): ListUsersResult {
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    if (!Array.isArray(req.userFilters) || req.userFilters.length === 0 || req.userFilters.length > 10) {
      throw new GatehouseError('invalid_input', 'userFilters must hold 1 to 10 filters', { field: 'userFilters' });
    }
    for (const f of req.userFilters) {
      requireText(f?.type, 'userFilters.type');
      if (f.relation !== undefined && f.relation !== '') requireText(f.relation, 'userFilters.relation');
    }
    const index = this.scopes.index;
    const revision = index.revision;
    const sc = this.scopes.scope(ctx, req);
    if (!sc.model) return { users: [], revision };
    const model = sc.model;
    const ids = this.scopes.resolve(sc, model, req.object.type, req.relation);
    const sym = index.symbols;
    const filters: NodeFilter[] = [];
    for (const f of req.userFilters) {
      const t = sym.types.lookup(f.type);
      const r = f.relation ? sym.relations.lookup(f.relation) : 0;
      if (sc.strict && (t < 0 || !model.hasType(t))) throw new GatehouseError('invalid_input', `type '${f.type}' is not defined in the authorization model`, { reason: 'unknown_type', type: f.type });
      if (sc.strict && f.relation && (r < 0 || !model.relation(t, r))) {
        throw new GatehouseError('invalid_input', `relation '${f.type}#${f.relation}' is not defined in the authorization model`, { reason: 'unknown_relation', type: f.type, relation: f.relation });
      }
      if (t >= 0 && r >= 0) filters.push({ type: t, relation: r });
    }
    const view = sc.view;
    const objectNode = view ? view.lookupNode(req.object.type, req.object.id) : -1;
    if (!ids || !view || objectNode < 0 || filters.length === 0) return { users: [], revision };
    const disabled = (n: number) => {
      const d = view.describe(n);
      return index.isDisabled(ctx.tenantId, d.type, d.id);
    };
    const nodes = listUserNodes(this.evaluator, view, model, objectNode, ids.rel, filters, sc.nowMs, sc.context, MAX_LIST_RESULTS, disabled);
    const users: ListedUser[] = nodes.map(({ node, subjectRelation }) => {
      const d = view.describe(node);
      if (subjectRelation !== 0) return { userset: { type: d.type, id: d.id, relation: sym.relations.name(subjectRelation) } };
      if (d.id === '*') return { wildcard: { type: d.type } };
      return { object: { type: d.type, id: d.id } };
    });
    const rank = (u: ListedUser) => ('object' in u ? `0${u.object.type}:${u.object.id}` : 'userset' in u ? `1${u.userset.type}:${u.userset.id}#${u.userset.relation}` : `2${u.wildcard.type}`);
    users.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
    return { users, revision };
  }

  /** See {@link AuthzService.expand}. */
  expand(ctx: OperationContext, req: ExpandRequest): ExpandResult {
    requireText(req.relation, 'relation');
    requireText(req.object?.type, 'object.type');
    requireText(req.object?.id, 'object.id');
    const index = this.scopes.index;
    const revision = index.revision;
    const sc = this.scopes.scope(ctx, req);
    const name = `${req.object.type}:${req.object.id}#${req.relation}`;
    if (!sc.model) return { tree: { root: { name, leaf: { users: { users: [] } } } }, revision };
    const ids = this.scopes.resolve({ ...sc, strict: true }, sc.model, req.object.type, req.relation);
    const cr = ids ? sc.model.relation(ids.ot, ids.rel) : undefined;
    if (!cr) return { tree: { root: { name, leaf: { users: { users: [] } } } }, revision };
    const node = sc.view ? sc.view.lookupNode(req.object.type, req.object.id) : -1;
    const view = sc.view ?? new StoreGraph(index.symbols, index.space(ctx.tenantId));
    return { tree: { root: expandTree(view, sc.model, req.object.type, req.object.id, node, cr, sc.nowMs) }, revision };
  }

  /** See {@link AuthzService.grantsLastUsed}. */
  async grantsLastUsed(ctx: OperationContext, req: { storeId?: string; subject: SubjectRef }): Promise<TupleLastUsed[]> {
    Scopes.validateSubject(req.subject);
    const storeId = req.storeId ?? BUILTIN_STORE_ID;
    const tuples = await this.storage.db
      .selectFrom('authz_tuples')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('store_id', '=', storeId)
      .where('subject_type', '=', req.subject.type)
      .where('subject_id', '=', req.subject.id)
      .where('subject_relation', '=', req.subject.relation ?? '')
      .execute();
    const used = this.decisionLog ? await this.decisionLog.lastUsedFor(ctx.tenantId, storeId, req.subject) : new Map<string, string>();
    return tuples
      .map((r) => {
        const tuple: RelationTuple = {
          objectType: r.object_type,
          objectId: r.object_id,
          relation: r.relation,
          subjectType: r.subject_type,
          subjectId: r.subject_id,
          subjectRelation: r.subject_relation,
          expiresAt: r.expires_at,
          condition: r.condition_name ? { name: r.condition_name, context: r.condition_context ? (JSON.parse(r.condition_context) as Record<string, unknown>) : null } : null,
        };
        return { storeId, tuple, lastUsedAt: used.get(formatTuple(tuple)) ?? null };
      })
      .sort((a, b) => (formatTuple(a.tuple) < formatTuple(b.tuple) ? -1 : 1));
  }

  /** See {@link AuthzService.tupleLastUsed}. */
  async tupleLastUsed(ctx: OperationContext, req: { storeId?: string; tuple: RelationTuple }): Promise<string | null> {
    validateTupleShape(req.tuple);
    if (!this.decisionLog) return null;
    return this.decisionLog.lastUsed(ctx.tenantId, req.storeId ?? BUILTIN_STORE_ID, req.tuple);
  }
}
