import type { Config } from '../config.ts';
import type { AccessTokenClaims } from '../jwt/access-token.ts';
import type { Lru } from '../jwt/lru.ts';
import type { KeyRing } from '../keys/key-ring.ts';
import type { Stores } from '../store/types.ts';
import type { SessionPolicy } from '../domain/session.ts';
import type { SecurityEventSink } from './events.ts';
import type { RevokedSessions } from './revoked-sessions.ts';

/** Everything a use case needs; built once by the process entry (or a test). */
export interface AuthContext {
  config: Config;
  stores: Stores;
  keys: KeyRing;
  revoked: RevokedSessions;
  events: SecurityEventSink;
  now: () => number;
  /** argon2id hash of a random password: unknown users are verified against it for equal timing. */
  dummyHash: string;
  /** Access tokens whose signature was already checked, by exact token string. */
  verifiedTokens: Lru<string, VerifiedToken>;
}

export interface VerifiedToken {
  claims: AccessTokenClaims;
  kid: string;
}

export function sessionPolicy(config: Config): SessionPolicy {
  return { graceMs: config.reuseGraceSec * 1000, idleMs: config.sessionIdleSec * 1000 };
}

/** How long a revocation must be remembered: until the last access token of the session expires. */
export function revocationHorizon(ctx: AuthContext): number {
  return ctx.now() + (ctx.config.accessTtlSec + ctx.config.clockLeewaySec) * 1000;
}
