/**
 * The example requests and responses of RFC 7644 (protocol) and RFC 7643 (schema) that apply to
 * Gatehouse, replayed over HTTP on both backends. Ids, timestamps and ETags are the server's own;
 * everything else is checked as the RFC shows it. Where the RFC's example cannot apply as written
 * the test says why (e.g. RFC 7643 §8.2's password "t1meMa$heen" fails the NIST SP 800-63B-4
 * length rule, so a longer one is sent).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from '../support/backends.js';
import { BASE, ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, expectScimError, startScim, type ScimHarness } from './support.js';

const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const BULK_REQ = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RES = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

describeEachBackend('RFC 7644 / RFC 7643 examples', (backend) => {
  let h: ScimHarness;
  let bjensen: string;
  beforeAll(async () => {
    h = await startScim(backend);
  });
  afterAll(async () => h?.close());

  it('RFC 7644 §3.3: creates bjensen and answers 201 with Location, ETag and meta', async () => {
    const res = await h.call('POST', '/Users', {
      body: {
        schemas: [USER_SCHEMA],
        userName: 'bjensen',
        externalId: 'bjensen',
        name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
      },
    });
    expect(res.status).toBe(201);
    bjensen = res.body.id;
    expect(res.headers.location).toBe(`${BASE}/Users/${bjensen}`);
    expect(res.headers.etag).toBe(res.body.meta.version);
    expect(res.body).toMatchObject({
      schemas: [USER_SCHEMA],
      id: bjensen,
      externalId: 'bjensen',
      userName: 'bjensen',
      name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
      meta: { resourceType: 'User', location: `${BASE}/Users/${bjensen}` },
    });
    expect(res.body.meta.created).toBe(res.body.meta.lastModified);
  });

  it('RFC 7644 §3.4.1 and §3.14: retrieves a known resource with its ETag; If-None-Match answers 304', async () => {
    const res = await h.call('GET', `/Users/${bjensen}`);
    expect([res.status, res.headers.etag, res.body.userName]).toEqual([200, 'W/"1"', 'bjensen']);
    expect((await h.call('GET', `/Users/${bjensen}`, { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(304);
    expect((await h.call('GET', `/Users/${bjensen}`, { headers: { 'if-none-match': 'W/"7"' } })).status).toBe(200);
  });

  it('RFC 7644 §3.9: GET /Users/{id}?attributes=userName returns schemas, id and userName only', async () => {
    const res = await h.call('GET', `/Users/${bjensen}?attributes=userName`);
    expect(res.body).toEqual({ schemas: [USER_SCHEMA], id: bjensen, userName: 'bjensen' });
  });

  it('RFC 7644 §3.4.2.2: every example filter of Figure 2 is accepted and selects what it says', async () => {
    await h.call('POST', '/Users', {
      body: {
        schemas: [USER_SCHEMA, ENTERPRISE],
        userName: 'jsmith',
        title: 'Tour Guide',
        userType: 'Employee',
        name: { familyName: "O'Malley" },
        emails: [{ value: 'jsmith@example.com', type: 'work' }],
        ims: [{ value: 'jsmith@foo.com', type: 'xmpp' }],
        [ENTERPRISE]: { department: 'Tours' },
      },
    });
    const names = async (filter: string) => {
      const res = await h.call('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      expect(res.status, `${filter}: ${JSON.stringify(res.body)}`).toBe(200);
      return res.body.Resources.map((r: { userName: string }) => r.userName).sort();
    };
    const table: Array<[string, string[]]> = [
      ['userName eq "bjensen"', ['bjensen']],
      ['name.familyName co "O\'Malley"', ['jsmith']],
      ['userName sw "J"', ['jsmith']],
      ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', ['jsmith']],
      ['title pr', ['jsmith']],
      ['meta.lastModified gt "2011-05-13T04:42:34Z"', ['bjensen', 'jsmith']],
      ['meta.lastModified ge "2011-05-13T04:42:34Z"', ['bjensen', 'jsmith']],
      ['meta.lastModified lt "2011-05-13T04:42:34Z"', []],
      ['meta.lastModified le "2011-05-13T04:42:34Z"', []],
      ['title pr and userType eq "Employee"', ['jsmith']],
      ['title pr or userType eq "Intern"', ['jsmith']],
      ['schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', ['jsmith']],
      ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', ['jsmith']],
      ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', []],
      ['userType eq "Employee" and (emails.type eq "work")', ['jsmith']],
      ['userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', ['jsmith']],
      ['emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]', ['jsmith']],
    ];
    for (const [f, want] of table) expect(await names(f), f).toEqual(want);
  });

  it('RFC 7644 §3.4.2.4: pages with startIndex and count', async () => {
    const res = await h.call('GET', '/Users?startIndex=1&count=1');
    expect(res.body).toMatchObject({ schemas: [LIST], totalResults: 2, itemsPerPage: 1, startIndex: 1 });
    expect(res.body.Resources).toHaveLength(1);
  });

  it('RFC 7644 §3.4.3: POST /.search across resource types with attributes, filter, startIndex and count', async () => {
    await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: 'bsmith', displayName: 'Smith Barbara' } });
    await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Smiths' } });
    const res = await h.call('POST', '/.search', {
      body: { schemas: [SEARCH], attributes: ['displayName', 'userName'], filter: 'displayName sw "smith"', startIndex: 1, count: 10 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ schemas: [LIST], totalResults: 2, itemsPerPage: 2, startIndex: 1 });
    expect(res.body.Resources.map((r: Record<string, unknown>) => [r.displayName, r.userName])).toEqual([
      ['Smith Barbara', 'bsmith'],
      ['Smiths', undefined],
    ]);
    const users = await h.call('POST', '/Users/.search', { body: { schemas: [SEARCH], filter: 'userName sw "b"', sortBy: 'userName', sortOrder: 'descending', attributes: ['userName'] } });
    expect(users.body.Resources.map((r: { userName: string }) => r.userName)).toEqual(['bsmith', 'bjensen']);
    expectScimError(await h.call('POST', '/Users/.search', { body: { filter: 'userName pr' } }), 400, 'invalidSyntax');
  });

  it('RFC 7644 §3.5.1: replaces bjensen with PUT and If-Match; a stale If-Match is 412', async () => {
    const body = {
      schemas: [USER_SCHEMA],
      id: bjensen,
      userName: 'bjensen',
      externalId: 'bjensen',
      name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara', middleName: 'Jane' },
      roles: [],
      emails: [{ value: 'bjensen@example.com' }, { value: 'babs@jensen.org' }],
    };
    const res = await h.call('PUT', `/Users/${bjensen}`, { body, headers: { 'if-match': 'W/"1"' } });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe('W/"2"');
    expect(res.body).toMatchObject({ name: { middleName: 'Jane' }, emails: [{ value: 'bjensen@example.com' }, { value: 'babs@jensen.org' }] });
    expectScimError(await h.call('PUT', `/Users/${bjensen}`, { body, headers: { 'if-match': 'W/"1"' } }), 412);
  });

  it('RFC 7644 §3.5.2.1-3: the add, remove and replace examples on a group and a user', async () => {
    const g = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Tour Guides' } })).body.id;
    const jsmith = (await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq "jsmith"')}`)).body.Resources[0].id;
    // §3.5.2.1: add a member.
    let res = await h.call('PATCH', `/Groups/${g}`, {
      body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ display: 'Babs Jensen', $ref: `${BASE}/Users/${bjensen}`, value: bjensen }] }] },
    });
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([bjensen]);
    // §3.5.2.1: add without a path ("nickname" in that case).
    res = await h.call('PATCH', `/Users/${bjensen}`, {
      body: { schemas: [PATCH_OP], Operations: [{ op: 'add', value: { emails: [{ value: 'babs@jensen.org', type: 'home' }], nickname: 'Babs' } }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.nickName).toBe('Babs');
    expect(res.body.emails).toEqual([{ value: 'bjensen@example.com' }, { value: 'babs@jensen.org', type: 'home' }]);
    // §3.5.2.3: replace members.
    res = await h.call('PATCH', `/Groups/${g}`, {
      body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'members', value: [{ display: 'Babs Jensen', value: bjensen }, { display: 'James Smith', value: jsmith }] }] },
    });
    expect(res.body.members.map((m: { value: string }) => m.value).sort()).toEqual([bjensen, jsmith].sort());
    // §3.5.2.2: remove one member by value filter; the other stays.
    res = await h.call('PATCH', `/Groups/${g}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${bjensen}"]` }] } });
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([jsmith]);
    // §3.5.2.2: remove then add in one request.
    res = await h.call('PATCH', `/Groups/${g}`, {
      body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${jsmith}"]` }, { op: 'add', path: 'members', value: [{ value: bjensen }] }] },
    });
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([bjensen]);
    // §3.5.2.2: remove all members.
    res = await h.call('PATCH', `/Groups/${g}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members' }] } });
    expect(res.body.members).toEqual([]);
    // §3.5.2.2: remove emails by a value filter.
    res = await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'emails[type eq "home" and value ew "jensen.org"]' }] } });
    expect(res.body.emails).toEqual([{ value: 'bjensen@example.com' }]);
    // §3.5.2.3: replace an address through a filter, then one of its sub-attributes.
    await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'addresses', value: [{ type: 'work', locality: 'Old Town' }] }] } });
    res = await h.call('PATCH', `/Users/${bjensen}`, {
      body: {
        schemas: [PATCH_OP],
        Operations: [
          {
            op: 'replace',
            path: 'addresses[type eq "work"]',
            value: { type: 'work', streetAddress: '911 Universal City Plaza', locality: 'Hollywood', region: 'CA', postalCode: '91608', country: 'US', formatted: '911 Universal City Plaza\nHollywood, CA 91608 US', primary: true },
          },
        ],
      },
    });
    expect(res.body.addresses).toEqual([
      { type: 'work', streetAddress: '911 Universal City Plaza', locality: 'Hollywood', region: 'CA', postalCode: '91608', country: 'US', formatted: '911 Universal City Plaza\nHollywood, CA 91608 US', primary: true },
    ]);
    res = await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'addresses[type eq "work"].streetAddress', value: '1010 Broadway Ave' }] } });
    expect(res.body.addresses[0]).toMatchObject({ streetAddress: '1010 Broadway Ave', locality: 'Hollywood' });
    // §3.5.2.3: replace without a path.
    res = await h.call('PATCH', `/Users/${bjensen}`, {
      body: {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', value: { emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }, { value: 'babs@jensen.org', type: 'home' }], nickname: 'Babs' } }],
      },
    });
    expect(res.body.emails).toEqual([{ value: 'bjensen@example.com', type: 'work', primary: true }, { value: 'babs@jensen.org', type: 'home' }]);
  });

  it('RFC 7644 §3.7.2: Bulk creates a user and a group that refers to it by bulkId', async () => {
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK_REQ],
        failOnErrors: 1,
        Operations: [
          { method: 'POST', path: '/Users', bulkId: 'qwerty', data: { schemas: [USER_SCHEMA], userName: 'Alice' } },
          { method: 'POST', path: '/Groups', bulkId: 'ytrewq', data: { schemas: [GROUP_SCHEMA], displayName: 'Tour Guides 2', members: [{ type: 'User', value: 'bulkId:qwerty' }] } },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.schemas).toEqual([BULK_RES]);
    const [u, g] = res.body.Operations;
    expect(u).toMatchObject({ method: 'POST', bulkId: 'qwerty', status: '201', version: 'W/"1"' });
    expect(g).toMatchObject({ method: 'POST', bulkId: 'ytrewq', status: '201' });
    const group = await h.call('GET', g.location.slice(BASE.length));
    expect(group.body.members).toEqual([{ value: u.location.slice(u.location.lastIndexOf('/') + 1), $ref: u.location, type: 'User', display: 'Alice' }]);
  });

  it('RFC 7644 §3.7.1: circular bulkId references are answered 409 for each operation', async () => {
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK_REQ],
        Operations: [
          { method: 'POST', path: '/Groups', bulkId: 'qwerty', data: { schemas: [GROUP_SCHEMA], displayName: 'Group A', members: [{ type: 'Group', value: 'bulkId:ytrewq' }] } },
          { method: 'POST', path: '/Groups', bulkId: 'ytrewq', data: { schemas: [GROUP_SCHEMA], displayName: 'Group B', members: [{ type: 'Group', value: 'bulkId:qwerty' }] } },
        ],
      },
    });
    expect(res.body.Operations.map((o: { status: string; bulkId: string }) => [o.bulkId, o.status])).toEqual([
      ['qwerty', '409'],
      ['ytrewq', '409'],
    ]);
    expect(res.body.Operations[0].response).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'invalidValue' });
    expect((await h.call('GET', `/Groups?filter=${encodeURIComponent('displayName sw "Group "')}`)).body.totalResults).toBe(0);
  });

  it('RFC 7644 §3.7.3: PUT, PATCH and DELETE with version in Bulk; failOnErrors stops processing', async () => {
    const a = (await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: 'bulk-a' } })).body.id;
    const b = (await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: 'bulk-b' } })).body.id;
    const res = await h.call('POST', '/Bulk', {
      body: {
        schemas: [BULK_REQ],
        failOnErrors: 1,
        Operations: [
          { method: 'PUT', path: `/Users/${a}`, version: 'W/"1"', data: { schemas: [USER_SCHEMA], id: a, userName: 'bulk-a', displayName: 'A' } },
          { method: 'PATCH', path: `/Users/${b}`, version: 'W/"1"', data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'nickName', value: 'B' }] } },
          { method: 'DELETE', path: `/Users/${a}`, version: 'W/"1"' },
          { method: 'DELETE', path: `/Users/${b}` },
        ],
      },
    });
    expect(res.body.Operations.map((o: { method: string; status: string }) => [o.method, o.status])).toEqual([
      ['PUT', '200'],
      ['PATCH', '200'],
      ['DELETE', '412'],
    ]);
    expect(res.body.Operations[0]).toMatchObject({ location: `${BASE}/Users/${a}`, version: 'W/"2"' });
    expect(res.body.Operations[2].response).toMatchObject({ schemas: [ERROR], status: '412' });
    expect((await h.call('GET', `/Users/${b}`)).status).toBe(200);
  });

  it('RFC 7644 §3.7.3: more operations than maxOperations is 413', async () => {
    const ops = Array.from({ length: 1001 }, (_, i) => ({ method: 'DELETE', path: `/Users/x${i}` }));
    expectScimError(await h.call('POST', '/Bulk', { body: { schemas: [BULK_REQ], Operations: ops } }), 413);
  });

  it('RFC 7644 §3.6: deletes, then the resource is 404', async () => {
    const id = (await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: 'to-delete' } })).body.id;
    expect((await h.call('DELETE', `/Users/${id}`)).status).toBe(204);
    expectScimError(await h.call('GET', `/Users/${id}`), 404);
    expectScimError(await h.call('DELETE', `/Users/${id}`), 404);
  });

  it('RFC 7644 §3.12: errors carry the Error schema, status as a string, and scimType', async () => {
    const res = await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: 'bjensen' } });
    expect(res.body).toEqual({ schemas: [ERROR], status: '409', scimType: 'uniqueness', detail: res.body.detail });
    expectScimError(await h.call('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
    expectScimError(await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'id', value: 'x' }] } }), 400, 'mutability');
    expectScimError(await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'nope', value: 'x' }] } }), 400, 'invalidPath');
    expectScimError(await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove' }] } }), 400, 'noTarget');
    expectScimError(await h.call('GET', '/Users?count=1x'), 400, 'invalidValue');
  });

  it('RFC 7643 §8.1 and §8.2: a minimal user and a full user (password: see file comment), groups ignored on input', async () => {
    const min = await h.call('POST', '/Users', { body: { schemas: [USER_SCHEMA], userName: 'bjensen@example.com' } });
    expect(min.body).toEqual({ schemas: [USER_SCHEMA], id: min.body.id, userName: 'bjensen@example.com', active: true, meta: min.body.meta });
    const full = {
      schemas: [USER_SCHEMA],
      externalId: '701984',
      userName: 'bjensen-full@example.com',
      name: { formatted: 'Ms. Barbara J Jensen, III', familyName: 'Jensen', givenName: 'Barbara', middleName: 'Jane', honorificPrefix: 'Ms.', honorificSuffix: 'III' },
      displayName: 'Babs Jensen',
      nickName: 'Babs',
      profileUrl: 'https://login.example.com/bjensen',
      emails: [
        { value: 'bjensen-full@example.com', type: 'work', primary: true },
        { value: 'babs-full@jensen.org', type: 'home' },
      ],
      addresses: [
        { type: 'work', streetAddress: '100 Universal City Plaza', locality: 'Hollywood', region: 'CA', postalCode: '91608', country: 'USA', formatted: '100 Universal City Plaza\nHollywood, CA 91608 USA', primary: true },
        { type: 'home', streetAddress: '456 Hollywood Blvd', locality: 'Hollywood', region: 'CA', postalCode: '91608', country: 'USA', formatted: '456 Hollywood Blvd\nHollywood, CA 91608 USA' },
      ],
      phoneNumbers: [
        { value: '555-555-5555', type: 'work' },
        { value: '555-555-4444', type: 'mobile' },
      ],
      ims: [{ value: 'someaimhandle', type: 'aim' }],
      photos: [
        { value: 'https://photos.example.com/profilephoto/72930000000Ccne/F', type: 'photo' },
        { value: 'https://photos.example.com/profilephoto/72930000000Ccne/T', type: 'thumbnail' },
      ],
      userType: 'Employee',
      title: 'Tour Guide',
      preferredLanguage: 'en-US',
      locale: 'en-US',
      timezone: 'America/Los_Angeles',
      active: true,
      password: 't1meMa$heen and then some more',
      groups: [{ value: 'e9e30dba-f08f-4109-8486-d5c6a331660a', $ref: 'https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a', display: 'Tour Guides' }],
      x509Certificates: [{ value: 'MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx' }],
    };
    const res = await h.call('POST', '/Users', { body: full });
    expect(res.status).toBe(201);
    const { password: _p, groups: _g, ...expected } = full;
    expect(res.body).toEqual({ ...expected, id: res.body.id, meta: res.body.meta });
  });

  it('RFC 7643 §8.3: an enterprise user with a manager', async () => {
    const res = await h.call('POST', '/Users', {
      body: {
        schemas: [USER_SCHEMA, ENTERPRISE],
        userName: 'bjensen-ent@example.com',
        [ENTERPRISE]: { employeeNumber: '701984', costCenter: '4130', organization: 'Universal Studios', division: 'Theme Park', department: 'Tour Operations', manager: { value: bjensen, $ref: '../Users/26118915-6090-4610-87e4-49d8ca9f808d', displayName: 'John Smith' } },
      },
    });
    expect(res.body[ENTERPRISE]).toEqual({
      employeeNumber: '701984',
      costCenter: '4130',
      organization: 'Universal Studios',
      division: 'Theme Park',
      department: 'Tour Operations',
      manager: { value: bjensen, $ref: `${BASE}/Users/${bjensen}` },
    });
  });

  it('RFC 7643 §8.4 and §4.1.2: a group with members; members see it in their read-only groups attribute (direct and nested)', async () => {
    const tour = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'Tour Guides 84', members: [{ value: bjensen, $ref: `${BASE}/Users/${bjensen}`, display: 'Babs Jensen' }] } })).body;
    expect(tour).toMatchObject({ schemas: [GROUP_SCHEMA], displayName: 'Tour Guides 84', members: [{ value: bjensen, $ref: `${BASE}/Users/${bjensen}`, type: 'User', display: 'bjensen' }], meta: { resourceType: 'Group' } });
    const staff = (await h.call('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'All Staff', members: [{ value: tour.id, type: 'Group' }] } })).body;
    const user = await h.call('GET', `/Users/${bjensen}`);
    expect(user.body.groups.filter((g: { value: string }) => [tour.id, staff.id].includes(g.value))).toEqual([
      { value: staff.id, $ref: `${BASE}/Groups/${staff.id}`, display: 'All Staff', type: 'indirect' },
      { value: tour.id, $ref: `${BASE}/Groups/${tour.id}`, display: 'Tour Guides 84', type: 'direct' },
    ]);
    expect((await h.call('GET', `/Users/${bjensen}?excludedAttributes=groups`)).body.groups).toBeUndefined();
    expectScimError(await h.call('PATCH', `/Users/${bjensen}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'groups', value: [{ value: tour.id }] }] } }), 400, 'mutability');
  });

  it('RFC 7643 §8.5-§8.7: ServiceProviderConfig, ResourceTypes and Schemas', async () => {
    const spc = (await h.call('GET', '/ServiceProviderConfig')).body;
    expect(spc).toMatchObject({ patch: { supported: true }, bulk: { supported: true, maxOperations: 1000 }, filter: { supported: true, maxResults: 1000 }, changePassword: { supported: true }, sort: { supported: true }, etag: { supported: true } });
    const rts = (await h.call('GET', '/ResourceTypes')).body;
    expect(rts.Resources.map((r: { id: string; endpoint: string; schema: string }) => [r.id, r.endpoint, r.schema])).toEqual([
      ['User', '/Users', USER_SCHEMA],
      ['Group', '/Groups', GROUP_SCHEMA],
    ]);
    expect(rts.Resources[0].schemaExtensions).toEqual([{ schema: ENTERPRISE, required: false }]);
    const user = (await h.call('GET', `/Schemas/${USER_SCHEMA}`)).body;
    const userName = user.attributes.find((a: { name: string }) => a.name === 'userName');
    expect(userName).toMatchObject({ type: 'string', multiValued: false, required: true, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'server' });
    expect(user.attributes.find((a: { name: string }) => a.name === 'password')).toMatchObject({ mutability: 'writeOnly', returned: 'never' });
    expect(user.attributes.find((a: { name: string }) => a.name === 'groups')).toMatchObject({ mutability: 'readOnly', multiValued: true });
  });
});
