import type { Config } from '../config.js';
import type { RevocationSet, VerifiedTokenCache } from '@latchkey/core';
import type { KeyRing, KeyTimings } from '../keys/key-ring.js';
import type { Stores } from '../store/types.js';
import type { SessionPolicy } from '../domain/session.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SecurityEventSink } from './events.js';
import type { Mailer } from '../mail/mailer.js';
import type { PasswordHasher } from './passwords.js';

/** Everything a use case needs; built once by the process entry (or a test). */
export interface AuthContext {
  config: Config;
  stores: Stores;
  keys: KeyRing;
  /** Sessions revoked anywhere (own revocations and the feed's), until their last access token expires. */
  revoked: RevocationSet;
  events: SecurityEventSink;
  metrics: Metrics;
  now: () => number;
  /** argon2id hash of a random password: unknown users are verified against it for equal timing. */
  dummyHash: string;
  /** The bounded password-hashing queue every argon2id hash and verification goes through. */
  hasher: PasswordHasher;
  /** Access tokens whose signature was already checked, by exact token string. */
  verifiedTokens: VerifiedTokenCache;
  /** Account mail: queued, never awaited by a request (mail/queue.ts). */
  mailer: Mailer;
}

export function sessionPolicy(config: Config): SessionPolicy {
  return { graceMs: config.reuseGraceSec * 1000, idleMs: config.sessionIdleSec * 1000 };
}

/** How long an access token can be accepted after it was signed: its lifetime plus the clock leeway. */
export function accessTokenHorizonMs(config: Config): number {
  return (config.accessTtlSec + config.clockLeewaySec) * 1000;
}

/** How long a revocation must be remembered: until the last access token of the session expires. */
export function revocationHorizon(ctx: Pick<AuthContext, 'config' | 'now'>): number {
  return ctx.now() + accessTokenHorizonMs(ctx.config);
}

/**
 * The key ring's clock. A MAC key stops MACing when its successor activates; a session can hold a
 * token it made for at most the absolute session lifetime after that (and reuse of such a token
 * must still be recognised), plus the lead as a margin for clocks that disagree.
 */
export function keyTimings(config: Config): KeyTimings {
  const leadMs = config.keyPublishLeadSec * 1000;
  return { retiredLifetimeMs: accessTokenHorizonMs(config), leadMs, macLifetimeMs: config.sessionTtlSec * 1000 + leadMs };
}
