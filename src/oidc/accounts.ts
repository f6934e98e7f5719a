/**
 * Accounts as the OpenID provider sees them: users, looked up by id (`sub`) or by sign-in
 * identifier, and their OIDC standard claims (OpenID Connect Core 1.0 §5.1).
 *
 * Only users whose status is `active` are accounts: for any other status `findAccount` answers
 * `undefined`, so oidc-provider refuses the refresh grant (`invalid_grant`), userinfo
 * (`invalid_token`) and a resumed session.
 */
import type { Account, AccountClaims } from 'oidc-provider';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { Storage } from '../storage/database.js';
import type { AccountStatus } from '../storage/schema.js';

/** Claims Gatehouse releases, by scope (OIDC Core §5.4). */
export const CLAIMS_BY_SCOPE = {
  openid: ['sub'],
  profile: ['preferred_username', 'name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
} as const;

/** A user as needed for sign-in. */
export interface SignInCandidate {
  id: string;
  userName: string;
  status: AccountStatus;
  passwordHash: string | null;
}

/** Looks up users for sign-in and claims. */
export class AccountDirectory {
  constructor(
    private readonly storage: Storage,
    private readonly tenantId: string,
  ) {}

  /**
   * Finds the user a sign-in identifier names: a userName or an email address, compared after
   * NFC + case folding. If several identities match (a deprovisioned one may share a name with a
   * live one), an active one wins.
   */
  async findByIdentifier(identifier: string): Promise<SignInCandidate | undefined> {
    const norm = normalizeIdentifier(identifier.trim());
    if (!norm) return undefined;
    const rows = await this.storage.db
      .selectFrom('users')
      .select(['id', 'user_name', 'user_name_norm', 'status', 'password_hash'])
      .where('tenant_id', '=', this.tenantId)
      .where((eb) =>
        eb.or([
          eb('user_name_norm', '=', norm),
          eb(
            'id',
            'in',
            eb.selectFrom('user_emails').select('user_id').where('tenant_id', '=', this.tenantId).where('value_norm', '=', norm),
          ),
        ]),
      )
      .execute();
    const rank = (s: AccountStatus) => (s === 'active' ? 0 : s === 'suspended' ? 1 : s === 'staged' ? 2 : 3);
    // Live identities first; among equals a userName match wins over an email match.
    const byEmail = (r: { user_name_norm: string }) => Number(r.user_name_norm !== norm);
    rows.sort((a, b) => rank(a.status) - rank(b.status) || byEmail(a) - byEmail(b));
    const r = rows[0];
    return r && { id: r.id, userName: r.user_name, status: r.status, passwordHash: r.password_hash };
  }

  /** True if the user exists in this tenant and its status is `active`. */
  async isActive(userId: string): Promise<boolean> {
    const row = await this.storage.db
      .selectFrom('users')
      .select('status')
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', userId)
      .executeTakeFirst();
    return row?.status === 'active';
  }

  /**
   * oidc-provider's `findAccount`: the account with id `sub` if its status is `active`, else
   * `undefined`. Claims: sub (the user id, which is the SCIM id), preferred_username (userName),
   * name, given_name, family_name, email (the primary address, else the first), email_verified
   * (`false`: Gatehouse has not proven control of the mailbox).
   */
  async findAccount(sub: string): Promise<Account | undefined> {
    const user = await this.storage.db
      .selectFrom('users')
      .select(['id', 'user_name', 'display_name', 'formatted_name', 'given_name', 'family_name', 'status'])
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', sub)
      .executeTakeFirst();
    if (!user || user.status !== 'active') return undefined;
    const storage = this.storage;
    const tenantId = this.tenantId;
    return {
      accountId: user.id,
      async claims(): Promise<AccountClaims> {
        const email = await storage.db
          .selectFrom('user_emails')
          .select('value')
          .where('tenant_id', '=', tenantId)
          .where('user_id', '=', user.id)
          .orderBy('is_primary', 'desc')
          .orderBy('position')
          .executeTakeFirst();
        const name =
          user.display_name ?? user.formatted_name ?? ([user.given_name, user.family_name].filter(Boolean).join(' ') || undefined);
        const claims: AccountClaims = { sub: user.id, preferred_username: user.user_name };
        if (name) claims.name = name;
        if (user.given_name) claims.given_name = user.given_name;
        if (user.family_name) claims.family_name = user.family_name;
        if (email) {
          claims.email = email.value;
          claims.email_verified = false;
        }
        return claims;
      },
    };
  }
}
