// Quick property-based fuzz of every route (the CI run; scripts/fuzz-long.ts is the long one):
// arbitrary JSON and form bodies, content types, headers, path parameters, query strings and
// Authorization values, mixed with genuine and near-miss tokens. Each answer: no 5xx, nosniff,
// errors always exactly {error, error_description, reason} with fixed text and a known reason; the process never crashes,
// logs no unhandled error and ends unpolluted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { call, signup } from '../helpers/http.js';
import type { TestServer } from '../helpers/server.js';
import { judge, requestArb, type FuzzRequest, type TokenPool } from './fuzz-arbitraries.js';
import { claimsOf, PUBLIC_DESCRIPTIONS, start } from './support.js';

let srv: TestServer;
const pool: TokenPool = { access: [], refresh: [], sessionIds: [], emails: [] };

before(async () => {
  srv = await start({ LATCHKEY_CLIENTS: 'app,mobile', LATCHKEY_TRUST_PROXY: 'true', LATCHKEY_LOGIN_IP_LIMIT: '50' });
  const u = await signup(srv.url);
  pool.emails.push(u.email, 'nobody@example.com');
  for (const client of ['app', 'mobile', 'app']) {
    const l = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password, client_id: client } });
    pool.access.push(l.body.access_token);
    pool.refresh.push(l.body.refresh_token);
    pool.sessionIds.push(claimsOf(l.body.access_token).sid);
  }
  pool.access.push(u.access_token);
  pool.refresh.push(u.refresh_token);
});
after(() => srv.close());

export async function send(base: string, req: FuzzRequest): Promise<{ status: number; headers: Headers; text: string } | 'client-refused'> {
  let res: Response;
  try {
    res = await fetch(base + req.path, { method: req.method, headers: req.headers, body: req.body });
  } catch (e) {
    // fetch refusing to build the request (a header or URL it will not send) is not the server's doing.
    if (e instanceof TypeError && e.message !== 'fetch failed') return 'client-refused';
    throw e;
  }
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('fuzz: every route, arbitrary input (quick run)', () => {
  it('no 5xx, no crash, every error in the fixed public shape', async (t) => {
    let sent = 0;
    let refused = 0;
    const statuses = new Map<number, number>();
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(requestArb(pool), async (req) => {
        const r = await send(srv.url, req);
        if (r === 'client-refused') {
          refused++;
          return;
        }
        sent++;
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const v = judge(req, r.status, r.headers, r.text, PUBLIC_DESCRIPTIONS);
        assert.ok(v.ok, `${v.why}\n${req.method} ${req.path.slice(0, 200)}\n${JSON.stringify(req.headers).slice(0, 300)}\n${(req.body ?? '').slice(0, 300)}`);
      }),
      { numRuns: 1500, interruptAfterTimeLimit: 40_000 },
    );
    t.diagnostic(`${sent} requests in ${Date.now() - started} ms (${refused} refused client-side); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    assert.ok(sent >= 1000, `only ${sent} requests ran`);
    assert.equal((await call(srv.url, 'GET', '/healthz')).status, 200, 'the server still answers');
    const errors = srv.logs.filter((l) => l.level >= 50);
    assert.deepEqual(errors.map((l) => l.msg), [], 'no unhandled error was logged');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.keys(Object.prototype).length, 0, 'Object.prototype gained no enumerable member');
  });
});
