/** Pure parts of the AuthZEN mapping: the condition context and search paging. */
import { describe, expect, it } from 'vitest';
import { conditionContext } from '../../src/authz/authzen.js';
import { paginate } from '../../src/authz/authzen-search.js';
import { isGatehouseError } from '../../src/kernel/errors.js';

describe('conditionContext', () => {
  it('always supplies the entity property maps, flattens properties, and lets the request context win', () => {
    expect(
      conditionContext({
        subject: { properties: { role: 'admin' } },
        resource: { properties: { status: 'archived' } },
        context: { ip: '10.0.0.1', resource_status: 'active' },
      }),
    ).toEqual({
      subject: { role: 'admin' },
      resource: { status: 'archived' },
      action: {},
      subject_role: 'admin',
      resource_status: 'active',
      ip: '10.0.0.1',
    });
    expect(conditionContext({})).toEqual({ subject: {}, resource: {}, action: {} });
  });
});

describe('paginate', () => {
  const all = ['a', 'b', 'c', 'd', 'e'];
  it('returns everything in one page without a limit', () => {
    expect(paginate(all, undefined)).toEqual({ results: all, page: { next_token: '', count: 5, total: 5 } });
  });
  it('walks pages with the token it hands out, ending with an empty token', () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const p = paginate(all, { limit: 2, ...(token ? { token } : {}) });
      seen.push(...p.results);
      token = p.page.next_token || undefined;
      pages++;
    } while (token);
    expect({ seen, pages }).toEqual({ seen: all, pages: 3 });
  });
  it('rejects a foreign token and a bad limit with invalid_input', () => {
    for (const page of [{ token: 'abc' }, { limit: 0 }, { limit: 1001 }, { limit: 1.5 }]) {
      let code = '';
      try {
        paginate(all, page);
      } catch (err) {
        code = isGatehouseError(err) ? err.code : 'other';
      }
      expect(code).toBe('invalid_input');
    }
  });
});
