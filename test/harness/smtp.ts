// A real SMTP server for tests (the smtp-server package on a free 127.0.0.1 port): it accepts
// every message, keeps it, and decodes enough MIME to read the links the server sent. It can be
// stopped and started again on the same port, to test delivery while the relay is down.
import { SMTPServer } from 'smtp-server';
import { freePort } from './free-port.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  raw: string;
  /** The first link in the text part, if any. */
  link: string | null;
  /** That link's `token` query parameter. */
  token: string | null;
  receivedAt: number;
}

export interface SmtpHarness {
  readonly port: number;
  readonly url: string;
  readonly messages: ReceivedMail[];
  /** Resolves with the first message (from now on, or already received) to `to` matching `filter`. */
  waitFor(to: string, filter?: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  stop(): Promise<void>;
  /** Listens again on the same port after stop(). */
  start(): Promise<void>;
}

function decodeQuotedPrintable(s: string): string {
  const bytes = Buffer.from(s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  return bytes.toString('utf8');
}

function decodePart(headers: string, body: string): string {
  const enc = /content-transfer-encoding:\s*([\w-]+)/i.exec(headers)?.[1]?.toLowerCase();
  if (enc === 'quoted-printable') return decodeQuotedPrintable(body);
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

function decodeHeader(v: string): string {
  return v.replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_m, kind: string, text: string) =>
    kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64').toString('utf8') : decodeQuotedPrintable(text.replace(/_/g, ' ')),
  );
}

/** Just enough MIME for what nodemailer writes: one level of multipart/alternative. */
export function parseMail(raw: string): { subject: string; text: string; html: string } {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\r\n\r\n');
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const subject = decodeHeader(/^subject:\s*(.*)$/im.exec(unfolded)?.[1] ?? '');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(unfolded)?.[1];
  let text = '';
  let html = '';
  if (!boundary) {
    text = decodePart(unfolded, body);
  } else {
    for (const part of body.split(`--${boundary}`)) {
      const [ph = '', ...pb] = part.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
      const content = decodePart(ph, pb.join('\r\n\r\n').replace(/\r?\n$/, ''));
      if (/content-type:\s*text\/plain/i.test(ph)) text = content;
      else if (/content-type:\s*text\/html/i.test(ph)) html = content;
    }
  }
  return { subject, text, html };
}

export async function startSmtp(port?: number): Promise<SmtpHarness> {
  const p = port ?? (await freePort());
  const messages: ReceivedMail[] = [];
  const waiters: Array<{ to: string; filter: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }> = [];
  const make = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const parsed = parseMail(raw);
          const link = /https?:\/\/\S+/.exec(parsed.text)?.[0] ?? null;
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            ...parsed,
            raw,
            link,
            token: link ? new URL(link).searchParams.get('token') : null,
            receivedAt: Date.now(),
          };
          messages.push(mail);
          for (const w of waiters.slice()) {
            if (mail.to.includes(w.to) && w.filter(mail)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(mail);
            }
          }
          callback();
        });
      },
    });
  let server = make();
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => resolve());
    });
  await listen();
  let running = true;
  return {
    port: p,
    url: `smtp://127.0.0.1:${p}`,
    messages,
    waitFor(to, filter = () => true, timeoutMs = 10_000) {
      const found = messages.find((m) => m.to.includes(to) && filter(m));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no mail to ${to} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ to, filter, resolve: (m) => (clearTimeout(t), resolve(m)) });
      });
    },
    async stop() {
      if (!running) return;
      running = false;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async start() {
      if (running) return;
      server = make();
      await listen();
      running = true;
    },
  };
}
