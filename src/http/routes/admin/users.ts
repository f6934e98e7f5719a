import { z } from 'zod';
import type { UserInput } from '../../../identity/types.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { idParams, pageOf, pageQueryShape, toPage } from './schemas.js';
import { attributesToInput, userCreateBody, userSchema, userToInput, userToJson, userUpdateBody } from './user-schemas.js';

const userList = pageOf(userSchema, 'UserList');

const listQuery = z.strictObject({
  ...pageQueryShape,
  user_name: z.string().min(1).max(256).optional().meta({ description: 'Only the user with this userName (case-insensitive).' }),
  external_id: z.string().min(1).max(256).optional().meta({ description: 'Only users with this externalId (exact).' }),
});

const passwordBody = z
  .strictObject({ password: z.string().min(1).max(1024).meta({ description: 'The new password; checked against the password policy.' }) })
  .meta({ id: 'PasswordSet' });

const totpEnrollment = z
  .object({
    secret: z.string().meta({ description: 'The base32 shared secret (RFC 4648), shown once.' }),
    otpauth_uri: z.string().meta({ description: 'An `otpauth://totp/…` URI for authenticator apps: SHA1, 6 digits, period 30.' }),
  })
  .meta({ id: 'TotpEnrollment' });

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** /users: list, create, read, update, delete, password, TOTP, activate/deactivate. */
export function userRoutes(services: AdminApiServices): AdminRoute[] {
  const { users } = services;
  const tag = 'users';
  return [
    defineRoute({
      method: 'get',
      path: '/users',
      operationId: 'listUsers',
      summary: 'List users',
      description: 'Deprovisioned (deleted) users are not listed.',
      tag,
      query: listQuery,
      success: { status: 200, description: 'A page of users.', schema: userList },
      handler: async ({ ctx, query }) => {
        const filter = { ...(query.user_name ? { userName: query.user_name } : {}), ...(query.external_id ? { externalId: query.external_id } : {}) };
        return toPage(await users.list(ctx, filter, { startIndex: query.start_index, count: query.count }), userToJson);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/users',
      operationId: 'createUser',
      summary: 'Create a user',
      tag,
      body: userCreateBody,
      problems: [409],
      success: { status: 201, description: 'The created user.', schema: userSchema },
      handler: async ({ ctx, body }) => {
        const input: UserInput = { ...attributesToInput(body), userName: body.user_name, active: body.active };
        if (body.password !== undefined) input.password = body.password;
        return userToJson(await users.create(ctx, input));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/{id}',
      operationId: 'getUser',
      summary: 'Read a user',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The user.', schema: userSchema },
      handler: async ({ ctx, params }) => userToJson(await users.get(ctx, params.id)),
    }),
    defineRoute({
      method: 'patch',
      path: '/users/{id}',
      operationId: 'updateUser',
      summary: 'Change some attributes of a user',
      description:
        'Members present are set (`null` clears); `name` and `enterprise` are merged member by member. The change applies to the version read, in one transaction: a concurrent change answers 412. `active: false` deprovisions.',
      tag,
      params: idParams,
      body: userUpdateBody,
      problems: [404, 409, 412],
      success: { status: 200, description: 'The updated user.', schema: userSchema },
      handler: async ({ ctx, params, body }) => {
        const current = await users.get(ctx, params.id);
        const base = userToInput(current);
        const changes = attributesToInput(body);
        const merged: UserInput = { ...base, ...changes };
        if (changes.name) merged.name = { ...base.name, ...withoutUndefined(changes.name) };
        if (changes.enterprise) merged.enterprise = { ...base.enterprise, ...withoutUndefined(changes.enterprise) };
        return userToJson(await users.replace(ctx, params.id, merged, current.version));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/{id}',
      operationId: 'deleteUser',
      summary: 'Delete a user',
      description: 'Deprovisions the user (sessions end, tokens are revoked, grants leave the live graph); a deprovisioned record is kept for audit.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 204, description: 'Deleted.' },
      handler: async ({ ctx, params }) => users.delete(ctx, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/users/{id}/password',
      operationId: 'setUserPassword',
      summary: "Set a user's password",
      description: 'Checked against the password policy (NIST SP 800-63B §3.1.1.2): a weak one answers 400 with code `weak_password`. Hashed with argon2id.',
      tag,
      params: idParams,
      body: passwordBody,
      problems: [404],
      success: { status: 204, description: 'The password is set.' },
      handler: async ({ ctx, params, body }) => users.setPassword(ctx, params.id, body.password),
    }),
    defineRoute({
      method: 'post',
      path: '/users/{id}/totp',
      operationId: 'enrollUserTotp',
      summary: 'Enroll a TOTP authenticator for a user',
      description: 'Creates (or replaces) the user\'s TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s) and returns it once. No request body.',
      tag,
      params: idParams,
      problems: [404],
      noStore: true,
      success: { status: 200, description: 'The secret, shown once.', schema: totpEnrollment },
      handler: async ({ ctx, params }) => {
        const { secret, otpauthUri } = await services.totp.enroll(ctx, params.id);
        return { secret, otpauth_uri: otpauthUri };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/users/{id}/deactivate',
      operationId: 'deactivateUser',
      summary: 'Deactivate (suspend) a user',
      description: 'Deprovisions: ends its sessions, revokes its tokens and grants, and makes authorization decisions deny. No request body.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The user, now suspended.', schema: userSchema },
      handler: async ({ ctx, params }) => userToJson(await users.setActive(ctx, params.id, false)),
    }),
    defineRoute({
      method: 'post',
      path: '/users/{id}/activate',
      operationId: 'activateUser',
      summary: 'Activate a user',
      description: 'No request body.',
      tag,
      params: idParams,
      problems: [404],
      success: { status: 200, description: 'The user, now active.', schema: userSchema },
      handler: async ({ ctx, params }) => userToJson(await users.setActive(ctx, params.id, true)),
    }),
  ];
}
