/**
 * The group service: groups with nesting. Memberships are relation tuples in the built-in
 * authorization store (`group:<gid>#member@user:<uid>`, `@service_account:<id>`,
 * `@group:<child>#member`), so the authorization index sees a change at once. displayName is
 * unique on its NFC + case-folded form. A nesting cycle is refused.
 */
import { BUILTIN_STORE_ID } from '../authz/tuples.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { OperationContext } from '../kernel/context.js';
import { isUniqueViolation, type Executor } from '../storage/database.js';
import type { GroupRow } from '../storage/schema.js';
import { ancestorGroupIds, assertNestingDepth, assertPrincipalsExist, checkRefs, displayNames, existingPrincipalIds, groupFromRow, membershipTuple, refOfSubject } from './graph.js';
import { checkVersion, lockAuthorizationGraph, optionalText, pageBounds, requiredName, type IdentityDeps } from './shared.js';
import { checkExtra } from './user-records.js';
import type { Group, GroupFilter, GroupInput, GroupMember, GroupMemberRef, GroupService, ListQuery, Page } from './types.js';

type Attributes = Pick<GroupRow, 'display_name' | 'display_name_norm' | 'external_id' | 'description' | 'extra'>;

function checkAttributes(input: Partial<Omit<GroupInput, 'members'>>, partial: boolean): Partial<Attributes> {
  if (typeof input !== 'object' || input === null) throw new GatehouseError('invalid_input', 'a group must be an object', { field: '' });
  const out: Partial<Attributes> = {};
  if (!partial || input.displayName !== undefined) {
    const displayName = requiredName('displayName', input.displayName, 256);
    out.display_name = displayName;
    out.display_name_norm = normalizeIdentifier(displayName);
  }
  if (!partial || input.externalId !== undefined) out.external_id = optionalText('externalId', input.externalId, 256);
  if (!partial || input.description !== undefined) out.description = optionalText('description', input.description);
  if (!partial || input.extra !== undefined) out.extra = checkExtra(input.extra);
  return out;
}

const key = (m: GroupMemberRef) => `${m.type}:${m.id}`;

