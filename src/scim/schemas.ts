/**
 * SCIM 2.0 schema definitions (RFC 7643 §2.2, §4, §7): the attributes Gatehouse supports on
 * Users (core + enterprise extension) and Groups, with their characteristics. The same
 * definitions drive request validation ({@link ./resource.ts}), PATCH path resolution
 * ({@link ./patch.ts}) and the `/Schemas` discovery endpoint, so what is announced is what is
 * enforced.
 */

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Attribute characteristics (RFC 7643 §2.2, §7). */
export interface AttributeDef {
  name: string;
  type: 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'never' | 'default' | 'request';
  uniqueness: 'none' | 'server' | 'global';
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: AttributeDef[];
}

/** A schema (RFC 7643 §7). */
export interface SchemaDef {
  id: string;
  name: string;
  description: string;
  attributes: AttributeDef[];
}

type AttrOpts = Partial<Omit<AttributeDef, 'name' | 'type' | 'description'>>;

function attr(name: string, type: AttributeDef['type'], description: string, opts: AttrOpts = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...opts,
  };
}

/** Sub-attributes shared by the plain multi-valued attributes (RFC 7643 §2.4). */
function multi(name: string, description: string, valueType: AttributeDef['type'] = 'string', extra: AttributeDef[] = []): AttributeDef {
  return attr(name, 'complex', description, {
    multiValued: true,
    subAttributes: [
      attr('value', valueType, `The ${name} value.`),
      attr('display', 'string', 'A human-readable name, primarily used for display purposes.'),
      attr('type', 'string', 'A label indicating the function of the value.'),
      attr('primary', 'boolean', 'Whether this is the primary value; at most one value may be primary.'),
      ...extra,
    ],
  });
}

/** Core User schema (RFC 7643 §4.1), the attributes Gatehouse stores, plus the readOnly `groups`. */
export const USER_SCHEMA_DEF: SchemaDef = {
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    attr('userName', 'string', 'Unique identifier for the User, used to sign in. Compared case-insensitively (Unicode NFC and case folding).', {
      required: true,
      uniqueness: 'server',
    }),
    attr('name', 'complex', "The components of the user's real name.", {
      subAttributes: [
        attr('formatted', 'string', 'The full name, formatted for display.'),
        attr('familyName', 'string', 'The family name (last name).'),
        attr('givenName', 'string', 'The given name (first name).'),
        attr('middleName', 'string', 'The middle name(s).'),
        attr('honorificPrefix', 'string', 'The honorific prefix(es), e.g. Ms.'),
        attr('honorificSuffix', 'string', 'The honorific suffix(es), e.g. III.'),
      ],
    }),
    attr('displayName', 'string', 'The name of the User, suitable for display to end-users.'),
    attr('nickName', 'string', 'The casual way to address the user.'),
    attr('profileUrl', 'reference', "A URI of the user's online profile.", { referenceTypes: ['external'] }),
    attr('title', 'string', "The user's title, such as 'Vice President'."),
    attr('userType', 'string', 'The relationship between the organization and the user, e.g. Employee, Contractor.'),
    attr('preferredLanguage', 'string', "The user's preferred written or spoken language (RFC 7231 Accept-Language format)."),
    attr('locale', 'string', "The user's default location for localisation (e.g. en-US)."),
    attr('timezone', 'string', "The user's time zone in IANA Time Zone database format, e.g. Europe/Paris."),
    attr('active', 'boolean', "The user's administrative status. false deactivates the user and deprovisions its access."),
    attr('password', 'string', 'The initial password (only at creation). Never returned.', { mutability: 'writeOnly', returned: 'never' }),
    multi('emails', 'Email addresses for the user. Unique (case-insensitively) across users.', 'string'),
    multi('phoneNumbers', 'Phone numbers for the user.'),
    multi('ims', 'Instant messaging addresses for the user.'),
    multi('photos', 'URLs of photos of the user.', 'reference'),
    attr('addresses', 'complex', 'A physical mailing address for this user.', {
      multiValued: true,
      subAttributes: [
        attr('formatted', 'string', 'The full mailing address, formatted for display.'),
        attr('streetAddress', 'string', 'The full street address component.'),
        attr('locality', 'string', 'The city or locality component.'),
        attr('region', 'string', 'The state or region component.'),
        attr('postalCode', 'string', 'The zip code or postal code component.'),
        attr('country', 'string', 'The country name component (ISO 3166-1 alpha-2).'),
        attr('type', 'string', 'A label indicating the function of the address, e.g. work or home.'),
        attr('primary', 'boolean', 'Whether this is the primary address.'),
      ],
    }),
    attr('groups', 'complex', 'The groups the user belongs to, directly or through nested groups. Read-only: change memberships through /Groups.', {
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [
        attr('value', 'string', 'The id of the Group.', { mutability: 'readOnly', caseExact: true }),
        attr('$ref', 'reference', 'The URI of the Group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
        attr('display', 'string', 'The displayName of the Group.', { mutability: 'readOnly' }),
        attr('type', 'string', 'direct, or indirect (through a nested group).', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
      ],
    }),
    multi('entitlements', 'A list of entitlements for the user (kept as given; not used for authorization).'),
    multi('roles', 'A list of roles for the user (kept as given; Gatehouse roles are managed through the admin API).'),
    multi('x509Certificates', 'A list of certificates issued to the user.', 'binary'),
  ],
};

/** Enterprise User extension (RFC 7643 §4.3). */
export const ENTERPRISE_USER_SCHEMA_DEF: SchemaDef = {
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    attr('employeeNumber', 'string', 'Numeric or alphanumeric identifier assigned to a person by the organization.'),
    attr('costCenter', 'string', 'Identifies the name of a cost center.'),
    attr('organization', 'string', 'Identifies the name of an organization.'),
    attr('division', 'string', 'Identifies the name of a division.'),
    attr('department', 'string', 'Identifies the name of a department.'),
    attr('manager', 'complex', "The user's manager.", {
      subAttributes: [
        attr('value', 'string', 'The id of the SCIM resource representing the manager.'),
        attr('$ref', 'reference', 'The URI of the SCIM resource representing the manager.', { referenceTypes: ['User'], mutability: 'readOnly' }),
        attr('displayName', 'string', 'The displayName of the manager.', { mutability: 'readOnly' }),
      ],
    }),
  ],
};

