import { hash, timingSafeEqual } from 'node:crypto';

/**
 * SHA-256 of a high-entropy secret (API token, client secret), as lowercase hex.
 * Low-entropy secrets (passwords) use argon2id instead: see `authn/password.ts`.
 */
export function sha256Hex(value: string | Buffer): string {
  // One-shot crypto.hash (Node ≥ 20.12): several times cheaper than a Hash object per call.
  return hash('sha256', value, 'hex');
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    // Still spend a comparison so that the length mismatch is not the only fast path.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}
