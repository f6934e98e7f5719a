/**
 * Custom SCIM schema extensions declared in configuration (RFC 7643 §3.3 "Schema Extension
 * Model"), e.g. an HR system's `urn:example:params:scim:schemas:extension:hr:2.0:User` with a
 * `badgeNumber`. Each becomes an extension of the User or Group resource type (`resourceType`):
 * announced in /ResourceTypes and /Schemas, validated on input like the built-in schemas, stored
 * with the resource (its `extra` JSON, under the schema URN), returned, filterable, sortable and
 * PATCHable.
 *
 * Configuration (`scimSchemaExtensions`, a JSON array in the GATEHOUSE_CONFIG file or the
 * GATEHOUSE_SCIM_SCHEMA_EXTENSIONS variable):
 * ```json
 * [{ "id": "urn:example:params:scim:schemas:extension:hr:2.0:User", "name": "HrUser",
 *    "resourceType": "User", "required": false,
 *    "attributes": [{ "name": "badgeNumber", "type": "string", "caseExact": true, "mutability": "immutable" }] }]
 * ```
 */
import { z } from 'zod';
import { GatehouseError } from '../kernel/errors.js';
import {
  ENTERPRISE_USER_SCHEMA_DEF,
  GROUP_RESOURCE,
  GROUP_SCHEMA_DEF,
  USER_RESOURCE,
  USER_SCHEMA_DEF,
  type AttributeDef,
  type ResourceTypeDef,
  type SchemaDef,
} from './schemas.js';

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const URN_RE = /^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\-.=@;$_!*'%/?#:]{1,200}$/;

const scalarTypes = ['string', 'boolean', 'decimal', 'integer', 'dateTime', 'reference', 'binary'] as const;

const subAttributeConfig = z.strictObject({
  name: z.string().regex(NAME_RE),
  type: z.enum(scalarTypes),
  description: z.string().max(1024).default(''),
  required: z.boolean().default(false),
  caseExact: z.boolean().default(false),
  mutability: z.enum(['readWrite', 'immutable', 'writeOnly']).default('readWrite'),
  returned: z.enum(['always', 'default', 'request', 'never']).default('default'),
  canonicalValues: z.array(z.string().max(256)).max(100).optional(),
});

const attributeConfig = subAttributeConfig.extend({
  type: z.enum([...scalarTypes, 'complex']),
  multiValued: z.boolean().default(false),
  subAttributes: z.array(subAttributeConfig).max(50).optional(),
});

const extensionConfig = z.strictObject({
  id: z.string().regex(URN_RE),
  name: z.string().min(1).max(128),
  description: z.string().max(1024).default(''),
  resourceType: z.enum(['User', 'Group']),
  required: z.boolean().default(false),
  attributes: z.array(attributeConfig).min(1).max(100),
});

/** The schemas and resource types this server offers: built-in plus configured extensions. */
export interface ScimSchemaSet {
  user: ResourceTypeDef;
  group: ResourceTypeDef;
  resourceTypes: ResourceTypeDef[];
  schemas: SchemaDef[];
}

/** The built-in schema set (no configured extensions). */
export const BUILTIN_SCHEMA_SET: ScimSchemaSet = {
  user: USER_RESOURCE,
  group: GROUP_RESOURCE,
  resourceTypes: [USER_RESOURCE, GROUP_RESOURCE],
  schemas: [USER_SCHEMA_DEF, ENTERPRISE_USER_SCHEMA_DEF, GROUP_SCHEMA_DEF],
};

function toAttributeDef(a: z.output<typeof attributeConfig> | z.output<typeof subAttributeConfig>): AttributeDef {
  const def: AttributeDef = {
    name: a.name,
    type: a.type,
    multiValued: 'multiValued' in a ? a.multiValued : false,
    description: a.description,
    required: a.required,
    caseExact: a.caseExact,
    mutability: a.mutability,
    // writeOnly values are never returned (RFC 7643 §2.2).
    returned: a.mutability === 'writeOnly' ? 'never' : a.returned,
    uniqueness: 'none',
  };
  if (a.canonicalValues) def.canonicalValues = a.canonicalValues;
  if ('subAttributes' in a && a.subAttributes) def.subAttributes = a.subAttributes.map(toAttributeDef);
  return def;
}

/**
 * Builds the schema set from the `scimSchemaExtensions` configuration value.
 * @throws GatehouseError `invalid_config` naming the bad entry (unknown member, bad URN or name,
 *   a duplicate schema or attribute, a complex attribute without sub-attributes, a clash with a built-in schema).
 */
