/**
 * A PostgreSQL `LISTEN` connection that stays up: on a failed connect or a dropped connection it
 * logs a warning and reconnects after `retryMs`; after every (re)connect it calls `onNotify` once,
 * since a `NOTIFY` may have been sent while it was not listening. Used by the followers that keep
 * in-memory state (the authorization index, the API-token cache) in step with the database; they
 * also poll, so a missed notification only delays them.
 */
import pg from 'pg';
import type { Logger } from '../kernel/logger.js';

export interface PgListenerOptions {
  /** PostgreSQL connection string. */
  url: string;
  /** Channel name (an SQL identifier, not user input). */
  channel: string;
  /** Called for each notification and after each successful (re)connect. */
  onNotify: () => void;
  /** Prefix of the warnings, e.g. `authz changelog`. */
  label: string;
  logger?: Logger | undefined;
  /** Delay before reconnecting, in milliseconds (default 1000). */
  retryMs?: number;
}

export class PgListener {
  private client: pg.Client | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: PgListenerOptions) {}

  /** Connects and listens (in the background; failures are retried, never thrown). */
  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { url, channel, onNotify, label, logger } = this.options;
    const client = new pg.Client({ connectionString: url });
    client.on('notification', () => onNotify());
    client.on('error', (err) => {
      logger?.warn({ err }, `${label}: LISTEN connection failed; polling continues, reconnecting`);
      void client.end().catch(() => undefined);
      if (this.client === client) this.client = null;
      this.retry();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.client = client;
      onNotify();
    } catch (err) {
      logger?.warn({ err }, `${label}: cannot LISTEN; polling continues, retrying`);
      await client.end().catch(() => undefined);
      this.retry();
    }
  }

  private retry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, this.options.retryMs ?? 1000);
    this.retryTimer.unref();
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
