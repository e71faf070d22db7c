// The embedded default without SMTP: messages are kept in memory (the last OUTBOX_SIZE) and
// logged at info with their link, so the two-command start does every flow end to end. This is
// a development aid: it shows links that carry tokens, which is why it exists only when no SMTP
// relay is configured, and why the demo lists it only to loopback callers (demo.ts).
import type { Logger } from 'pino';
import type { MailMessage, MailTransport } from './message.js';

export const OUTBOX_SIZE = 100;

export interface OutboxEntry {
  id: string;
  kind: MailMessage['kind'];
  to: string;
  subject: string;
  text: string;
  link: string | null;
  at: string;
}

export interface DevOutbox extends MailTransport {
  /** Newest first. */
  list(): OutboxEntry[];
}

/**
 * `logLinks`: only in the embedded shape. A scale-out deployment without SMTP is a configuration
 * mistake, and its logs (shipped, kept, read by many) must not hold reset links that sign in as
 * their recipients: it gets one warning at start and messages logged without their link.
 */
export function devOutbox(logger: Logger, now: () => number, opts: { logLinks: boolean } = { logLinks: true }): DevOutbox {
  const kept: OutboxEntry[] = [];
  if (!opts.logLinks) logger.warn('no LATCHKEY_SMTP_URL set: account mail (verification, password reset) is not delivered; set it for this deployment');
  return {
    name: 'outbox',
    async send(m) {
      kept.unshift({ id: m.id, kind: m.kind, to: m.to, subject: m.subject, text: m.text, link: m.link, at: new Date(now()).toISOString() });
      kept.length = Math.min(kept.length, OUTBOX_SIZE);
      // The link, not the address: the log is for the developer at the console.
      if (opts.logLinks) logger.info({ mailId: m.id, mail: m.kind, link: m.link }, 'dev outbox: message (no LATCHKEY_SMTP_URL set)');
      else logger.warn({ mailId: m.id, mail: m.kind }, 'account mail not delivered: no LATCHKEY_SMTP_URL set');
    },
    list: () => kept.slice(),
    async close() {},
  };
}
