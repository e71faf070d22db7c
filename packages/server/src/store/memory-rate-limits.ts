// In-process fixed windows for the embedded shape (issue 12 item 4). Bounded, so a flood of distinct
// keys cannot exhaust memory, and the bound is never paid for with a live counter: evicting the
// oldest key when full let 102k refused attempts from fresh IPv6 /64s flush a victim's account
// counter, and the scan for expired keys made every new key O(n). Now only expired windows leave
// early, found in O(1) amortised per request from per-window-length FIFO queues (a window's end is
// its start plus its length, so within one length, creation order is expiry order). The bound is
// per class of key (its first two `:` segments: `login:acct`, `login:known`, `signup:src`, …), so
// one kind cannot crowd out another: 30-day known-source marks never take the room of 15-minute
// failure counters. A class full of live counters refuses to track a new key: its hit counts as
// over any limit (fail closed) until windows lapse. The throttles peek before they hit, so refused
// attempts create no keys, and every key-creating attempt costs an argon2id hash from the bounded
// queue: filling one class of 100k live 15-minute counters takes more hashes per second than the
// embedded server can make.
import type { RateLimitStore } from './types.js';

/** What a hit on a new key answers while the store is full of live counters: over every limit. */
export const SATURATED = Number.MAX_SAFE_INTEGER;

interface Window {
  count: number;
  resetAt: number;
}

/** A FIFO of (key, resetAt) with O(1) push and shift, compacted as it drains. */
class ExpiryQueue {
  private keys: string[] = [];
  private ends: number[] = [];
  private head = 0;
  get length(): number {
    return this.keys.length - this.head;
  }
  push(key: string, resetAt: number): void {
    this.keys.push(key);
    this.ends.push(resetAt);
  }
  peekEnd(): number | undefined {
    return this.head < this.keys.length ? this.ends[this.head] : undefined;
  }
  shift(): [string, number] {
    const out: [string, number] = [this.keys[this.head]!, this.ends[this.head]!];
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
    return out;
  }
  /** Drops entries whose window was reset or replaced since; O(n), run only once per n pushes. */
  compact(isCurrent: (key: string, resetAt: number) => boolean): void {
    const keys: string[] = [];
    const ends: number[] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      if (isCurrent(this.keys[i]!, this.ends[i]!)) {
        keys.push(this.keys[i]!);
        ends.push(this.ends[i]!);
      }
    }
    this.keys = keys;
    this.ends = ends;
    this.head = 0;
  }
}

/** Expired windows swept per call and queue: more than one per call, so sweeping outpaces creation. */
const SWEEP_PER_CALL = 4;

/** `login:acct:…` -> `login:acct`; `signup:all` -> `signup`; no colon -> ''. */
function classOf(key: string): string {
  const first = key.indexOf(':');
  if (first < 0) return '';
  const second = key.indexOf(':', first + 1);
  return second < 0 ? key.slice(0, first) : key.slice(0, second);
}

/** `maxKeys` is per class of key. */
export function memoryRateLimitStore(maxKeys = 100_000): RateLimitStore & { size(): number } {
  const windows = new Map<string, Window>();
  const perClass = new Map<string, number>();
  const forget = (key: string) => {
    if (!windows.delete(key)) return;
    const c = classOf(key);
    const n = (perClass.get(c) ?? 1) - 1;
    if (n <= 0) perClass.delete(c);
    else perClass.set(c, n);
  };
  const queues = new Map<number, ExpiryQueue>();
  let queued = 0;

  const isCurrent = (key: string, resetAt: number) => windows.get(key)?.resetAt === resetAt;
  const sweep = (now: number, budget: number) => {
    for (const q of queues.values()) {
      for (let n = 0; n < budget; n++) {
        const end = q.peekEnd();
        if (end === undefined || end > now) break;
        const [key, resetAt] = q.shift();
        queued--;
        if (isCurrent(key, resetAt)) forget(key);
      }
    }
  };
  const live = (key: string, now: number) => {
    const w = windows.get(key);
    if (w && w.resetAt <= now) {
      forget(key);
      return undefined;
    }
    return w;
  };

  return {
    async hit(key, windowMs, now) {
      sweep(now, SWEEP_PER_CALL);
      let w = live(key, now);
      if (!w) {
        const cls = classOf(key);
        if ((perClass.get(cls) ?? 0) >= maxKeys) sweep(now, maxKeys);
        if ((perClass.get(cls) ?? 0) >= maxKeys) return { count: SATURATED, resetAt: now + windowMs };
        w = { count: 0, resetAt: now + windowMs };
        windows.set(key, w);
        perClass.set(cls, (perClass.get(cls) ?? 0) + 1);
        let q = queues.get(windowMs);
        if (!q) queues.set(windowMs, (q = new ExpiryQueue()));
        q.push(key, w.resetAt);
        // Resets and re-creations leave stale entries behind; bound them by the live keys.
        if (++queued > 2 * Math.max(maxKeys, windows.size)) {
          queued = 0;
          for (const each of queues.values()) {
            each.compact(isCurrent);
            queued += each.length;
          }
        }
      }
      w.count++;
      return { ...w };
    },
    async peek(key, now) {
      const w = live(key, now);
      return w ? { ...w } : null;
    },
    async reset(key) {
      forget(key);
    },
    async undo(key, now) {
      const w = live(key, now);
      if (w && --w.count <= 0) forget(key);
    },
    size: () => windows.size,
  };
}
