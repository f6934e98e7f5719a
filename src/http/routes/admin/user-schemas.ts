/**
 * User representations of the admin API (snake_case) and their mapping to and from the identity
 * domain's SCIM-shaped `User` / `UserInput`.
 */
import { z } from 'zod';
import type { User, UserInput } from '../../../identity/types.js';
import { optionalText } from './schemas.js';

const nameShape = {
  formatted: optionalText(512),
  family_name: optionalText(256),
  given_name: optionalText(256),
  middle_name: optionalText(256),
  honorific_prefix: optionalText(64),
  honorific_suffix: optionalText(64),
};

const emailInput = z.strictObject({
  value: z.string().min(3).max(320).meta({ description: 'An email address.' }),
  type: optionalText(64).meta({ description: 'e.g. `work`, `home`.' }),
  primary: z.boolean().optional(),
  display: optionalText(320),
});

const enterpriseShape = {
  employee_number: optionalText(128),
  cost_center: optionalText(128),
  organization: optionalText(256),
  division: optionalText(256),
  department: optionalText(256),
  manager_id: optionalText(128).meta({ description: "The manager's user id." }),
};

/** Attributes a caller may set on a user (create, and update where all are optional). */
const userAttributes = {
  user_name: z.string().trim().min(1).max(256).meta({ description: 'Unique sign-in name; compared after Unicode NFC and case folding.' }),
  external_id: optionalText(256).meta({ description: "The provisioning source's identifier, kept as given." }),
  name: z.strictObject(nameShape).nullable().optional(),
  display_name: optionalText(256),
  nick_name: optionalText(256),
  title: optionalText(256),
  user_type: optionalText(64),
  preferred_language: optionalText(64),
  locale: optionalText(64),
  timezone: optionalText(64),
  emails: z.array(emailInput).max(20).optional(),
  active: z.boolean().optional().meta({ description: 'false suspends the user and deprovisions it (sessions end, tokens are revoked, decisions deny).' }),
  enterprise: z.strictObject(enterpriseShape).nullable().optional().meta({ description: 'SCIM enterprise extension attributes (RFC 7643 §4.3).' }),
};

export const userCreateBody = z
  .strictObject({
    ...userAttributes,
    active: userAttributes.active.default(true),
    password: z.string().min(1).max(1024).optional().meta({ description: 'Initial password, checked against the password policy (400 `weak_password`).' }),
  })
  .meta({ id: 'UserCreate', description: 'A new user. Omitted attributes are empty.' });

export const userUpdateBody = z
  .strictObject({ ...userAttributes, user_name: userAttributes.user_name.optional() })
  .meta({ id: 'UserUpdate', description: 'Attributes to change; omitted members keep their value, `null` clears one. Setting `active` to false deprovisions.' });

const nullableString = z.string().nullable();

export const userSchema = z
  .object({
    id: z.string().meta({ description: 'The user id (UUIDv7); also the SCIM `id` and the OIDC `sub`.' }),
    user_name: z.string(),
    external_id: nullableString,
    name: z.object({
      formatted: nullableString,
      family_name: nullableString,
      given_name: nullableString,
      middle_name: nullableString,
      honorific_prefix: nullableString,
      honorific_suffix: nullableString,
    }),
    display_name: nullableString,
    nick_name: nullableString,
    title: nullableString,
    user_type: nullableString,
    preferred_language: nullableString,
    locale: nullableString,
    timezone: nullableString,
    emails: z.array(z.object({ value: z.string(), type: nullableString, primary: z.boolean(), display: nullableString })),
    active: z.boolean().meta({ description: 'True exactly when `status` is `active`.' }),
    status: z.enum(['staged', 'active', 'suspended', 'deprovisioned']),
    enterprise: z.object({
      employee_number: nullableString,
      cost_center: nullableString,
      organization: nullableString,
      division: nullableString,
      department: nullableString,
      manager_id: nullableString,
    }),
    is_admin: z.boolean().meta({ description: 'A Gatehouse administrator.' }),
    has_password: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
    version: z.number().int().meta({ description: 'Grows by one on each change.' }),
  })
  .meta({ id: 'User' });

