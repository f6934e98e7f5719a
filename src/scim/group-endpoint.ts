/**
 * The SCIM /Groups endpoint as transport-free use cases over {@link GroupService}. Every change — including a PATCH with several
 * member additions and removals and a rename — is one `GroupService.replace` call: one
 * transaction, one audit event per membership added or removed, all or nothing.
 */
import type { OperationContext } from '../kernel/context.js';
import { isGatehouseError } from '../kernel/errors.js';
import type { Group, GroupMemberRef, GroupService } from '../identity/types.js';
import { scimInvalid } from './errors.js';
import { checkIfMatch, type EtagCondition } from './etag.js';
import { keepWriteOnly } from './extensions.js';
import { groupInputFromScim, groupToScim, toGroupInput, type ScimMemberRef } from './group-mapping.js';
import { checkImmutable, readResource } from './resource.js';
import { listResponse, project, type ListParams, type ListResponse, type Projection } from './list.js';
import { withOptimisticRetry } from './operations.js';
import { applyPatch, readPatchRequest } from './patch.js';
import { GROUP_RESOURCE, type ResourceTypeDef } from './schemas.js';
import type { ScimQueryStore } from './sql/query-store.js';
import { expectedVersionOf, type ScimRef, type ScimResult } from './user-endpoint.js';

export class ScimGroupEndpoint {
  /** @param baseUrl - the SCIM base URL, e.g. `https://id.example.com/scim/v2`. */
  constructor(
    private readonly groups: GroupService,
    private readonly query: ScimQueryStore,
    private readonly baseUrl: string,
    /** The Group resource type with any configured extensions. */
    readonly rt: ResourceTypeDef = GROUP_RESOURCE,
  ) {}

  private result(group: Group, projection: Projection = {}): ScimResult {
    return { doc: project(groupToScim(group, this.baseUrl, this.rt), projection, this.rt), version: group.version, id: group.id };
  }

  /**
   * Resolves SCIM member refs to typed refs. Current members keep their type; a new member's
   * `type` is checked, or found by id (users first, then groups). Service-account members of
   * `current` (not visible to SCIM) are kept. Looks the new members up with one query per type.
   * @throws GatehouseError `invalid_input` scimType `invalidValue` for a member that does not exist.
   */
  private async resolveMembers(ctx: OperationContext, refs: ScimMemberRef[], current: Group | null): Promise<GroupMemberRef[]> {
    const known = new Map((current?.members ?? []).map((m) => [m.id, m.type] as const));
    const isKnown = (ref: ScimMemberRef) => {
      const have = known.get(ref.value);
      return have !== undefined && have !== 'service_account' && (!ref.type || ref.type === have);
    };
    const fresh = refs.filter((r) => !isKnown(r));
    const users = await this.groups.existingPrincipals(ctx, 'user', fresh.filter((r) => r.type !== 'group').map((r) => r.value));
    const groups = await this.groups.existingPrincipals(ctx, 'group', fresh.filter((r) => r.type === 'group' || (!r.type && !users.has(r.value))).map((r) => r.value));
    const out: GroupMemberRef[] = [];
    for (const ref of refs) {
      if (isKnown(ref)) {
        out.push({ type: known.get(ref.value) as 'user' | 'group', id: ref.value });
        continue;
      }
      const candidates: Array<'user' | 'group'> = ref.type ? [ref.type] : ['user', 'group'];
      const found = candidates.find((t) => (t === 'user' ? users : groups).has(ref.value));
      if (!found) throw scimInvalid('invalidValue', `member "${ref.value}" is not an existing ${ref.type === 'group' ? 'Group' : ref.type === 'user' ? 'User' : 'User or Group'}`, { member: ref.value });
      out.push({ type: found, id: ref.value });
    }
    for (const m of current?.members ?? []) if (m.type === 'service_account') out.push({ type: m.type, id: m.id });
    return out;
  }

