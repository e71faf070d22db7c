// The embedded shape's rate-limit store (store/memory-rate-limits.ts; issue 12 item 4). It used to
// evict its oldest key when full, so a flood of fresh keys flushed live counters, and each new key
// in a full map scanned all of it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memoryRateLimitStore, SATURATED } from '../../packages/server/src/store/memory-rate-limits.js';

describe('memory rate-limit store', () => {
  it('a flood of fresh keys into a full store never evicts a live counter: the new keys count as over every limit', async () => {
    const store = memoryRateLimitStore(1000);
    const now = 1_000_000;
    for (let i = 0; i < 5; i++) await store.hit('t:flood:victim', 60_000, now);
    for (let i = 0; i < 2_000; i++) await store.hit(`t:flood:${i}`, 60_000, now);
    assert.equal((await store.peek('t:flood:victim', now))?.count, 5, 'the victim’s counter survived');
    assert.equal(store.size(), 1000);
    assert.equal((await store.hit('t:flood:fresh', 60_000, now)).count, SATURATED, 'fail closed, not open');
    assert.equal(await store.peek('t:flood:fresh', now), null);
    assert.equal((await store.hit('t:flood:victim', 60_000, now)).count, 6, 'existing counters keep counting');
  });

  it('the bound is per class of key: a class full of one kind never crowds out another', async () => {
    const store = memoryRateLimitStore(100);
    const now = 1_000_000;
    for (let i = 0; i < 200; i++) await store.hit(`login:known:${i}`, 30 * 86_400_000, now);
    assert.equal(store.size(), 100);
    assert.equal((await store.hit('login:acct:victim', 60_000, now)).count, 1, 'failure counters have their own room');
    assert.equal((await store.hit('login:known:new', 60_000, now)).count, SATURATED);
  });

  it('expired windows make room again, swept a few per call (no scan of the whole map)', async () => {
    const store = memoryRateLimitStore(1000);
    for (let i = 0; i < 999; i++) await store.hit(`t:x:old:${i}`, 1000, 0);
    await store.hit('t:x:long', 60_000, 0);
    assert.equal(store.size(), 1000);
    assert.equal((await store.hit('t:x:new', 1000, 5000)).count, 1, 'room once the old windows lapsed');
    for (let i = 0; i < 300; i++) await store.hit(`t:x:new:${i}`, 1000, 5000);
    assert.ok(store.size() <= 302, `${store.size()} keys: the lapsed ones were swept`);
  });

  it('100k fresh keys into a full store of 100k live ones take bounded work per hit', async () => {
    const store = memoryRateLimitStore();
    const now = 1_000_000;
    for (let i = 0; i < 100_000; i++) await store.hit(`login:pair:live:${i}`, 900_000, now);
    const t = performance.now();
    for (let i = 0; i < 100_000; i++) await store.hit(`login:pair:fresh:${i}`, 900_000, now);
    const ms = performance.now() - t;
    // Scanning the map on every new key (the old code) takes minutes here; O(1) takes well under a second.
    assert.ok(ms < 20_000, `${ms.toFixed(0)} ms`);
    assert.equal((await store.peek('login:pair:live:0', now))?.count, 1);
  });

  it('resets and re-creations do not grow its bookkeeping without bound', async () => {
    const store = memoryRateLimitStore(100);
    for (let i = 0; i < 10_000; i++) {
      await store.hit('t:k', 60_000, 1000);
      await store.reset('t:k');
    }
    assert.equal(store.size(), 0);
    for (let i = 0; i < 100; i++) await store.hit(`t:x:${i}`, 60_000, 1000);
    assert.equal(store.size(), 100);
  });
});
