/**
 * Passwords: argon2id hashing and the password policy (NIST SP 800-63B-4 §3.1.1.2).
 *
 * Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), the OWASP
 * Password Storage Cheat Sheet's argon2id baseline. Passwords are Unicode-NFC normalised
 * before hashing and verifying (SP 800-63B-4 §3.1.1.2: "normalization ... before hashing").
 */
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { GatehouseError } from '../kernel/errors.js';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import { normalizeIdentifier } from '../kernel/normalize.js';

/** argon2id parameters: memory in KiB, passes, lanes. */
export const PASSWORD_HASH_PARAMS = {
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  // `Algorithm` is an ambient const enum in the binding's typings; 2 is Argon2id.
  algorithm: 2 as Algorithm,
} as const;

/** Shortest password accepted when it is the only factor, in code points (SP 800-63B-4 §3.1.1.2: 15). */
export const PASSWORD_MIN_LENGTH = 15;
/** Shortest password accepted for a user with a second factor, in code points (SP 800-63B-4 §3.1.1.2: 8). */
export const PASSWORD_MIN_LENGTH_WITH_MFA = 8;
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

/** The password behind the throwaway hash of {@link verifyAgainstDummy}; never an account's. */
export const DUMMY_PASSWORD = 'gatehouse-dummy-password-never-matches';

/**
 * The throwaway hash {@link verifyAgainstDummy} verifies against: made once per process by
 * {@link hashPassword}, so it carries {@link PASSWORD_HASH_PARAMS} and a verify against it
 * costs what a verify against a stored hash costs.
 */
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(DUMMY_PASSWORD);
  return dummyHash;
}

/**
 * Spends the same time as {@link verifyPassword} against a throwaway hash and returns `false`.
 * Call it when the account does not exist (or has no password) so that the sign-in takes
 * the same time either way and does not reveal which accounts exist.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await verifyPassword(await dummyPasswordHash(), password);
  return false;
}

/**
 * True when a PHC string was made with other parameters (or another algorithm) than
 * {@link PASSWORD_HASH_PARAMS}: the password should be hashed again after a successful verify
 * (OWASP Password Storage Cheat Sheet, "upgrading the work factor").
 */
export function needsRehash(phc: string): boolean {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!m) return true;
  return (
    Number(m[1]) !== PASSWORD_HASH_PARAMS.memoryCost ||
    Number(m[2]) !== PASSWORD_HASH_PARAMS.timeCost ||
    Number(m[3]) !== PASSWORD_HASH_PARAMS.parallelism
  );
}

/** Facts about the account a password is for, so the policy can refuse passwords that name it. */
export interface PasswordContext {
  userName?: string | undefined;
  emails?: readonly string[] | undefined;
  /** Given, family or display names. */
  names?: readonly (string | null | undefined)[] | undefined;
}

/** Options of {@link checkPasswordPolicy}. */
export interface PasswordPolicyOptions {
  /** Shortest length in code points; default {@link PASSWORD_MIN_LENGTH} (password as the only factor). */
  minLength?: number;
}

/**
 * Below this many estimated guesses (log10) a password counts as on the blocklist: it is a
 * common or breached password (zxcvbn-ts's `passwords-common` list, shipped in the package, no
 * network), a keyboard walk, a repetition or sequence, or a trivial variation of those.
 */
export const BLOCKLIST_GUESSES_LOG10 = 6;

let zxcvbn: ZxcvbnFactory | undefined;
function estimator(): ZxcvbnFactory {
  zxcvbn ??= new ZxcvbnFactory({ dictionary: { ...dictionary }, graphs: adjacencyGraphs });
  return zxcvbn;
}

/** Context words (at least 3 characters, case-folded) taken from the account. */
function contextWords(context: PasswordContext): string[] {
  const words = new Set<string>();
  const add = (w: string | null | undefined) => {
    const n = w ? normalizeIdentifier(w) : '';
    if (n.length >= 3) words.add(n);
  };
  add(context.userName);
  for (const email of context.emails ?? []) {
    add(email.split('@')[0]);
  }
  for (const name of context.names ?? []) add(name);
  return [...words];
}

/**
 * Checks a new password against NIST SP 800-63B-4 §3.1.1.2: at least `minLength` (default 15;
 * 8 when the user has a second factor) and at most 256 code points after NFC, every Unicode
 * character allowed (spaces too), no composition rules; not on the blocklist of common and
 * breached passwords and trivial patterns (zxcvbn-ts estimate below 10^6 guesses); not
 * containing a context word (userName, email local part, names; case-folded).
 *
 * @throws GatehouseError `weak_password` with `details.reason` one of `too_short`, `too_long`,
 *   `contains_user_name`, `blocklisted` (and `details.minLength` / `details.maxLength`).
 * @example
 * checkPasswordPolicy('correct horse battery staple', { userName: 'alice' });
 */
export function checkPasswordPolicy(password: string, context: PasswordContext = {}, opts: PasswordPolicyOptions = {}): void {
  const minLength = opts.minLength ?? PASSWORD_MIN_LENGTH;
  const normalized = password.normalize('NFC');
  const length = [...normalized].length;
  if (length < minLength) {
    throw new GatehouseError('weak_password', `The password must have at least ${minLength} characters.`, { reason: 'too_short', minLength });
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new GatehouseError('weak_password', `The password must have at most ${PASSWORD_MAX_LENGTH} characters.`, {
      reason: 'too_long',
      maxLength: PASSWORD_MAX_LENGTH,
    });
  }
  const folded = normalizeIdentifier(normalized);
  const words = contextWords(context);
  for (const word of words) {
    if (folded.includes(word)) {
      throw new GatehouseError('weak_password', 'The password must not contain your user name, email address or name.', {
        reason: 'contains_user_name',
      });
    }
  }
  const result = estimator().check(normalized, words);
  if (result.guessesLog10 < BLOCKLIST_GUESSES_LOG10) {
    throw new GatehouseError('weak_password', 'This password is too common or too easy to guess. Choose a longer phrase of unrelated words.', {
      reason: 'blocklisted',
    });
  }
}
