// Renewal over a network that loses answers, in real Chromium (issue 14, item 4, the browser half):
// three tabs of the demo (?interval=100, 2 s access tokens) loaded from the fault-injecting
// proxy's origin, so that every request of the page (the page itself, /auth/token, the demo API)
// goes through it to a real server; LATCHKEY_PUBLIC_URL is the proxy's URL, so the DPoP htu the
// client signs is what the server checks. Scenarios: 5 % of refresh answers lost with a Node
// session alongside; tabs frozen and throttled in the background; all tabs frozen 60 s; a lost
// answer followed by 15 s offline past a 2 s grace window (bound and Bearer); the server killed and
// started again. Each reports its figures as a `#` line. LATCHKEY_BROWSER_FAULTS_MINUTES sets the
// length of the 5 % run (default 3).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { createClient, isLatchkeyError, memoryKeyStore, memoryStorage, type ClientEvents, type LatchkeyClient } from '../../packages/client/src/index.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { freePort } from '../harness/free-port.js';
import { demoStats, launchChromium, type DemoStats } from '../helpers/browser.js';
import { uniqueEmail } from '../helpers/http.js';
import { removeDir, spawnServer, startServer, tempDataDir, type ChildServer, type LogLine } from '../helpers/server.js';


const MINUTES = Number(process.env.LATCHKEY_BROWSER_FAULTS_MINUTES ?? '3');
assert.ok(Number.isFinite(MINUTES) && MINUTES > 0, 'LATCHKEY_BROWSER_FAULTS_MINUTES must be a positive number');
const PASSWORD = 'correct horse battery staple';
const CALL_EVERY_MS = 100;
/** Seed 1 loses both forms within the first 57 token answers (see test/client/renewal-faults.test.ts). */
const LOSS_SEED = 1;

const stats = demoStats;
const stored = (p: Page) => p.evaluate(() => JSON.parse(localStorage.getItem('latchkey.tokens') ?? 'null') as { sessionId?: string; dpopJkt?: string } | null);
const logTime = (l: LogLine) => Number(l.time);

/**
 * Freezes a tab: no script of it runs until woken, its timers and network callbacks wait, as in a
 * background tab the browser froze. `Page.setWebLifecycleState` is the lifecycle's own switch, but
 * this headless Chromium accepts it and freezes nothing (no `freeze` event, timers go on: checked),
 * so the debugger's pause does the freezing; it takes hold as the page's next task starts.
 */
async function freeze(cdp: CDPSession): Promise<void> {
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  await cdp.send('Debugger.enable');
  await cdp.send('Debugger.pause');
}

async function wake(cdp: CDPSession): Promise<void> {
  await cdp.send('Debugger.resume');
  await cdp.send('Debugger.disable');
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
}

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** A real server behind the fault proxy; the page is loaded from the proxy's origin. */
async function world(env: Record<string, string> = {}) {
  const proxy = await FaultProxy.start({ target: 'http://127.0.0.1:9', seed: LOSS_SEED });
  const server = await startServer({ LATCHKEY_ACCESS_TTL: '2', LATCHKEY_DEMO: 'true', LATCHKEY_PUBLIC_URL: proxy.url, ...env });
  proxy.target = server.url;
  return {
    proxy,
    server,
    async close() {
      await proxy.close();
      await server.close();
    },
  };
}

/** One tab signs up through the proxy; the others open the page and adopt the session from it. */
async function threeTabs(context: BrowserContext, origin: string): Promise<Page[]> {
  const url = `${origin}/demo/?interval=${CALL_EVERY_MS}`;
  const first = await context.newPage();
  await first.goto(url);
  await first.fill('#email', uniqueEmail());
  await first.fill('#password', PASSWORD);
  await first.click('#signup');
  await first.waitForSelector('#signed-in:not([hidden])', { timeout: 30_000 });
  const tabs = [first];
  for (let i = 0; i < 2; i++) {
    const p = await context.newPage();
    await p.goto(url);
    await p.waitForSelector('#signed-in:not([hidden])', { timeout: 30_000 });
    tabs.push(p);
  }
  return tabs;
}

interface Call {
  start: number;
  end: number;
  ok: boolean;
  error?: string;
}