export function buildSchemaSet(config: readonly unknown[] = []): ScimSchemaSet {
  if (config.length === 0) return BUILTIN_SCHEMA_SET;
  const parsed = z.array(extensionConfig).max(20).safeParse(config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `scimSchemaExtensions.${i.path.join('.')}: ${i.message}`);
    throw new GatehouseError('invalid_config', `Invalid SCIM schema extensions:\n  ${issues.join('\n  ')}`, { problems: issues });
  }
  const taken = new Set(BUILTIN_SCHEMA_SET.schemas.map((s) => s.id.toLowerCase()));
  const extensions: SchemaDef[] = [];
  for (const [i, e] of parsed.data.entries()) {
    const bad = (msg: string) => new GatehouseError('invalid_config', `scimSchemaExtensions.${i} (${e.id}): ${msg}`);
    if (taken.has(e.id.toLowerCase())) throw bad('the schema URN is already in use');
    taken.add(e.id.toLowerCase());
    const names = new Set<string>();
    for (const a of e.attributes) {
      if (names.has(a.name.toLowerCase())) throw bad(`attribute "${a.name}" is declared twice`);
      names.add(a.name.toLowerCase());
      if (a.type === 'complex' && !a.subAttributes?.length) throw bad(`complex attribute "${a.name}" needs subAttributes`);
      if (a.type !== 'complex' && a.subAttributes) throw bad(`only complex attributes take subAttributes ("${a.name}")`);
      const subNames = new Set((a.subAttributes ?? []).map((s) => s.name.toLowerCase()));
      if (subNames.size !== (a.subAttributes ?? []).length) throw bad(`"${a.name}" declares a sub-attribute twice`);
    }
    extensions.push({ id: e.id, name: e.name, description: e.description, attributes: e.attributes.map(toAttributeDef) });
  }
  const extend = (base: ResourceTypeDef): ResourceTypeDef => {
    const mine = extensions.map((schema, i) => ({ schema, required: parsed.data[i]!.required, of: parsed.data[i]!.resourceType })).filter((e) => e.of === base.id);
    if (mine.length === 0) return base;
    return { ...base, extensions: [...base.extensions, ...mine.map(({ schema, required }) => ({ schema, required }))], customExtensions: mine.map((e) => e.schema.id) };
  };
  const user = extend(USER_RESOURCE);
  const group = extend(GROUP_RESOURCE);
  return { user, group, resourceTypes: [user, group], schemas: [...BUILTIN_SCHEMA_SET.schemas, ...extensions] };
}

/**
 * The configured extensions of a resource as SCIM shows them: each `extra[urn]` object without
 * the attributes returned `never` (writeOnly); `request` ones are removed later by `project`.
 */
export function customExtensionsToScim(extra: Record<string, unknown> | undefined, rt: ResourceTypeDef): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const urn of rt.customExtensions ?? []) {
    const v = extra?.[urn];
    const schema = rt.extensions.find((e) => e.schema.id === urn)!.schema;
    if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
    const shown = Object.fromEntries(Object.entries(v).filter(([k]) => schema.attributes.find((a) => a.name === k && a.returned !== 'never')));
    if (Object.keys(shown).length) out[urn] = shown;
  }
  return out;
}

/** The configured extensions of a canonical SCIM document (see `readResource`), for `extra`: unassigned values dropped. */
export function customExtensionsFromScim(doc: Record<string, unknown>, rt: ResourceTypeDef): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const urn of rt.customExtensions ?? []) {
    const v = doc[urn] as Record<string, unknown> | undefined;
    if (v && Object.values(v).some((x) => x !== null && x !== undefined)) out[urn] = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null && x !== undefined));
  }
  return out;
}

/**
 * `extra` for a replace: write-only extension values stored in `stored` and not sent in the
 * canonical document `sent` are kept (a client cannot read them back to send them again).
 */
export function keepWriteOnly(extra: Record<string, unknown>, stored: Record<string, unknown> | undefined, sent: Record<string, unknown>, rt: ResourceTypeDef): Record<string, unknown> {
  let out = extra;
  for (const urn of rt.customExtensions ?? []) {
    const schema = rt.extensions.find((e) => e.schema.id === urn)!.schema;
    const was = (stored?.[urn] ?? {}) as Record<string, unknown>;
    const now = (sent[urn] ?? {}) as Record<string, unknown>;
    for (const a of schema.attributes) {
      if (a.returned === 'never' && was[a.name] !== undefined && !(a.name in now)) {
        out = { ...out, [urn]: { ...((out[urn] as Record<string, unknown>) ?? {}), [a.name]: was[a.name] } };
      }
    }
  }
  return out;
}
