import type { StoredTokens } from './storage.js';

/** Renew at most this long before expiry by default... */
export const DEFAULT_RENEWAL_MARGIN_MS = 30_000;
/** ...and at most this fraction of the lifetime, so short-lived tokens aren't renewed on every call. */
export const DEFAULT_RENEWAL_FRACTION = 0.2;

/**
 * How long before `expiresAt` the token counts as due. Default: min(30 s, 20 % of lifetime),
 * i.e. 30 s for Latchkey's 300 s tokens and 2 s for a 10 s token. An explicit margin is
 * capped at half the lifetime for the same reason. Adapters that drop `issuedAt` get the
 * configured (or 30 s) margin unscaled.
 */
export function renewalMarginMs(tokens: StoredTokens, configuredMarginMs?: number): number {
  const lifetime = tokens.issuedAt === undefined ? undefined : Math.max(0, tokens.expiresAt - tokens.issuedAt);
  if (configuredMarginMs !== undefined) {
    return lifetime === undefined ? configuredMarginMs : Math.min(configuredMarginMs, lifetime / 2);
  }
  return lifetime === undefined
    ? DEFAULT_RENEWAL_MARGIN_MS
    : Math.min(DEFAULT_RENEWAL_MARGIN_MS, lifetime * DEFAULT_RENEWAL_FRACTION);
}

export function isRenewalDue(tokens: StoredTokens, nowMs: number, configuredMarginMs?: number): boolean {
  return nowMs >= tokens.expiresAt - renewalMarginMs(tokens, configuredMarginMs);
}

