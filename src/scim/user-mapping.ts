/**
 * Maps between Gatehouse users and SCIM User resources (RFC 7643 §4.1, enterprise extension §4.3).
 * Transport-free: the HTTP adapter passes the base URL used for `meta.location` and `$ref`.
 */
import type { Email, EnterpriseAttributes, PersonName, User, UserInput } from '../identity/types.js';
import { scimInvalid } from './errors.js';
import { etagOf } from './etag.js';
import { customExtensionsFromScim, customExtensionsToScim } from './extensions.js';
import { readResource, type ScimDoc } from './resource.js';
import { ENTERPRISE_USER_SCHEMA, USER_RESOURCE, USER_SCHEMA, type ResourceTypeDef } from './schemas.js';

/** A group in the User `groups` attribute (RFC 7643 §4.1.2). */
export interface UserGroupView {
  id: string;
  displayName: string;
  type: 'direct' | 'indirect';
}

/** What {@link userToScim} adds beyond the user itself. */
export interface UserViewOptions {
  /** The resource type (for configured extensions); default the built-in User. */
  rt?: ResourceTypeDef;
  /** The user's groups; omitted when not computed. */
  groups?: UserGroupView[];
}

/** Core attributes that {@link User.extra} carries, kept as given. */
export const USER_EXTRA_ATTRIBUTES = ['profileUrl', 'phoneNumbers', 'ims', 'photos', 'addresses', 'entitlements', 'roles', 'x509Certificates'] as const;

const NAME_KEYS = ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'] as const;
const ENTERPRISE_KEYS = ['employeeNumber', 'costCenter', 'organization', 'division', 'department'] as const;


/** Drops null/undefined members, so unassigned attributes are not returned (RFC 7643 §2.5). */
function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * A user as a SCIM User resource. Never includes `password`.
 * @param baseUrl - the SCIM base URL, e.g. `https://id.example.com/scim/v2` (no trailing slash).
 */
export function userToScim(user: User, baseUrl: string, opts: UserViewOptions = {}): ScimDoc {
  const rt = opts.rt ?? USER_RESOURCE;
  const name = compact({ ...user.name });
  const emails = user.emails.map((e) => compact({ value: e.value, type: e.type ?? null, primary: e.primary ? true : null, display: e.display ?? null }));
  const ent = user.enterprise ?? {};
  const enterprise: Record<string, unknown> = compact({
    employeeNumber: ent.employeeNumber,
    costCenter: ent.costCenter,
    organization: ent.organization,
    division: ent.division,
    department: ent.department,
  });
  if (ent.manager?.value) {
    enterprise.manager = compact({ value: ent.manager.value, $ref: `${baseUrl}/Users/${ent.manager.value}`, displayName: ent.manager.displayName ?? null });
  }
  const hasEnterprise = Object.keys(enterprise).length > 0;
  const extra: Record<string, unknown> = {};
  for (const k of USER_EXTRA_ATTRIBUTES) if (user.extra?.[k] !== undefined && user.extra[k] !== null) extra[k] = user.extra[k];
  const custom = customExtensionsToScim(user.extra, rt);
  const groups = (opts.groups ?? []).map((g) => ({ value: g.id, $ref: `${baseUrl}/Groups/${g.id}`, display: g.displayName, type: g.type }));
  const doc: ScimDoc = {
    schemas: [USER_SCHEMA, ...(hasEnterprise ? [ENTERPRISE_USER_SCHEMA] : []), ...Object.keys(custom)],
    id: user.id,
    ...compact({ externalId: user.externalId }),
    userName: user.userName,
    ...(Object.keys(name).length ? { name } : {}),
    ...compact({
      displayName: user.displayName,
      nickName: user.nickName,
      title: user.title,
      userType: user.userType,
      preferredLanguage: user.preferredLanguage,
      locale: user.locale,
      timezone: user.timezone,
    }),
    active: user.active,
    ...(emails.length ? { emails } : {}),
    ...(groups.length ? { groups } : {}),
    ...extra,
    ...(hasEnterprise ? { [ENTERPRISE_USER_SCHEMA]: enterprise } : {}),
    ...custom,
    meta: {
      resourceType: 'User',
      created: user.created,
      lastModified: user.lastModified,
      location: `${baseUrl}/Users/${user.id}`,
      version: etagOf(user.version),
    },
  };
  return doc;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Reads a SCIM User representation (POST, PUT, or a PATCHed document) into a {@link UserInput}.
 * Omitted attributes are cleared, except `active`, which is left undefined when not asserted
 * (a replace never re-activates a user by omission).
 *
 * @throws GatehouseError `invalid_input` with a SCIM scimType (see {@link readResource}); an
 *   email without `value` is `invalidValue`.
 */
export function userInputFromScim(body: unknown, opts: { requireSchemas: boolean }, rt: ResourceTypeDef = USER_RESOURCE): UserInput {
  const doc = readResource(body, rt, opts);
  const name: PersonName = {};
  const n = (doc.name ?? {}) as Record<string, unknown>;
  for (const k of NAME_KEYS) name[k] = str(n[k]);
  const emails: Email[] = ((doc.emails ?? []) as Array<Record<string, unknown>>).map((e, i) => {
    if (typeof e.value !== 'string' || !e.value.trim()) throw scimInvalid('invalidValue', `"emails[${i}].value" is required`, { attribute: 'emails.value' });
    return { value: e.value, type: str(e.type), primary: e.primary === true, display: str(e.display) };
  });
  const ent = (doc[ENTERPRISE_USER_SCHEMA] ?? {}) as Record<string, unknown>;
  const enterprise: EnterpriseAttributes = {};
  for (const k of ENTERPRISE_KEYS) enterprise[k] = str(ent[k]);
  const manager = ent.manager as Record<string, unknown> | null | undefined;
  enterprise.manager = manager && typeof manager.value === 'string' && manager.value ? { value: manager.value } : null;
  const extra: Record<string, unknown> = {};
  for (const k of USER_EXTRA_ATTRIBUTES) if (doc[k] !== undefined && doc[k] !== null) extra[k] = doc[k];
  // Configured extensions are kept with the user under their schema URN.
  Object.assign(extra, customExtensionsFromScim(doc, rt));
  const input: UserInput = {
    userName: doc.userName as string,
    externalId: str(doc.externalId),
    name,
    displayName: str(doc.displayName),
    nickName: str(doc.nickName),
    title: str(doc.title),
    userType: str(doc.userType),
    preferredLanguage: str(doc.preferredLanguage),
    locale: str(doc.locale),
    timezone: str(doc.timezone),
    emails,
    enterprise,
    extra,
  };
  if (typeof doc.active === 'boolean') input.active = doc.active;
  if (typeof doc.password === 'string') input.password = doc.password;
  return input;
}
