import { describe, expect, it } from 'vitest';
import { applyPatch, parsePath, readPatchRequest } from '../../src/scim/patch.js';
import { ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, PATCH_OP_SCHEMA, USER_RESOURCE } from '../../src/scim/schemas.js';
import { userInputFromScim } from '../../src/scim/user-mapping.js';
import { groupInputFromScim } from '../../src/scim/group-mapping.js';
import { isGatehouseError } from '../../src/kernel/errors.js';

const ops = (...o: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations: o });

function scimTypeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    if (isGatehouseError(err, 'invalid_input')) return err.details?.scimType;
    throw err;
  }
  return 'no error';
}

const user = () => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: 'u1',
  userName: 'bjensen',
  name: { givenName: 'Barbara', familyName: 'Jensen' },
  active: true,
  emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
  meta: { resourceType: 'User', version: 'W/"1"' },
});

const group = () => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  id: 'g1',
  displayName: 'Tour Guides',
  members: [
    { value: 'a', type: 'User', display: 'alice' },
    { value: 'b', type: 'User', display: 'bob' },
  ],
});

describe('readPatchRequest', () => {
  it('accepts capitalised op names (Microsoft Entra ID) and case-insensitive member names', () => {
    expect(readPatchRequest({ schemas: [PATCH_OP_SCHEMA], operations: [{ OP: 'Replace', Path: 'active', Value: 'False' }] })).toEqual([
      { op: 'replace', path: 'active', value: 'False' },
    ]);
    expect(readPatchRequest(ops({ op: 'Add', value: { a: 1 } }, { op: 'REMOVE', path: 'x' })).map((o) => o.op)).toEqual(['add', 'remove']);
  });

  it.each([
    ['not an object', [], 'invalidSyntax'],
    ['no schemas', { Operations: [{ op: 'add', value: {} }] }, 'invalidSyntax'],
    ['wrong schema', { schemas: ['urn:x'], Operations: [{ op: 'add', value: {} }] }, 'invalidSyntax'],
    ['no operations', { schemas: [PATCH_OP_SCHEMA], Operations: [] }, 'invalidSyntax'],
    ['unknown op', ops({ op: 'move', path: 'a', value: 1 }), 'invalidSyntax'],
    ['unknown member', ops({ op: 'add', path: 'a', value: 1, from: 'b' }), 'invalidSyntax'],
    ['unknown top-level member', { ...ops({ op: 'add', value: {} }), extra: 1 }, 'invalidSyntax'],
    ['add without value', ops({ op: 'add', path: 'title' }), 'invalidValue'],
    ['remove without path', ops({ op: 'remove' }), 'noTarget'],
    ['path not a string', ops({ op: 'replace', path: 3, value: 1 }), 'invalidPath'],
  ])('refuses %s', (_label, body, scimType) => {
    expect(scimTypeOf(() => readPatchRequest(body))).toBe(scimType);
  });
});

describe('parsePath', () => {
  it('resolves names case-insensitively, with URN prefixes, filters and sub-attributes', () => {
    const p = parsePath('NAME.GIVENNAME', USER_RESOURCE);
    expect(p.kind === 'attribute' && [p.attr.name, p.sub?.name, p.ext]).toEqual(['name', 'givenName', null]);
    const q = parsePath('urn:ietf:params:scim:schemas:core:2.0:User:userName', USER_RESOURCE);
    expect(q.kind === 'attribute' && q.attr.name).toBe('userName');
    const e = parsePath(`${ENTERPRISE_USER_SCHEMA}:manager.value`, USER_RESOURCE);
    expect(e.kind === 'attribute' && [e.ext, e.attr.name, e.sub?.name]).toEqual([ENTERPRISE_USER_SCHEMA, 'manager', 'value']);
    const f = parsePath('emails[type eq "work"].value', USER_RESOURCE);
    expect(f.kind === 'attribute' && [f.attr.name, f.filter, f.sub?.name]).toEqual(['emails', { op: 'eq', attrPath: 'type', compValue: 'work' }, 'value']);
    expect(parsePath(ENTERPRISE_USER_SCHEMA, USER_RESOURCE)).toEqual({ kind: 'extension', ext: ENTERPRISE_USER_SCHEMA });
  });

  it.each(['nickname2', 'name.nope', 'emails.value', 'userName[value eq "x"]', 'emails[nope eq "x"]', 'emails[type eq]', 'urn:example:ext:foo', 'members[value eq "a"]', 'a b'])(
    'refuses %s with invalidPath',
    (path) => {
      expect(scimTypeOf(() => parsePath(path, USER_RESOURCE))).toBe('invalidPath');
    },
  );
});

