/**
 * Admin API operations of the people-authentication module: list and end anyone's sessions, and
 * read the mail outbox (mail written when no SMTP server is configured).
 */
import { z } from 'zod';
import type { AuthnServices } from '../../../authn/index.js';
import { defineRoute, type AdminRoute } from './route.js';

const sessionSchema = z
  .object({
    id: z.string(),
    user_id: z.string(),
    acr: z.string(),
    amr: z.array(z.string()),
    auth_time: z.string(),
    created_at: z.string(),
    last_seen_at: z.string(),
    expires_at: z.string().meta({ description: 'Absolute end of the session.' }),
    idle_expires_at: z.string().meta({ description: 'End if unused from now on.' }),
    source_ip: z.string().nullable(),
    user_agent: z.string().nullable(),
  })
  .meta({ id: 'Session' });

const outboxSchema = z
  .object({ id: z.string(), to: z.string(), subject: z.string(), text: z.string(), kind: z.string(), user_id: z.string().nullable(), created_at: z.string() })
  .meta({ id: 'OutboxMail' });

const toSession = (s: Awaited<ReturnType<AuthnServices['sessions']['list']>>[number]) => ({
  id: s.id,
  user_id: s.userId,
  acr: s.acr,
  amr: s.amr,
  auth_time: s.authTime,
  created_at: s.createdAt,
  last_seen_at: s.lastSeenAt,
  expires_at: s.expiresAt,
  idle_expires_at: s.idleExpiresAt,
  source_ip: s.sourceIp,
  user_agent: s.userAgent,
});

export function authnRoutes(services: { authn: AuthnServices }): AdminRoute[] {
  const { authn } = services;
  return [
    defineRoute({
      method: 'get',
      path: '/sessions',
      operationId: 'listSessions',
      summary: 'List live sign-in sessions',
      description: 'Sessions not ended, not idle and not past their absolute end, newest first; `user_id` narrows to one user.',
      tag: 'Sessions',
      query: z.strictObject({ user_id: z.string().max(64).optional() }),
      success: { status: 200, description: 'The sessions.', schema: z.object({ sessions: z.array(sessionSchema) }) },
      handler: async ({ query, ctx }) => ({ sessions: (await authn.sessions.list(ctx.tenantId, { userId: query.user_id })).map(toSession) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/sessions/{id}',
      operationId: 'endSession',
      summary: 'End a session',
      description: 'Ends the session and revokes every grant, access token and refresh token issued under it.',
      tag: 'Sessions',
      params: z.strictObject({ id: z.string().max(64) }),
      success: { status: 204, description: 'Ended.' },
      problems: [404],
      handler: async ({ params, ctx }) => authn.sessions.end(ctx, params.id),
    }),
    defineRoute({
      method: 'get',
      path: '/outbox',
      operationId: 'listOutbox',
      summary: 'List the mail outbox',
      description: 'Mail Gatehouse wrote instead of sending, because no SMTP server is configured (`GATEHOUSE_SMTP_URL`). Newest first. Bodies may hold password-reset links.',
      tag: 'Mail',
      query: z.strictObject({ to: z.string().max(320).optional(), limit: z.coerce.number().int().min(1).max(500).optional() }),
      success: { status: 200, description: 'The mails.', schema: z.object({ mails: z.array(outboxSchema) }) },
      noStore: true,
      handler: async ({ query, ctx }) => ({
        mails: (await authn.mailer.outbox(ctx.tenantId, { to: query.to, limit: query.limit })).map((m) => ({ id: m.id, to: m.to, subject: m.subject, text: m.text, kind: m.kind, user_id: m.userId, created_at: m.createdAt })),
      }),
    }),
  ];
}
