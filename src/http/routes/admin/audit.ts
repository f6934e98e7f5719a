import { z } from 'zod';
import type { AuditEvent } from '../../../audit/audit-log.js';
import type { AdminApiServices } from './index.js';
import { defineRoute, type AdminRoute } from './route.js';
import { DEFAULT_PAGE_SIZE, instant, MAX_PAGE_SIZE } from './schemas.js';

const auditEventSchema = z
  .object({
    seq: z.number().int().meta({ description: 'Position in the tenant\'s hash chain: 1, 2, 3, … without gaps.' }),
    id: z.string(),
    occurred_at: z.string(),
    actor: z.object({ type: z.string(), id: z.string().nullable() }),
    action: z.string().meta({ description: '`noun.verb`, e.g. `user.create`, `group.member_add`, `signin.failure`.' }),
    outcome: z.string().meta({ description: '`success` or `failure`.' }),
    target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
    request_id: z.string().nullable(),
    source_ip: z.string().nullable(),
    before: z.unknown().meta({ description: 'State before the change (JSON), or null.' }),
    after: z.unknown().meta({ description: 'State after the change (JSON), or null.' }),
    details: z.unknown(),
    hash: z.string().meta({ description: 'SHA-256 hex over the previous entry\'s hash and this entry.' }),
  })
  .meta({ id: 'AuditEvent' });

const auditPage = z
  .object({
    items: z.array(auditEventSchema),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null when this page is the last.' }),
  })
  .meta({ id: 'AuditEventList' });

const auditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE).meta({ description: `Largest number of entries to return (1..${MAX_PAGE_SIZE}).` }),
  after: z.string().regex(/^\d{1,15}$/, 'must be a cursor from next_cursor').optional().meta({ description: 'Cursor: `next_cursor` of the previous page.' }),
  action: z.string().min(1).max(128).optional().meta({ description: 'Only entries with this action, e.g. `user.create`.' }),
  actor_id: z.string().min(1).max(128).optional().meta({ description: 'Only entries by this actor (API token id, user id, …).' }),
  target_id: z.string().min(1).max(128).optional().meta({ description: 'Only entries about this target id.' }),
  outcome: z.enum(['success', 'failure']).optional(),
  since: instant.optional().meta({ description: 'Only entries at or after this instant (RFC 3339).' }),
  until: instant.optional().meta({ description: 'Only entries before this instant (RFC 3339).' }),
});

function auditEventToJson(e: AuditEvent): z.output<typeof auditEventSchema> {
  return {
    seq: e.seq,
    id: e.id,
    occurred_at: e.occurredAt,
    actor: e.actor,
    action: e.action,
    outcome: e.outcome,
    target: e.target,
    request_id: e.requestId,
    source_ip: e.sourceIp,
    before: e.before,
    after: e.after,
    details: e.details,
    hash: e.hash,
  };
}

/** GET /audit: the audit log, oldest first, with filters and cursor paging. */
export function auditRoutes(services: AdminApiServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/audit',
      operationId: 'listAuditEvents',
      summary: 'List audit log entries',
      description: 'Oldest first. Every change and every sign-in success and failure is recorded, in the same transaction as the change.',
      tag: 'audit',
      query: auditQuery,
      success: { status: 200, description: 'A page of entries.', schema: auditPage },
      handler: async ({ ctx, query }) => {
        const items = await services.audit.list(services.storage.db, ctx.tenantId, {
          limit: query.limit,
          ...(query.after !== undefined ? { afterSeq: Number(query.after) } : {}),
          ...(query.action ? { action: query.action } : {}),
          ...(query.actor_id ? { actorId: query.actor_id } : {}),
          ...(query.target_id ? { targetId: query.target_id } : {}),
          ...(query.outcome ? { outcome: query.outcome } : {}),
          ...(query.since ? { since: new Date(query.since).toISOString() } : {}),
          ...(query.until ? { until: new Date(query.until).toISOString() } : {}),
        });
        const last = items[items.length - 1];
        return { items: items.map(auditEventToJson), next_cursor: items.length === query.limit && last ? String(last.seq) : null };
      },
    }),
  ];
}
