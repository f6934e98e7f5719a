/**
 * The SCIM /Users endpoint as transport-free use cases over {@link UserService}: create, read,
 * replace (PUT), PATCH, delete and list/search. Deactivation (PUT or PATCH of `active` to false)
 * and deletion go through `UserService.replace` / `delete`, which deprovision in the same
 * transaction. Lists are answered by {@link ScimQueryStore} (the filter in SQL).
 */
import type { OperationContext } from '../kernel/context.js';
import type { User, UserService, WriteRunner } from '../identity/types.js';
import { checkIfMatch, type EtagCondition } from './etag.js';
import { keepWriteOnly } from './extensions.js';
import { listResponse, project, type ListParams, type ListResponse, type Projection } from './list.js';
import { withOptimisticRetry } from './operations.js';
import { applyPatch, readPatchRequest } from './patch.js';
import { checkImmutable, readResource, type ScimDoc } from './resource.js';
import { USER_RESOURCE, type ResourceTypeDef } from './schemas.js';
import type { ScimQueryStore } from './sql/query-store.js';
import { userInputFromScim, userToScim, type UserGroupView } from './user-mapping.js';

/** A resource as returned, with its version for the ETag header. */
export interface ScimResult {
  doc: ScimDoc;
  version: number;
  id: string;
}

/**
 * What a Bulk operation reports of a resource it created (RFC 7644 §3.7.3: `location` and
 * `version`), without rendering the resource.
 */
export interface ScimRef {
  id: string;
  version: number;
  /** `<baseUrl>/<Users|Groups>/<id>`, as `meta.location`. */
  location: string;
}

/** Whether a projection returns the (computed) `groups` attribute. */
function wantsGroups(p: Projection): boolean {
  const names = (list?: string[]) => (list ?? []).join(',').split(',').map((s) => s.trim().toLowerCase().replace(/^urn:ietf:params:scim:schemas:core:2\.0:user:/, '').split('.')[0]);
  if (p.attributes?.length) return names(p.attributes).includes('groups');
  return !names(p.excludedAttributes).includes('groups');
}

/** The single version an If-Match names, for the service's in-transaction check; undefined for `*` or none. */
export function expectedVersionOf(cond: EtagCondition | undefined, current?: () => Promise<number>): Promise<number | undefined> | number | undefined {
  if (!cond || cond.any) return undefined;
  if (cond.versions.length === 1) return cond.versions[0]!;
  return current?.().then((v) => {
    checkIfMatch(cond, v);
    return v;
  });
}

export class ScimUserEndpoint {
  /**
   * @param baseUrl - the SCIM base URL, e.g. `https://id.example.com/scim/v2`.
   * @param rt - the User resource type (with configured extensions).
   */
  constructor(
    private readonly users: UserService,
    private readonly store: ScimQueryStore,
    private readonly baseUrl: string,
    readonly rt: ResourceTypeDef = USER_RESOURCE,
  ) {}

  private async groupsOf(ctx: OperationContext, ids: string[], projection: Projection): Promise<Map<string, UserGroupView[]>> {
    return wantsGroups(projection) ? this.store.groupsOfUsers(ctx.tenantId, ids) : new Map();
  }

  private view(user: User, groups?: UserGroupView[]): ScimDoc {
    return userToScim(user, this.baseUrl, { rt: this.rt, ...(groups ? { groups } : {}) });
  }

  private async result(ctx: OperationContext, user: User, projection: Projection = {}): Promise<ScimResult> {
    const groups = (await this.groupsOf(ctx, [user.id], projection)).get(user.id);
    return { doc: project(this.view(user, groups), projection, this.rt), version: user.version, id: user.id };
  }

  /** POST /Users (RFC 7644 §3.3); `write` runs the transaction (see {@link UserService.create}). @throws GatehouseError `invalid_input`, `conflict`, `weak_password`. */
  async create(ctx: OperationContext, body: unknown, projection: Projection = {}, write?: WriteRunner): Promise<ScimResult> {
    const input = userInputFromScim(body, { requireSchemas: true }, this.rt);
    const user = await this.users.create(ctx, input, write);
    // A new user belongs to no group yet.
    return { doc: project(this.view(user, []), projection, this.rt), version: user.version, id: user.id };
  }

  /**
   * POST /Users as a Bulk operation: the same creation as {@link create}, answering only the new
   * user's id, version and location (the BulkResponse shows no resource).
   * @throws GatehouseError `invalid_input`, `conflict`, `weak_password`.
   */
  async createRef(ctx: OperationContext, body: unknown): Promise<ScimRef> {
    const user = await this.users.create(ctx, userInputFromScim(body, { requireSchemas: true }, this.rt));
    return { id: user.id, version: user.version, location: `${this.baseUrl}/Users/${user.id}` };
  }

