import { describe, expect, it } from 'vitest';
import { validate, version } from 'uuid';
import { newRequestId, requestIdFor } from '../../src/http/headers.js';

describe('request ids', () => {
  it('are UUIDv7 (RFC 9562 §5.7) in lower-case 8-4-4-4-12 form, distinct, with the current Unix time in milliseconds first', () => {
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, () => newRequestId());
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      // unix_ts_ms: the first 48 bits (RFC 9562 §5.7).
      const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // Every hex digit of the random part is used (the pooled random bytes are not stuck).
    const digits = new Set(ids.map((id) => id.slice(24)).join(''));
    expect(digits.size).toBe(16);
  });

  it('keep a safe incoming X-Request-ID and replace any other with a new UUIDv7', () => {
    expect(requestIdFor('abc-123._:X')).toBe('abc-123._:X');
    for (const given of [undefined, '', 'a b', 'x'.repeat(129), 'é', ['a', 'b']]) {
      expect(requestIdFor(given)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(requestIdFor('x'.repeat(128))).toBe('x'.repeat(128));
  });
});