describe('applyPatch on users', () => {
  it('replaces active from the Entra string "False" and validates to false', () => {
    const out = applyPatch(user(), readPatchRequest(ops({ op: 'Replace', path: 'active', value: 'False' })), USER_RESOURCE);
    expect(userInputFromScim(out, { requireSchemas: false }).active).toBe(false);
  });

  it('changes neither the document nor the operations: applied twice, the same operations give the same result', () => {
    const doc = user();
    const docBefore = structuredClone(doc);
    const parsed = readPatchRequest(
      ops(
        { op: 'add', path: 'phoneNumbers', value: [{ value: '+1 555 0100', type: 'work' }] },
        { op: 'replace', path: 'phoneNumbers[type eq "work"].type', value: 'home' },
        { op: 'add', path: 'phoneNumbers[type eq "work"].value', value: '+1 555 0199' },
        { op: 'add', value: { emails: [{ value: 'x@example.com', type: 'work' }] } },
        { op: 'replace', path: 'emails[type eq "work"]', value: { value: 'z@example.com' } },
      ),
    );
    const opsBefore = structuredClone(parsed);
    const first = applyPatch(doc, parsed, USER_RESOURCE);
    expect(parsed).toEqual(opsBefore);
    expect(doc).toEqual(docBefore);
    expect(applyPatch(doc, parsed, USER_RESOURCE)).toEqual(first);
    expect(first.phoneNumbers).toEqual([
      { value: '+1 555 0100', type: 'home' },
      { value: '+1 555 0199', type: 'work' },
    ]);
  });

  it('applies a no-path replace whose object keys are paths (Okta and Entra shapes)', () => {
    const out = applyPatch(
      user(),
      readPatchRequest(
        ops(
          { op: 'replace', value: { id: 'u1', active: false, displayName: 'Babs', 'name.givenName': 'Barb' } },
          { op: 'Add', value: { [`${ENTERPRISE_USER_SCHEMA}:department`]: 'Tour Operations', [ENTERPRISE_USER_SCHEMA]: { employeeNumber: '701984' } } },
        ),
      ),
      USER_RESOURCE,
    );
    const input = userInputFromScim(out, { requireSchemas: false });
    expect(input).toMatchObject({ active: false, displayName: 'Babs', name: { givenName: 'Barb', familyName: 'Jensen' }, enterprise: { department: 'Tour Operations', employeeNumber: '701984' } });
  });

  it('creates and updates values through an eq filter, keeping one primary', () => {
    const out = applyPatch(
      user(),
      readPatchRequest(
        ops(
          { op: 'Add', path: 'emails[type eq "home"].value', value: 'babs@home.example' },
          { op: 'replace', path: 'emails[type eq "home"].primary', value: true },
          { op: 'replace', path: 'emails[type eq "work"].value', value: 'barbara@example.com' },
        ),
      ),
      USER_RESOURCE,
    );
    expect(userInputFromScim(out, { requireSchemas: false }).emails).toEqual([
      { value: 'barbara@example.com', type: 'work', primary: false, display: null },
      { value: 'babs@home.example', type: 'home', primary: true, display: null },
    ]);
  });

  it('accepts a bare string for manager (Entra) and removes attributes', () => {
    const out = applyPatch(
      user(),
      readPatchRequest(ops({ op: 'Replace', path: `${ENTERPRISE_USER_SCHEMA}:manager`, value: 'm-1' }, { op: 'remove', path: 'name.familyName' }, { op: 'remove', path: 'emails[type eq "work"]' })),
      USER_RESOURCE,
    );
    const input = userInputFromScim(out, { requireSchemas: false });
    expect([input.enterprise?.manager, input.name?.familyName, input.emails]).toEqual([{ value: 'm-1' }, null, []]);
  });

  it.each([
    ['a read-only attribute', { op: 'replace', path: 'id', value: 'x' }, 'mutability'],
    ['a different id in a no-path value', { op: 'replace', value: { id: 'other' } }, 'mutability'],
    ['an unknown attribute in a no-path value', { op: 'replace', value: { favouriteColour: 'blue' } }, 'invalidPath'],
    ['a non-eq filter with no match', { op: 'replace', path: 'emails[value co "nothing"].type', value: 'x' }, 'noTarget'],
    ['a no-path op with a non-object value', { op: 'add', value: 'x' }, 'invalidValue'],
    ['a sub-attribute of a simple attribute', { op: 'replace', path: 'title.x', value: 'x' }, 'invalidPath'],
  ])('refuses %s', (_label, op, scimType) => {
    expect(scimTypeOf(() => applyPatch(user(), readPatchRequest(ops(op)), USER_RESOURCE))).toBe(scimType);
  });

  it('finds a wrong type when the result is validated (nothing is applied until then)', () => {
    const out = applyPatch(user(), readPatchRequest(ops({ op: 'replace', path: 'active', value: 'maybe' })), USER_RESOURCE);
    expect(scimTypeOf(() => userInputFromScim(out, { requireSchemas: false }))).toBe('invalidValue');
    const noName = applyPatch(user(), readPatchRequest(ops({ op: 'remove', path: 'userName' })), USER_RESOURCE);
    expect(scimTypeOf(() => userInputFromScim(noName, { requireSchemas: false }))).toBe('invalidValue');
  });

  it('does not modify the document it was given', () => {
    const doc = user();
    applyPatch(doc, readPatchRequest(ops({ op: 'replace', path: 'name.givenName', value: 'X' })), USER_RESOURCE);
    expect(doc.name.givenName).toBe('Barbara');
  });
});

