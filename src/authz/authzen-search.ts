/**
 * The AuthZEN Authorization API 1.0 Search APIs (§8 Subject Search, §9 Resource Search,
 * §10 Action Search) over the authorization engine, with the mapping of docs/authzen.md:
 *
 * - Subject Search: ListUsers on `resource.type:resource.id`, relation `action.name`, filter
 *   `subject.type`; a wildcard grant (`user:*`) is listed as `{type, id: "*"}`.
 * - Resource Search: ListObjects for `subject`, relation `action.name`, type `resource.type`.
 * - Action Search: every relation `resource.type` defines in the store's model, checked in one
 *   batch; a relation whose check fails (for example a condition lacking a parameter) is not listed.
 * - Built-in store: Subject Search lists the holders of `permission:<resource.type>:<action.name>`;
 *   Resource Search answers `{type, id: "*"}` (every resource of the type) when the subject holds
 *   that permission; Action Search lists the actions of the permissions `<resource.type>:<action>`
 *   the subject holds.
 *
 * Results are sorted and paged: `page.limit` (1..1000) and `page.token` (`next_token` of the
 * previous page; AuthZEN drafts also call it `page.next_token`). The response always has
 * `page.next_token`, empty on the last page. An unknown type or relation gives no results.
 * Each search takes the optional `atLeastRevision` of {@link AuthzenPdp.storeAt}: it answers from
 * an index at or past that changelog revision (`revision_timeout` when not reached in time).
 */
import type { OperationContext } from '../kernel/context.js';
import { GatehouseError } from '../kernel/errors.js';
import { conditionContext, isUnknownName, type AuthzenPdp } from './authzen.js';
import { GRANTED_RELATION, PERMISSION_TYPE, permissionObjectId } from './builtin-model.js';
import type { AuthzEngine } from './service.js';
import { BUILTIN_STORE_ID } from './tuples.js';

/** Largest page a search returns. */
export const MAX_SEARCH_PAGE = 1000;

/** Paging members of a search request. */
export interface SearchPage {
  limit?: number;
  token?: string;
}

interface SearchBase {
  context?: Record<string, unknown>;
  page?: SearchPage;
}

/** §8.1: `subject.id` is ignored. */
export interface SubjectSearchRequest extends SearchBase {
  subject: { type: string; properties?: Record<string, unknown> };
  action: { name: string; properties?: Record<string, unknown> };
  resource: { type: string; id: string; properties?: Record<string, unknown> };
}

/** §9.1: `resource.id` is ignored. */
export interface ResourceSearchRequest extends SearchBase {
  subject: { type: string; id: string; properties?: Record<string, unknown> };
  action: { name: string; properties?: Record<string, unknown> };
  resource: { type: string; properties?: Record<string, unknown> };
}

/** §10.1: no action. */
export interface ActionSearchRequest extends SearchBase {
  subject: { type: string; id: string; properties?: Record<string, unknown> };
  resource: { type: string; id: string; properties?: Record<string, unknown> };
}

/** A page of search results. */
export interface SearchResponse<T> {
  results: T[];
  page: { next_token: string; count: number; total: number };
}

const TOKEN_PREFIX = 'o';

/** Slices sorted results into the requested page. @throws GatehouseError `invalid_input` for a bad limit or token. */
export function paginate<T>(all: T[], page: SearchPage | undefined): SearchResponse<T> {
  let offset = 0;
  if (page?.token) {
    const m = /^o(\d{1,9})$/.exec(Buffer.from(page.token, 'base64url').toString('utf8'));
    if (!m) throw new GatehouseError('invalid_input', 'page.token is not a token this server issued', { field: 'page.token' });
    offset = Number(m[1]);
  }
  const limit = page?.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_PAGE)) {
    throw new GatehouseError('invalid_input', `page.limit must be an integer from 1 to ${MAX_SEARCH_PAGE}`, { field: 'page.limit' });
  }
  const end = limit === undefined ? all.length : Math.min(all.length, offset + limit);
  const results = all.slice(offset, end);
  const next = end < all.length ? Buffer.from(`${TOKEN_PREFIX}${end}`, 'utf8').toString('base64url') : '';
  return { results, page: { next_token: next, count: results.length, total: all.length } };
}

/** The AuthZEN searches of one process. */
export class AuthzenSearch {
  constructor(
    private readonly engine: AuthzEngine,
    private readonly pdp: AuthzenPdp,
  ) {}

