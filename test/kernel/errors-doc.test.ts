import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GatehouseError, isGatehouseError } from '../../src/kernel/errors.js';

describe('error code registry', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  it.each(Object.keys(ERROR_CODES))('docs/errors.md documents %s', (code) => {
    expect(doc).toContain(`\n## ${code}\n`);
  });
  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^## (\w+)$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });
  it('carries code, status and details', () => {
    const e = new GatehouseError('conflict', 'taken', { attribute: 'userName' });
    expect(e.code).toBe('conflict');
    expect(e.status).toBe(409);
    expect(e.details).toEqual({ attribute: 'userName' });
    expect(isGatehouseError(e, 'conflict')).toBe(true);
    expect(isGatehouseError(e, 'not_found')).toBe(false);
    expect(isGatehouseError(new Error('x'))).toBe(false);
  });
});
