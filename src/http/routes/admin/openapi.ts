import { z } from 'zod';
import { createDocument, type ZodOpenApiPathsObject } from 'zod-openapi';
import { toOperation, type AdminRoute } from './route.js';

/** Prefix of the admin API. */
export const ADMIN_API_PREFIX = '/api/v1';

const DESCRIPTION = `The Gatehouse administration API: users, groups and memberships, roles and role assignments,
service accounts, OIDC client applications, and the audit log.

**Authentication.** Every operation needs \`Authorization: Bearer <token>\` with an API token holding the
\`admin\` scope (\`gatehouse token create --name NAME --scopes admin --json\`). This document itself
(\`GET ${ADMIN_API_PREFIX}/openapi.json\`) is public: it describes the API's shape and holds no data.

**Conventions.**
- JSON member names are snake_case everywhere, in requests and responses (\`user_name\`, \`otpauth_uri\`, \`expires_at\`).
- Instants are RFC 3339 UTC strings; their names end in \`_at\`.
- Request bodies are \`application/json\` objects of at most 1 MiB (configurable); unknown members, missing
  members and wrong types are refused with 400 \`invalid_input\`, and nothing is changed.
- Lists are paged with \`start_index\` (1-based, default 1) and \`count\` (default 100, at most 1000) and answer
  \`{total_results, start_index, items_per_page, items}\`. The audit log, which only grows, is paged with
  \`limit\` and the opaque \`after\` cursor (\`next_cursor\` of the previous page).
- Errors are RFC 9457 problem details (\`application/problem+json\`) with a stable \`code\` member; branch on
  \`code\`, never on \`detail\`.
- Secrets (TOTP secrets, client secrets) are returned once, with \`Cache-Control: no-store\`.`;

/**
 * Builds the OpenAPI 3.1 document of the admin API from the same route declarations (and so the
 * same zod schemas) that validate requests.
 */
export function buildOpenApiDocument(routes: AdminRoute[], version: string): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    const full = `${ADMIN_API_PREFIX}${route.path}`;
    paths[full] = { ...(paths[full] ?? {}), [route.method]: toOperation(route) };
  }
  paths[`${ADMIN_API_PREFIX}/openapi.json`] = {
    get: {
      operationId: 'getOpenApiDocument',
      summary: 'This OpenAPI 3.1 document (no authentication)',
      tags: ['meta'],
      security: [],
      responses: { '200': { description: 'The document.', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
    },
  };
  const tags = [...new Set(routes.map((r) => r.tag))].map((name) => ({ name }));
  return createDocument({
    openapi: '3.1.0',
    info: { title: 'Gatehouse admin API', version, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
    tags,
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A Gatehouse API token with the `admin` scope.' },
      },
    },
    paths,
  });
}
