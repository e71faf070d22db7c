// Delivery over SMTP with nodemailer. One connection per message (no pool): account mail is a
// trickle, and a pooled connection that the relay dropped is one more failure mode to retry.
import { createTransport } from 'nodemailer';
import type { MailMessage, MailTransport } from './message.js';

export interface SmtpOptions {
  /** smtp:// (STARTTLS when the server offers it) or smtps:// (TLS from the first byte). */
  url: string;
  user: string | null;
  password: string | null;
  from: string;
}

export function smtpTransport(opts: SmtpOptions): MailTransport {
  const u = new URL(opts.url);
  const auth = opts.user !== null ? { user: opts.user, pass: opts.password ?? '' } : u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined;
  const transporter = createTransport({
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 587,
    secure: u.protocol === 'smtps:',
    auth,
    // Bounded so a relay that accepts the connection and then stalls cannot hold the queue's
    // worker for long; the message is retried with back-off instead.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    // nodemailer's own logger would print the envelope (addresses) and the body (links with tokens).
    logger: false,
    debug: false,
  });
  return {
    name: 'smtp',
    async send(m: MailMessage) {
      await transporter.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text, html: m.html, messageId: `<${m.id}@latchkey>` });
    },
    async close() {
      transporter.close();
    },
  };
}
