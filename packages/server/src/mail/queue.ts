// An in-process mail queue: enqueueing never waits for SMTP, so a request that sends mail answers
// as fast whether the relay is up, slow or down, and whether or not a message was sent at all (no
// account enumeration by timing, ASVS 5.0 V6.3.8). Failed deliveries are retried with exponential
// back-off (with jitter) up to `retryMaxMs` between tries, until `maxAgeMs` has passed.
// Log lines name the message's random id and kind and the SMTP error code: never the address,
// the subject, the body or the link (ASVS 5.0 V16.2.5).
import type { Logger } from 'pino';
import type { MailMessage, MailTransport } from './message.js';

export interface QueueOptions {
  retryBaseMs: number;
  retryMaxMs: number;
  /** A message still undelivered this long after it was queued is dropped (and logged). */
  maxAgeMs: number;
  /** Beyond this many waiting messages new ones are dropped (and logged): memory stays bounded. */
  capacity: number;
  now: () => number;
}

interface Pending {
  message: MailMessage;
  attempts: number;
  notBefore: number;
}

/** Only what an SMTP error says about the failure, never its text (which may quote the address). */
function errorFacts(err: unknown): Record<string, unknown> {
  const e = err as { code?: unknown; responseCode?: unknown; command?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : undefined,
    responseCode: typeof e.responseCode === 'number' ? e.responseCode : undefined,
    command: typeof e.command === 'string' ? e.command.split(' ', 1)[0] : undefined,
  };
}

export class MailQueue {
  private readonly waiting: Pending[] = [];
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private idle: Array<() => void> = [];

  constructor(
    readonly transport: MailTransport,
    private readonly logger: Logger,
    private readonly opts: QueueOptions,
  ) {}

  get size(): number {
    return this.waiting.length;
  }

  enqueue(message: MailMessage): void {
    if (this.closed) return;
    if (this.waiting.length >= this.opts.capacity) {
      this.logger.error({ mailId: message.id, mail: message.kind }, 'mail queue full: message dropped');
      return;
    }
    this.waiting.push({ message, attempts: 0, notBefore: 0 });
    // Never in the caller's turn of the event loop: the request is answered first.
    setImmediate(() => this.pump());
  }

  /** Resolves once nothing is waiting (or after `timeoutMs`); for shutdown and tests. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.waiting.length === 0 && !this.running) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.idle.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.waiting.length > 0) this.logger.warn({ undelivered: this.waiting.length }, 'mail queue closed with messages undelivered');
    this.waiting.length = 0;
    await this.transport.close();
  }

  private schedule(at: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(0, at - this.opts.now()));
    // Retrying mail must not keep a process alive that is otherwise done.
    this.timer.unref();
  }

  private async pump(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      for (;;) {
        const now = this.opts.now();
        const next = this.waiting.find((p) => p.notBefore <= now);
        if (!next) break;
        await this.attempt(next);
      }
    } finally {
      this.running = false;
    }
    if (this.waiting.length === 0) {
      for (const done of this.idle.splice(0)) done();
      return;
    }
    this.schedule(Math.min(...this.waiting.map((p) => p.notBefore)));
  }

  private async attempt(p: Pending): Promise<void> {
    p.attempts++;
    try {
      await this.transport.send(p.message);
      this.remove(p);
      if (p.attempts > 1) this.logger.info({ mailId: p.message.id, mail: p.message.kind, attempts: p.attempts }, 'mail delivered after retries');
    } catch (err) {
      const now = this.opts.now();
      if (now - p.message.queuedAt >= this.opts.maxAgeMs) {
        this.remove(p);
        this.logger.error({ mailId: p.message.id, mail: p.message.kind, attempts: p.attempts, ...errorFacts(err) }, 'mail undeliverable: given up');
        return;
      }
      const backoff = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (p.attempts - 1));
      // Jitter: many instances whose relay comes back must not all retry in the same millisecond.
      p.notBefore = now + Math.round(backoff * (0.75 + Math.random() * 0.25));
      this.logger.warn({ mailId: p.message.id, mail: p.message.kind, attempts: p.attempts, retryInMs: p.notBefore - now, ...errorFacts(err) }, 'mail delivery failed; will retry');
    }
  }

  private remove(p: Pending): void {
    const i = this.waiting.indexOf(p);
    if (i >= 0) this.waiting.splice(i, 1);
  }
}