/** A Node session (@latchkey/client in this process, DPoP-bound, its own session) calling every 100 ms. */
async function nodeSession(baseUrl: string, bound = true) {
  const client = createClient({ baseUrl, storage: memoryStorage(), dpop: bound ? { keyStore: memoryKeyStore() } : false });
  const signedOut: ClientEvents['signedout'][] = [];
  client.on('signedout', (e) => signedOut.push(e));
  await client.signup(uniqueEmail(), PASSWORD);
  const calls: Call[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const start = Date.now();
      try {
        const res = await client.fetch(`${baseUrl}/auth/me`);
        await res.arrayBuffer();
        calls.push({ start, end: Date.now(), ok: res.status === 200, ...(res.status === 200 ? {} : { error: `status ${res.status}` }) });
      } catch (error) {
        const e = isLatchkeyError(error) ? `${error.kind}/${error.code}/${error.reason ?? '-'}` : `call: ${(error as Error).message}`;
        calls.push({ start, end: Date.now(), ok: false, error: e });
      }
      await sleep(Math.max(0, start + CALL_EVERY_MS - Date.now()));
    }
  })();
  return {
    client,
    signedOut,
    calls,
    async stop() {
      stop = true;
      await loop;
      client.dispose();
    },
  };
}

const failures = (calls: Call[]) => calls.filter((c) => !c.ok).map((c) => c.error ?? '?');

function assertTabsHealthy(all: DemoStats[], what: string): void {
  for (const [i, s] of all.entries()) {
    assert.equal(s.signedOut, null, `${what}: tab ${i} signed out: ${JSON.stringify(s.signedOut)}`);
    assert.equal(s.apiFailed, 0, `${what}: tab ${i}: ${s.apiFailed} failed calls (last: ${s.lastError})`);
  }
}