  /**
   * As {@link createRef} for several bodies (a SCIM Bulk batch), all or none: the users are stored
   * by one {@link UserService.createMany} call (multi-row inserts) in the caller's transaction.
   * @throws the first refused body's error (nothing stored), or the storing error (nothing stored;
   *   the caller creates them one by one to tell which).
   */
  async createRefs(ctx: OperationContext, bodies: unknown[]): Promise<ScimRef[]> {
    const inputs = bodies.map((body) => userInputFromScim(body, { requireSchemas: true }, this.rt));
    const created = await this.users.createMany(ctx, inputs);
    return created.map((c) => {
      if (!c.ok) throw c.error;
      return { id: c.user.id, version: c.user.version, location: `${this.baseUrl}/Users/${c.user.id}` };
    });
  }

  /** GET /Users/{id}. @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, id: string, projection: Projection = {}): Promise<ScimResult> {
    return this.result(ctx, await this.users.get(ctx, id), projection);
  }

  /**
   * Stores `doc` (a full representation) as the new state of `current`: immutable attributes must
   * not change, write-only extension values not sent are kept, and `active` omitted keeps the
   * current state (never re-activates by omission). One `UserService.replace` call.
   */
  private async store1(ctx: OperationContext, current: User, doc: unknown, requireSchemas: boolean): Promise<User> {
    const canonical = readResource(doc, this.rt, { requireSchemas });
    checkImmutable(this.view(current), canonical, this.rt);
    const input = userInputFromScim(canonical, { requireSchemas: false }, this.rt);
    input.extra = keepWriteOnly(input.extra ?? {}, current.extra, canonical, this.rt);
    return this.users.replace(ctx, current.id, { ...input, active: input.active ?? current.active }, current.version);
  }

  /**
   * PUT /Users/{id} (RFC 7644 §3.5.1): every attribute replaced.
   * @throws GatehouseError `invalid_input` (incl. scimType `mutability`), `not_found`, `conflict`, `precondition_failed`.
   */
  async replace(ctx: OperationContext, id: string, body: unknown, ifMatch?: EtagCondition, projection: Projection = {}): Promise<ScimResult> {
    readResource(body, this.rt, { requireSchemas: true });
    return withOptimisticRetry(ifMatch, async () => {
      const current = await this.users.get(ctx, id);
      checkIfMatch(ifMatch, current.version);
      return this.result(ctx, await this.store1(ctx, current, body, true), projection);
    });
  }

  /**
   * PATCH /Users/{id} (RFC 7644 §3.5.2): the operations are applied to the current document,
   * the result validated as a whole and stored by one `replace`, so all apply or none.
   * @throws GatehouseError `invalid_input` (scimType invalidPath, noTarget, mutability, invalidValue, invalidSyntax),
   *   `not_found`, `conflict`, `precondition_failed`.
   */
  async patch(ctx: OperationContext, id: string, body: unknown, ifMatch?: EtagCondition, projection: Projection = {}): Promise<ScimResult> {
    const ops = readPatchRequest(body);
    return withOptimisticRetry(ifMatch, async () => {
      const current = await this.users.get(ctx, id);
      checkIfMatch(ifMatch, current.version);
      const patched = applyPatch(this.view(current), ops, this.rt);
      return this.result(ctx, await this.store1(ctx, current, patched, false), projection);
    });
  }

  /**
   * DELETE /Users/{id}: deprovisions (RFC 7644 §3.6); `If-Match` is checked inside the delete's transaction.
   * @throws GatehouseError `not_found`, `precondition_failed`.
   */
  async delete(ctx: OperationContext, id: string, ifMatch?: EtagCondition): Promise<void> {
    const expected = await expectedVersionOf(ifMatch, async () => (await this.users.get(ctx, id)).version);
    await this.users.delete(ctx, id, expected);
  }

  /** GET /Users and POST /Users/.search (RFC 7644 §3.4.2, §3.4.3). @throws GatehouseError `invalid_input` (invalidFilter, invalidValue). */
  async list(ctx: OperationContext, params: ListParams, projection: Projection = {}): Promise<ListResponse> {
    // Validate the projection before querying, so a bad attribute name is a 400 even on an empty result.
    project(this.view(PLACEHOLDER_USER), projection, this.rt);
    const page = await this.store.listUsers(ctx.tenantId, this.rt, params);
    const groups = await this.groupsOf(ctx, page.items.map((u) => u.id), projection);
    const docs = page.items.map((u) => project(this.view(u, groups.get(u.id) ?? []), projection, this.rt));
    return listResponse({ totalResults: page.totalResults }, params.startIndex, docs);
  }
}

const PLACEHOLDER_USER: User = {
  id: '',
  userName: '',
  externalId: null,
  name: {},
  displayName: null,
  nickName: null,
  title: null,
  userType: null,
  preferredLanguage: null,
  locale: null,
  timezone: null,
  emails: [],
  active: true,
  status: 'active',
  enterprise: {},
  extra: {},
  isAdmin: false,
  hasPassword: false,
  created: '',
  lastModified: '',
  version: 0,
};
