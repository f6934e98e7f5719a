/**
 * The filter test table (issue 4 evidence): each operator on each attribute type, case rules,
 * grouping, `not`, value filters, URN-qualified names, multi-valued attributes in tables and in
 * JSON, nested group membership — one table, run over HTTP on SQLite and on PostgreSQL with the
 * same expected results, so the backends cannot silently disagree.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { ENTERPRISE, GROUP_SCHEMA, expectScimError, startScim, userBody, type ScimHarness } from './support.js';

const E = ENTERPRISE;

/** [filter, the userNames it selects (sorted)] */
const USER_ROWS: Array<[string, string[]]> = [
  ['userName eq "BJENSEN"', ['bjensen']],
  ['userName eq "STRASSE"', ['straße']],
  ['userName co "SMI"', ['JSmith']],
  ['userName sw "j"', ['JSmith']],
  ['userName ew "LEY"', ['omalley']],
  ['userName ne "bjensen"', ['JSmith', 'omalley', 'straße']],
  ['userName gt "n"', ['omalley', 'straße']],
  ['userName le "jsmith"', ['JSmith', 'bjensen']],
  ['externalId eq "ext-bj"', ['bjensen']],
  ['externalId eq "EXT-BJ"', []],
  ['externalId co "-"', ['JSmith', 'bjensen']],
  ['title eq "tour guide"', ['bjensen', 'omalley']],
  ['title pr', ['bjensen', 'omalley']],
  ['not (title pr)', ['JSmith', 'straße']],
  ['title ne "Tour Guide"', []],
  ['not (title eq "Tour Guide")', ['JSmith', 'straße']],
  ['title eq null', ['JSmith', 'straße']],
  ['nickName eq "Ünï"', ['straße']],
  ['nickName eq "ünï"', []],
  ['displayName co "john"', ['JSmith']],
  ['active eq true', ['bjensen', 'omalley', 'straße']],
  ['active eq false', ['JSmith']],
  ['active eq "False"', ['JSmith']],
  ['active ne true', ['JSmith']],
  ['emails co "example.com"', ['JSmith', 'bjensen']],
  ['emails.value ew ".ORG"', ['bjensen', 'omalley']],
  ['emails[type eq "work" and value co "@example.com"]', ['JSmith', 'bjensen']],
  ['emails[type eq "WORK" and value co "@EXAMPLE.COM"]', ['JSmith', 'bjensen']],
  ['emails[type eq "home"]', ['bjensen']],
  ['emails[type eq "work" and not (value co "example.com")]', ['omalley']],
  ['emails[type eq "home" or primary eq true]', ['bjensen']],
  ['emails pr', ['JSmith', 'bjensen', 'omalley']],
  ['not (emails pr)', ['straße']],
  ['emails.primary eq true', ['bjensen']],
  ['emails.type eq "home" and emails.value co "jensen"', ['bjensen']],
  // A substring of 3+ characters that every matching element must satisfy is answered from the trigram index; elsewhere it is not.
  ['emails[value sw "JOHN@" and type eq "work"]', ['JSmith']],
  ['emails[value ew ".ORG"]', ['bjensen', 'omalley']],
  ['emails[value co "jensen" or type eq "work"]', ['JSmith', 'bjensen', 'omalley']],
  ['emails[not (value co "example") and type eq "home"]', ['bjensen']],
  ['emails[type eq "work" and (value co "@example.com" or value co "@nowhere.")]', ['JSmith', 'bjensen']],
  ['emails co "E.COM"', ['JSmith', 'bjensen']],
  ['emails co ".c"', ['JSmith', 'bjensen']],
  ['name.familyName co "O\'Malley"', ['omalley']],
  ['name.familyName sw "jen"', ['bjensen']],
  ['name pr', ['bjensen', 'omalley']],
  [`${E}:employeeNumber eq "701984"`, ['bjensen']],
  [`${E}:department eq "tour operations"`, ['bjensen']],
  ['department eq "Tour Operations"', ['bjensen']],
  [`${E}:manager.value pr`, ['JSmith']],
  ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b"', ['bjensen']],
  ['URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME SW "B"', ['bjensen']],
  ['meta.lastModified gt "2011-05-13T04:42:34Z"', ['JSmith', 'bjensen', 'omalley', 'straße']],
  ['meta.created lt "2011-05-13T04:42:34Z"', []],
  ['meta.resourceType eq "User"', ['JSmith', 'bjensen', 'omalley', 'straße']],
  ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', ['bjensen', 'omalley']],
  ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', []],
  ['userType eq "Employee" or userType eq "Contractor"', ['JSmith', 'bjensen', 'omalley']],
  ['userType eq "Employee" or userType eq "Contractor" and active eq true', ['bjensen', 'omalley']],
  ['(userType eq "Employee" or userType eq "Contractor") and active eq false', ['JSmith']],
  ['phoneNumbers[type eq "work" and value co "555"]', ['bjensen']],
  ['phoneNumbers.value sw "555"', ['bjensen']],
  ['addresses[locality eq "paris"]', ['JSmith']],
  ['addresses.locality pr', ['JSmith']],
  ['groups.display eq "tour guides"', ['bjensen', 'omalley']],
  ['groups.display eq "Staff"', ['bjensen', 'omalley']],
  ['groups.display eq "Empty"', []],
  ['groups pr', ['bjensen', 'omalley']],
  ['id eq "nope"', []],
  ['userName EQ "bjensen" AND NOT (active EQ FALSE)', ['bjensen']],
];

