/**
 * SCIM discovery resources (RFC 7644 §4, RFC 7643 §5-§7): /ServiceProviderConfig,
 * /ResourceTypes and /Schemas, built from the same definitions that validate requests, and
 * truthful about this server: PATCH, Bulk (with its limits), filters (the whole grammar) with
 * maxResults, sorting, ETags (If-Match / If-None-Match), changePassword.
 */
import { GatehouseError } from '../kernel/errors.js';
import type { ScimDoc } from './resource.js';
import { MAX_RESULTS } from './list.js';
import { MAX_BULK_OPERATIONS } from './bulk.js';
import { BUILTIN_SCHEMA_SET, type ScimSchemaSet } from './extensions.js';
import type { ResourceTypeDef, SchemaDef } from './schemas.js';

export const SERVICE_PROVIDER_CONFIG_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

/**
 * `/ServiceProviderConfig` (RFC 7643 §5). `baseUrl` is the SCIM base URL; `maxPayloadBytes` the
 * largest request body accepted (announced as `bulk.maxPayloadSize`).
 */
export function serviceProviderConfig(baseUrl: string, maxPayloadBytes = 1024 * 1024): ScimDoc {
  return {
    schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
    patch: { supported: true },
    bulk: { supported: true, maxOperations: MAX_BULK_OPERATIONS, maxPayloadSize: maxPayloadBytes },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: true },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'A Gatehouse API token with the "scim" scope, sent as "Authorization: Bearer <token>" (RFC 6750).',
        specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

/** A `/ResourceTypes` entry (RFC 7643 §6). */
export function resourceTypeDoc(rt: ResourceTypeDef, baseUrl: string): ScimDoc {
  return {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: rt.id,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.description,
    schema: rt.schema.id,
    schemaExtensions: rt.extensions.map((e) => ({ schema: e.schema.id, required: e.required })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${rt.id}` },
  };
}

/** A `/Schemas` entry (RFC 7643 §7). */
export function schemaDoc(s: SchemaDef, baseUrl: string): ScimDoc {
  return {
    schemas: [SCHEMA_SCHEMA],
    id: s.id,
    name: s.name,
    description: s.description,
    attributes: s.attributes,
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${s.id}` },
  };
}

export function allResourceTypes(baseUrl: string, set: ScimSchemaSet = BUILTIN_SCHEMA_SET): ScimDoc[] {
  return set.resourceTypes.map((rt) => resourceTypeDoc(rt, baseUrl));
}

export function allSchemas(baseUrl: string, set: ScimSchemaSet = BUILTIN_SCHEMA_SET): ScimDoc[] {
  return set.schemas.map((s) => schemaDoc(s, baseUrl));
}

/** @throws GatehouseError `not_found` for an unknown resource type id. */
export function findResourceType(id: string, set: ScimSchemaSet = BUILTIN_SCHEMA_SET): ResourceTypeDef {
  const rt = set.resourceTypes.find((r) => r.id === id);
  if (!rt) throw notFound(`no resource type "${id}"`);
  return rt;
}

/** @throws GatehouseError `not_found` for an unknown schema URN. */
export function findSchema(id: string, set: ScimSchemaSet = BUILTIN_SCHEMA_SET): SchemaDef {
  const s = set.schemas.find((x) => x.id.toLowerCase() === id.toLowerCase());
  if (!s) throw notFound(`no schema "${id}"`);
  return s;
}

function notFound(detail: string): GatehouseError {
  return new GatehouseError('not_found', detail);
}
