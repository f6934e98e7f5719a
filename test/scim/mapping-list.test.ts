import { describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../src/kernel/errors.js';
import type { User } from '../../src/identity/types.js';
import { project, readListParams } from '../../src/scim/list.js';
import { ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA } from '../../src/scim/schemas.js';
import { userInputFromScim, userToScim } from '../../src/scim/user-mapping.js';
import { toScimError } from '../../src/scim/errors.js';
import { parseEtagCondition, etagMatches } from '../../src/scim/etag.js';

function scimTypeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    if (isGatehouseError(err, 'invalid_input')) return err.details?.scimType;
    throw err;
  }
  return 'no error';
}

const BASE = 'https://id.example.test/scim/v2';
const sample: User = {
  id: 'u1',
  userName: 'bjensen',
  externalId: 'ext-1',
  name: { givenName: 'Barbara', familyName: 'Jensen', formatted: null },
  displayName: 'Babs Jensen',
  nickName: null,
  title: 'Tour Guide',
  userType: null,
  preferredLanguage: null,
  locale: null,
  timezone: null,
  emails: [{ value: 'bjensen@example.com', type: 'work', primary: true, display: null }],
  active: true,
  status: 'active',
  enterprise: { employeeNumber: '701984', department: 'Tours', manager: { value: 'm1', displayName: 'Boss' } },
  extra: { phoneNumbers: [{ value: '555-555-5555', type: 'work' }] },
  isAdmin: false,
  hasPassword: true,
  created: '2026-01-01T00:00:00.000Z',
  lastModified: '2026-01-02T00:00:00.000Z',
  version: 3,
};

describe('user mapping', () => {
  it('renders RFC 7643 §4.1 with the enterprise extension, no nulls, no password', () => {
    expect(userToScim(sample, BASE)).toEqual({
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
      id: 'u1',
      externalId: 'ext-1',
      userName: 'bjensen',
      name: { givenName: 'Barbara', familyName: 'Jensen' },
      displayName: 'Babs Jensen',
      title: 'Tour Guide',
      active: true,
      emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
      phoneNumbers: [{ value: '555-555-5555', type: 'work' }],
      [ENTERPRISE_USER_SCHEMA]: { employeeNumber: '701984', department: 'Tours', manager: { value: 'm1', $ref: `${BASE}/Users/m1`, displayName: 'Boss' } },
      meta: { resourceType: 'User', created: sample.created, lastModified: sample.lastModified, location: `${BASE}/Users/u1`, version: 'W/"3"' },
    });
  });

  it('round-trips its own representation', () => {
    const input = userInputFromScim(userToScim(sample, BASE), { requireSchemas: true });
    expect(input).toMatchObject({ userName: 'bjensen', externalId: 'ext-1', active: true, enterprise: { employeeNumber: '701984', manager: { value: 'm1' } }, extra: { phoneNumbers: sample.extra.phoneNumbers } });
  });

  it('matches attribute names case-insensitively and reads string booleans', () => {
    const input = userInputFromScim({ SCHEMAS: [USER_SCHEMA], USERNAME: 'x', Active: 'FALSE', Name: { GivenName: 'G' } }, { requireSchemas: true });
    expect([input.userName, input.active, input.name?.givenName]).toEqual(['x', false, 'G']);
  });

  it.each([
    ['an unknown attribute', { schemas: [USER_SCHEMA], userName: 'x', favouriteColour: 'blue' }, 'invalidSyntax'],
    ['an unknown sub-attribute', { schemas: [USER_SCHEMA], userName: 'x', name: { nick: 'y' } }, 'invalidSyntax'],
    ['a duplicate attribute', { schemas: [USER_SCHEMA], userName: 'x', USERNAME: 'y' }, 'invalidSyntax'],
    ['no userName', { schemas: [USER_SCHEMA] }, 'invalidValue'],
    ['a blank userName', { schemas: [USER_SCHEMA], userName: '  ' }, 'invalidValue'],
    ['a number userName', { schemas: [USER_SCHEMA], userName: 7 }, 'invalidValue'],
    ['emails not an array', { schemas: [USER_SCHEMA], userName: 'x', emails: 'a@b.c' }, 'invalidValue'],
    ['two primary emails', { schemas: [USER_SCHEMA], userName: 'x', emails: [{ value: 'a@b.c', primary: true }, { value: 'd@b.c', primary: true }] }, 'invalidValue'],
    ['active not boolean', { schemas: [USER_SCHEMA], userName: 'x', active: 'yes' }, 'invalidValue'],
    ['no schemas', { userName: 'x' }, 'invalidValue'],
    ['an unknown schema', { schemas: [USER_SCHEMA, 'urn:example:x'], userName: 'x' }, 'invalidValue'],
    ['an array body', [], 'invalidSyntax'],
  ])('refuses %s', (_label, body, scimType) => {
    expect(scimTypeOf(() => userInputFromScim(body, { requireSchemas: true }))).toBe(scimType);
  });
});