  /**
   * Stores `body` (a full representation) as the new state of `current`: immutable extension
   * attributes must not change and write-only ones not sent are kept; a member that vanished
   * meanwhile is the client's invalidValue, not a 404 of the group.
   */
  private async store(ctx: OperationContext, current: Group, body: unknown, requireSchemas: boolean): Promise<Group> {
    const canonical = readResource(body, this.rt, { requireSchemas });
    checkImmutable(groupToScim(current, this.baseUrl, this.rt), canonical, this.rt);
    const input = groupInputFromScim(canonical, { requireSchemas: false }, this.rt);
    input.extra = keepWriteOnly(input.extra, current.extra, canonical, this.rt);
    const members = await this.resolveMembers(ctx, input.members, current);
    try {
      return await this.groups.replace(ctx, current.id, toGroupInput(input, members, current.description), current.version);
    } catch (err) {
      if (isGatehouseError(err, 'not_found') && !(err.details?.resource === 'group' && err.details?.id === current.id)) {
        throw scimInvalid('invalidValue', err.message, { member: err.details?.id ?? null });
      }
      throw err;
    }
  }

  /** POST /Groups (RFC 7644 §3.3). @throws GatehouseError `invalid_input`, `conflict`. */
  async create(ctx: OperationContext, body: unknown, projection: Projection = {}): Promise<ScimResult> {
    return this.result(await this.createGroup(ctx, body), projection);
  }

  /**
   * POST /Groups as a Bulk operation: the same creation as {@link create}, answering only the new
   * group's id, version and location (the BulkResponse shows no resource).
   * @throws GatehouseError `invalid_input`, `conflict`.
   */
  async createRef(ctx: OperationContext, body: unknown): Promise<ScimRef> {
    const group = await this.createGroup(ctx, body);
    return { id: group.id, version: group.version, location: `${this.baseUrl}/Groups/${group.id}` };
  }

  private async createGroup(ctx: OperationContext, body: unknown): Promise<Group> {
    const input = groupInputFromScim(body, { requireSchemas: true }, this.rt);
    const members = await this.resolveMembers(ctx, input.members, null);
    try {
      return await this.groups.create(ctx, toGroupInput(input, members, null));
    } catch (err) {
      if (isGatehouseError(err, 'not_found')) throw scimInvalid('invalidValue', err.message, { member: err.details?.id ?? null });
      throw err;
    }
  }

  /** GET /Groups/{id}. @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, id: string, projection: Projection = {}): Promise<ScimResult> {
    return this.result(await this.groups.get(ctx, id), projection);
  }

  /** PUT /Groups/{id} (RFC 7644 §3.5.1): members become exactly those given. */
  async replace(ctx: OperationContext, id: string, body: unknown, ifMatch?: EtagCondition, projection: Projection = {}): Promise<ScimResult> {
    readResource(body, this.rt, { requireSchemas: true });
    return withOptimisticRetry(ifMatch, async () => {
      const current = await this.groups.get(ctx, id);
      checkIfMatch(ifMatch, current.version);
      return this.result(await this.store(ctx, current, body, true), projection);
    });
  }

  /** PATCH /Groups/{id} (RFC 7644 §3.5.2): members add/remove, displayName/externalId replace; all or none. */
  async patch(ctx: OperationContext, id: string, body: unknown, ifMatch?: EtagCondition, projection: Projection = {}): Promise<ScimResult> {
    const ops = readPatchRequest(body);
    return withOptimisticRetry(ifMatch, async () => {
      const current = await this.groups.get(ctx, id);
      checkIfMatch(ifMatch, current.version);
      const patched = applyPatch(groupToScim(current, this.baseUrl, this.rt), ops, this.rt);
      return this.result(await this.store(ctx, current, patched, false), projection);
    });
  }

  /** DELETE /Groups/{id}. @throws GatehouseError `not_found`, `precondition_failed`. */
  async delete(ctx: OperationContext, id: string, ifMatch?: EtagCondition): Promise<void> {
    const expected = await expectedVersionOf(ifMatch, async () => (await this.groups.get(ctx, id)).version);
    await this.groups.delete(ctx, id, expected);
  }

  /** GET /Groups and POST /Groups/.search (RFC 7644 §3.4.2, §3.4.3). @throws GatehouseError `invalid_input` (invalidFilter, invalidValue). */
  async list(ctx: OperationContext, params: ListParams, projection: Projection = {}): Promise<ListResponse> {
    const page = await this.query.listGroups(ctx.tenantId, this.rt, params);
    return listResponse({ totalResults: page.totalResults }, params.startIndex, page.items.map((g) => this.result(g, projection).doc));
  }
}
