/**
 * Makes API-token revocations and rotations made by another process (the CLI, another replica)
 * reach this instance's authentication cache promptly (src/identity/api-tokens.ts).
 *
 * Every revocation and rotation writes an audit event (`api_token.revoke` / `api_token.rotate`)
 * in its own transaction. Audit appends are serialised by the chain head's row lock, so their
 * `seq` commits in order: reading `seq > last` never skips an event that commits later with a
 * smaller `seq`. The follower polls, every {@link ApiTokenFollowerOptions.pollIntervalMs}
 * (default {@link DEFAULT_API_TOKEN_POLL_MS} ms), with one query on the `(tenant_id, action, seq)`
 * index, and evicts the tokens named by new events. On PostgreSQL it also wakes on
 * `LISTEN gatehouse_api_tokens` (each revocation and rotation sends `NOTIFY` in its transaction,
 * so it arrives at commit) — the same pattern as the authz changelog follower (src/authz/follower.ts).
 *
 * Bound: a revocation or rotation committed elsewhere stops the old secret here within one poll
 * interval plus one query (PostgreSQL: normally as soon as the notification arrives); never later
 * than the cache TTL, which still applies.
 */
import { PgListener } from '../storage/pg-listener.js';
import type { Logger } from '../kernel/logger.js';
import type { Storage } from '../storage/database.js';
import { API_TOKEN_CHANNEL, API_TOKEN_REVOCATION_ACTIONS, type ApiTokenService } from './api-tokens.js';

/** Default of {@link ApiTokenFollowerOptions.pollIntervalMs}. */
export const DEFAULT_API_TOKEN_POLL_MS = 1000;

/** Options of {@link ApiTokenRevocationFollower}. */
export interface ApiTokenFollowerOptions {
  storage: Storage;
  tokens: ApiTokenService;
  logger?: Logger;
  /** Polling period in milliseconds (default 1000). */
  pollIntervalMs?: number;
  /** PostgreSQL connection string to LISTEN on; null/undefined: polling only. */
  listenUrl?: string | null;
}

/** Follows revocation/rotation audit events and evicts those tokens from the cache. */
export class ApiTokenRevocationFollower {
  private readonly cursors = new Map<string, number>();
  private readonly pollIntervalMs: number;
  private readonly listenUrl: string | null;
  private timer: NodeJS.Timeout | null = null;
  private listener: PgListener | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private closed = false;

  constructor(private readonly options: ApiTokenFollowerOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_API_TOKEN_POLL_MS;
    this.listenUrl = options.storage.kind === 'postgres' ? (options.listenUrl ?? null) : null;
  }

  /** Reads the current position of every tenant, then starts polling and (PostgreSQL) listening. */
  async start(): Promise<void> {
    const rows = await this.options.storage.db
      .selectFrom('audit_events')
      .select(['tenant_id'])
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('action', 'in', API_TOKEN_REVOCATION_ACTIONS)
      .groupBy('tenant_id')
      .execute();
    for (const r of rows) this.cursors.set(r.tenant_id, Number(r.seq));
    this.schedule();
    if (this.listenUrl) {
      this.listener = new PgListener({ url: this.listenUrl, channel: API_TOKEN_CHANNEL, label: 'api tokens', logger: this.options.logger, onNotify: () => this.kick() });
      this.listener.start();
    }
  }

  /**
   * Evicts every token revoked or rotated since the last catch-up, for each tenant with cached
   * tokens. Concurrent calls share one run (which goes round once more).
   */
  catchUp(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    // `.finally` runs after the assignment, even when the loop finishes synchronously.
    const run = this.loop().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async loop(): Promise<void> {
    do {
      this.rerun = false;
      for (const tenantId of this.options.tokens.cachedTenants()) await this.catchUpTenant(tenantId);
    } while (this.rerun && !this.closed);
  }

  private async catchUpTenant(tenantId: string): Promise<void> {
    const after = this.cursors.get(tenantId) ?? 0;
    const rows = await this.options.storage.db
      .selectFrom('audit_events')
      .select(['seq', 'target_id'])
      .where('tenant_id', '=', tenantId)
      .where('action', 'in', API_TOKEN_REVOCATION_ACTIONS)
      .where('seq', '>', after)
      .orderBy('seq')
      .execute();
    if (rows.length === 0) return;
    this.options.tokens.forgetMany(tenantId, rows.flatMap((r) => (r.target_id ? [r.target_id] : [])));
    this.cursors.set(tenantId, Number(rows[rows.length - 1]!.seq));
  }

  private kick(): void {
    if (this.closed) return;
    this.catchUp().catch((err: unknown) => this.options.logger?.warn({ err }, 'api tokens: revocation catch-up failed; retrying'));
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.catchUp()
        .catch((err: unknown) => this.options.logger?.warn({ err }, 'api tokens: revocation catch-up failed; retrying'))
        .finally(() => this.schedule());
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  /** Stops polling and listening; waits for a catch-up in flight. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const l = this.listener;
    this.listener = null;
    if (l) await l.close();
    if (this.running) await this.running.catch(() => undefined);
  }
}
