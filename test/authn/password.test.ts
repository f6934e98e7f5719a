import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, verifyAgainstDummy, verifyPassword } from '../../src/authn/password.js';
import { isGatehouseError } from '../../src/kernel/errors.js';

function policyReason(password: string, ctx?: Parameters<typeof checkPasswordPolicy>[1]): string | null {
  try {
    checkPasswordPolicy(password, ctx);
    return null;
  } catch (err) {
    if (!isGatehouseError(err, 'weak_password')) throw err;
    return String(err.details?.reason);
  }
}

describe('password hashing (argon2id)', () => {
  it('produces an argon2id PHC string with m=19456 KiB, t=2, p=1 and a random salt', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(a, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(a, 'correct horse battery stapl')).toBe(false);
    expect(await verifyPassword(a, 'Correct horse battery staple')).toBe(false);
  });

  it('normalises to NFC, so composed and decomposed input match', async () => {
    const composed = 'caf\u00e9 au lait!';
    const decomposed = 'cafe\u0301 au lait!';
    const phc = await hashPassword(composed);
    expect(await verifyPassword(phc, decomposed)).toBe(true);
  });

  it('answers false (never throws) for a malformed stored hash, and the dummy verify is false', async () => {
    expect(await verifyPassword('not-a-hash', 'whatever-password')).toBe(false);
    expect(await verifyPassword('', 'whatever-password')).toBe(false);
    expect(await verifyAgainstDummy('gatehouse-dummy-password-never-matches')).toBe(false);
  });

  it('the dummy verify costs about as much as a real one (same parameters)', async () => {
    const phc = await hashPassword('some password here');
    await verifyAgainstDummy('warm up');
    const time = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      for (let i = 0; i < 5; i++) await fn();
      return performance.now() - t;
    };
    const real = await time(() => verifyPassword(phc, 'wrong password'));
    const dummy = await time(() => verifyAgainstDummy('wrong password'));
    expect(dummy / real).toBeGreaterThan(0.33);
    expect(dummy / real).toBeLessThan(3);
  });
});

describe('password policy (NIST SP 800-63B-4)', () => {
  it('accepts 8 to 256 characters of any Unicode, with no composition rules', () => {
    expect(policyReason('abcdefgh')).toBeNull();
    expect(policyReason('        ')).toBeNull();
    expect(policyReason('пароль-пароль')).toBeNull();
    expect(policyReason('🔑🔑🔑🔑🔑🔑🔑🔑')).toBeNull(); // 8 code points, 16 UTF-16 units
    expect(policyReason('x'.repeat(256))).toBeNull();
  });

  it('refuses shorter than 8 or longer than 256 code points', () => {
    expect(policyReason('abcdefg')).toBe('too_short');
    expect(policyReason('🔑🔑🔑🔑🔑🔑🔑')).toBe('too_short');
    expect(policyReason('')).toBe('too_short');
    expect(policyReason('x'.repeat(257))).toBe('too_long');
  });

  it('refuses a password equal to or containing the userName or an email local part, case-folded', () => {
    expect(policyReason('alice.smith', { userName: 'Alice.Smith' })).toBe('contains_user_name');
    expect(policyReason('my-ALICE.SMITH-2026', { userName: 'alice.smith' })).toBe('contains_user_name');
    expect(policyReason('hello-asmith-99', { userName: 'x', emails: ['ASmith@example.com'] })).toBe('contains_user_name');
    expect(policyReason('a completely different one', { userName: 'alice.smith', emails: ['alice@example.com'] })).toBeNull();
  });
});
