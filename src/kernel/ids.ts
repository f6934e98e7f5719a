import { v7 as uuidv7 } from 'uuid';
import { randomBytes } from 'node:crypto';

/** A new time-ordered identifier (UUIDv7, RFC 9562 §5.7). Used for every row id and the SCIM `id`. */
export function newId(): string {
  return uuidv7();
}

/** True if `s` has the textual form of a UUID (any version). */
export function looksLikeUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

/** A random URL-safe string carrying `bytes` bytes of entropy (base64url, no padding). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
