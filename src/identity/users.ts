/**
 * The user service: SCIM core and enterprise attributes, lifecycle status, passwords.
 *
 * userName and email uniqueness is enforced by the database on the NFC + case-folded form
 * ({@link normalizeIdentifier}); `Alice@Example.com` and `alice@example.com` are the same address,
 * `STRASSE` and `straße` the same userName. userName is unique among users that are not
 * deprovisioned, so deleting a user frees its userName; email addresses are freed by deleting
 * their rows. Deactivation and deletion deprovision through {@link Deprovisioner}.
 */
import { checkPasswordPolicy, hashPassword } from '../authn/password.js';
import { GatehouseError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { OperationContext } from '../kernel/context.js';
import { isUniqueViolation, type Executor } from '../storage/database.js';
import { insertRows } from '../storage/insert-rows.js';
import type { AccountStatus, UserRow } from '../storage/schema.js';
import { checkVersion, pageBounds, type IdentityDeps } from './shared.js';
import { loadEmails, toUser, validateUserInput, type EmailRecord, type ValidUserInput } from './user-records.js';
import type { AdministratorInput, ListQuery, Page, User, UserFilter, UserInput, UserService, WriteRunner } from './types.js';

/** {@link UserService} on the `users` and `user_emails` tables. */
export class UserServiceImpl implements UserService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Creates a user (SCIM POST /Users). With `password`, checks the policy (NIST SP 800-63B-4
   * §3.1.1.2) and stores an argon2id hash. `active: false` creates it suspended.
   * The validation, policy check and argon2id hashing run before `write` (default: run at once)
   * is given the transaction, so a group commit holds the write lock only for the inserts.
   * @throws GatehouseError `invalid_input`, `weak_password`, `conflict` (details.attribute `userName` or `emails`).
   */
  async create(ctx: OperationContext, input: UserInput, write?: WriteRunner): Promise<User> {
    const v = validateUserInput(input);
    const hash = v.password === undefined ? null : await this.checkedHash(v.password, v);
    return write ? write(() => this.insert(ctx, v, hash, false)) : this.insert(ctx, v, hash, false);
  }

  /** See {@link UserService.createMany}. */
  async createMany(ctx: OperationContext, inputs: UserInput[]): Promise<Array<{ ok: true; user: User } | { ok: false; error: unknown }>> {
    const outcomes: Array<{ ok: true; user: User } | { ok: false; error: unknown }> = [];
    const built: Array<ReturnType<UserServiceImpl['build']>> = [];
    for (const input of inputs) {
      try {
        const v = validateUserInput(input);
        const b = this.build(ctx, v, v.password === undefined ? null : await this.checkedHash(v.password, v), false);
        built.push(b);
        outcomes.push({ ok: true, user: b.after });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
    }
    if (built.length === 0) return outcomes;
    await this.deps.storage.db.transaction().execute(async (trx) => {
      // Multi-row inserts of at most ~30,000 parameters (PostgreSQL allows 65,535 a statement).
      for (let i = 0; i < built.length; ) {
        const users: UserRow[] = [];
        const emails: Array<Record<string, unknown>> = [];
        let params = 0;
        for (; i < built.length && params < 30_000; i++) {
          users.push(built[i]!.row);
          emails.push(...built[i]!.emails);
          params += Object.keys(built[i]!.row).length + 8 * built[i]!.emails.length;
        }
        await insertRows(trx, { table: 'users', rows: users }, { table: 'user_emails', rows: emails });
      }
      for (const b of built) {
        if (b.row.status === 'suspended') await this.deps.deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id: b.row.id }, 'suspend');
        await this.deps.audit.append(trx, ctx, b.event);
      }
    });
    return outcomes;
  }

  /**
   * Creates an active administrator with a password.
   * @throws GatehouseError `invalid_input`, `weak_password`, `conflict` (details.attribute `userName`).
   */
  async createAdministrator(ctx: OperationContext, input: AdministratorInput): Promise<User> {
    if (typeof input?.password !== 'string') throw new GatehouseError('invalid_input', 'password is required', { field: 'password' });
    const v = validateUserInput({ userName: input.userName, active: true });
    return this.insert(ctx, v, await this.checkedHash(input.password, v), true);
  }

  /** @throws GatehouseError `not_found` (also for deprovisioned users). */
  async get(ctx: OperationContext, id: string): Promise<User> {
    const row = await this.row(this.deps.storage.db, ctx.tenantId, id);
    return this.withEmails(this.deps.storage.db, ctx.tenantId, row);
  }

  async findByUserName(ctx: OperationContext, userName: string): Promise<User | null> {
    const db = this.deps.storage.db;
    const row = await db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('user_name_norm', '=', normalizeIdentifier(userName))
      .where('status', '<>', 'deprovisioned')
      .executeTakeFirst();
    return row ? this.withEmails(db, ctx.tenantId, row) : null;
  }

  async findByEmail(ctx: OperationContext, email: string): Promise<User | null> {
    const db = this.deps.storage.db;
    const row = await db
      .selectFrom('users')
      .selectAll('users')
      .innerJoin('user_emails as e', (j) => j.onRef('e.tenant_id', '=', 'users.tenant_id').onRef('e.user_id', '=', 'users.id'))
      .where('users.tenant_id', '=', ctx.tenantId)
      .where('e.value_norm', '=', normalizeIdentifier(email))
      .where('users.status', '<>', 'deprovisioned')
      .executeTakeFirst();
    return row ? this.withEmails(db, ctx.tenantId, row) : null;
  }

  /**
   * Lists users that are not deprovisioned, oldest first. Filters are SCIM `eq`: `userName` and
   * `email` compare normalised (case-insensitive), `externalId` exactly (RFC 7643: caseExact).
   * @throws GatehouseError `invalid_input` for bad paging.
   */
  async list(ctx: OperationContext, filter: UserFilter, page: ListQuery): Promise<Page<User>> {
    const { offset, limit, startIndex } = pageBounds(page);
    const db = this.deps.storage.db;
    let q = db.selectFrom('users').where('tenant_id', '=', ctx.tenantId).where('status', '<>', 'deprovisioned');
    if (filter.userName !== undefined) q = q.where('user_name_norm', '=', normalizeIdentifier(filter.userName));
    if (filter.externalId !== undefined) q = q.where('external_id', '=', filter.externalId);
    if (filter.email !== undefined) {
      const norm = normalizeIdentifier(filter.email);
      q = q.where('id', 'in', db.selectFrom('user_emails').select('user_id').where('tenant_id', '=', ctx.tenantId).where('value_norm', '=', norm));
    }
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = limit === 0 ? [] : await q.selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute();
    const emails = await loadEmails(db, ctx.tenantId, rows.map((r) => r.id));
    return { totalResults: Number(total.n), startIndex, items: rows.map((r) => toUser(r, emails.get(r.id) ?? [])) };
  }

  /**
   * Replaces every attribute (SCIM PUT). Omitted attributes are cleared; `isAdmin` and the
   * password are kept unless `input.password` is given. active→false deprovisions (suspend),
   * false→true reactivates.
   * @throws GatehouseError `not_found`, `precondition_failed`, `invalid_input`, `weak_password`, `conflict`.
   */
  async replace(ctx: OperationContext, id: string, input: UserInput, expectedVersion?: number): Promise<User> {
    const v = validateUserInput(input);
    const hash = v.password === undefined ? undefined : await this.checkedHash(v.password, v);
    return this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      checkVersion(expectedVersion, Number(row.version));
      const before = await this.withEmails(trx, ctx.tenantId, row);
      const status: AccountStatus = v.active ? 'active' : 'suspended';
      const now = this.deps.clock.now().toISOString();
      await this.unique('userName', () =>
        trx
          .updateTable('users')
          .set({ ...v.columns, status, updated_at: now, version: Number(row.version) + 1, ...(hash === undefined ? {} : { password_hash: hash }) })
          .where('tenant_id', '=', ctx.tenantId)
          .where('id', '=', id)
          .execute(),
      );
      await trx.deleteFrom('user_emails').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', id).execute();
      await this.insertEmails(trx, ctx.tenantId, id, v.emails);
      await this.applyStatusChange(trx, ctx, id, row.status, status);
      const after = await this.get1(trx, ctx.tenantId, id);
      await this.deps.audit.append(trx, ctx, { action: 'user.update', target: { type: 'user', id }, before, after, details: { source: ctx.source ?? null } });
      return after;
    });
  }

  /**
   * Activates or suspends. Suspension deprovisions (sessions and tokens deleted, decisions deny)
   * but keeps grants, so activation restores access. Setting the current state is a no-op.
   * @throws GatehouseError `not_found`.
   */
  async setActive(ctx: OperationContext, id: string, active: boolean): Promise<User> {
    return this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      const status: AccountStatus = active ? 'active' : 'suspended';
      if (row.status === status) return this.withEmails(trx, ctx.tenantId, row);
      await trx
        .updateTable('users')
        .set({ status, updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      await this.applyStatusChange(trx, ctx, id, row.status, status);
      const after = await this.get1(trx, ctx.tenantId, id);
      await this.deps.audit.append(trx, ctx, {
        action: active ? 'user.activate' : 'user.suspend',
        target: { type: 'user', id },
        before: { status: row.status },
        after: { status },
        details: { source: ctx.source ?? null },
      });
      return after;
    });
  }

  /**
   * Deletes: deprovisions (grants removed from the live graph, sessions and tokens deleted, TOTP
   * and emails deleted, password cleared) and keeps the row with status `deprovisioned` for audit.
   * The userName and email addresses become free.
   * @throws GatehouseError `not_found`, `precondition_failed` (version is not `expectedVersion`).
   */
  async delete(ctx: OperationContext, id: string, expectedVersion?: number): Promise<void> {
    await this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      checkVersion(expectedVersion, Number(row.version));
      const before = await this.withEmails(trx, ctx.tenantId, row);
      await trx
        .updateTable('users')
        .set({ status: 'deprovisioned', password_hash: null, updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      await this.deps.deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id }, 'delete');
      await this.deps.audit.append(trx, ctx, { action: 'user.delete', target: { type: 'user', id }, before, details: { source: ctx.source ?? null } });
    });
  }

  /**
   * Sets or replaces the password after checking the policy; the audit event never holds it.
   * @throws GatehouseError `not_found`, `weak_password`.
   */
  async setPassword(ctx: OperationContext, id: string, password: string): Promise<void> {
    const current = await this.get(ctx, id);
    if (typeof password !== 'string') throw new GatehouseError('invalid_input', 'password must be a string', { field: 'password' });
    checkPasswordPolicy(password, { userName: current.userName, emails: current.emails.map((e) => e.value) });
    const hash = await hashPassword(password);
    await this.deps.storage.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, ctx.tenantId, id, true);
      await trx
        .updateTable('users')
        .set({ password_hash: hash, updated_at: this.deps.clock.now().toISOString(), version: Number(row.version) + 1 })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .execute();
      await this.deps.audit.append(trx, ctx, { action: 'user.password_set', target: { type: 'user', id }, details: { replaced: row.password_hash !== null } });
    });
  }

  // --- internals ---

  private async checkedHash(password: string, v: ValidUserInput): Promise<string> {
    checkPasswordPolicy(password, { userName: v.columns.user_name, emails: v.emails.map((e) => e.value) });
    return hashPassword(password);
  }

  /** A new user's row, email rows, the User they read back as, and its `user.create` event. */
  private build(ctx: OperationContext, v: ValidUserInput, passwordHash: string | null, isAdmin: boolean) {
    const now = this.deps.clock.now().toISOString();
    const id = newId();
    const status: AccountStatus = v.active ? 'active' : 'suspended';
    const row: UserRow = { tenant_id: ctx.tenantId, id, ...v.columns, status, is_admin: isAdmin ? 1 : 0, password_hash: passwordHash, created_at: now, updated_at: now, version: 1 };
    const emails = v.emails.map((e, position) => ({ tenant_id: ctx.tenantId, user_id: id, position, ...e }));
    // Built from what was written (the stored row reads back identically; nothing else writes it here).
    const after = toUser(row, v.emails.map((e, position) => ({ user_id: id, position, value: e.value, type: e.type, is_primary: e.is_primary, display: e.display })));
    const event = { action: 'user.create', target: { type: 'user', id }, after, details: { source: ctx.source ?? null, isAdmin } };
    return { row, emails, after, event };
  }

  private async insert(ctx: OperationContext, v: ValidUserInput, passwordHash: string | null, isAdmin: boolean): Promise<User> {
    const { row, emails, after, event } = this.build(ctx, v, passwordHash, isAdmin);
    const { id, status } = row;
    // The table of the violated unique index names the attribute.
    const inserts = [
      { table: 'users', rows: [row] },
      { table: 'user_emails', rows: emails },
    ] as const;
    // An active user outside any transaction on PostgreSQL: the user, its emails and its audit event in one statement (one round trip).
    if (status === 'active' && (await this.uniqueByTable(() => this.deps.audit.insertWithEvent(this.deps.storage.db, ctx, inserts, event)))) return after;
    return this.deps.storage.db.transaction().execute(async (trx) => {
      // One statement for the user and its emails on PostgreSQL (one round trip), one each on SQLite.
      await this.uniqueByTable(() => insertRows(trx, ...inserts));
      // A user created suspended must deny from the start, whatever grants it later receives.
      if (status === 'suspended') await this.deps.deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id }, 'suspend');
      await this.deps.audit.append(trx, ctx, event);
      return after;
    });
  }

  /** Deprovisions on active→suspended, reactivates on (not active)→active. */
  private async applyStatusChange(trx: Executor, ctx: OperationContext, id: string, from: AccountStatus, to: AccountStatus): Promise<void> {
    if (from === 'active' && to !== 'active') await this.deps.deprovisioner.deprovisionIdentity(trx, ctx, { type: 'user', id }, 'suspend');
    else if (from !== 'active' && to === 'active') await this.deps.deprovisioner.reactivateIdentity(trx, ctx, { type: 'user', id });
  }

  /** Runs a write, turning a unique violation into `conflict` naming `attribute`. */
  private async unique<T>(attribute: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isUniqueViolation(err)) throw new GatehouseError('conflict', `${attribute} is already taken`, { attribute }, { cause: err });
      throw err;
    }
  }

  /**
   * As {@link unique} for writes of users and emails: the violation names its table (PostgreSQL's
   * `table` field; SQLite's message `UNIQUE constraint failed: user_emails.…`), `user_emails` for an
   * address, `users` for the userName.
   */
  private async uniqueByTable<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const e = err as { table?: string; message?: string };
      const attribute = e.table === 'user_emails' || /\buser_emails\./.test(e.message ?? '') ? 'emails' : 'userName';
      throw new GatehouseError('conflict', `${attribute} is already taken`, { attribute }, { cause: err });
    }
  }

  private async insertEmails(trx: Executor, tenantId: string, userId: string, emails: EmailRecord[]): Promise<void> {
    if (emails.length === 0) return;
    await this.unique('emails', () =>
      trx
        .insertInto('user_emails')
        .values(emails.map((e, position) => ({ tenant_id: tenantId, user_id: userId, position, ...e })))
        .execute(),
    );
  }

  /** The row of a user that is not deprovisioned; `lock` takes a row lock on PostgreSQL. */
  private async row(db: Executor, tenantId: string, id: string, lock = false): Promise<UserRow> {
    let q = db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).where('status', '<>', 'deprovisioned');
    if (lock && this.deps.storage.kind === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', 'no such user', { resource: 'user', id });
    return row;
  }

  private async get1(db: Executor, tenantId: string, id: string): Promise<User> {
    return this.withEmails(db, tenantId, await this.row(db, tenantId, id));
  }

  private async withEmails(db: Executor, tenantId: string, row: UserRow): Promise<User> {
    const emails = await loadEmails(db, tenantId, [row.id]);
    return toUser(row, emails.get(row.id) ?? []);
  }

}