/** {@link GroupService} on the `groups` table and the built-in tuple store. */
export class GroupServiceImpl implements GroupService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Creates a group with its initial members (one `group.member_add` event each).
   * @throws GatehouseError `invalid_input`, `conflict` (details.attribute `displayName`), `not_found` (a member).
   */
  async create(ctx: OperationContext, input: GroupInput): Promise<Group> {
    const attrs = checkAttributes(input, false) as Attributes;
    const members = checkRefs('members', input.members);
    const id = newId();
    const now = this.deps.clock.now().toISOString();
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      await this.unique(() => trx.insertInto('groups').values({ tenant_id: ctx.tenantId, id, ...attrs, created_at: now, updated_at: now, version: 1 }).execute());
      await this.addInTrx(trx, ctx, id, members);
      const after = await this.load(trx, ctx.tenantId, id);
      await this.deps.audit.append(trx, ctx, { action: 'group.create', target: { type: 'group', id }, after, details: { source: ctx.source ?? null } });
      return after;
    });
  }

  /** @throws GatehouseError `not_found`. */
  async get(ctx: OperationContext, id: string): Promise<Group> {
    return this.load(this.deps.storage.db, ctx.tenantId, id);
  }

  /**
   * Lists groups, oldest first. `displayName` compares normalised; `externalId` exactly.
   * @throws GatehouseError `invalid_input` for bad paging.
   */
  async list(ctx: OperationContext, filter: GroupFilter, page: ListQuery): Promise<Page<Group>> {
    const { offset, limit, startIndex } = pageBounds(page);
    const db = this.deps.storage.db;
    let q = db.selectFrom('groups').where('tenant_id', '=', ctx.tenantId);
    if (filter.displayName !== undefined) q = q.where('display_name_norm', '=', normalizeIdentifier(filter.displayName));
    if (filter.externalId !== undefined) q = q.where('external_id', '=', filter.externalId);
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = limit === 0 ? [] : await q.selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute();
    const items: Group[] = [];
    for (const r of rows) items.push(await this.toGroup(db, r));
    return { totalResults: Number(total.n), startIndex, items };
  }

  /**
   * Replaces attributes and makes the members exactly `input.members` (SCIM PUT; omitted members clears them).
   * @throws GatehouseError `not_found`, `precondition_failed`, `conflict`, `invariant_violation`, `invalid_input`.
   */
  async replace(ctx: OperationContext, id: string, input: GroupInput, expectedVersion?: number): Promise<Group> {
    const attrs = checkAttributes(input, false);
    const target = checkRefs('members', input.members);
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      const row = await this.row(trx, ctx.tenantId, id, true);
      checkVersion(expectedVersion, Number(row.version));
      const before = await this.toGroup(trx, row);
      const current = new Set(before.members.map(key));
      const wanted = new Set(target.map(key));
      await this.removeInTrx(trx, ctx, id, before.members.filter((m) => !wanted.has(key(m))));
      await this.addInTrx(trx, ctx, id, target.filter((m) => !current.has(key(m))));
      return this.finishUpdate(trx, ctx, row, attrs, before);
    });
  }

  /**
   * Changes attributes other than members (displayName, externalId, description).
   * @throws GatehouseError `not_found`, `precondition_failed`, `conflict`, `invalid_input`.
   */
  async update(ctx: OperationContext, id: string, changes: Partial<Omit<GroupInput, 'members'>>, expectedVersion?: number): Promise<Group> {
    const attrs = checkAttributes(changes, true);
    return this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      checkVersion(expectedVersion, Number(row.version));
      return this.finishUpdate(trx, ctx, row, attrs, await this.toGroup(trx, row));
    });
  }

  /**
   * Deletes the group and every tuple naming it (its memberships, its membership in other
   * groups, role assignments to it), each recorded in the changelog.
   * @throws GatehouseError `not_found`, `precondition_failed` (version is not `expectedVersion`).
   */
  async delete(ctx: OperationContext, id: string, expectedVersion?: number): Promise<void> {
    await this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      const row = await this.row(trx, ctx.tenantId, id, true);
      checkVersion(expectedVersion, Number(row.version));
      const before = await this.toGroup(trx, row);
      const { deleted } = await this.deps.tuples.deleteTouching(trx, ctx, 'group', id);
      await trx.deleteFrom('groups').where('tenant_id', '=', ctx.tenantId).where('id', '=', id).execute();
      await this.deps.audit.append(trx, ctx, { action: 'group.delete', target: { type: 'group', id }, before, details: { source: ctx.source ?? null, tuplesDeleted: deleted.length } });
    });
  }

  /**
   * Adds members (existing ones are skipped). One `group.member_add` event per added member.
   * @throws GatehouseError `not_found` (group or member), `invariant_violation` (cycle), `invalid_input`.
   */
  async addMembers(ctx: OperationContext, groupId: string, members: GroupMemberRef[]): Promise<Group> {
    const refs = checkRefs('members', members);
    return this.changeMembers(ctx, groupId, (trx) => this.addInTrx(trx, ctx, groupId, refs));
  }

  /**
   * Removes members (non-members are skipped). One `group.member_remove` event per removed member.
   * @throws GatehouseError `not_found` (group), `invalid_input`.
   */
  async removeMembers(ctx: OperationContext, groupId: string, members: GroupMemberRef[]): Promise<Group> {
    const refs = checkRefs('members', members);
    return this.changeMembers(ctx, groupId, (trx) => this.removeInTrx(trx, ctx, groupId, refs));
  }

  /** Groups `member` belongs to, directly or through nesting, ordered by displayName. */
  async groupsOf(ctx: OperationContext, member: GroupMemberRef): Promise<Array<{ id: string; displayName: string }>> {
    const [ref] = checkRefs('member', [member]);
    const db = this.deps.storage.db;
    const ids = await ancestorGroupIds(db, this.deps.tuples, ctx.tenantId, ref as GroupMemberRef);
    if (ids.length === 0) return [];
    const rows = await db.selectFrom('groups').select(['id', 'display_name']).where('tenant_id', '=', ctx.tenantId).where('id', 'in', ids).orderBy('display_name_norm').execute();
    return rows.map((r) => ({ id: r.id, displayName: r.display_name }));
  }

  async existingPrincipals(ctx: OperationContext, type: GroupMemberRef['type'], ids: string[]): Promise<Set<string>> {
    return existingPrincipalIds(this.deps.storage.db, ctx.tenantId, type, ids);
  }

  // --- internals ---

  private async changeMembers(ctx: OperationContext, groupId: string, fn: (trx: Executor) => Promise<number>): Promise<Group> {
    return this.deps.storage.db.transaction().execute(async (trx) => {
      await lockAuthorizationGraph(trx, this.deps.storage);
      const row = await this.row(trx, ctx.tenantId, groupId, true);
      const changed = await fn(trx);
      if (changed > 0) await this.bump(trx, ctx.tenantId, row, {});
      return this.load(trx, ctx.tenantId, groupId);
    });
  }

  /**
   * Writes membership tuples in order: a group member alone (so its cycle check sees the earlier
   * ones), a run of users and service accounts (no cycle possible) as one write with one
   * revision. One `group.member_add` event per member added. @returns how many were added.
   */
  private async addInTrx(trx: Executor, ctx: OperationContext, groupId: string, members: GroupMemberRef[]): Promise<number> {
    if (members.length === 0) return 0;
    await assertPrincipalsExist(trx, ctx.tenantId, members);
    let added = 0;
    for (let i = 0; i < members.length; ) {
      const m = members[i]!;
      if (m.type !== 'group') {
        let end = i;
        while (end < members.length && members[end]!.type !== 'group') end++;
        const run = members.slice(i, end);
        i = end;
        const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { writes: run.map((r) => membershipTuple(groupId, r)) });
        const written = new Set(res.written.map((t) => `${t.subjectType}:${t.subjectId}`));
        for (const r of run) {
          if (!written.delete(key(r))) continue;
          added++;
          await this.deps.audit.append(trx, ctx, { action: 'group.member_add', target: { type: 'group', id: groupId }, details: { group: groupId, member: r, source: ctx.source ?? null, revision: res.revision } });
        }
        continue;
      }
      i++;
      // group:<groupId>#member@group:<m>#member makes m a subgroup; a cycle if groupId is m or one of m's subgroups,
      // i.e. if m is groupId or an ancestor of groupId.
      const ancestors = m.id === groupId ? [groupId] : await ancestorGroupIds(trx, this.deps.tuples, ctx.tenantId, { type: 'group', id: groupId });
      if (m.id === groupId || ancestors.includes(m.id)) {
        throw new GatehouseError('invariant_violation', `adding group ${m.id} to group ${groupId} would create a nesting cycle`, { group: groupId, member: m });
      }
      await assertNestingDepth(trx, ctx.tenantId, groupId, m.id);
      const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { writes: [membershipTuple(groupId, m)] });
      if (res.written.length > 0) {
        added++;
        await this.deps.audit.append(trx, ctx, { action: 'group.member_add', target: { type: 'group', id: groupId }, details: { group: groupId, member: m, source: ctx.source ?? null, revision: res.revision } });
      }
    }
    return added;
  }

  /** @returns how many memberships were removed. */
  private async removeInTrx(trx: Executor, ctx: OperationContext, groupId: string, members: GroupMemberRef[]): Promise<number> {
    if (members.length === 0) return 0;
    const res = await this.deps.tuples.write(trx, ctx, BUILTIN_STORE_ID, { deletes: members.map((m) => membershipTuple(groupId, m)) });
    for (const t of res.deleted) {
      await this.deps.audit.append(trx, ctx, { action: 'group.member_remove', target: { type: 'group', id: groupId }, details: { group: groupId, member: refOfSubject(t), source: ctx.source ?? null, revision: res.revision } });
    }
    return res.deleted.length;
  }

  private async finishUpdate(trx: Executor, ctx: OperationContext, row: GroupRow, attrs: Partial<Attributes>, before: Group): Promise<Group> {
    await this.bump(trx, ctx.tenantId, row, attrs);
    const after = await this.load(trx, ctx.tenantId, row.id);
    await this.deps.audit.append(trx, ctx, { action: 'group.update', target: { type: 'group', id: row.id }, before, after, details: { source: ctx.source ?? null } });
    return after;
  }

  /** Writes attribute changes and increments the version. */
  private async bump(trx: Executor, tenantId: string, row: GroupRow, attrs: Partial<Attributes>): Promise<void> {
    await this.unique(() =>
      trx
        .updateTable('groups')
        .set({ ...attrs, updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', row.id)
        .execute(),
    );
  }

  private async unique<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isUniqueViolation(err)) throw new GatehouseError('conflict', 'displayName is already taken', { attribute: 'displayName' }, { cause: err });
      throw err;
    }
  }

  private async row(db: Executor, tenantId: string, id: string, lock = false): Promise<GroupRow> {
    let q = db.selectFrom('groups').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
    if (lock && this.deps.storage.kind === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', 'no such group', { resource: 'group', id });
    return row;
  }

  private async load(db: Executor, tenantId: string, id: string): Promise<Group> {
    return this.toGroup(db, await this.row(db, tenantId, id));
  }

  private async toGroup(db: Executor, row: GroupRow): Promise<Group> {
    const tuples = await this.deps.tuples.read(db, row.tenant_id, BUILTIN_STORE_ID, { objectType: 'group', objectId: row.id, relation: 'member' });
    const refs = tuples.map(refOfSubject).filter((r): r is GroupMemberRef => r !== null);
    const names = await displayNames(db, row.tenant_id, refs);
    const members: GroupMember[] = refs.map((r) => ({ ...r, display: names.get(key(r)) ?? null }));
    return groupFromRow(row, members);
  }
}