/** Core Group schema (RFC 7643 §4.2). */
export const GROUP_SCHEMA_DEF: SchemaDef = {
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    attr('displayName', 'string', 'A human-readable name for the Group. Unique (case-insensitively).', { required: true, uniqueness: 'server' }),
    attr('members', 'complex', 'A list of members of the Group (users and groups).', {
      multiValued: true,
      subAttributes: [
        attr('value', 'string', 'Identifier of the member of this Group.', { mutability: 'immutable', caseExact: true }),
        attr('$ref', 'reference', 'The URI of the member resource.', { mutability: 'immutable', referenceTypes: ['User', 'Group'] }),
        attr('display', 'string', 'The userName of a member user or the displayName of a member group.', { mutability: 'readOnly' }),
        attr('type', 'string', 'The type of the member.', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
      ],
    }),
  ],
};

/** A resource type (RFC 7643 §6): its core schema and extensions. */
export interface ResourceTypeDef {
  id: 'User' | 'Group';
  /** Extensions declared in configuration (stored in the resource's `extra` JSON under their URN). */
  customExtensions?: string[];
  name: string;
  endpoint: string;
  description: string;
  schema: SchemaDef;
  extensions: Array<{ schema: SchemaDef; required: boolean }>;
}

export const USER_RESOURCE: ResourceTypeDef = {
  id: 'User',
  name: 'User',
  endpoint: '/Users',
  description: 'User Account',
  schema: USER_SCHEMA_DEF,
  extensions: [{ schema: ENTERPRISE_USER_SCHEMA_DEF, required: false }],
};

export const GROUP_RESOURCE: ResourceTypeDef = {
  id: 'Group',
  name: 'Group',
  endpoint: '/Groups',
  description: 'Group',
  schema: GROUP_SCHEMA_DEF,
  extensions: [],
};

export const RESOURCE_TYPES: ResourceTypeDef[] = [USER_RESOURCE, GROUP_RESOURCE];
export const ALL_SCHEMAS: SchemaDef[] = [USER_SCHEMA_DEF, ENTERPRISE_USER_SCHEMA_DEF, GROUP_SCHEMA_DEF];

/** Common attributes (RFC 7643 §3.1) as attribute definitions, for paths, filters and sorting. */
export const COMMON_ATTRIBUTES: AttributeDef[] = [
  attr('schemas', 'reference', 'The schema URNs the resource carries.', { multiValued: true, caseExact: false, mutability: 'readOnly', returned: 'always' }),
  attr('id', 'string', 'Unique identifier assigned by Gatehouse (UUIDv7).', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  attr('externalId', 'string', 'Identifier assigned by the provisioning client.', { caseExact: true }),
  attr('meta', 'complex', 'Resource metadata.', {
    mutability: 'readOnly',
    subAttributes: [
      attr('resourceType', 'string', 'User or Group.', { caseExact: true, mutability: 'readOnly' }),
      attr('created', 'dateTime', 'When the resource was created.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource last changed.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'The URI of the resource.', { caseExact: true, mutability: 'readOnly' }),
      attr('version', 'string', 'The ETag of the resource.', { caseExact: true, mutability: 'readOnly' }),
    ],
  }),
];

/** The attribute of `list` named `name`, compared case-insensitively (RFC 7643 §2.1). */
export function findAttribute(list: readonly AttributeDef[], name: string): AttributeDef | undefined {
  const n = name.toLowerCase();
  return list.find((a) => a.name.toLowerCase() === n);
}
