// What the use cases call: render, queue, return. Delivery happens later (./queue.ts), over SMTP
// when LATCHKEY_SMTP_URL is set, else into the dev outbox (./outbox.ts).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { MailKind } from './message.js';
import { devOutbox, type DevOutbox } from './outbox.js';
import { MailQueue } from './queue.js';
import { smtpTransport } from './smtp.js';
import { accountLink, renderMail } from './templates.js';

/** Where each kind's link points, relative to LATCHKEY_APP_URL. */
export const LINK_PATHS = {
  verify_email: 'verify-email',
  email_change_requested: 'verify-email',
  reset_password: 'reset-password',
} as const satisfies Partial<Record<MailKind, string>>;

export interface Mailer {
  /** Queues a message with a link carrying `token`; returns at once. */
  sendLink(kind: keyof typeof LINK_PATHS, to: string, token: string): void;
  /** Queues a notice (no link); returns at once. */
  sendNotice(kind: Exclude<MailKind, keyof typeof LINK_PATHS>, to: string): void;
  readonly queue: MailQueue;
  /** The dev outbox when no SMTP relay is configured; null otherwise. */
  readonly outbox: DevOutbox | null;
  close(): Promise<void>;
}

export function createMailer(config: Config, logger: Logger, now: () => number = Date.now): Mailer {
  // Links reach the log only in the embedded default (no Redis, no PostgreSQL): a developer's console.
  const embedded = config.redisUrl === null && config.redisClusterNodes === null && config.databaseUrl === null;
  const outbox = config.smtpUrl === null ? devOutbox(logger, now, { logLinks: embedded }) : null;
  const transport = outbox ?? smtpTransport({ url: config.smtpUrl!, user: config.smtpUser, password: config.smtpPassword, from: config.mailFrom });
  const queue = new MailQueue(transport, logger, {
    retryBaseMs: 1000,
    retryMaxMs: config.mailRetryMaxSec * 1000,
    maxAgeMs: config.mailMaxAgeSec * 1000,
    capacity: 10_000,
    now,
  });
  const brand = { productName: config.productName };
  const enqueue = (kind: MailKind, to: string, link: string | null) => {
    const r = renderMail(kind, brand, link);
    queue.enqueue({ id: randomBytes(12).toString('base64url'), kind, to, ...r, link, queuedAt: now() });
  };
  return {
    sendLink: (kind, to, token) => enqueue(kind, to, accountLink(config.appUrl, LINK_PATHS[kind], token)),
    sendNotice: (kind, to) => enqueue(kind, to, null),
    queue,
    outbox,
    close: () => queue.close(),
  };
}
