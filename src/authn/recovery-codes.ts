/**
 * Recovery codes (NIST SP 800-63B-4 §3.1.2 look-up secrets): ten single-use codes of 120 random
 * bits each (24 Base32 characters, shown in groups of four). Because each has at least 112 bits
 * of entropy, an unsalted SHA-256 is an approved way to store them (§3.1.2.2); the codes
 * themselves are shown once, when generated, and never again. Generating a new set replaces the
 * old one. A code is consumed by one conditional UPDATE (`… AND used_at IS NULL`), so it works once
 * even under concurrent sign-ins.
 */
import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../kernel/clock.js';
import type { OperationContext } from '../kernel/context.js';
import { sha256Hex } from '../kernel/secrets.js';
import type { Storage } from '../storage/database.js';

/** Codes per set. */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** One new code: 15 random bytes as 24 Base32 characters, `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx`. */
function newCode(): string {
  const bytes = randomBytes(15);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join('-');
}

/** The stored form of a typed code: case, spaces and dashes do not matter. */
export function recoveryCodeHash(code: string): string {
  return sha256Hex(code.toLowerCase().replace(/[\s-]+/g, ''));
}

export class RecoveryCodeService {
  constructor(
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  /**
   * Replaces the user's codes with a new set. Audit: `recovery_codes.generate`.
   * @returns the ten codes, to show once.
   */
  async generate(ctx: OperationContext, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
    const now = this.clock.now().toISOString();
    await this.storage.db.transaction().execute(async (trx) => {
      const old = await trx.deleteFrom('recovery_codes').where('tenant_id', '=', ctx.tenantId).where('user_id', '=', userId).executeTakeFirst();
      await trx
        .insertInto('recovery_codes')
        .values(codes.map((c) => ({ tenant_id: ctx.tenantId, user_id: userId, code_hash: recoveryCodeHash(c), created_at: now, used_at: null })))
        .execute();
      await this.audit.append(trx, ctx, {
        action: 'recovery_codes.generate',
        target: { type: 'user', id: userId },
        details: { count: codes.length, replaced: Number(old.numDeletedRows) },
      });
    });
    return codes;
  }

  /** Unused codes left. */
  async remaining(tenantId: string, userId: string): Promise<number> {
    const r = await this.storage.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Consumes a code if it is one of the user's unused codes. @returns true once per code. */
  async consume(tenantId: string, userId: string, code: string): Promise<boolean> {
    if (code.length > 64) return false;
    const res = await this.storage.db
      .updateTable('recovery_codes')
      .set({ used_at: this.clock.now().toISOString() })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('code_hash', '=', recoveryCodeHash(code))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}
