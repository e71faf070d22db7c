// The fault proxy itself, in front of a small counting server: lost answers were processed
// upstream, both forms happen, a seed repeats a run exactly, offline refuses or stalls, the rest passes through.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { FaultProxy } from './fault-proxy.js';

async function upstream(t: TestContext) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(JSON.stringify({ n: seen.length, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function outcome(url: string, path: string): Promise<string> {
  try {
    const res = await fetch(`${url}${path}`, { method: 'POST', body: 'x=1' });
    await res.arrayBuffer();
    return String(res.status);
  } catch {
    return 'reset';
  }
}

async function run(t: TestContext, seed: number, n: number) {
  const up = await upstream(t);
  const proxy = await FaultProxy.start({ target: up.url, tokenLossRate: 0.3, seed });
  t.after(() => proxy.close());
  const outcomes: string[] = [];
  for (let i = 0; i < n; i++) outcomes.push(await outcome(proxy.url, '/auth/token'));
  return { outcomes, up, proxy };
}

test('lost token answers were processed upstream; both forms; the same seed repeats the run, another does not', async (t) => {
  const a = await run(t, 7, 60);
  const b = await run(t, 7, 60);
  const c = await run(t, 8, 60);
  assert.deepEqual(a.outcomes, b.outcomes);
  assert.notDeepEqual(a.outcomes, c.outcomes);
  assert.equal(a.up.seen.length, 60, 'every request reached the server, lost or not');
  assert.ok(a.outcomes.includes('reset') && a.outcomes.includes('502') && a.outcomes.includes('200'), a.outcomes.join(','));
  assert.equal(a.outcomes.filter((o) => o === 'reset').length, a.proxy.stats.lost.socket);
  assert.equal(a.outcomes.filter((o) => o === '502').length, a.proxy.stats.lost['502']);
});

test('only /auth/token answers are lost; other requests and rate 0 pass through with headers and body', async (t) => {
  const up = await upstream(t);
  const proxy = await FaultProxy.start({ target: up.url, tokenLossRate: 1 });
  t.after(() => proxy.close());
  const res = await fetch(`${proxy.url}/auth/me?x=1`, { method: 'POST', body: 'hello' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-upstream'), 'yes');
  assert.deepEqual(await res.json(), { n: 1, body: 'hello' });
  assert.notEqual(await outcome(proxy.url, '/auth/token'), '200');
  proxy.tokenLossRate = 0;
  assert.equal(await outcome(proxy.url, '/auth/token'), '200');
  proxy.loseNext(1, '502');
  assert.equal(await outcome(proxy.url, '/auth/token'), '502');
  assert.equal(up.seen.length, 4);
});

test('offline: refuse resets at once, stall holds until the period ends; afterwards requests pass; an unreachable upstream is a 502', async (t) => {
  const up = await upstream(t);
  const proxy = await FaultProxy.start({ target: up.url });
  t.after(() => proxy.close());
  proxy.goOffline(300, 'refuse');
  assert.equal(await outcome(proxy.url, '/x'), 'reset');
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(await outcome(proxy.url, '/x'), '200');
  proxy.goOffline(400, 'stall');
  const began = Date.now();
  assert.equal(await outcome(proxy.url, '/x'), 'reset');
  assert.ok(Date.now() - began >= 350, 'held until the period ended');
  assert.equal(up.seen.length, 1, 'nothing reached the server while offline');
  assert.equal(await outcome(proxy.url, '/x'), '200');
  proxy.target = 'http://127.0.0.1:9';
  assert.equal(await outcome(proxy.url, '/x'), '502');
});

test('several upstreams: round-robin; one that refuses connections is skipped, the request goes to the next', async (t) => {
  const [a, b, c] = [await upstream(t), await upstream(t), await upstream(t)];
  const proxy = await FaultProxy.start({ target: [a.url, b.url, c.url], failTimeoutMs: 60_000 });
  t.after(() => proxy.close());
  for (let i = 0; i < 6; i++) assert.equal(await outcome(proxy.url, '/auth/token'), '200');
  assert.deepEqual([a.seen.length, b.seen.length, c.seen.length], [2, 2, 2]);
  assert.equal(proxy.stats.byUpstream[b.url]?.tokenAnswered, 2);
  // b gone: its port refuses connections. POSTs and GETs alike go on to the others.
  const gone = proxy.targets;
  proxy.targets = [gone[0]!, 'http://127.0.0.1:9', gone[2]!];
  for (let i = 0; i < 6; i++) assert.equal(await outcome(proxy.url, '/auth/token'), '200');
  assert.equal(a.seen.length + c.seen.length, 10);
  assert.equal(proxy.stats.failovers, 1, 'refused once, then skipped for failTimeoutMs');
  assert.equal(proxy.stats.upstreamDown, 0);
  // All gone: a 502, as from a gateway.
  proxy.targets = ['http://127.0.0.1:9'];
  assert.equal(await outcome(proxy.url, '/auth/token'), '502');
  assert.equal(proxy.stats.upstreamDown, 1);
});
