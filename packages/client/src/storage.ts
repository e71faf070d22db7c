import type { SignedOutReason } from './events.js';

/**
 * What a storage holds after a sign-out that had a reason: other tabs read it to tell their
 * user why (a replayed token revoked the session, not an ordinary logout). Holds no token.
 */
export interface SignedOutMarker {
  signedOut: SignedOutReason;
  at: number;
}

const REASONS: readonly SignedOutReason[] = ['logout', 'expired', 'reuse_detected', 'revoked', 'dpop_key_lost', 'dpop_key_mismatch'];

/** The reason of a sign-out marker, or undefined for tokens, null, or anything malformed. */
export function signedOutReasonOf(value: unknown): SignedOutReason | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = (value as { signedOut?: unknown }).signedOut;
  return REASONS.includes(r as SignedOutReason) ? (r as SignedOutReason) : undefined;
}

export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /**
   * Milliseconds since the epoch on THIS device's clock: the local time the token request was
   * sent plus `expires_in`. Never derived from the JWT `exp`, which is on the server's clock.
   */
  expiresAt: number;
  /** Local time the lifetime counts from; lets the renewal margin scale with the lifetime. */
  issuedAt?: number;
  /** The access token's `sid` claim, when readable. */
  sessionId?: string;
  /**
   * Set when the session is DPoP-bound (`token_type: "DPoP"`): the RFC 7638 thumbprint of the
   * key it is bound to. Every request with these tokens needs a proof by that key.
   */
  dpopJkt?: string;
  /**
   * Local time the session ends unless used again (the server's `refresh_expires_in`): a refresh
   * refused past it as `session_ended` is an expiry, the store having already removed the session.
   */
  sessionExpiresAt?: number;
}

/**
 * Where tokens live. `get`/`set` may be sync or async. `subscribe` reports writes made by
 * OTHER holders of the same store (other tabs, other client instances); it is what lets tabs
 * share one token chain without locks. Adapters without it still work: the client re-reads
 * storage before every refresh and after every failed one.
 */
export interface TokenStorage {
  get(): StoredValue | Promise<StoredValue>;
  /** `signedOutReason` accompanies `null`: adapters that can, keep it as a SignedOutMarker. */
  set(tokens: StoredTokens | null, signedOutReason?: SignedOutReason): void | Promise<void>;
  subscribe?(listener: (value: StoredValue) => void): () => void;
}

export type StoredValue = StoredTokens | SignedOutMarker | null;

/** Accepts only well-formed records, so a corrupted or foreign value reads as "signed out". */
export function toStoredTokens(value: unknown): StoredTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { [K in keyof StoredTokens]?: unknown };
  if (typeof v.accessToken !== 'string' || typeof v.refreshToken !== 'string') return null;
  if (typeof v.expiresAt !== 'number' || !Number.isFinite(v.expiresAt)) return null;
  const tokens: StoredTokens = { accessToken: v.accessToken, refreshToken: v.refreshToken, expiresAt: v.expiresAt };
  if (typeof v.issuedAt === 'number' && Number.isFinite(v.issuedAt)) tokens.issuedAt = v.issuedAt;
  if (typeof v.sessionId === 'string') tokens.sessionId = v.sessionId;
  if (typeof v.dpopJkt === 'string') tokens.dpopJkt = v.dpopJkt;
  if (typeof v.sessionExpiresAt === 'number' && Number.isFinite(v.sessionExpiresAt)) tokens.sessionExpiresAt = v.sessionExpiresAt;
  return tokens;
}

export function sameTokens(a: StoredTokens | null, b: StoredTokens | null): boolean {
  if (a === null || b === null) return a === b;
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;
}

/**
 * Process-local storage, the default. Share one instance between several clients to model
 * several tabs; notifications are synchronous so tests and SSR see a consistent order.
 */
export function memoryStorage(initial: StoredTokens | null = null): TokenStorage {
  let current: StoredValue = initial;
  const listeners = new Set<(value: StoredValue) => void>();
  return {
    get: () => current,
    set(tokens, signedOutReason) {
      current = tokens ?? (signedOutReason ? { signedOut: signedOutReason, at: Date.now() } : null);
      for (const listener of [...listeners]) listener(current);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

const CHANNEL_NAME = 'latchkey';

/**
 * Browser storage shared by all tabs of the origin. Other tabs learn of writes through the
 * `storage` event; a BroadcastChannel ping covers what that event misses (several clients in
 * the same document). The ping carries no token: receivers re-read localStorage.
 */
export function localStorageStorage(key = 'latchkey.tokens'): TokenStorage {
  const store = (globalThis as { localStorage?: Storage }).localStorage;
  if (store === undefined) throw new TypeError('localStorageStorage: window.localStorage is not available here');

  const read = (): StoredValue => {
    const raw = store.getItem(key);
    if (raw === null) return null;
    try {
      const value: unknown = JSON.parse(raw);
      const reason = signedOutReasonOf(value);
      return reason ? { signedOut: reason, at: Number((value as { at?: unknown }).at) || 0 } : toStoredTokens(value);
    } catch {
      return null;
    }
  };

  const listeners = new Set<(value: StoredValue) => void>();
  const notify = () => {
    const tokens = read();
    for (const listener of [...listeners]) listener(tokens);
  };
  const onStorage = (event: Event) => {
    const { key: changedKey, storageArea } = event as StorageEvent;
    // key === null means localStorage.clear() in another tab.
    if (storageArea === store && (changedKey === key || changedKey === null)) notify();
  };
  let channel: BroadcastChannel | undefined;
  const target = globalThis as Partial<Pick<EventTarget, 'addEventListener' | 'removeEventListener'>>;

  const openChannel = (): BroadcastChannel | undefined => {
    if (typeof BroadcastChannel !== 'function') return undefined;
    const ch = new BroadcastChannel(CHANNEL_NAME);
    // Node keeps the process alive for an open channel; a token store shouldn't.
    (ch as { unref?: () => void }).unref?.();
    return ch;
  };
  const ping = (ch: BroadcastChannel) => ch.postMessage({ type: 'changed', key });

  return {
    get: read,
    set(tokens, signedOutReason) {
      if (tokens !== null) store.setItem(key, JSON.stringify(tokens));
      else if (signedOutReason) store.setItem(key, JSON.stringify({ signedOut: signedOutReason, at: Date.now() }));
      else store.removeItem(key);
      if (channel) ping(channel);
      else {
        const temporary = openChannel();
        if (temporary) {
          ping(temporary);
          temporary.close();
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1) {
        target.addEventListener?.('storage', onStorage);
        channel = openChannel();
        if (channel) {
          channel.onmessage = (event: MessageEvent) => {
            const data: unknown = event.data;
            if (typeof data === 'object' && data !== null && (data as { key?: unknown }).key === key) notify();
          };
        }
      }
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        target.removeEventListener?.('storage', onStorage);
        channel?.close();
        channel = undefined;
      };
    },
  };
}
