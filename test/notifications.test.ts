/**
 * Notifications exactly once, and their email through a real SMTP server (the
 * smtp-server package, in this process): orders confirmed and declined through the
 * payment sandbox and settler, a low-stock alert, and the notifier killed with SIGKILL
 * mid-batch (before its COMMIT), restarted, and fed redelivered events; then the
 * at-least-once edge of email (killed after the SMTP server accepted, before sent_at).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { eventually } from './support/stack.js';
import { freePort, startProcess, startReady, type RunningProcess } from './support/processes.js';
import { backlog, confirmedOrder, placeOrder, sellerProduct, startPaidStack, waitForStatus, type PaidStack } from './support/fulfilment.js';

interface Mail { messageId: string; notificationId: number; to: string; subject: string }

let stack: PaidStack;
let notifier: RunningProcess | undefined;
let smtp: SMTPServer;
let env: Record<string, string>;
const mails: Mail[] = [];
const busyOnce = new Set<string>();

/** Header fields of a raw message (unfolded), lower-case names. */
function headersOf(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  return new Map(head.split(/\r?\n/).map((line) => {
    const at = line.indexOf(':');
    return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()] as [string, string];
  }));
}

function smtpError(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

beforeAll(async () => {
  const port = await freePort();
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('reject-')) return callback(smtpError('Mailbox does not exist', 550));
      if (address.address.startsWith('busy-') && !busyOnce.has(address.address)) {
        busyOnce.add(address.address);
        return callback(smtpError('Mailbox busy, try again later', 451));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const headers = headersOf(Buffer.concat(chunks).toString('utf8'));
        mails.push({
          messageId: headers.get('message-id') ?? '', notificationId: Number(headers.get('x-notification-id')),
          to: session.envelope.rcptTo.map((r) => r.address).join(','), subject: headers.get('subject') ?? '',
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(port, '127.0.0.1', resolve));
  env = { SMTP_URL: `smtp://127.0.0.1:${port}`, SMTP_FROM: 'Test Shop <shop@test.local>', EMAIL_LEASE_MS: '2000', OUTBOX_POLL_MS: '100' };
  stack = await startPaidStack();
  notifier = await startReady('notifier', env);
});

afterAll(async () => {
  await notifier?.kill('SIGTERM');
  await stack?.stop();
  await new Promise<void>((resolve) => smtp?.close(resolve));
});

interface Row { id: number; source: string; sourceId: string; userId: string; kind: string; title: string; sentAt: Date | null }

/** Notifications about these orders or low-stock alerts of these products. */
async function notificationsOf(orderIds: string[], productIds: string[] = []): Promise<Row[]> {
  const { rows } = await stack.db.query<Row>(
    `SELECT notification_id::int AS id, source, source_id AS "sourceId", user_id AS "userId", kind, title, sent_at AS "sentAt"
       FROM notifications WHERE order_id = ANY($1::uuid[]) OR (kind = 'low_stock' AND product_id = ANY($2::uuid[]))
      ORDER BY notification_id`, [orderIds, productIds]);
  return rows;
}

/** The outbox rows that must notify someone: these orders' confirmed/failed events, these products' alerts. */
async function expectedSources(orderIds: string[], productIds: string[]): Promise<string[]> {
  const { rows } = await stack.db.query<{ key: string }>(
    `SELECT 'order_event:' || event_id AS key FROM order_events WHERE order_id = ANY($1::uuid[]) AND status IN ('confirmed', 'failed')
     UNION ALL SELECT 'low_stock_alert:' || alert_id FROM low_stock_alerts WHERE product_id = ANY($2::uuid[])
     ORDER BY 1`, [orderIds, productIds]);
  return rows.map((r) => r.key);
}

const mailsOf = (id: number) => mails.filter((m) => m.notificationId === id);

async function allSent(orderIds: string[], productIds: string[] = [], count?: number): Promise<Row[]> {
  let rows: Row[] = [];
  await eventually(async () => {
    rows = await notificationsOf(orderIds, productIds);
    return (count === undefined || rows.length === count) && rows.every((r) => r.sentAt !== null);
  }, 20_000, `notifications of ${orderIds.length} orders sent (have ${rows.length}, unsent ${rows.filter((r) => !r.sentAt).length})`);
  return rows;
}

describe('notifier', () => {
  it('notifies and emails each event exactly once across a SIGKILL mid-batch, a restart and redelivery', async () => {
    const buyer = await stack.api.newUser();
    const seller = await stack.api.newUser('seller');
    const product = await sellerProduct(stack, seller.token, 40, 1_200);

    // Phase 1: a running notifier handles three confirmed orders.
    const first = await Promise.all([1, 2, 3].map(() => confirmedOrder(stack, buyer.token, [{ productId: product, quantity: 1 }])));
    await allSent(first, [], 3);
    await notifier!.kill('SIGKILL');

    // Phase 2, while it is down: more orders, a declined one, a low-stock alert.
    const second = await Promise.all([1, 2, 3, 4].map(() => confirmedOrder(stack, buyer.token, [{ productId: product, quantity: 1 }])));
    const declined = await placeOrder(stack, buyer.token, [{ productId: product, quantity: 1 }], 'pm_card_chargeDeclinedInsufficientFunds');
    await waitForStatus(stack, buyer.token, declined, 'failed');
    expect((await stack.api.request('PUT', `/v1/inventory/${product}`, { token: seller.token, body: { lowStockThreshold: 100 } })).status).toBe(200);
    const orders = [...first, ...second, declined];
    const expected = await expectedSources(orders, [product]);
    expect(expected).toHaveLength(3 + 4 + 1 + 1);

    // A notifier killed after writing its batch, before COMMIT: nothing of that batch stays.
    const doomed = startProcess('notifier', { ...env, FAULT_POINT: 'notifier.before-commit' });
    await doomed.waitFor(/FAULT_POINT_REACHED notifier.before-commit/);
    await doomed.kill('SIGKILL');
    expect(await notificationsOf(orders, [product])).toHaveLength(3);

    // Redelivery: phase 1's events are queued again.
    await stack.db.query(
      `INSERT INTO outbox_queue (consumer, source, source_id)
       SELECT 'notifier', 'order_event', event_id::text FROM order_events WHERE order_id = ANY($1::uuid[])`, [first]);
    notifier = await startReady('notifier', env);
    await eventually(async () => (await backlog(stack, 'notifier')) === 0, 20_000, 'the notifier to drain the outbox');
    const rows = await allSent(orders, [product], expected.length);

    // Exactly one notification per event and recipient, and one email each.
    expect(rows.map((r) => `${r.source}:${r.sourceId}`).sort()).toEqual(expected);
    expect(rows.filter((r) => r.kind === 'order_confirmed')).toHaveLength(7);
    expect(rows.filter((r) => r.kind === 'payment_failed')).toHaveLength(1);
    expect(rows.find((r) => r.kind === 'low_stock')?.userId).toBe(seller.userId);
    for (const row of rows) {
      const sent = mailsOf(row.id);
      expect(sent, `emails of notification ${row.id}`).toHaveLength(1);
      expect(sent[0]!.messageId).toBe(`<notification-${row.id}@test.local>`);
      expect(sent[0]!.subject).toBe(row.title);
      expect(sent[0]!.to).toContain(row.userId === seller.userId ? seller.email : buyer.email);
    }
    const listed = await stack.api.request<{ notifications: { kind: string; email: { status: string } }[] }>(
      'GET', '/v1/notifications?kind=low_stock', { token: seller.token });
    expect(listed.body.notifications).toEqual([expect.objectContaining({ kind: 'low_stock', email: expect.objectContaining({ status: 'sent' }) })]);
  });

  it('emails at least once: killed after the SMTP server accepted, it sends again with the same Message-ID', async () => {
    const buyer = await stack.api.newUser();
    const seller = await stack.api.newUser('seller');
    const product = await sellerProduct(stack, seller.token, 10, 800);
    await eventually(async () => (await backlog(stack, 'notifier')) === 0, 20_000, 'an idle notifier');
    await eventually(async () => (await stack.db.query('SELECT 1 FROM notifications WHERE sent_at IS NULL AND next_send_at IS NOT NULL')).rowCount === 0,
      20_000, 'no email in flight');
    await notifier!.kill('SIGKILL');
    const orders = await Promise.all([1, 2].map(() => confirmedOrder(stack, buyer.token, [{ productId: product, quantity: 1 }])));

    const doomed = startProcess('notifier', { ...env, FAULT_POINT: 'notifier.after-send' });
    await doomed.waitFor(/FAULT_POINT_REACHED notifier.after-send/);
    let rows: Row[] = [];
    await eventually(async () => {
      rows = await notificationsOf(orders);
      return rows.length === 2 && rows.every((r) => mailsOf(r.id).length === 1);
    }, 20_000, 'both emails accepted by the SMTP server');
    await doomed.kill('SIGKILL');
    expect((await notificationsOf(orders)).every((r) => r.sentAt === null)).toBe(true);

    notifier = await startReady('notifier', env);
    rows = await allSent(orders, [], 2); // after the lease (EMAIL_LEASE_MS) runs out
    for (const row of rows) {
      const copies = mailsOf(row.id);
      expect(copies).toHaveLength(2);
      expect(new Set(copies.map((m) => m.messageId))).toEqual(new Set([`<notification-${row.id}@test.local>`]));
    }
  });

  it('retries a 4xx answer and gives up on a 5xx one', async () => {
    const seller = await stack.api.newUser('seller');
    const product = await sellerProduct(stack, seller.token, 10, 500);
    const register = async (prefix: string) => {
      const email = `${prefix}-${randomUUID()}@test.local`;
      const res = await stack.api.request('POST', '/v1/users/register', { body: { name: 'Mail Test', email, password: 'password-123' } });
      expect(res.status).toBe(201);
      return { ...(await stack.api.login(email, 'password-123')), email };
    };
    const [busy, reject] = await Promise.all([register('busy'), register('reject')]);
    const [busyOrder, rejectOrder] = await Promise.all([
      confirmedOrder(stack, busy.token, [{ productId: product, quantity: 1 }]),
      confirmedOrder(stack, reject.token, [{ productId: product, quantity: 1 }]),
    ]);
    const [sent] = await allSent([busyOrder], [], 1);
    expect(busyOnce.has(busy.email)).toBe(true); // refused once with 451, then accepted
    expect(mailsOf(sent!.id)).toHaveLength(1);

    let status = '';
    await eventually(async () => {
      const res = await stack.api.request<{ notifications: { orderId: string; email: { status: string } }[] }>(
        'GET', '/v1/notifications', { token: reject.token });
      status = res.body.notifications.find((n) => n.orderId === rejectOrder)?.email.status ?? '';
      return status === 'failed';
    }, 20_000, `the 550 to be given up (status ${status})`);
    const { rows } = await stack.db.query<{ error: string; attempts: number }>(
      'SELECT send_error AS error, send_attempts AS attempts FROM notifications WHERE order_id = $1', [rejectOrder]);
    expect(rows[0]!.error).toMatch(/550/);
    expect(rows[0]!.attempts).toBe(1);
    expect(mails.filter((m) => m.to.includes(reject.email))).toHaveLength(0);
  });
});
