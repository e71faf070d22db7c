// Account mail through a real SMTP server (test/harness/smtp.ts): rendering, delivery, retry with
// back-off while the relay is down, the dev outbox, and what reaches the log.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../packages/server/src/config.js';
import { createMailer } from '../../packages/server/src/mail/mailer.js';
import { startSmtp } from '../harness/smtp.js';

function capturedLogger() {
  let raw = '';
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        raw += chunk.toString();
        cb();
      },
    }),
  );
  return { logger, raw: () => raw, lines: () => raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const TOKEN = 'tok_' + 'A'.repeat(40);

describe('mail delivery', () => {
  it('sends text and HTML with the link under LATCHKEY_APP_URL, from LATCHKEY_MAIL_FROM, naming the product', async () => {
    const smtp = await startSmtp();
    const log = capturedLogger();
    const config = loadConfig({
      LATCHKEY_SMTP_URL: smtp.url,
      LATCHKEY_MAIL_FROM: 'Acme Accounts <accounts@acme.test>',
      LATCHKEY_PRODUCT_NAME: 'Acme',
      LATCHKEY_APP_URL: 'https://app.acme.test/account/',
    });
    const mailer = createMailer(config, log.logger, Date.now);
    try {
      mailer.sendLink('reset_password', 'ann@example.com', TOKEN);
      const m = await smtp.waitFor('ann@example.com');
      assert.equal(m.from, 'accounts@acme.test');
      assert.match(m.subject, /Acme/);
      assert.equal(m.link, `https://app.acme.test/account/reset-password?token=${TOKEN}`);
      assert.equal(m.token, TOKEN);
      assert.ok(m.html.includes(`href="https://app.acme.test/account/reset-password?token=${TOKEN}"`), 'the HTML part carries the same link');
      assert.match(m.raw, /multipart\/alternative/);
      assert.ok(!log.raw().includes(TOKEN) && !log.raw().includes('ann@example.com'), 'neither the token nor the address is logged');
    } finally {
      await mailer.close();
      await smtp.stop();
    }
  });

  it('while SMTP is down, queueing returns at once; the message arrives once the relay is back, exactly once', async () => {
    const smtp = await startSmtp();
    await smtp.stop();
    const log = capturedLogger();
    const config = loadConfig({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_MAIL_RETRY_MAX: '1' });
    const mailer = createMailer(config, log.logger, Date.now);
    try {
      const t0 = performance.now();
      mailer.sendLink('verify_email', 'bob@example.com', TOKEN);
      assert.ok(performance.now() - t0 < 50, 'queueing does not wait for SMTP');
      // Let several attempts fail against the closed port.
      await new Promise((r) => setTimeout(r, 1500));
      const failures = log.lines().filter((l) => l.msg === 'mail delivery failed; will retry');
      assert.ok(failures.length >= 1, 'failed attempts are logged');
      assert.equal(failures[0]!.code, 'ESOCKET');
      assert.equal(smtp.messages.length, 0);
      const back = Date.now();
      await smtp.start();
      const m = await smtp.waitFor('bob@example.com', undefined, 5000);
      assert.ok(m.receivedAt - back < 3000, `delivered ${m.receivedAt - back} ms after SMTP came back (retry cap 1 s)`);
      assert.ok(await mailer.queue.drained(2000));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(smtp.messages.length, 1, 'delivered once');
      assert.ok(log.lines().some((l) => l.msg === 'mail delivered after retries'));
      assert.ok(!log.raw().includes(TOKEN) && !log.raw().includes('bob@example.com'), 'neither the token nor the address is logged');
    } finally {
      await mailer.close();
      await smtp.stop();
    }
  });

  it('gives a message up (and says so) once LATCHKEY_MAIL_MAX_AGE has passed', async () => {
    const smtp = await startSmtp();
    await smtp.stop();
    const log = capturedLogger();
    let now = Date.now();
    const mailer = createMailer(loadConfig({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_MAIL_RETRY_MAX: '1', LATCHKEY_MAIL_MAX_AGE: '60' }), log.logger, () => now);
    try {
      mailer.sendNotice('password_changed', 'cy@example.com');
      await new Promise((r) => setTimeout(r, 200));
      now += 61_000;
      assert.ok(await mailer.queue.drained(5000), 'the queue empties');
      assert.ok(log.lines().some((l) => l.msg === 'mail undeliverable: given up'));
    } finally {
      await mailer.close();
    }
  });

  it('without LATCHKEY_SMTP_URL, messages go to the dev outbox: listed, and logged at info with their link', async () => {
    const log = capturedLogger();
    const mailer = createMailer(loadConfig({ PORT: '4000' }), log.logger, Date.now);
    try {
      mailer.sendLink('verify_email', 'dee@example.com', TOKEN);
      assert.ok(await mailer.queue.drained(2000));
      const [entry] = mailer.outbox!.list();
      assert.equal(entry?.to, 'dee@example.com');
      assert.equal(entry?.link, `http://localhost:4000/demo/verify-email?token=${TOKEN}`);
      const line = log.lines().find((l) => l.mail === 'verify_email');
      assert.equal(line?.level, 30);
      assert.equal(line?.link, entry?.link);
      assert.ok(!log.raw().includes('dee@example.com'), 'not the address');
    } finally {
      await mailer.close();
    }
  });

  it('scale-out without LATCHKEY_SMTP_URL: a warning, and no link (no token) in the log', async () => {
    const log = capturedLogger();
    const mailer = createMailer(loadConfig({ PORT: '4000', LATCHKEY_REDIS_URL: 'redis://127.0.0.1:1' }), log.logger, Date.now);
    try {
      assert.ok(log.lines().some((l) => l.level === 40 && /not delivered/.test(String(l.msg))), 'warned at start');
      mailer.sendLink('reset_password', 'dee@example.com', TOKEN);
      assert.ok(await mailer.queue.drained(2000));
      assert.equal(mailer.outbox!.list()[0]?.to, 'dee@example.com', 'kept for the loopback-only demo listing');
      assert.ok(log.lines().some((l) => l.mail === 'reset_password'), 'the message is logged');
      assert.ok(!log.raw().includes(TOKEN) && !log.raw().includes('dee@example.com'), 'neither the token nor the address');
    } finally {
      await mailer.close();
    }
  });
});

describe('the dev outbox in the demo', () => {
  it('is listed to a loopback caller only, never through a proxy or under another host name, and not at all with SMTP set', async () => {
    const { startServer } = await import('../helpers/server.js');
    const { call } = await import('../helpers/http.js');
    const srv = await startServer({ LATCHKEY_DEMO: 'true' });
    const smtp = await startSmtp();
    const withSmtp = await startServer({ LATCHKEY_DEMO: 'true', LATCHKEY_SMTP_URL: smtp.url });
    try {
      const email = `outbox-${Date.now()}@example.com`;
      assert.equal((await call(srv.url, 'POST', '/auth/signup', { json: { email, password: 'a sturdy passphrase 42' } })).status, 201);
      await srv.latchkey.ctx.mailer.queue.drained(2000);
      const local = await call(srv.url, 'GET', '/demo/api/outbox', { headers: { host: 'localhost' } });
      assert.equal(local.status, 200);
      assert.equal(local.body.messages[0].to, email);
      assert.match(local.body.messages[0].link, /\/demo\/verify-email\?token=/);
      const relayed: Array<Record<string, string>> = [{ 'x-forwarded-for': '203.0.113.9' }, { 'x-real-ip': '203.0.113.9' }, { forwarded: 'for=203.0.113.9' }, { via: '1.1 proxy' }];
      for (const headers of relayed) {
        assert.equal((await call(srv.url, 'GET', '/demo/api/outbox', { headers })).status, 404, JSON.stringify(headers));
      }
      // fetch() will not send another Host: a raw request does, as a relay would.
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${srv.url}/demo/api/outbox`, { headers: { host: 'auth.example.com' }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 404, 'another host name');
      assert.equal((await call(withSmtp.url, 'GET', '/demo/api/outbox')).status, 404, 'no outbox when mail goes over SMTP');
    } finally {
      await Promise.all([srv.close(), withSmtp.close()]);
      await smtp.stop();
    }
  });
});