/** Waits until every tab made `n` more successful calls than in `from` (its loop runs and its token works). */
async function untilCalling(tabs: Page[], from: DemoStats[], n: number, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await Promise.all(tabs.map(stats));
    if (now.every((s, i) => s.apiOk - from[i]!.apiOk >= n)) return;
    assert.ok(Date.now() < deadline, `${what}: calls ${now.map((s, i) => s.apiOk - from[i]!.apiOk).join('/')} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe('renewal through a faulty network, 3 Chromium tabs of the demo (issue 14)', () => {
  it(`5 % of refresh answers lost (socket and 502), 3 tabs + a Node session, 2 s tokens, a call every 100 ms for ${MINUTES} min: 0 failed calls, 0 sign-outs`, {
    timeout: (MINUTES * 60 + 120) * 1000,
    // Found by this test: when the proxy destroys the socket of a processed renewal, Chromium resends
    // the POST by itself (a reset keep-alive socket, no answer bytes yet) with the same DPoP proof,
    // and the server refuses the replayed jti. The client now retries a refused proof once with a
    // fresh one (packages/client/src/dpop.ts), which gets the bound key's answer.
  }, async () => {
    const w = await world();
    const context = await browser.newContext();
    try {
      const tabs = await threeTabs(context, w.proxy.url);
      assert.equal((await stats(tabs[0]!)).keyBound, true, 'the tabs hold a DPoP-bound session');
      const node = await nodeSession(w.proxy.url);
      assert.equal(await node.client.isKeyBound(), true);
      const first = await Promise.all(tabs.map(stats));
      w.proxy.tokenLossRate = 0.05;
      const answeredBefore = w.proxy.stats.tokenAnswered;
      const graceBefore = w.server.events('session.grace_replay').length;
      const t0 = Date.now();
      const end = t0 + MINUTES * 60_000;
      let last = first;
      // Checked every 10 s: a failure says when, and a stalled tab cannot hide behind the others.
      while (Date.now() < end) {
        await sleep(Math.min(10_000, end - Date.now()));
        const now = await Promise.all(tabs.map(stats));
        const at = `${((Date.now() - t0) / 1000).toFixed(0)} s in`;
        // What the server refused and what the proxy lost, for a failure's message (reasons and times only).
        const refused = w.server.events('dpop.proof_refused').map((e) => `${e.reason} at ${logTime(e) - t0} ms`);
        const losses = w.proxy.losses.map((l) => `${l.form}/${l.status} at ${l.at - t0} ms`);
        assertTabsHealthy(now, `${at} (proofs refused: ${refused.join(', ') || 'none'}; losses: ${losses.join(', ')})`);
        for (const [i, s] of now.entries()) assert.ok(s.apiOk - last[i]!.apiOk >= 10, `tab ${i} made only ${s.apiOk - last[i]!.apiOk} calls in the 10 s before ${at}`);
        assert.deepEqual(failures(node.calls), [], `Node session, ${at}`);
        last = now;
      }
      w.proxy.tokenLossRate = 0;
      await node.stop();
      const all = await Promise.all(tabs.map(stats));
      assertTabsHealthy(all, 'end');
      const lost = w.proxy.stats.lost;
      // Lost nonce challenges (400 use_dpop_nonce) are asked again with a new proof, not a grace answer.
      const lostRotations = w.proxy.losses.filter((l) => l.status === 200).length;
      const answered = w.proxy.stats.tokenAnswered - answeredBefore;
      const grace = w.server.events('session.grace_replay').length - graceBefore;
      const tabCalls = all.map((s, i) => s.apiOk - first[i]!.apiOk);
      console.log(
        `# 5 % loss, ${((Date.now() - t0) / 1000).toFixed(0)} s: tab calls ${tabCalls.join('/')}, Node calls ${node.calls.length}; failed 0; sign-outs 0; ` +
          `token answers ${w.proxy.stats.tokenAnswered - answeredBefore}, lost ${lost.socket + lost['502']} (socket ${lost.socket}, 502 ${lost['502']}; ${lostRotations} of them rotations); grace answers ${grace}; ` +
          `slowest Node call ${Math.max(...node.calls.map((c) => c.end - c.start))} ms`,
      );
      assert.deepEqual(failures(node.calls), []);
      assert.deepEqual(node.signedOut, []);
      if (answered >= 57) assert.ok(lost.socket >= 1 && lost['502'] >= 1, `both forms of loss happened (socket ${lost.socket}, 502 ${lost['502']})`);
      else console.log(`# only ${answered} token answers: too short a run for both forms of loss with seed ${LOSS_SEED}`);
      assert.ok(lostRotations >= 1, 'a rotation answer was lost (the scenario happened)');
      // Every lost rotation is recovered by asking again with the same token: a grace answer (tabs racing add more).
      assert.ok(grace >= lostRotations, `${grace} grace answers for ${lostRotations} lost rotations`);
      assert.equal(w.server.events('session.reuse_detected').length, 0);
      assert.equal(w.server.events('session.key_mismatch').length, 0);
      assert.ok(node.calls.length >= ((MINUTES * 60_000) / CALL_EVERY_MS) * 0.7, `the Node session kept its pace (${node.calls.length})`);
    } finally {
      await context.close();
      await w.close();
    }
  });

  it('one tab frozen 20 s and another CPU-throttled while the third runs, then woken: 0 failed calls, 0 sign-outs', { timeout: 120_000 }, async () => {
    const w = await world();
    const context = await browser.newContext();
    try {
      const tabs = await threeTabs(context, w.proxy.url);
      const cdp: CDPSession[] = await Promise.all(tabs.map((p) => context.newCDPSession(p)));
      const { sessionId } = (await stored(tabs[0]!))!;
      const rotations = () => w.server.events('session.rotated').filter((e) => e.sessionId === sessionId).length;
      await untilCalling(tabs, await Promise.all(tabs.map(stats)), 10, 'before');
      // Throttled as a background tab is: a 20× slower CPU, and timers of a hidden page.
      await cdp[1]!.send('Emulation.setCPUThrottlingRate', { rate: 20 });
      const before1 = await stats(tabs[1]!);
      const frozenStats = await stats(tabs[0]!);
      await freeze(cdp[0]!);
      const rotatedAtFreeze = rotations();
      const frozenAt = Date.now();
      await sleep(20_000);
      const running = await Promise.all([tabs[1]!, tabs[2]!].map(stats));
      const rotatedWhileFrozen = rotations() - rotatedAtFreeze;
      await wake(cdp[0]!);
      await cdp[1]!.send('Emulation.setCPUThrottlingRate', { rate: 1 });
      const wokeAt = Date.now();
      // The frozen tab made no call while frozen, and its token (2 s) expired meanwhile: on waking it adopts the others' newer one.
      const frozenNow = await stats(tabs[0]!);
      assert.ok(frozenNow.apiOk - frozenStats.apiOk <= 2, `the frozen tab made ${frozenNow.apiOk - frozenStats.apiOk} calls while frozen`);
      const wakeFrom = await Promise.all(tabs.map(stats));
      await untilCalling(tabs, wakeFrom, 1, 'first call after waking');
      const recovery = Date.now() - wokeAt;
      await untilCalling(tabs, wakeFrom, 30, 'after waking');
      const all = await Promise.all(tabs.map(stats));
      console.log(
        `# frozen 20 s / throttled 20×: throttled tab made ${running[0]!.apiOk - before1.apiOk} calls meanwhile, the running one went on; ` +
          `${rotatedWhileFrozen} rotations while frozen; every tab calling again ${recovery} ms after the wake (incl. the test's polling); failed ${all.map((s) => s.apiFailed).join('/')}, sign-outs 0`,
      );
      assert.ok(rotatedWhileFrozen >= 5, `the other tabs kept renewing while one was frozen (${rotatedWhileFrozen})`);
      assert.ok(wokeAt - frozenAt >= 20_000);
      assertTabsHealthy(all, 'after waking');
      assert.equal(w.server.events('session.reuse_detected').length, 0);
    } finally {
      await context.close();
      await w.close();
    }
  });

  it('all three tabs frozen 60 s, then woken together: 0 failed calls, exactly one rotation for the wake-up', { timeout: 150_000 }, async () => {
    const w = await world();
    const context = await browser.newContext();
    try {
      const tabs = await threeTabs(context, w.proxy.url);
      const cdp: CDPSession[] = await Promise.all(tabs.map((p) => context.newCDPSession(p)));
      const { sessionId } = (await stored(tabs[0]!))!;
      const ofSession = (name: string) => w.server.events(name).filter((e) => e.sessionId === sessionId);
      await untilCalling(tabs, await Promise.all(tabs.map(stats)), 10, 'before');
      await Promise.all(cdp.map(freeze));
      const frozenAt = Date.now();
      await sleep(60_000);
      const sleptFrom = Date.now();
      const rotatedWhileAsleep = ofSession('session.rotated').filter((e) => logTime(e) > frozenAt + 1_000).length;
      const wokeAt = Date.now();
      await Promise.all(cdp.map(wake));
      const wakeFrom = await Promise.all(tabs.map(stats));
      await untilCalling(tabs, wakeFrom, 1, 'first call after waking');
      const recovery = Date.now() - wokeAt;
      await untilCalling(tabs, wakeFrom, 20, 'after waking');
      const all = await Promise.all(tabs.map(stats));
      assertTabsHealthy(all, 'after waking');
      // The wake-up's renewal: the first rotation after the wake. The next one is the early renewal
      // of its successor, due 1.6 s later (80 % of 2 s): none may come sooner.
      const rotated = ofSession('session.rotated').filter((e) => logTime(e) >= wokeAt);
      assert.ok(rotated.length >= 1, 'the wake-up renewed the session');
      const firstAt = logTime(rotated[0]!);
      const wakeRotations = rotated.filter((e) => logTime(e) < firstAt + 1_200).length;
      const graceForWake = ofSession('session.grace_replay').filter((e) => logTime(e) >= wokeAt && logTime(e) < firstAt + 1_200).length;
      console.log(
        `# all frozen ${((wokeAt - frozenAt) / 1000).toFixed(0)} s (asleep since ${sleptFrom - frozenAt} ms): ${rotatedWhileAsleep} rotations while asleep; wake-up: ${wakeRotations} rotation ` +
          `${firstAt - wokeAt} ms after the wake, ${graceForWake} grace answers; every tab calling ${recovery} ms after it (incl. polling); failed 0, sign-outs 0`,
      );
      assert.equal(rotatedWhileAsleep, 0, 'nothing renewed while every tab was frozen');
      assert.equal(wakeRotations, 1, 'exactly one rotation for the wake-up');
      assert.equal(w.server.events('session.reuse_detected').length, 0);
    } finally {
      await context.close();
      await w.close();
    }
  });

  const OFFLINE_MS = 15_000;
  for (const bound of [true, false]) {
    it(`a refresh answer lost, then the browser offline ${OFFLINE_MS / 1000} s (grace 2 s), then back: ${bound ? 'DPoP-bound: the session continues, 0 sign-outs' : 'Bearer (LATCHKEY_DPOP=off): signed out with reuse_detected, as documented'}`, { timeout: 120_000 }, async () => {
      const w = await world({ LATCHKEY_REUSE_GRACE: '2', ...(bound ? {} : { LATCHKEY_DPOP: 'off' }) });
      const context = await browser.newContext();
      try {
        const tabs = await threeTabs(context, w.proxy.url);
        assert.equal((await stats(tabs[0]!)).keyBound, bound);
        await untilCalling(tabs, await Promise.all(tabs.map(stats)), 5, 'before');
        // Read before the loss is armed: a call a tab starts the moment the network goes away
        // fails as any offline call does, and reading afterwards would count it as "online".
        assertTabsHealthy(await Promise.all(tabs.map(stats)), 'before going offline');
        let offlineAt = 0;
        // A rotation's answer (200), not a DPoP nonce challenge's.
        w.proxy.loseNext(
          1,
          'socket',
          () => {
            offlineAt = Date.now();
            w.proxy.goOffline(OFFLINE_MS);
          },
          200,
        );
        while (offlineAt === 0) await sleep(10);
        while (w.proxy.offline) await sleep(10);
        const onlineAt = Date.now();
        // Calls that failed while offline are what `fetch` does offline; from here nothing may fail (bound).
        const atReturn = await Promise.all(tabs.map(stats));
        const failedOffline = atReturn.map((s) => s.apiFailed);
        if (bound) {
          const deadline = Date.now() + 15_000;
          for (;;) {
            const now = await Promise.all(tabs.map(stats));
            if (now.every((s, i) => s.apiOk > atReturn[i]!.apiOk)) break;
            assert.ok(Date.now() < deadline, 'the tabs did not call again');
            await sleep(50);
          }
          const recovery = Date.now() - onlineAt;
          await untilCalling(tabs, atReturn, 20, 'after coming back');
          const all = await Promise.all(tabs.map(stats));
          console.log(
            `# bound, lost answer + ${OFFLINE_MS / 1000} s offline (grace 2 s): failed while offline ${failedOffline.join('/')} (${[...new Set(atReturn.map((s) => s.lastError))].join(', ')}); ` +
              `failed after ${all.map((s, i) => s.apiFailed - atReturn[i]!.apiFailed).join('/')}; sign-outs 0; every tab calling ${recovery} ms after the network came back (incl. polling); ` +
              `grace answers ${w.server.events('session.grace_replay').length}`,
          );
          for (const [i, s] of all.entries()) {
            assert.equal(s.signedOut, null, `tab ${i} signed out`);
            assert.equal(s.apiFailed, atReturn[i]!.apiFailed, `tab ${i}: a call failed after the network came back (${s.lastError})`);
          }
          assert.ok(w.server.events('session.grace_replay').length >= 1, 'the bound predecessor was answered with its successor after the window');
          assert.equal(w.server.events('session.reuse_detected').length, 0);
        } else {
          for (const tab of tabs) await tab.waitForFunction(() => (window as unknown as { __latchkeyDemo: DemoStats }).__latchkeyDemo.signedOut !== null, null, { timeout: 20_000 });
          const all = await Promise.all(tabs.map(stats));
          console.log(
            `# bearer, lost answer + ${OFFLINE_MS / 1000} s offline (grace 2 s): failed while offline ${failedOffline.join('/')}; ` +
              `sign-outs ${all.map((s) => `${s.signedOut!.reason} +${s.signedOut!.at - onlineAt} ms`).join(', ')}`,
          );
          for (const [i, s] of all.entries()) assert.equal(s.signedOut!.reason, 'reuse_detected', `tab ${i}`);
          assert.equal(w.server.events('session.reuse_detected').length, 1, 'the server revoked the session as reuse, once');
          assert.equal(w.server.events('session.grace_replay').length, 0);
        }
      } finally {
        await context.close();
        await w.close();
      }
    });
  }

  it('the server killed (SIGKILL) under load and started again on the same port and data: calls fail only while it is down, 0 sign-outs; recovery measured', { timeout: 180_000 }, async () => {
    const dataDir = tempDataDir();
    const port = await freePort();
    const proxy = await FaultProxy.start({ target: `http://127.0.0.1:${port}` });
    const env = { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ACCESS_TTL: '2', LATCHKEY_DEMO: 'true', LATCHKEY_PUBLIC_URL: proxy.url };
    let server: ChildServer = await spawnServer(env, port);
    const context = await browser.newContext();
    let node: Awaited<ReturnType<typeof nodeSession>> | undefined;
    try {
      const tabs = await threeTabs(context, proxy.url);
      node = await nodeSession(proxy.url);
      await untilCalling(tabs, await Promise.all(tabs.map(stats)), 20, 'before');
      assertTabsHealthy(await Promise.all(tabs.map(stats)), 'before the kill');
      const killedAt = Date.now();
      server.proc.kill('SIGKILL');
      await server.exited;
      await sleep(4_000); // longer than a token's life: renewals fail meanwhile
      const atRestart = await Promise.all(tabs.map(stats));
      server = await spawnServer(env, port);
      const upAt = Date.now();
      // Per tab: when it first got a call through again, and its failures from then on.
      const recovered: (number | null)[] = [null, null, null];
      const failedAtRecovery: number[] = [0, 0, 0];
      const deadline = upAt + 20_000;
      while (recovered.some((r) => r === null)) {
        assert.ok(Date.now() < deadline, `tabs not calling again: ${JSON.stringify(recovered)}`);
        const now = await Promise.all(tabs.map(stats));
        for (const [i, s] of now.entries()) {
          if (recovered[i] === null && s.apiOk > atRestart[i]!.apiOk) {
            recovered[i] = Date.now() - upAt;
            failedAtRecovery[i] = s.apiFailed;
          }
        }
        await sleep(25);
      }
      const atRecovery = await Promise.all(tabs.map(stats));
      await untilCalling(tabs, atRecovery, 30, 'after the restart');
      await node.stop();
      const all = await Promise.all(tabs.map(stats));
      const nodeFirstOk = node.calls.find((c) => c.ok && c.end >= upAt);
      const nodeFailedAfterUp = node.calls.filter((c) => !c.ok && c.start >= upAt).map((c) => c.error);
      console.log(
        `# restart: down ${upAt - killedAt} ms; tabs failed while down ${all.map((s) => s.apiFailed).join('/')} (last ${[...new Set(all.map((s) => s.lastError))].join(', ')}), ` +
          `first call through ${recovered.join('/')} ms after it answered (incl. 25 ms polling), failed after recovery ${all.map((s, i) => s.apiFailed - failedAtRecovery[i]!).join('/')}; ` +
          `Node: failed ${node.calls.filter((c) => !c.ok).length} (after up ${nodeFailedAfterUp.length}), recovery ${nodeFirstOk ? nodeFirstOk.end - upAt : 'none'} ms; sign-outs 0`,
      );
      for (const [i, s] of all.entries()) {
        assert.equal(s.signedOut, null, `tab ${i} signed out`);
        assert.ok(s.apiFailed > 0, `tab ${i}: calls failed while the server was down (the scenario happened)`);
        assert.equal(s.apiFailed, failedAtRecovery[i], `tab ${i}: a call failed after it had recovered (${s.lastError})`);
        assert.ok(recovered[i]! < 5_000, `tab ${i} recovered in ${recovered[i]} ms`);
      }
      assert.deepEqual(node.signedOut, []);
      assert.deepEqual(nodeFailedAfterUp, [], 'Node: calls started after the server answered succeed');
      assert.equal(node.calls.filter((c) => !c.ok && c.end < killedAt).length, 0, 'Node: nothing failed before the kill');
      assert.ok(nodeFirstOk && nodeFirstOk.end - upAt < 3_000, 'Node recovered');
    } finally {
      await node?.stop().catch(() => {});
      await context.close();
      server.proc.kill('SIGKILL');
      await server.exited;
      await proxy.close();
      removeDir(dataDir);
    }
  });
});
