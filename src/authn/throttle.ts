/**
 * Throttling of failed sign-ins (NIST SP 800-63B-4 §3.2.2, OWASP ASVS 5.0 V6.3).
 *
 * Failures are counted per account, whatever identifier was typed (username or email: both
 * resolve to the same `account:<userId>` key; an identifier that names no account gets an
 * `identifier:<normalised>` key so unknown accounts behave exactly like known ones), and per
 * source address (`ip:<address>`).
 *
 * - Growing delays: after {@link FREE_ATTEMPTS} consecutive failures, the next attempt is
 *   allowed only `2^(n - FREE_ATTEMPTS)` seconds (at most {@link MAX_DELAY_SECONDS}) after the last
 *   failure. An attempt made earlier is refused without being counted.
 * - Lockout: at `lockoutThreshold` (default 100) consecutive failures of an account it is
 *   locked for `lockoutSeconds`; a success resets the account's counter.
 * - The source-address counter only delays (never locks) and forgets after {@link IP_WINDOW_SECONDS}.
 *
 * The caller answers a throttled attempt exactly like a wrong password, after the same argon2
 * work, so nothing tells an attacker whether an account exists, is locked, or was mistyped.
 */
import type { Clock } from '../kernel/clock.js';
import type { Storage } from '../storage/database.js';

/** Consecutive failures allowed with no delay. */
export const FREE_ATTEMPTS = 5;
/** Longest delay between two attempts, in seconds. */
export const MAX_DELAY_SECONDS = 60;
/** A source address's failures are forgotten after this long without a failure, in seconds. */
export const IP_WINDOW_SECONDS = 3600;

export interface ThrottleSettings {
  lockoutThreshold: number;
  lockoutSeconds: number;
}

/** Why an attempt may not be checked now. */
export type ThrottleVerdict = { allowed: true } | { allowed: false; reason: 'locked' | 'delayed'; retryAfterSeconds: number };

/** Delay in seconds required after `failures` consecutive failures. */
export function delayAfter(failures: number): number {
  if (failures < FREE_ATTEMPTS) return 0;
  return Math.min(2 ** (failures - FREE_ATTEMPTS), MAX_DELAY_SECONDS);
}

export class SignInThrottle {
  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly settings: ThrottleSettings,
  ) {}

  private async read(tenantId: string, key: string) {
    return this.storage.db
      .selectFrom('authn_throttle')
      .select(['failures', 'last_failure_at', 'locked_until'])
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .executeTakeFirst();
  }

  /** May an attempt for `accountKey` from `ip` be checked now? */
  async check(tenantId: string, accountKey: string, ip: string | null): Promise<ThrottleVerdict> {
    const now = this.clock.now().getTime();
    const acct = await this.read(tenantId, accountKey);
    if (acct?.locked_until && Date.parse(acct.locked_until) > now) {
      return { allowed: false, reason: 'locked', retryAfterSeconds: Math.ceil((Date.parse(acct.locked_until) - now) / 1000) };
    }
    const rows = [acct];
    if (ip) {
      const byIp = await this.read(tenantId, `ip:${ip}`);
      if (byIp?.last_failure_at && now - Date.parse(byIp.last_failure_at) < IP_WINDOW_SECONDS * 1000) rows.push(byIp);
    }
    let wait = 0;
    for (const r of rows) {
      if (!r?.last_failure_at || r.locked_until) continue;
      const due = Date.parse(r.last_failure_at) + delayAfter(r.failures) * 1000;
      wait = Math.max(wait, due - now);
    }
    return wait > 0 ? { allowed: false, reason: 'delayed', retryAfterSeconds: Math.ceil(wait / 1000) } : { allowed: true };
  }

  /**
   * Counts one failure for the account key and the address (one atomic increment each).
   * @returns the account's consecutive failures, and whether this failure locked it.
   */
  async fail(tenantId: string, accountKey: string, ip: string | null): Promise<{ failures: number; locked: boolean }> {
    const nowDate = this.clock.now();
    const now = nowDate.toISOString();
    const lockUntil = new Date(nowDate.getTime() + this.settings.lockoutSeconds * 1000).toISOString();
    const bump = async (key: string, canLock: boolean) => {
      return this.storage.db.transaction().execute(async (trx) => {
        // Serialise concurrent failures of one key: PostgreSQL row lock (after making sure the row
        // exists); SQLite transactions are already serialised.
        if (this.storage.kind === 'postgres') {
          await trx
            .insertInto('authn_throttle')
            .values({ tenant_id: tenantId, key, failures: 0, last_failure_at: null, locked_until: null })
            .onConflict((oc) => oc.columns(['tenant_id', 'key']).doNothing())
            .execute();
        }
        let q = trx.selectFrom('authn_throttle').select(['failures', 'locked_until', 'last_failure_at']).where('tenant_id', '=', tenantId).where('key', '=', key);
        if (this.storage.kind === 'postgres') q = q.forUpdate();
        const cur = await q.executeTakeFirst();
        // An expired lock starts a fresh count; a stale address counter too.
        const lockExpired = cur?.locked_until !== null && cur?.locked_until !== undefined && cur.locked_until <= now;
        const ipStale = !canLock && cur?.last_failure_at && nowDate.getTime() - Date.parse(cur.last_failure_at) >= IP_WINDOW_SECONDS * 1000;
        const failures = (cur && !lockExpired && !ipStale ? cur.failures : 0) + 1;
        const locked = canLock && failures >= this.settings.lockoutThreshold;
        const row = { failures, last_failure_at: now, locked_until: locked ? lockUntil : null };
        await trx
          .insertInto('authn_throttle')
          .values({ tenant_id: tenantId, key, ...row })
          .onConflict((oc) => oc.columns(['tenant_id', 'key']).doUpdateSet(row))
          .execute();
        return { failures, locked };
      });
    };
    const result = await bump(accountKey, true);
    if (ip) await bump(`ip:${ip}`, false);
    return result;
  }

  /**
   * A successful sign-in: the account's counter starts again. The source address's counter is
   * left to expire on its own ({@link IP_WINDOW_SECONDS}); otherwise one valid account would let
   * an attacker reset the address's delays between guesses at other accounts.
   */
  async succeed(tenantId: string, accountKey: string, _ip: string | null): Promise<void> {
    await this.storage.db.deleteFrom('authn_throttle').where('tenant_id', '=', tenantId).where('key', '=', accountKey).execute();
  }

  /** Consecutive failures and lock state of a key (for admins and tests). */
  async state(tenantId: string, key: string): Promise<{ failures: number; lockedUntil: string | null }> {
    const r = await this.read(tenantId, key);
    return { failures: r?.failures ?? 0, lockedUntil: r?.locked_until ?? null };
  }
}
