/**
 * Validation of {@link UserInput} and the mapping between users and their rows (`users`,
 * `user_emails`). Attribute names follow SCIM 2.0 (RFC 7643 §4.1 core User, §4.3 enterprise extension).
 */
import type { Executor } from '../storage/database.js';
import { GatehouseError } from '../kernel/errors.js';
import { normalizeIdentifier } from '../kernel/normalize.js';
import type { UserRow } from '../storage/schema.js';
import { identifierText, optionalText, requiredName } from './shared.js';
import type { Email, EnterpriseAttributes, PersonName, User, UserInput } from './types.js';

/** Most email addresses one user may have. */
export const MAX_EMAILS = 20;
/** Largest `extra` (other SCIM attributes) accepted, in bytes of JSON. */
export const MAX_EXTRA_BYTES = 65_536;

/** A user's attributes as columns, without identity, status, credentials and bookkeeping. */
export type UserAttributeColumns = Omit<
  UserRow,
  'tenant_id' | 'id' | 'status' | 'is_admin' | 'password_hash' | 'created_at' | 'updated_at' | 'version'
>;

/** An email ready to store. */
export interface EmailRecord {
  value: string;
  value_norm: string;
  type: string | null;
  is_primary: number;
  display: string | null;
}

/** A checked {@link UserInput}. */
export interface ValidUserInput {
  columns: UserAttributeColumns;
  emails: EmailRecord[];
  active: boolean;
  password: string | undefined;
}

// A pragmatic address check: one @, a non-empty local part and a domain, no white space.
const EMAIL_RE = /^[^\s@]+@[^\s@]+$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkEmails(value: unknown): EmailRecord[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new GatehouseError('invalid_input', 'emails must be an array', { field: 'emails' });
  if (value.length > MAX_EMAILS) throw new GatehouseError('invalid_input', `at most ${MAX_EMAILS} emails`, { field: 'emails', max: MAX_EMAILS });
  const seen = new Set<string>();
  const records = value.map((e: unknown, i): EmailRecord => {
    const field = `emails[${i}]`;
    if (!isPlainObject(e)) throw new GatehouseError('invalid_input', `${field} must be an object`, { field });
    const v = identifierText(`${field}.value`, e.value, 320);
    if (!v || !EMAIL_RE.test(v)) throw new GatehouseError('invalid_input', `${field}.value must be an email address`, { field: `${field}.value` });
    const norm = normalizeIdentifier(v);
    if (seen.has(norm)) throw new GatehouseError('invalid_input', `${field}.value repeats another address of this user`, { field: `${field}.value` });
    seen.add(norm);
    if (e.primary !== undefined && typeof e.primary !== 'boolean') throw new GatehouseError('invalid_input', `${field}.primary must be a boolean`, { field: `${field}.primary` });
    return {
      value: v,
      value_norm: norm,
      type: optionalText(`${field}.type`, e.type, 64),
      is_primary: e.primary === true ? 1 : 0,
      display: optionalText(`${field}.display`, e.display),
    };
  });
  // RFC 7643 §2.4: the primary attribute value "true" MUST appear no more than once.
  if (records.filter((r) => r.is_primary === 1).length > 1) throw new GatehouseError('invalid_input', 'at most one email may be primary', { field: 'emails' });
  return records;
}

function checkName(value: unknown): PersonName {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw new GatehouseError('invalid_input', 'name must be an object', { field: 'name' });
  return value as PersonName;
}

function checkEnterprise(value: unknown): EnterpriseAttributes {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw new GatehouseError('invalid_input', 'enterprise must be an object', { field: 'enterprise' });
  return value as EnterpriseAttributes;
}

function checkManager(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (!isPlainObject(value)) throw new GatehouseError('invalid_input', 'enterprise.manager must be an object', { field: 'enterprise.manager' });
  return optionalText('enterprise.manager.value', value.value, 256);
}

/**
 * `extra` (SCIM attributes kept as given) as JSON text: an object of at most {@link MAX_EXTRA_BYTES}.
 * @throws GatehouseError `invalid_input` (field `extra`).
 */
export function checkExtra(value: unknown): string {
  if (value === undefined || value === null) return '{}';
  if (!isPlainObject(value)) throw new GatehouseError('invalid_input', 'extra must be an object', { field: 'extra' });
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text, 'utf8') > MAX_EXTRA_BYTES) {
    throw new GatehouseError('invalid_input', `extra attributes must be at most ${MAX_EXTRA_BYTES} bytes of JSON`, { field: 'extra', maxBytes: MAX_EXTRA_BYTES });
  }
  return text;
}

