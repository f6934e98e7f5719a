/** Pure parts of the AuthZEN mapping: the condition context and search paging. */
import { describe, expect, it } from 'vitest';
import { conditionContext } from '../../src/authz/authzen.js';
import { paginate } from '../../src/authz/authzen-search.js';
import { ENTITY_PROPERTIES, type EntityPropertiesMark } from '../../src/authz/conditions.js';
import { isGatehouseError } from '../../src/kernel/errors.js';

describe('conditionContext', () => {
  it('always supplies the entity property maps, flattens properties, and lets the request context win', () => {
    const subject = { role: 'admin' };
    const resource = { status: 'archived' };
    const context = conditionContext({ subject: { properties: subject }, resource: { properties: resource }, context: { ip: '10.0.0.1', resource_status: 'active' } });
    expect(context).toEqual({
      subject: { role: 'admin' },
      resource: { status: 'archived' },
      action: {},
      subject_role: 'admin',
      resource_status: 'active',
      ip: '10.0.0.1',
      [ENTITY_PROPERTIES]: { subject, resource, action: undefined },
    });
    expect(conditionContext({})).toEqual({ subject: {}, resource: {}, action: {}, [ENTITY_PROPERTIES]: { subject: undefined, resource: undefined, action: undefined } });
  });

  it('marks the entity properties objects themselves, never copies, and not a request context member that replaces one', () => {
    const resource = { status: 'archived', count: 5 };
    const replaced = { status: 'active' };
    const context = conditionContext({ resource: { properties: resource }, context: { subject: replaced } }) as Record<string, unknown> & EntityPropertiesMark;
    expect(context.resource).toBe(resource);
    expect(context[ENTITY_PROPERTIES]?.resource).toBe(resource);
    expect(context.subject).toBe(replaced);
    expect(context[ENTITY_PROPERTIES]?.subject).toBeUndefined();
    // The mark is a symbol: a JSON copy and the members by name do not carry it.
    expect(JSON.parse(JSON.stringify(context))).toEqual({ subject: replaced, resource, action: {}, resource_status: 'archived', resource_count: 5 });
    expect(Object.keys(context).sort()).toEqual(['action', 'resource', 'resource_count', 'resource_status', 'subject']);
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
