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
    for (let i = 0; i < 5; i++) await store.hit('victim', 60_000, now);
    for (let i = 0; i < 2_000; i++) await store.hit(`flood:${i}`, 60_000, now);
    assert.equal((await store.peek('victim', now))?.count, 5, 'the victim’s counter survived');
    assert.equal(store.size(), 1000);
    assert.equal((await store.hit('fresh', 60_000, now)).count, SATURATED, 'fail closed, not open');
    assert.equal(await store.peek('fresh', now), null);
    assert.equal((await store.hit('victim', 60_000, now)).count, 6, 'existing counters keep counting');
  });

  it('expired windows make room again, swept a few per call (no scan of the whole map)', async () => {
    const store = memoryRateLimitStore(1000);
    for (let i = 0; i < 1000; i++) await store.hit(`old:${i}`, 1000, 0);
    await store.hit('long', 60_000, 0);
    assert.equal(store.size(), 1000);
    assert.equal((await store.hit('new', 1000, 5000)).count, 1, 'room once the old windows lapsed');
    for (let i = 0; i < 300; i++) await store.hit(`new:${i}`, 1000, 5000);
    assert.ok(store.size() <= 302, `${store.size()} keys: the lapsed ones were swept`);
  });

  it('100k fresh keys into a full store of 100k live ones take bounded work per hit', async () => {
    const store = memoryRateLimitStore();
    const now = 1_000_000;
    for (let i = 0; i < 100_000; i++) await store.hit(`live:${i}`, 900_000, now);
    const t = performance.now();
    for (let i = 0; i < 100_000; i++) await store.hit(`fresh:${i}`, 900_000, now);
    const ms = performance.now() - t;
    // Scanning the map on every new key (the old code) takes minutes here; O(1) takes well under a second.
    assert.ok(ms < 20_000, `${ms.toFixed(0)} ms`);
    assert.equal((await store.peek('live:0', now))?.count, 1);
  });

  it('resets and re-creations do not grow its bookkeeping without bound', async () => {
    const store = memoryRateLimitStore(100);
    for (let i = 0; i < 10_000; i++) {
      await store.hit('k', 60_000, 1000);
      await store.reset('k');
    }
    assert.equal(store.size(), 0);
    for (let i = 0; i < 100; i++) await store.hit(`x:${i}`, 60_000, 1000);
    assert.equal(store.size(), 100);
  });
});
