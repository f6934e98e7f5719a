/**
 * Outgoing mail: through SMTP with nodemailer when `smtpUrl` is configured, otherwise into the
 * `mail_outbox` table, which `GET /api/v1/outbox` lists, so reset and notice mails work (and can be
 * tested) without a mail server. Mail bodies are never logged.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { Clock } from '../kernel/clock.js';
import { newId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { Storage } from '../storage/database.js';

/** One message. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** What the mail is about: `password_reset`, `password_changed`, `mfa_changed`, `passkey_added` ... */
  kind: string;
  userId?: string | null;
}

/** A row of the outbox, as listed by the admin API. */
export interface OutboxEntry {
  id: string;
  to: string;
  subject: string;
  text: string;
  kind: string;
  userId: string | null;
  createdAt: string;
}

export interface MailerSettings {
  smtpUrl?: string | undefined;
  mailFrom: string;
}

export class Mailer {
  private readonly transport: Transporter | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: MailerSettings,
  ) {
    this.transport = settings.smtpUrl ? nodemailer.createTransport(settings.smtpUrl) : undefined;
  }

  /** True when mail goes to the outbox table rather than an SMTP server. */
  get usesOutbox(): boolean {
    return this.transport === undefined;
  }

  /**
   * Sends (SMTP) or stores (outbox) a message. SMTP failures are logged (without the body) and
   * swallowed, so a mail server outage never reveals whether an account exists.
   */
  async send(tenantId: string, msg: MailMessage): Promise<void> {
    if (this.transport) {
      try {
        await this.transport.sendMail({ from: this.settings.mailFrom, to: msg.to, subject: msg.subject, text: msg.text });
      } catch (err) {
        this.logger.error({ kind: msg.kind, error: (err as Error).message }, 'mail could not be sent');
      }
      return;
    }
    await this.storage.db
      .insertInto('mail_outbox')
      .values({
        tenant_id: tenantId,
        id: newId(),
        recipient: msg.to,
        subject: msg.subject,
        body_text: msg.text,
        kind: msg.kind,
        user_id: msg.userId ?? null,
        created_at: this.clock.now().toISOString(),
      })
      .execute();
  }

  /** The outbox, newest first, at most `limit` entries. */
  async outbox(tenantId: string, opts: { limit?: number; to?: string } = {}): Promise<OutboxEntry[]> {
    let q = this.storage.db.selectFrom('mail_outbox').selectAll().where('tenant_id', '=', tenantId);
    if (opts.to) q = q.where('recipient', '=', opts.to);
    const rows = await q.orderBy('id', 'desc').limit(opts.limit ?? 100).execute();
    return rows.map((r) => ({ id: r.id, to: r.recipient, subject: r.subject, text: r.body_text, kind: r.kind, userId: r.user_id, createdAt: r.created_at }));
  }
}
