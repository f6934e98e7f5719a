/**
 * The SCIM /Users endpoint as transport-free use cases over {@link UserService}: create, read,
 * replace (PUT), PATCH, delete and list. Deactivation (PUT or PATCH of `active` to false) and
 * deletion go through `UserService.replace` / `delete`, which deprovision in the same transaction.
 */
import type { OperationContext } from '../kernel/context.js';
import type { User, UserService } from '../identity/types.js';
import { checkIfMatch, type EtagCondition } from './etag.js';
import { listResponse, project, readListParams, userFilterFromScim, type ListResponse, type Projection } from './list.js';
import { readFilterParam, readProjection, withOptimisticRetry, type ScimQuery } from './operations.js';
import { applyPatch, readPatchRequest } from './patch.js';
import type { ScimDoc } from './resource.js';
import { USER_RESOURCE } from './schemas.js';
import { userInputFromScim, userToScim } from './user-mapping.js';

/** A user resource as returned, with its version for the ETag header. */
export interface ScimResult {
  doc: ScimDoc;
  version: number;
  id: string;
}

export class ScimUserEndpoint {
  /** @param baseUrl - the SCIM base URL, e.g. `https://id.example.com/scim/v2`. */
  constructor(
    private readonly users: UserService,
    private readonly baseUrl: string,
  ) {}

  private result(user: User, projection: Projection = {}): ScimResult {
    return { doc: project(userToScim(user, this.baseUrl), projection, USER_RESOURCE), version: user.version, id: user.id };
  }

  /** POST /Users (RFC 7644 §3.3). @throws GatehouseError `invalid_input`, `conflict`, `weak_password`. */
  async create(ctx: OperationContext, body: unknown): Promise<ScimResult> {
    const input = userInputFromScim(body, { requireSchemas: true });
    return this.result(await this.users.create(ctx, input));
  }

  /** GET /Users/{id}. @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, id: string, query: ScimQuery = {}): Promise<ScimResult> {
    const projection = readProjection(query);
    return this.result(await this.users.get(ctx, id), projection);
  }

  /**
   * PUT /Users/{id} (RFC 7644 §3.5.1): every attribute replaced; `active` omitted keeps the
   * current state (never re-activates by omission).
   * @throws GatehouseError `invalid_input`, `not_found`, `conflict`, `precondition_failed`.
   */
  async replace(ctx: OperationContext, id: string, body: unknown, ifMatch?: EtagCondition): Promise<ScimResult> {
    const input = userInputFromScim(body, { requireSchemas: true });
    return withOptimisticRetry(ifMatch, async () => {
      const current = await this.users.get(ctx, id);
      checkIfMatch(ifMatch, current.version);
      const updated = await this.users.replace(ctx, id, { ...input, active: input.active ?? current.active }, current.version);
      return this.result(updated);
    });
  }

  /**
   * PATCH /Users/{id} (RFC 7644 §3.5.2): the operations are applied to the current document,
   * the result validated as a whole and stored by one `replace`, so all apply or none.
   * @throws GatehouseError `invalid_input` (scimType invalidPath, noTarget, mutability, invalidValue, invalidSyntax),
   *   `not_found`, `conflict`, `precondition_failed`.
   */
  async patch(ctx: OperationContext, id: string, body: unknown, ifMatch?: EtagCondition): Promise<ScimResult> {
    const ops = readPatchRequest(body);
    return withOptimisticRetry(ifMatch, async () => {
      const current = await this.users.get(ctx, id);
      checkIfMatch(ifMatch, current.version);
      const patched = applyPatch(userToScim(current, this.baseUrl), ops, USER_RESOURCE);
      const input = userInputFromScim(patched, { requireSchemas: false });
      const updated = await this.users.replace(ctx, id, { ...input, active: input.active ?? current.active }, current.version);
      return this.result(updated);
    });
  }

  /** DELETE /Users/{id}: deprovisions (RFC 7644 §3.6). @throws GatehouseError `not_found`, `precondition_failed`. */
  async delete(ctx: OperationContext, id: string, ifMatch?: EtagCondition): Promise<void> {
    if (ifMatch) checkIfMatch(ifMatch, (await this.users.get(ctx, id)).version);
    await this.users.delete(ctx, id);
  }

  /** GET /Users (RFC 7644 §3.4.2). @throws GatehouseError `invalid_input` (invalidFilter, invalidValue). */
  async list(ctx: OperationContext, query: ScimQuery): Promise<ListResponse> {
    const params = readListParams(query);
    const projection = readProjection(query);
    const text = readFilterParam(query);
    const { filter, impossible } = text === undefined ? { filter: {}, impossible: false } : userFilterFromScim(text, USER_RESOURCE);
    if (impossible) return listResponse({ totalResults: 0 }, params.startIndex, []);
    const page = await this.users.list(ctx, filter, params);
    return listResponse(page, params.startIndex, page.items.map((u) => this.result(u, projection).doc));
  }
}