  /**
   * Subject Search (§8). @throws GatehouseError `not_found` (unknown store), `invalid_input`
   * (bad page), `condition_error`, `resolution_too_complex`, `revision_timeout`.
   */
  async subjects(ctx: OperationContext, storeId: string | null, req: SubjectSearchRequest, atLeastRevision?: number): Promise<SearchResponse<{ type: string; id: string }>> {
    const store = await this.pdp.storeAt(ctx, storeId, atLeastRevision);
    const builtin = store === BUILTIN_STORE_ID;
    let results: Array<{ type: string; id: string }> = [];
    try {
      const { users } = await this.engine.listUsers(ctx, {
        ...(builtin ? {} : { storeId: store, context: conditionContext(req) }),
        object: builtin ? { type: PERMISSION_TYPE, id: permissionObjectId(req.resource.type, req.action.name) } : { type: req.resource.type, id: req.resource.id },
        relation: builtin ? GRANTED_RELATION : req.action.name,
        userFilters: [{ type: req.subject.type }],
      });
      for (const u of users) {
        if ('object' in u) results.push({ type: u.object.type, id: u.object.id });
        else if ('wildcard' in u) results.push({ type: u.wildcard.type, id: '*' });
      }
    } catch (err) {
      if (!isUnknownName(err)) throw err;
      results = [];
    }
    results = results.filter((r) => r.type === req.subject.type).sort(byTypeId);
    return paginate(results, req.page);
  }

  /** Resource Search (§9). Errors as {@link subjects}. */
  async resources(ctx: OperationContext, storeId: string | null, req: ResourceSearchRequest, atLeastRevision?: number): Promise<SearchResponse<{ type: string; id: string }>> {
    const store = await this.pdp.storeAt(ctx, storeId, atLeastRevision);
    let results: Array<{ type: string; id: string }> = [];
    try {
      if (store === BUILTIN_STORE_ID) {
        const { decision } = await this.engine.check(ctx, {
          subject: { type: req.subject.type, id: req.subject.id },
          relation: GRANTED_RELATION,
          object: { type: PERMISSION_TYPE, id: permissionObjectId(req.resource.type, req.action.name) },
        });
        if (decision) results = [{ type: req.resource.type, id: '*' }];
      } else {
        const { objects } = await this.engine.listObjects(ctx, {
          storeId: store,
          subject: { type: req.subject.type, id: req.subject.id },
          relation: req.action.name,
          objectType: req.resource.type,
          context: conditionContext(req),
        });
        for (const o of objects) {
          const i = o.indexOf(':');
          results.push({ type: o.slice(0, i), id: o.slice(i + 1) });
        }
      }
    } catch (err) {
      if (!isUnknownName(err)) throw err;
      results = [];
    }
    return paginate(results.sort(byTypeId), req.page);
  }

  /** Action Search (§10). Errors as {@link subjects}. */
  async actions(ctx: OperationContext, storeId: string | null, req: ActionSearchRequest, atLeastRevision?: number): Promise<SearchResponse<{ name: string }>> {
    const store = await this.pdp.storeAt(ctx, storeId, atLeastRevision);
    let names: string[] = [];
    try {
      if (store === BUILTIN_STORE_ID) {
        const { objects } = await this.engine.listObjects(ctx, {
          subject: { type: req.subject.type, id: req.subject.id },
          relation: GRANTED_RELATION,
          objectType: PERMISSION_TYPE,
        });
        const prefix = `${PERMISSION_TYPE}:${req.resource.type}:`;
        names = objects.filter((o) => o.startsWith(prefix)).map((o) => o.slice(prefix.length));
      } else {
        const relations = await this.pdp.stores.typeRelations(ctx.tenantId, store, req.resource.type, null);
        const context = conditionContext(req);
        const answers = relations.length
          ? await this.engine.batchCheck(
              ctx,
              relations.map((relation, i) => ({
                correlationId: String(i),
                storeId: store,
                subject: { type: req.subject.type, id: req.subject.id },
                relation,
                object: { type: req.resource.type, id: req.resource.id },
                context,
              })),
            )
          : [];
        names = answers.filter((a) => a.decision === true).map((a) => relations[Number(a.correlationId)] as string);
      }
    } catch (err) {
      if (!isUnknownName(err)) throw err;
      names = [];
    }
    return paginate(
      [...new Set(names)].sort().map((name) => ({ name })),
      req.page,
    );
  }
}

function byTypeId(a: { type: string; id: string }, b: { type: string; id: string }): number {
  return a.type < b.type ? -1 : a.type > b.type ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
