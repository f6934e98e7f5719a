/**
 * Passwords: argon2id hashing and the password policy (NIST SP 800-63B-4 §3.1.1.2).
 *
 * Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), the OWASP
 * Password Storage Cheat Sheet's argon2id baseline. Passwords are Unicode-NFC normalised
 * before hashing and verifying (SP 800-63B-4 §3.1.1.2: "normalization ... before hashing").
 */
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { GatehouseError } from '../kernel/errors.js';
import { normalizeIdentifier } from '../kernel/normalize.js';

/** argon2id parameters: memory in KiB, passes, lanes. */
export const PASSWORD_HASH_PARAMS = {
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  // `Algorithm` is an ambient const enum in the binding's typings; 2 is Argon2id.
  algorithm: 2 as Algorithm,
} as const;

/** Shortest password accepted, in characters (Unicode code points). SP 800-63B-4 §3.1.1.2. */
export const PASSWORD_MIN_LENGTH = 8;
/** Longest password accepted, in characters (Unicode code points). */
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Hashes a password with argon2id after NFC normalisation.
 *
 * @param password - the password as typed (any Unicode).
 * @returns a PHC string (about 97 characters) with a random 16-byte salt.
 * @example
 * const phc = await hashPassword('correct horse battery staple');
 */
export async function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFC'), PASSWORD_HASH_PARAMS);
}

/**
 * Verifies a password against a PHC string made by {@link hashPassword}.
 *
 * @returns `true` if it matches; `false` on mismatch or if `phc` is not a valid argon2 hash
 *   (never throws for a malformed stored hash, so a bad row cannot become a sign-in oracle).
 */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password.normalize('NFC'));
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same time as {@link verifyPassword} against a throwaway hash and returns `false`.
 * Call it when the account does not exist (or has no password) so that the sign-in takes
 * the same time either way and does not reveal which accounts exist.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('gatehouse-dummy-password-never-matches');
  await verifyPassword(await dummyHash, password);
  return false;
}

/** Facts about the account a password is for, so the policy can refuse passwords that name it. */
export interface PasswordContext {
  userName?: string | undefined;
  emails?: readonly string[] | undefined;
}

/**
 * Checks a new password against the policy of NIST SP 800-63B-4 §3.1.1.2: at least 8 and at
 * most 256 characters (code points, after NFC), every Unicode character allowed (spaces too),
 * no composition rules, and not equal to or containing the account's userName or the local
 * part of one of its emails (compared case-folded).
 *
 * @throws GatehouseError `weak_password` with `details.reason` one of `too_short`, `too_long`,
 *   `contains_user_name`.
 * @example
 * checkPasswordPolicy('correct horse battery staple', { userName: 'alice' });
 */
export function checkPasswordPolicy(password: string, context: PasswordContext = {}): void {
  const normalized = password.normalize('NFC');
  const length = [...normalized].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw new GatehouseError('weak_password', `The password must have at least ${PASSWORD_MIN_LENGTH} characters.`, {
      reason: 'too_short',
      minLength: PASSWORD_MIN_LENGTH,
    });
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new GatehouseError('weak_password', `The password must have at most ${PASSWORD_MAX_LENGTH} characters.`, {
      reason: 'too_long',
      maxLength: PASSWORD_MAX_LENGTH,
    });
  }
  const folded = normalizeIdentifier(normalized);
  const names: string[] = [];
  if (context.userName) names.push(context.userName);
  for (const email of context.emails ?? []) {
    const local = email.split('@')[0];
    if (local) names.push(local);
  }
  for (const name of names) {
    const n = normalizeIdentifier(name);
    // Very short names (1–2 characters) would refuse too many good passwords.
    if (n.length >= 3 && folded.includes(n)) {
      throw new GatehouseError('weak_password', 'The password must not contain the user name.', {
        reason: 'contains_user_name',
      });
    }
  }
}
