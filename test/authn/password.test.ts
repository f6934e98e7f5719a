import { describe, expect, it } from 'vitest';
import { DUMMY_PASSWORD, checkPasswordPolicy, dummyPasswordHash, hashPassword, needsRehash, verifyAgainstDummy, verifyPassword } from '../../src/authn/password.js';
import { isGatehouseError } from '../../src/kernel/errors.js';

function policyReason(password: string, ctx?: Parameters<typeof checkPasswordPolicy>[1], opts?: Parameters<typeof checkPasswordPolicy>[2]): string | null {
  try {
    checkPasswordPolicy(password, ctx, opts);
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

  it('the dummy verify runs a real argon2id verify with the same parameters as a stored hash', async () => {
    // Equal cost follows from equal work: the same algorithm and parameters (timing it here
    // would make a flaky test; speed lives in benchmarks).
    const dummy = await dummyPasswordHash();
    const stored = await hashPassword('some password here');
    const params = (phc: string) => phc.split('$').slice(1, 4).join('$');
    expect(params(dummy)).toBe('argon2id$v=19$m=19456,t=2,p=1');
    expect(params(dummy)).toBe(params(stored));
    expect(needsRehash(dummy)).toBe(false);
    // It is a genuine hash of its password, so verifying against it runs argon2 to the end ...
    expect(await verifyPassword(dummy, DUMMY_PASSWORD)).toBe(true);
    // ... and is made once per process.
    expect(await dummyPasswordHash()).toBe(dummy);
    // Even the dummy password itself is refused through verifyAgainstDummy.
    expect(await verifyAgainstDummy(DUMMY_PASSWORD)).toBe(false);
  });
});

describe('password policy (NIST SP 800-63B-4 §3.1.1.2)', () => {
  it('needs 15 code points as the only factor, 8 with MFA, at most 256; any Unicode, no composition rules', () => {
    expect(policyReason('purple elephant umbrella')).toBeNull();
    expect(policyReason('пароль-кошка-дом-лес')).toBeNull();
    expect(policyReason('short phrase ok')).toBeNull(); // 15
    expect(policyReason('short phrase o')).toBe('too_short'); // 14
    expect(policyReason('zq7 vb8 wm', {}, { minLength: 8 })).toBeNull();
    expect(policyReason('🔑🔑🔑🔑🔑🔑🔑', {}, { minLength: 8 })).toBe('too_short');
    expect(policyReason('x'.repeat(257))).toBe('too_long');
  });

  it('refuses common and breached passwords and trivial patterns (shipped list, no network)', () => {
    expect(policyReason('password123456789')).toBe('blocklisted');
    expect(policyReason('aaaaaaaaaaaaaaaa')).toBe('blocklisted');
    expect(policyReason('123456789012345')).toBe('blocklisted');
    expect(policyReason('qwertyuiopasdfgh')).toBe('blocklisted');
    expect(policyReason('P@ssw0rd12345678')).toBe('blocklisted');
  });

  it('refuses context words: userName, email local part, names (case-folded)', () => {
    expect(policyReason('alice.smith is here now', { userName: 'Alice.Smith' })).toBe('contains_user_name');
    expect(policyReason('hello-asmith-99-purple', { userName: 'x', emails: ['ASmith@example.com'] })).toBe('contains_user_name');
    expect(policyReason('liddell wonder tea party', { names: ['Liddell'] })).toBe('contains_user_name');
    expect(policyReason('a completely different one', { userName: 'alice.smith', emails: ['alice@example.com'] })).toBeNull();
  });

  it('flags hashes made with other parameters for a transparent rehash', async () => {
    expect(needsRehash(await hashPassword('purple elephant umbrella'))).toBe(false);
    expect(needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA')).toBe(true);
    expect(needsRehash('$2b$10$abcdefghijklmnopqrstuv')).toBe(true);
  });
});