const USER_ERRORS: string[] = [
  'password eq "x"',
  'title gt 5',
  'emails[type eq "work"].value eq "x"',
  'foo eq "x"',
  'name co "x"',
  'active co "t"',
  'active gt true',
  'meta.created gt "yesterday"',
  'urn:example:nope:name eq "x"',
  'emails[display[value eq "x"]]',
  'groups.type eq "direct"',
];

/** [filter, the displayNames it selects (sorted)] */
const GROUP_ROWS: Array<[string, string[]]> = [
  ['displayName eq "tour guides"', ['Tour Guides']],
  ['displayName sw "E"', ['Empty']],
  ['members.display eq "BJENSEN"', ['Tour Guides']],
  ['members[type eq "Group"]', ['Staff']],
  ['members[type eq "user" and display co "malley"]', ['Tour Guides']],
  ['members pr', ['Staff', 'Tour Guides']],
  ['not (members pr)', ['Empty']],
  ['meta.resourceType eq "Group"', ['Empty', 'Staff', 'Tour Guides']],
  ['externalId eq "g-1"', ['Tour Guides']],
];

describeEachBackend('SCIM filter table', (backend) => {
  let h: ScimHarness;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    h = await startScim(backend);
    const create = async (body: Record<string, unknown>) => {
      const res = await h.call('POST', '/Users', { body });
      expect(res.status).toBe(201);
      ids[body.userName as string] = res.body.id;
    };
    await create(
      userBody('bjensen', {
        externalId: 'ext-bj',
        name: { givenName: 'Barbara', familyName: 'Jensen' },
        title: 'Tour Guide',
        userType: 'Employee',
        emails: [
          { value: 'bjensen@example.com', type: 'work', primary: true },
          { value: 'babs@jensen.org', type: 'home' },
        ],
        phoneNumbers: [{ value: '555-555-8377', type: 'work' }],
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', E],
        [E]: { employeeNumber: '701984', department: 'Tour Operations' },
      }),
    );
    await create(
      userBody('JSmith', {
        externalId: 'ext-js',
        displayName: 'John Smith',
        userType: 'Contractor',
        active: false,
        emails: [{ value: 'john@EXAMPLE.com', type: 'work' }],
        addresses: [{ locality: 'Paris', type: 'work' }],
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', E],
        [E]: { manager: { value: 'someone' } },
      }),
    );
    await create(userBody('straße', { nickName: 'Ünï' }));
    await create(
      userBody('omalley', { name: { familyName: "O'Malley" }, title: 'tour guide', userType: 'Employee', emails: [{ value: 'omalley@example.org', type: 'work' }] }),
    );
    const group = async (displayName: string, members: Array<{ value: string; type: string }>, externalId?: string) => {
      const res = await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName, members, ...(externalId ? { externalId } : {}) } });
      expect(res.status).toBe(201);
      ids[displayName] = res.body.id;
    };
    await group('Tour Guides', [{ value: ids.bjensen!, type: 'User' }, { value: ids.omalley!, type: 'User' }], 'g-1');
    await group('Staff', [{ value: ids['Tour Guides']!, type: 'Group' }]);
    await group('Empty', []);
  });
  afterAll(async () => h?.close());

  const users = async (filter: string) => {
    const res = await h.call('GET', `/Users?filter=${encodeURIComponent(filter)}&attributes=userName`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.totalResults).toBe(res.body.Resources.length);
    return res.body.Resources.map((r: { userName: string }) => r.userName).sort();
  };

  it.each(USER_ROWS)('Users %s', async (filter, expected) => {
    expect(await users(filter)).toEqual([...expected].sort());
  });

  it.each(USER_ERRORS)('Users %s is invalidFilter', async (filter) => {
    expectScimError(await h.call('GET', `/Users?filter=${encodeURIComponent(filter)}`), 400, 'invalidFilter');
  });

  it.each(GROUP_ROWS)('Groups %s', async (filter, expected) => {
    const res = await h.call('GET', `/Groups?filter=${encodeURIComponent(filter)}&attributes=displayName`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.Resources.map((r: { displayName: string }) => r.displayName).sort()).toEqual([...expected].sort());
  });

  it('filters on ids: User id, groups.value (nested), members.value', async () => {
    expect(await users(`id eq "${ids.omalley}"`)).toEqual(['omalley']);
    expect(await users(`groups.value eq "${ids.Staff}"`)).toEqual(['bjensen', 'omalley']);
    expect(await users(`groups[value eq "${ids['Tour Guides']}" and display sw "tour"]`)).toEqual(['bjensen', 'omalley']);
    const res = await h.call('GET', `/Groups?filter=${encodeURIComponent(`members.value eq "${ids.bjensen}"`)}`);
    expect(res.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['Tour Guides']);
    // An id is caseExact.
    expect(await users(`id eq "${ids.omalley!.toUpperCase()}"`)).toEqual([]);
  });

  it('sorts by sortBy / sortOrder (RFC 7644 §3.4.2.3): case-insensitive, unassigned last, multi-valued by primary value', async () => {
    const order = async (q: string) => (await h.call('GET', `/Users?${q}&attributes=userName`)).body.Resources.map((r: { userName: string }) => r.userName);
    expect(await order('sortBy=userName')).toEqual(['bjensen', 'JSmith', 'omalley', 'straße']);
    expect(await order('sortBy=userName&sortOrder=descending')).toEqual(['straße', 'omalley', 'JSmith', 'bjensen']);
    expect(await order('sortBy=title')).toEqual(['bjensen', 'omalley', 'JSmith', 'straße']);
    expect(await order('sortBy=title&sortOrder=descending')).toEqual(['bjensen', 'omalley', 'JSmith', 'straße']);
    expect(await order('sortBy=emails&filter=emails%20pr')).toEqual(['bjensen', 'JSmith', 'omalley']);
    expect(await order(`sortBy=${encodeURIComponent(`${E}:employeeNumber`)}`)).toEqual(['bjensen', 'JSmith', 'straße', 'omalley']);
    expect(await order('sortBy=name.familyName&count=2')).toEqual(['bjensen', 'omalley']);
    expect(await order('sortBy=meta.created&startIndex=4')).toEqual(['omalley']);
    expectScimError(await h.call('GET', '/Users?sortBy=password'), 400, 'invalidValue');
    expectScimError(await h.call('GET', '/Users?sortBy=nope'), 400, 'invalidValue');
  });

  it('POST /.search sorts Users and Groups together by sortBy / sortOrder (RFC 7644 §3.4.3)', async () => {
    const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
    const search = async (body: Record<string, unknown>) => {
      const res = await h.call('POST', '/.search', { body: { schemas: [SEARCH], attributes: ['userName', 'displayName'], ...body } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return { total: res.body.totalResults, names: res.body.Resources.map((r: { userName?: string; displayName?: string }) => r.userName ?? r.displayName) };
    };
    // displayName: Users and Groups both have it (case-insensitive; JSmith's is "John Smith"); users without one sort last in both orders.
    expect(await search({ sortBy: 'displayName' })).toEqual({ total: 7, names: ['Empty', 'JSmith', 'Staff', 'Tour Guides', 'bjensen', 'straße', 'omalley'] });
    expect(await search({ sortBy: 'displayName', sortOrder: 'descending' })).toEqual({ total: 7, names: ['Tour Guides', 'Staff', 'JSmith', 'Empty', 'bjensen', 'straße', 'omalley'] });
    // userName: Groups do not have it, so they come after the users, oldest first.
    expect(await search({ sortBy: 'userName', sortOrder: 'descending', startIndex: 3, count: 3 })).toEqual({ total: 7, names: ['JSmith', 'bjensen', 'Tour Guides'] });
    expect(await search({ sortBy: 'externalId', filter: 'externalId pr' })).toEqual({ total: 3, names: ['bjensen', 'JSmith', 'Tour Guides'] });
    // members is a Group attribute: the filter selects no user.
    expect(await search({ sortBy: 'displayName', sortOrder: 'descending', filter: 'members pr' })).toEqual({ total: 2, names: ['Tour Guides', 'Staff'] });
    expect(await search({ filter: 'meta.resourceType pr', count: 0 })).toEqual({ total: 7, names: [] });
    // An attribute one type lacks is unassigned for it, under `or`, `and` and `not` alike (F10).
    expect(await search({ sortBy: 'displayName', filter: 'emails co "jensen" or displayName sw "T"' })).toEqual({ total: 2, names: ['Tour Guides', 'bjensen'] });
    expect(await search({ sortBy: 'displayName', filter: 'members pr or userName eq "omalley"' })).toEqual({ total: 3, names: ['Staff', 'Tour Guides', 'omalley'] });
    expect(await search({ sortBy: 'displayName', filter: 'not (userName pr) and displayName sw "T"' })).toEqual({ total: 1, names: ['Tour Guides'] });
    expectScimError(await h.call('POST', '/.search', { body: { schemas: [SEARCH], filter: 'nope pr or userName pr' } }), 400, 'invalidFilter');
    expectScimError(await h.call('POST', '/.search', { body: { schemas: [SEARCH], sortBy: 'nope' } }), 400, 'invalidValue');
    expectScimError(await h.call('POST', '/.search', { body: { schemas: [SEARCH], sortBy: 'password' } }), 400, 'invalidValue');
  });

  it('pages a filtered, sorted list with a correct totalResults', async () => {
    const res = await h.call('GET', `/Users?filter=${encodeURIComponent('userName ne "x"')}&sortBy=userName&startIndex=2&count=2&attributes=userName`);
    expect(res.body).toMatchObject({ totalResults: 4, itemsPerPage: 2, startIndex: 2 });
    expect(res.body.Resources.map((r: { userName: string }) => r.userName)).toEqual(['JSmith', 'omalley']);
    const last = await h.call('GET', `/Users?filter=${encodeURIComponent('userName ne "x"')}&sortBy=userName&startIndex=3&count=3&attributes=userName`);
    expect(last.body).toMatchObject({ totalResults: 4, itemsPerPage: 2, startIndex: 3 });
    const full = await h.call('GET', `/Users?filter=${encodeURIComponent('emails co "example"')}&count=2&attributes=userName`);
    expect(full.body).toMatchObject({ totalResults: 3, itemsPerPage: 2, startIndex: 1 });
    const past = await h.call('GET', `/Users?filter=${encodeURIComponent('userName ne "x"')}&startIndex=10`);
    expect(past.body).toMatchObject({ totalResults: 4, itemsPerPage: 0, startIndex: 10, Resources: [] });
    const none = await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq "x"')}&count=0`);
    expect(none.body).toMatchObject({ totalResults: 0, itemsPerPage: 0 });
  });
});
