// The client decides on the server's stable `reason` and `error` code, never on its English
// `error_description` (issue 9: the client once told "reuse detected" from "expired" by matching
// the description, so rewording a message changed client behaviour). Each scenario runs against
// the real server twice, directly and through a proxy that rewords every description (bodies and
// WWW-Authenticate), and must end the same way both times.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { createClient, isLatchkeyError, memoryStorage, type ClientEvents, type LatchkeyClient, type StoredTokens } from '../../packages/client/src/index.js';
import { startServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
let counter = 0;
const freshEmail = () => `reworded-${process.pid}-${++counter}@example.com`;

/** A reverse proxy that replaces every error_description with text no code could expect. */
async function rewordingProxy(target: string): Promise<{ url: string; rewrites: () => number; close(): Promise<void> }> {
  let rewrites = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers.set(k, v);
    const upstream = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers,
      ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
    });
    let body = Buffer.from(await upstream.arrayBuffer());
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
    });
    if (out['www-authenticate']?.includes('error_description=')) {
      out['www-authenticate'] = out['www-authenticate'].replace(/error_description="[^"]*"/, 'error_description="zz reworded zz"');
      rewrites++;
    }
    if (upstream.status >= 400 && (out['content-type'] ?? '').includes('json')) {
      const parsed = JSON.parse(body.toString()) as Record<string, unknown>;
      if (typeof parsed.error_description === 'string') {
        parsed.error_description = `Reworded ${Math.random().toString(36).slice(2)}: expired reuse detected revoked`.split(' ').reverse().join(' ');
        body = Buffer.from(JSON.stringify(parsed));
        rewrites++;
      }
    }
    res.writeHead(upstream.status, out);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    rewrites: () => rewrites,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Outcome {
  signedOut: ClientEvents['signedout'][];
  errors: Array<{ code: string; reason: string | undefined }>;
}

async function scenario(t: TestContext, viaProxy: boolean, run: (ctx: { make(): { client: LatchkeyClient; storage: ReturnType<typeof memoryStorage> }; advanceServerClock(ms: number): void; base: string }) => Promise<Outcome>) {
  let offset = 0;
  const server = await startServer({}, { now: () => Date.now() + offset });
  const proxy = viaProxy ? await rewordingProxy(server.url) : null;
  const base = proxy?.url ?? server.url;
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const c of clients) c.dispose();
    await proxy?.close();
    await server.close();
  });
  const outcome = await run({
    base,
    make() {
      const storage = memoryStorage();
      // Bearer sessions: a proof names the URL the client calls, the proxy's, which is not the
      // server's public URL, so the same DPoP client could not work both ways.
      const client = createClient({ baseUrl: base, storage, dpop: false });
      clients.push(client);
      return { client, storage };
    },
    advanceServerClock(ms) {
      offset += ms;
    },
  });
  if (proxy) assert.ok(proxy.rewrites() > 0, 'the proxy really reworded something');
  return outcome;
}

function watch(client: LatchkeyClient, outcome: Outcome): void {
  client.on('signedout', (e) => outcome.signedOut.push(e));
}

async function capture(outcome: Outcome, p: Promise<unknown>): Promise<void> {
  try {
    await p;
    outcome.errors.push({ code: 'none', reason: undefined });
  } catch (e) {
    assert.ok(isLatchkeyError(e), String(e));
    outcome.errors.push({ code: e.code, reason: e.reason });
  }
}

const scenarios: Record<string, Parameters<typeof scenario>[2]> = {
  'a replayed refresh token signs the victim out with reuse_detected': async ({ make, base }) => {
    const outcome: Outcome = { signedOut: [], errors: [] };
    const { client, storage } = make();
    watch(client, outcome);
    await client.signup(freshEmail(), PASSWORD);
    const stolen = ((await storage.get()) as StoredTokens).refreshToken;
    await client.renewNow();
    await client.renewNow(); // the stolen token is now two generations old: outside any grace
    const replay = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stolen }),
    });
    assert.equal(replay.status, 400);
    await capture(outcome, client.renewNow());
    return outcome;
  },
  'an idle session signs out with expired': async ({ make, advanceServerClock }) => {
    const outcome: Outcome = { signedOut: [], errors: [] };
    const { client } = make();
    watch(client, outcome);
    await client.signup(freshEmail(), PASSWORD);
    advanceServerClock(8 * 86_400_000); // past the default 7-day idle timeout
    await capture(outcome, client.renewNow());
    return outcome;
  },
  'a session ended from another device signs out with revoked': async ({ make }) => {
    const outcome: Outcome = { signedOut: [], errors: [] };
    const email = freshEmail();
    const { client: phone } = make();
    watch(phone, outcome);
    await phone.signup(email, PASSWORD);
    const { client: laptop } = make();
    await laptop.login(email, PASSWORD);
    await laptop.endOtherSessions();
    await capture(outcome, phone.renewNow());
    return outcome;
  },
  'wrong password and a taken address keep their codes': async ({ make }) => {
    const outcome: Outcome = { signedOut: [], errors: [] };
    const email = freshEmail();
    const { client } = make();
    await client.signup(email, PASSWORD);
    await capture(outcome, make().client.login(email, 'not the password at all'));
    await capture(outcome, make().client.signup(email, PASSWORD));
    return outcome;
  },
};

for (const [name, run] of Object.entries(scenarios)) {
  test(`${name}, whatever the descriptions say`, async (t) => {
    const direct = await scenario(t, false, run);
    const reworded = await scenario(t, true, run);
    assert.deepEqual(reworded, direct);
    t.diagnostic(JSON.stringify(direct));
  });
}

test('the expected outcomes (so the comparison above cannot pass on two identical wrong answers)', async (t) => {
  const outcomes = await Promise.all(Object.values(scenarios).map((run) => scenario(t, true, run)));
  assert.deepEqual(outcomes, [
    { signedOut: [{ reason: 'reuse_detected' }], errors: [{ code: 'invalid_grant', reason: 'refresh_token_reused' }] },
    { signedOut: [{ reason: 'expired' }], errors: [{ code: 'invalid_grant', reason: 'session_expired' }] },
    { signedOut: [{ reason: 'revoked' }], errors: [{ code: 'invalid_grant', reason: 'session_ended' }] },
    {
      signedOut: [],
      errors: [
        { code: 'invalid_credentials', reason: 'credentials_invalid' },
        { code: 'email_taken', reason: 'email_taken' },
      ],
    },
  ]);
});
