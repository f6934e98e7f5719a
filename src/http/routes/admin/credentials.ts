/**
 * /service-accounts/{id}/credentials: a service account's client secrets, public keys
 * (`private_key_jwt`) and API keys. A secret is in the creation (or rotation) response only.
 */
import { z } from 'zod';
import type { Credential, CreatedCredential, CredentialService, PublicKeyInput } from '../../../identity/credentials.js';
import { defineRoute, type AdminRoute } from './route.js';
import { idParams, instant } from './schemas.js';

const credentialParams = z.strictObject({
  id: idParams.shape.id,
  credential_id: z.string().min(1).max(128).meta({ description: 'The credential id (a UUIDv7).' }),
});

const credentialSchema = z
  .object({
    id: z.string(),
    service_account_id: z.string(),
    kind: z.enum(['client_secret', 'public_key', 'api_key']),
    name: z.string(),
    status: z.enum(['active', 'expired', 'revoked']),
    scopes: z.array(z.string()).meta({ description: 'OAuth scopes (API keys only).' }),
    public_jwk: z.record(z.string(), z.unknown()).nullable().meta({ description: 'The public JWK (public keys only); its `kid` is the credential id.' }),
    created_at: z.string(),
    expires_at: z.string(),
    last_used_at: z.string().nullable().meta({ description: 'Last successful use, to the minute.' }),
    revoked_at: z.string().nullable(),
    replaced_by: z.string().nullable().meta({ description: 'The successor after a rotation.' }),
  })
  .meta({ id: 'Credential', description: 'A service-account credential (never its secret).' });

const createdSchema = z
  .object({
    credential: credentialSchema,
    secret: z.string().nullable().meta({ description: 'The client secret (`gh_cs_…`) or API key (`gh_sak_…`), shown only in this response; null for public keys.' }),
  })
  .meta({ id: 'CreatedCredential' });

const publicKeySchema = z
  .strictObject({
    jwk: z.record(z.string(), z.unknown()).optional().meta({ description: 'A public JWK (RSA ≥ 2048 bits, EC P-256/384/521, Ed25519).' }),
    jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).length(1) }).optional().meta({ description: 'A JWKS holding exactly one public key.' }),
    pem: z.string().max(10_000).optional().meta({ description: 'A PEM `PUBLIC KEY` (SPKI).' }),
  })
  .meta({ id: 'PublicKeyInput', description: 'Exactly one of `jwk`, `jwks`, `pem`.' });

const createBody = z
  .strictObject({
    kind: z.enum(['client_secret', 'public_key', 'api_key']),
    name: z.string().trim().min(1).max(200).optional(),
    expires_at: instant.optional().meta({ description: 'Default: 90 days, capped by the maximum lifetime policy. Later than the policy allows is refused (400, `details.policy` = `credential_max_lifetime`).' }),
    scopes: z.array(z.string().min(1).max(128)).min(1).max(20).optional().meta({ description: 'API keys: OAuth scopes (required).' }),
    public_key: publicKeySchema.optional().meta({ description: 'Public keys: the key (required).' }),
  })
  .meta({ id: 'CredentialCreate' });

const rotateBody = z
  .strictObject({
    overlap_seconds: z.number().int().min(0).max(30 * 86400).optional().meta({ description: 'How long the old credential keeps working (default 86400).' }),
    expires_at: instant.optional(),
    name: z.string().trim().min(1).max(200).optional(),
    public_key: publicKeySchema.optional().meta({ description: 'The successor key (required when rotating a public key).' }),
  })
  .meta({ id: 'CredentialRotate' });

function toJson(c: Credential): z.output<typeof credentialSchema> {
  return {
    id: c.id,
    service_account_id: c.serviceAccountId,
    kind: c.kind,
    name: c.name,
    status: c.status,
    scopes: c.scopes,
    public_jwk: c.publicJwk as Record<string, unknown> | null,
    created_at: c.created,
    expires_at: c.expiresAt,
    last_used_at: c.lastUsedAt,
    revoked_at: c.revokedAt,
    replaced_by: c.replacedBy,
  };
}

const createdJson = (c: CreatedCredential) => ({ credential: toJson(c.credential), secret: c.secret });

/** The routes (relative to /api/v1). */
export function credentialRoutes(services: { credentials: CredentialService }): AdminRoute[] {
  const credentials = services.credentials;
  const tag = 'service-accounts';
  return [
    defineRoute({
      method: 'get',
      path: '/service-accounts/{id}/credentials',
      operationId: 'listCredentials',
      summary: "List a service account's credentials",
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'Every credential, revoked and expired included.', schema: z.object({ items: z.array(credentialSchema) }).meta({ id: 'CredentialList' }) },
      handler: async ({ ctx, params }) => ({ items: (await credentials.list(ctx, params.id)).map(toJson) }),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts/{id}/credentials',
      operationId: 'createCredential',
      summary: 'Add a credential (client secret, public key or API key)',
      tag,
      params: idParams,
      body: createBody,
      problems: [404],
      noStore: true,
      success: { status: 201, description: 'The credential and, for a secret or API key, the secret (shown once).', schema: createdSchema },
      handler: async ({ ctx, params, body }) =>
        createdJson(await credentials.create(ctx, params.id, { kind: body.kind, name: body.name, expiresAt: body.expires_at, scopes: body.scopes, publicKey: body.public_key as PublicKeyInput | undefined })),
    }),
    defineRoute({
      method: 'get',
      path: '/service-accounts/{id}/credentials/{credential_id}',
      operationId: 'getCredential',
      summary: 'Read a credential',
      tag,
      params: credentialParams,
      problems: [404],
      success: { status: 200, description: 'The credential.', schema: credentialSchema },
      handler: async ({ ctx, params }) => toJson(await credentials.get(ctx, params.id, params.credential_id)),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts/{id}/credentials/{credential_id}/rotate',
      operationId: 'rotateCredential',
      summary: 'Rotate a credential with an overlap period',
      description: 'Issues a successor of the same kind; the old credential keeps working for `overlap_seconds`.',
      tag,
      params: credentialParams,
      body: rotateBody,
      problems: [404, 409],
      noStore: true,
      success: { status: 201, description: 'The successor and its secret (shown once).', schema: createdSchema },
      handler: async ({ ctx, params, body }) =>
        createdJson(
          await credentials.rotate(ctx, params.id, params.credential_id, { overlapSeconds: body.overlap_seconds, expiresAt: body.expires_at, name: body.name, publicKey: body.public_key as PublicKeyInput | undefined }),
        ),
    }),
    defineRoute({
      method: 'post',
      path: '/service-accounts/{id}/credentials/{credential_id}/revoke',
      operationId: 'revokeCredential',
      summary: 'Revoke a credential at once',
      description: 'The credential stops working and every token obtained with it becomes inactive. No request body.',
      tag,
      params: credentialParams,
      problems: [404],
      success: { status: 200, description: 'The revoked credential.', schema: credentialSchema },
      handler: async ({ ctx, params }) => toJson(await credentials.revoke(ctx, params.id, params.credential_id)),
    }),
  ];
}