describe('filters and paging', () => {
  it.each(['userName eq', '((', '"', 'userName eq 1 or', 'emails[type eq "work"].value eq "x"', 'userName zz "a"'])('refuses the filter %s with invalidFilter', (f) => {
    expect(scimTypeOf(() => readListParams({ filter: f }))).toBe('invalidFilter');
  });

  it('reads startIndex and count per RFC 7644 §3.4.2.4', () => {
    expect(readListParams({})).toEqual({ startIndex: 1, count: 100, sortOrder: 'ascending' });
    expect(readListParams({ startIndex: '0', count: '-5' })).toEqual({ startIndex: 1, count: 0, sortOrder: 'ascending' });
    expect(readListParams({ startIndex: '11', count: '5000', sortBy: 'userName', sortOrder: 'Descending' })).toEqual({ startIndex: 11, count: 1000, sortBy: 'userName', sortOrder: 'descending' });
    expect(scimTypeOf(() => readListParams({ sortOrder: 'up' }))).toBe('invalidValue');
    expect(scimTypeOf(() => readListParams({ count: 'ten' }))).toBe('invalidValue');
    expect(scimTypeOf(() => readListParams({ startIndex: ['1', '2'] }))).toBe('invalidValue');
  });

  it('projects attributes and excludedAttributes', () => {
    const doc = userToScim(sample, BASE);
    const picked = project(doc, { attributes: ['userName,name.givenName'] }, USER_RESOURCE);
    expect(Object.keys(picked)).toEqual(['schemas', 'id', 'userName', 'name']);
    expect(picked.name).toEqual({ givenName: (doc.name as Record<string, unknown>).givenName });
    const ex = project(doc, { excludedAttributes: ['emails', `${ENTERPRISE_USER_SCHEMA}:manager`] }, USER_RESOURCE);
    expect([ex.emails, (ex[ENTERPRISE_USER_SCHEMA] as Record<string, unknown>).manager, ex.userName]).toEqual([undefined, undefined, 'bjensen']);
    expect(scimTypeOf(() => project(doc, { attributes: ['nope'] }, USER_RESOURCE))).toBe('invalidValue');
  });
});

describe('errors and ETags', () => {
  it('maps codes to SCIM status and scimType', () => {
    const m = (code: Parameters<typeof toScimError>[0]['code'], status: number, details?: Record<string, unknown>) => toScimError({ code, status, message: 'm', details, unexpected: false });
    expect(m('conflict', 409).body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '409', scimType: 'uniqueness', detail: 'm' });
    expect(m('invalid_input', 400, { scimType: 'invalidPath' }).body.scimType).toBe('invalidPath');
    expect(m('invalid_input', 400).body.scimType).toBe('invalidValue');
    expect([m('not_found', 404).status, m('precondition_failed', 412).status, m('unauthenticated', 401).status, m('forbidden', 403).status]).toEqual([404, 412, 401, 403]);
    expect(toScimError({ code: 'internal', status: 500, message: 'secret internals', unexpected: true }).body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '500', detail: 'An unexpected error occurred.' });
  });

  it('parses If-Match values', () => {
    expect(etagMatches(parseEtagCondition('W/"3"')!, 3)).toBe(true);
    expect(etagMatches(parseEtagCondition('"3"')!, 3)).toBe(true);
    expect(etagMatches(parseEtagCondition('W/"2", W/"4"')!, 3)).toBe(false);
    expect(etagMatches(parseEtagCondition('*')!, 9)).toBe(true);
    expect(etagMatches(parseEtagCondition('garbage')!, 3)).toBe(false);
    expect(parseEtagCondition(undefined)).toBeUndefined();
  });
});