/**
 * Checks a {@link UserInput} (create or full replace) and turns it into columns and email rows.
 * Omitted optional attributes become null (a replace clears them).
 *
 * @throws GatehouseError `invalid_input` with `details.field` naming the first bad attribute.
 */
export function validateUserInput(input: UserInput): ValidUserInput {
  if (!isPlainObject(input)) throw new GatehouseError('invalid_input', 'a user must be an object', { field: '' });
  const userName = requiredName('userName', input.userName, 256);
  const name = checkName(input.name);
  const ent = checkEnterprise(input.enterprise);
  if (input.active !== undefined && typeof input.active !== 'boolean') throw new GatehouseError('invalid_input', 'active must be a boolean', { field: 'active' });
  if (input.password !== undefined && typeof input.password !== 'string') throw new GatehouseError('invalid_input', 'password must be a string', { field: 'password' });
  const columns: UserAttributeColumns = {
    user_name: userName,
    user_name_norm: normalizeIdentifier(userName),
    external_id: optionalText('externalId', input.externalId, 256),
    display_name: optionalText('displayName', input.displayName),
    given_name: optionalText('name.givenName', name.givenName),
    family_name: optionalText('name.familyName', name.familyName),
    middle_name: optionalText('name.middleName', name.middleName),
    formatted_name: optionalText('name.formatted', name.formatted),
    honorific_prefix: optionalText('name.honorificPrefix', name.honorificPrefix),
    honorific_suffix: optionalText('name.honorificSuffix', name.honorificSuffix),
    nick_name: optionalText('nickName', input.nickName),
    title: optionalText('title', input.title),
    user_type: optionalText('userType', input.userType),
    preferred_language: optionalText('preferredLanguage', input.preferredLanguage, 64),
    locale: optionalText('locale', input.locale, 64),
    timezone: optionalText('timezone', input.timezone, 64),
    employee_number: optionalText('enterprise.employeeNumber', ent.employeeNumber),
    cost_center: optionalText('enterprise.costCenter', ent.costCenter),
    organization: optionalText('enterprise.organization', ent.organization),
    division: optionalText('enterprise.division', ent.division),
    department: optionalText('enterprise.department', ent.department),
    manager_id: checkManager(ent.manager),
    extra: checkExtra(input.extra),
  };
  return { columns, emails: checkEmails(input.emails), active: input.active ?? true, password: input.password };
}

/** A stored email row, as read back. */
export interface EmailRow {
  user_id: string;
  position: number;
  value: string;
  type: string | null;
  is_primary: number;
  display: string | null;
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as T;
}

/** Builds the domain {@link User} from its row and its email rows (in `position` order). */
export function toUser(row: UserRow, emails: EmailRow[]): User {
  const enterprise: EnterpriseAttributes = definedOnly({
    employeeNumber: row.employee_number,
    costCenter: row.cost_center,
    organization: row.organization,
    division: row.division,
    department: row.department,
  });
  if (row.manager_id) enterprise.manager = { value: row.manager_id };
  return {
    id: row.id,
    userName: row.user_name,
    externalId: row.external_id,
    name: definedOnly({
      formatted: row.formatted_name,
      familyName: row.family_name,
      givenName: row.given_name,
      middleName: row.middle_name,
      honorificPrefix: row.honorific_prefix,
      honorificSuffix: row.honorific_suffix,
    }),
    displayName: row.display_name,
    nickName: row.nick_name,
    title: row.title,
    userType: row.user_type,
    preferredLanguage: row.preferred_language,
    locale: row.locale,
    timezone: row.timezone,
    emails: emails.map((e): Email => definedOnly({ value: e.value, type: e.type, primary: e.is_primary === 1 ? true : undefined, display: e.display })),
    active: row.status === 'active',
    status: row.status,
    enterprise,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
    isAdmin: row.is_admin === 1,
    hasPassword: row.password_hash !== null,
    created: row.created_at,
    lastModified: row.updated_at,
    version: Number(row.version),
  };
}

/**
 * Loads the SCIM `emails` of several users in one query, in their stored order.
 * @returns a map from user id to its email rows (absent for users without emails).
 */
export async function loadEmails(db: Executor, tenantId: string, userIds: string[]): Promise<Map<string, EmailRow[]>> {
  const out = new Map<string, EmailRow[]>();
  if (userIds.length === 0) return out;
  const rows = await db
    .selectFrom('user_emails')
    .select(['user_id', 'position', 'value', 'type', 'is_primary', 'display'])
    .where('tenant_id', '=', tenantId)
    .where('user_id', 'in', userIds)
    .orderBy('user_id')
    .orderBy('position')
    .execute();
  for (const r of rows) {
    const list = out.get(r.user_id) ?? [];
    list.push(r);
    out.set(r.user_id, list);
  }
  return out;
}
