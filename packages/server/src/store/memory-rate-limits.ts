import type { RateLimitStore } from './types.js';

/** In-process fixed windows for the embedded mode; bounded so a flood of distinct keys cannot exhaust memory. */
export function memoryRateLimitStore(maxKeys = 100_000): RateLimitStore {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const live = (key: string, now: number) => {
    const w = windows.get(key);
    if (w && w.resetAt <= now) {
      windows.delete(key);
      return undefined;
    }
    return w;
  };
  return {
    async hit(key, windowMs, now) {
      let w = live(key, now);
      if (!w) {
        if (windows.size >= maxKeys) {
          for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k);
          // Still full: drop the oldest entry (Map keeps insertion order).
          if (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string);
        }
        w = { count: 0, resetAt: now + windowMs };
        windows.set(key, w);
      }
      w.count++;
      return { ...w };
    },
    async peek(key, now) {
      const w = live(key, now);
      return w ? { ...w } : null;
    },
    async reset(key) {
      windows.delete(key);
    },
    async undo(key, now) {
      const w = live(key, now);
      if (w && --w.count <= 0) windows.delete(key);
    },
  };
}
