/**
 * Emails notifications (rows of `notifications` written by workers/notifier.ts) through
 * an SMTP server with nodemailer, when SMTP_URL is set.
 *
 * A notifier instance claims due rows for a lease (next_send_at moves past the lease),
 * sends each, and only then records sent_at. Sending is therefore at least once: a
 * process that dies after the server accepted a message but before sent_at committed
 * sends it again once the lease runs out. Every copy carries the same Message-ID
 * (<notification-ID@domain>), so mail clients and servers that deduplicate by Message-ID
 * show it once. Exactly once, end to end, is the notification row; its email is "once,
 * or again with the same Message-ID after a crash at that one moment".
 *
 * A transient failure (no connection, timeout, 4xx) is retried (common/retry.ts), then
 * the row waits a backed-off while for the next round; a permanent one (5xx: no such
 * mailbox, rejected) or MAX_ATTEMPTS rounds gives up and records send_error.
 */
import nodemailer from 'nodemailer';
import type { Pool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import { PipelineError } from '../common/errors.js';
import { backoffMs, retry } from '../common/retry.js';
import { faultPoint } from '../common/faults.js';
import { startPolling } from './outbox.js';

/** Rounds (each with its own quick retries) before a notification's email is given up. */
const MAX_ATTEMPTS = 8;
const SEND_RETRY = { retries: 2, baseMs: 200, maxMs: 2_000 };
const ROUND_BACKOFF = { baseMs: 2_000, maxMs: 600_000 };
const BATCH = 50;

/** The SMTP server refused or could not take a message; `retriable` unless it answered 5xx. */
export class EmailSendError extends PipelineError {
  constructor(readonly responseCode: number | undefined, message: string, cause?: unknown) {
    super(message, { retriable: responseCode === undefined || responseCode < 500, cause });
  }
}

interface Due { id: number; title: string; body: string; attempts: number; email: string | null; name: string | null }

export interface EmailSettings { smtpUrl: string; from: string; leaseMs: number; pollMs: number }

/** SMTP_URL with a connection pool and bounded timeouts unless the URL sets its own. */
function transportUrl(smtpUrl: string): string {
  const url = new URL(smtpUrl);
  const defaults: Record<string, string> = { pool: 'true', maxConnections: '4', connectionTimeout: '10000', greetingTimeout: '10000', socketTimeout: '20000' };
  for (const [key, value] of Object.entries(defaults)) if (!url.searchParams.has(key)) url.searchParams.set(key, value);
  return url.toString();
}

export class NotificationEmailer {
  private readonly transport: nodemailer.Transporter;
  private readonly domain: string;
  private poller: { stop(): Promise<void> } | undefined;

  constructor(private readonly pool: Pool, private readonly settings: EmailSettings, private readonly log: Logger) {
    this.transport = nodemailer.createTransport(transportUrl(settings.smtpUrl));
    this.domain = /@([^>\s]+)/.exec(settings.from)?.[1] ?? 'localhost';
  }

  start(): void {
    this.poller = startPolling(() => this.step(), BATCH, this.settings.pollMs);
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
    this.transport.close();
  }

  /** The host the emails go to, for the log (never the credentials in the URL). */
  get server(): string {
    const url = new URL(this.settings.smtpUrl);
    return `${url.protocol}//${url.host}`;
  }

  private async step(): Promise<number> {
    try {
      return await this.sendDue();
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'emailing notifications failed; trying again next round');
      return 0;
    }
  }

  /** Claims a batch of due notifications for the lease and emails them; returns how many it claimed. */
  async sendDue(): Promise<number> {
    const { rows } = await this.pool.query<Due>(
      `WITH due AS (
         SELECT notification_id FROM notifications WHERE sent_at IS NULL AND next_send_at <= now()
          ORDER BY next_send_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE notifications n SET next_send_at = now() + make_interval(secs => $2::double precision / 1000),
              send_attempts = n.send_attempts + 1
         FROM due WHERE n.notification_id = due.notification_id
       RETURNING n.notification_id::int AS id, n.title, n.body, n.send_attempts AS attempts,
                 (SELECT u.email FROM users u WHERE u.user_id = n.user_id) AS email,
                 (SELECT u.name FROM users u WHERE u.user_id = n.user_id) AS name`, [BATCH, this.settings.leaseMs]);
    await Promise.all(rows.map((row) => this.sendOne(row)));
    return rows.length;
  }

  private async sendOne(row: Due): Promise<void> {
    if (!row.email) {
      await this.giveUp(row.id, 'the recipient has no email address');
      return;
    }
    try {
      await retry(() => this.deliver(row, row.email!), {
        ...SEND_RETRY,
        isRetriable: (error) => error instanceof PipelineError && error.retriable,
      });
    } catch (error) {
      const message = (error as Error).message;
      if (error instanceof PipelineError && error.retriable && row.attempts < MAX_ATTEMPTS) {
        const delayMs = Math.max(ROUND_BACKOFF.baseMs, backoffMs(row.attempts, ROUND_BACKOFF.baseMs, ROUND_BACKOFF.maxMs));
        await this.pool.query(
          `UPDATE notifications SET next_send_at = now() + make_interval(secs => $2::double precision / 1000), send_error = $3
            WHERE notification_id = $1 AND sent_at IS NULL`, [row.id, delayMs, message]);
        this.log.warn({ notificationId: row.id, attempts: row.attempts, delayMs, err: message }, 'email not sent; trying again later');
      } else {
        await this.giveUp(row.id, message);
      }
      return;
    }
    await faultPoint('notifier.after-send');
    await this.pool.query('UPDATE notifications SET sent_at = now(), next_send_at = NULL, send_error = NULL WHERE notification_id = $1', [row.id]);
  }

  private async deliver(row: Due, to: string): Promise<void> {
    try {
      await this.transport.sendMail({
        from: this.settings.from,
        to: row.name ? { name: row.name, address: to } : to,
        subject: row.title,
        text: row.body,
        messageId: `<notification-${row.id}@${this.domain}>`,
        headers: { 'X-Notification-Id': String(row.id) },
      });
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      throw new EmailSendError(code, `SMTP ${code ?? 'connection'}: ${(error as Error).message}`, error);
    }
  }

  private async giveUp(id: number, reason: string): Promise<void> {
    await this.pool.query('UPDATE notifications SET next_send_at = NULL, send_error = $2 WHERE notification_id = $1 AND sent_at IS NULL', [id, reason]);
    this.log.error({ notificationId: id, reason }, 'email given up');
  }
}