describe('applyPatch on groups', () => {
  const members = (doc: Record<string, unknown>) => groupInputFromScim(doc, { requireSchemas: false }).members.map((m) => m.value);

  it('adds members without duplicating existing ones (RFC 7644 §3.5.2.1)', () => {
    const out = applyPatch(group(), readPatchRequest(ops({ op: 'add', path: 'members', value: [{ value: 'b' }, { value: 'c' }, { value: 'c' }] })), GROUP_RESOURCE);
    expect(members(out)).toEqual(['a', 'b', 'c']);
  });

  it('removes one member by filter, leaving the others (RFC 7644 §3.5.2.2)', () => {
    const out = applyPatch(group(), readPatchRequest(ops({ op: 'remove', path: 'members[value eq "a"]' })), GROUP_RESOURCE);
    expect(members(out)).toEqual(['b']);
  });

  it('removes the members listed in a value array (Entra shape) and renames', () => {
    const out = applyPatch(
      group(),
      readPatchRequest(ops({ op: 'Remove', path: 'members', value: [{ value: 'b' }, { value: 'zzz' }] }, { op: 'Replace', path: 'displayName', value: 'Guides' })),
      GROUP_RESOURCE,
    );
    expect([members(out), out.displayName]).toEqual([['a'], 'Guides']);
  });

  it('removes every member when path is members and there is no value', () => {
    const out = applyPatch(group(), readPatchRequest(ops({ op: 'remove', path: 'members' })), GROUP_RESOURCE);
    expect(members(out)).toEqual([]);
  });

  it('refuses a remove value without "value" entries', () => {
    expect(scimTypeOf(() => applyPatch(group(), readPatchRequest(ops({ op: 'remove', path: 'members', value: [{ display: 'x' }] })), GROUP_RESOURCE))).toBe('invalidValue');
  });
});