export type UserJson = z.output<typeof userSchema>;

const n = <T>(v: T | null | undefined): T | null => (v === undefined ? null : v);

/** Domain user → admin API representation. */
export function userToJson(u: User): UserJson {
  return {
    id: u.id,
    user_name: u.userName,
    external_id: u.externalId,
    name: {
      formatted: n(u.name.formatted),
      family_name: n(u.name.familyName),
      given_name: n(u.name.givenName),
      middle_name: n(u.name.middleName),
      honorific_prefix: n(u.name.honorificPrefix),
      honorific_suffix: n(u.name.honorificSuffix),
    },
    display_name: u.displayName,
    nick_name: u.nickName,
    title: u.title,
    user_type: u.userType,
    preferred_language: u.preferredLanguage,
    locale: u.locale,
    timezone: u.timezone,
    emails: u.emails.map((e) => ({ value: e.value, type: n(e.type), primary: e.primary ?? false, display: n(e.display) })),
    active: u.active,
    status: u.status,
    enterprise: {
      employee_number: n(u.enterprise.employeeNumber),
      cost_center: n(u.enterprise.costCenter),
      organization: n(u.enterprise.organization),
      division: n(u.enterprise.division),
      department: n(u.enterprise.department),
      manager_id: n(u.enterprise.manager?.value),
    },
    is_admin: u.isAdmin,
    has_password: u.hasPassword,
    created_at: u.created,
    updated_at: u.lastModified,
    version: u.version,
  };
}

type UserAttributesIn = Partial<z.output<typeof userUpdateBody>>;

/** Admin API attributes → domain input (only members present in `body` are set). */
export function attributesToInput(body: UserAttributesIn): Partial<UserInput> {
  const out: Partial<UserInput> = {};
  if (body.user_name !== undefined) out.userName = body.user_name;
  if (body.external_id !== undefined) out.externalId = body.external_id;
  if (body.name !== undefined) {
    out.name = body.name && {
      formatted: body.name.formatted,
      familyName: body.name.family_name,
      givenName: body.name.given_name,
      middleName: body.name.middle_name,
      honorificPrefix: body.name.honorific_prefix,
      honorificSuffix: body.name.honorific_suffix,
    };
  }
  if (body.display_name !== undefined) out.displayName = body.display_name;
  if (body.nick_name !== undefined) out.nickName = body.nick_name;
  if (body.title !== undefined) out.title = body.title;
  if (body.user_type !== undefined) out.userType = body.user_type;
  if (body.preferred_language !== undefined) out.preferredLanguage = body.preferred_language;
  if (body.locale !== undefined) out.locale = body.locale;
  if (body.timezone !== undefined) out.timezone = body.timezone;
  if (body.emails !== undefined) out.emails = body.emails.map((e) => ({ value: e.value, type: e.type ?? null, primary: e.primary ?? false, display: e.display ?? null }));
  if (body.active !== undefined) out.active = body.active;
  if (body.enterprise !== undefined) {
    const e = body.enterprise;
    out.enterprise = e && {
      employeeNumber: e.employee_number,
      costCenter: e.cost_center,
      organization: e.organization,
      division: e.division,
      department: e.department,
      manager: e.manager_id === undefined ? undefined : e.manager_id === null ? null : { value: e.manager_id },
    };
  }
  return out;
}

/** The domain input that reproduces `u` (the base of a partial update, which is a full replace). */
export function userToInput(u: User): UserInput {
  return {
    userName: u.userName,
    externalId: u.externalId,
    name: u.name,
    displayName: u.displayName,
    nickName: u.nickName,
    title: u.title,
    userType: u.userType,
    preferredLanguage: u.preferredLanguage,
    locale: u.locale,
    timezone: u.timezone,
    emails: u.emails,
    active: u.active,
    enterprise: u.enterprise,
    extra: u.extra,
  };
}
