// Local verification of Latchkey access tokens for APIs that are not Latchkey. The checks, the
// verified-token cache and the revoked-session set are the server's own (@latchkey/core: RFC 9068
// §4 and RFC 8725); this file adds where the keys come from: the issuer's JWKS, refetched on
// rotation without letting a token force fetches. DPoP-bound tokens (RFC 9449 §7) are accepted
// only through verifyRequest, with a proof of their key for that very request.
import {
  boundThumbprint,
  DpopError,
  parseCompactJws,
  ProofReplayCache,
  proofReplayKey,
  verifyDpopProof,
  RevocationFollower,
  RevocationSet,
  VerifiedTokenCache,
  TokenError,
  verifyParsedAccessToken,
  type AccessTokenClaims,
  type ParsedJws,
  type RevocationSource,
  type VerificationKey,
  type VerifyOptions,
} from '@latchkey/core';
import { credentialsFrom, VerifyError, type DpopProofFailure } from './errors.js';
import { discoverJwksUri, fetchJwks, trustedKeys, type FetchLike } from './jwks.js';

export interface VerifierOptions {
  /** Exactly the issuer's `iss` (and its metadata's `issuer`, RFC 8414 §3.3). */
  issuer: string;
  /** This API's audience; a token must name it in `aud` (RFC 9068 §4). */
  audience: string;
  /** Used for metadata and JWKS only. Defaults to the global fetch. */
  fetch?: FetchLike;
  /** Tolerated clock skew for exp, nbf and iat (RFC 8725 §3.x: small). Default 5. */
  leewaySec?: number;
  /** Longest lifetime a genuine token can have; longer (or exp in ms) is refused. Default 86400. */
  maxLifetimeSec?: number;
  /** Verified tokens remembered (LRU); 0 disables the cache. Default 10000. */
  cacheSize?: number;
  /** Minimum time between JWKS refetches caused by unknown kids. Default 30000. */
  unknownKidCooldownMs?: number;
  /** Age after which the JWKS is refetched in the background, so a withdrawn key stops being trusted. Default 300000. */
  jwksMaxAgeMs?: number;
  /** Timeout of each metadata or JWKS request. Default 5000. */
  fetchTimeoutMs?: number;
  /** Clock in ms since the epoch. Default Date.now. */
  now?: () => number;
  /** The revocation feed to follow (e.g. `redisRevocationSource(...)` or the server's own feed). */
  revocations?: RevocationSource;
  /** Seconds a DPoP proof is accepted after its `iat` (RFC 9449 §11.1), plus `leewaySec` both ways. Default 60. */
  dpopMaxAgeSec?: number;
  /** Proof ids (`jti`) remembered to refuse replays (RFC 9449 §11.1); bounded, in memory. Default 100000. */
  dpopReplayCacheSize?: number;
}

export type VerifiedClaims = Readonly<AccessTokenClaims>;

/** What verifyRequest needs of an HTTP request. */
export interface RequestCredentials {
  /** The Authorization header as received (an array if it came more than once). */
  authorization: string | string[] | undefined;
  /** The DPoP header as received (RFC 9449 §4.1). */
  dpop?: string | string[] | undefined;
  /** The request method, as the proof's `htm` must name it. */
  method: string;
  /**
   * The request's absolute URL as the client called it (behind a proxy: the public URL, not the
   * one this process sees); compared with the proof's `htu` without query and fragment.
   */
  url: string;
}

export interface Verifier {
  /**
   * Resolves to the token's claims (frozen), or rejects with a VerifyError. Never logs the token.
   * Refuses DPoP-bound tokens (`token_bound`): there is no proof to check here; use verifyRequest.
   */
  verify(token: string): Promise<VerifiedClaims>;
  /**
   * Verifies the credentials of one request: `Authorization: Bearer <unbound token>`, or
   * `Authorization: DPoP <bound token>` with a `DPoP` proof by the token's key for this method
   * and URL (RFC 9449 §7). Rejects with a VerifyError; missing credentials are `missing_token`.
   */
  verifyRequest(req: RequestCredentials): Promise<VerifiedClaims>;
  /** Fetches keys and loads revocations now instead of on the first verify. */
  ready(): Promise<void>;
  /** Refuses the session's tokens until `until` (ms epoch), as a feed revocation would. */
  revoke(sessionId: string, until: number): void;
  /** Stops following the revocation source and forgets cached tokens. */
  close(): Promise<void>;
}

/** A header as frameworks hand it over: the value, undefined when absent, null when it came more than once. */
function single(h: string | readonly string[] | undefined): string | undefined | null {
  if (h === undefined || typeof h === 'string') return h;
  if (h.length === 0) return undefined;
  return h.length === 1 ? h[0] : null;
}

/** After a failed cold-start fetch, callers in this window share the failure instead of each fetching. */
const COLD_RETRY_MS = 1000;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function invalid(e: unknown): never {
  if (e instanceof TokenError) throw new VerifyError('invalid_token', e.reason);
  throw e;
}

class RemoteKeySet {
  current: Map<string, VerificationKey> | null = null;
  private loadedAt = -Infinity;
  private jwksUri: string | null = null;
  private inflight: Promise<Map<string, VerificationKey>> | null = null;
  private lastFailureAt = -Infinity;
  private lastFailure: unknown = null;
  private lastUnknownKidFetchAt = -Infinity;
  private lastBackgroundAt = -Infinity;

  constructor(
    private readonly issuer: string,
    private readonly fetchFn: FetchLike,
    private readonly now: () => number,
    private readonly timeoutMs: number,
    private readonly unknownKidCooldownMs: number,
    private readonly maxAgeMs: number,
  ) {}

  private fetchOnce(): Promise<Map<string, VerificationKey>> {
    if (this.inflight) return this.inflight;
    this.inflight = (async () => {
      try {
        this.jwksUri ??= await discoverJwksUri(this.fetchFn, this.issuer, this.timeoutMs);
        let doc: Record<string, unknown>;
        try {
          doc = await fetchJwks(this.fetchFn, this.jwksUri, this.timeoutMs);
        } catch (e) {
          // Maybe the issuer moved its JWKS: discover again next time.
          this.jwksUri = null;
          throw e;
        }
        const keys = trustedKeys(doc, this.current ?? undefined);
        this.current = keys;
        this.loadedAt = this.now();
        return keys;
      } catch (e) {
        this.lastFailureAt = this.now();
        this.lastFailure = e;
        throw e;
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** The keys, loading them on a cold start (single flight; 503 while the issuer is unreachable). */
  async ensure(): Promise<Map<string, VerificationKey>> {
    if (this.current) return this.current;
    if (!this.inflight && this.now() - this.lastFailureAt < COLD_RETRY_MS) {
      throw new VerifyError('temporarily_unavailable', 'jwks_unavailable', { cause: this.lastFailure });
    }
    try {
      return await this.fetchOnce();
    } catch (e) {
      throw new VerifyError('temporarily_unavailable', 'jwks_unavailable', { cause: e });
    }
  }

  /**
   * A kid we do not know: perhaps the issuer rotated. Refetch at most once per cooldown, and let
   * every concurrent caller share a fetch already in flight, so a flood of made-up kids costs the
   * issuer at most one request per cooldown (jose's createRemoteJWKSet does the same).
   */
  async unknownKid(kid: string): Promise<VerificationKey | undefined> {
    if (this.inflight) {
      await this.inflight.catch(() => {});
      return this.current?.get(kid);
    }
    const now = this.now();
    if (now - this.lastUnknownKidFetchAt < this.unknownKidCooldownMs) return undefined;
    this.lastUnknownKidFetchAt = now;
    await this.fetchOnce().catch(() => {});
    return this.current?.get(kid);
  }

  /** Stale keys are refetched without making the caller wait; a failure keeps the keys we have. */
  refreshIfStale(now: number): void {
    if (now - this.loadedAt < this.maxAgeMs || this.inflight) return;
    if (now - this.lastBackgroundAt < Math.max(this.unknownKidCooldownMs, COLD_RETRY_MS)) return;
    this.lastBackgroundAt = now;
    this.fetchOnce().catch(() => {});
  }
}

function positive(name: string, v: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new TypeError(`createVerifier: ${name} must be a non-negative ${integer ? 'integer' : 'number'}`);
  }
  return v;
}

export function createVerifier(options: VerifierOptions): Verifier {
  const { issuer, audience } = options;
  if (typeof issuer !== 'string' || !/^https?:\/\//.test(issuer) || !URL.canParse(issuer)) throw new TypeError('createVerifier: issuer must be an http(s) URL');
  if (typeof audience !== 'string' || audience.length === 0) throw new TypeError('createVerifier: audience is required');
  const now = options.now ?? Date.now;
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const cooldown = positive('unknownKidCooldownMs', options.unknownKidCooldownMs ?? 30_000);
  const opts: VerifyOptions = {
    issuer,
    audience,
    leewaySec: positive('leewaySec', options.leewaySec ?? 5),
    maxLifetimeSec: positive('maxLifetimeSec', options.maxLifetimeSec ?? 86_400),
    now,
  };
  const cache = new VerifiedTokenCache(positive('cacheSize', options.cacheSize ?? 10_000, true));
  const keySet = new RemoteKeySet(
    issuer,
    fetchFn,
    now,
    positive('fetchTimeoutMs', options.fetchTimeoutMs ?? 5000),
    cooldown,
    positive('jwksMaxAgeMs', options.jwksMaxAgeMs ?? 300_000),
  );
  const dpopMaxAgeSec = positive('dpopMaxAgeSec', options.dpopMaxAgeSec ?? 60);
  // Remembered for as long as verifyDpopProof would accept the proof: max age plus leeway.
  const replayCacheSize = positive('dpopReplayCacheSize', options.dpopReplayCacheSize ?? 100_000, true);
  // No "0 disables" here, unlike cacheSize: without it a captured proof could be replayed.
  if (replayCacheSize < 1) throw new TypeError('createVerifier: dpopReplayCacheSize must be at least 1');
  const proofsSeen = new ProofReplayCache(dpopMaxAgeSec + opts.leewaySec, replayCacheSize);
  const revoked = new RevocationSet(now, opts.leewaySec * 1000);
  const follower = options.revocations ? new RevocationFollower(options.revocations, revoked, now, COLD_RETRY_MS) : null;

  async function revocationsReady(): Promise<void> {
    if (!follower || follower.isLoaded) return;
    try {
      await follower.ready();
    } catch (e) {
      // Fail closed: without the revoked set, a logged-out or stolen session would pass.
      throw new VerifyError('temporarily_unavailable', 'revocations_unavailable', { cause: e });
    }
  }

  function checkSession(claims: VerifiedClaims): void {
    if (revoked.has(claims.sid)) throw new VerifyError('invalid_token', 'revoked');
  }

  async function verifyUncached(token: string): Promise<VerifiedClaims> {
    let parsed: ParsedJws;
    try {
      // Everything about the header (jwk/jku/x5u/x5c/crit refused, typ, kid syntax) is settled
      // here, before any key lookup, so nothing in a token can make us fetch anything.
      parsed = parseCompactJws(token);
    } catch (e) {
      invalid(e);
    }
    await revocationsReady();
    const keys = await keySet.ensure();
    const kid = parsed.header.kid;
    const key = keys.get(kid) ?? (await keySet.unknownKid(kid));
    let claims: AccessTokenClaims;
    try {
      claims = verifyParsedAccessToken(parsed, () => key, opts);
    } catch (e) {
      invalid(e);
    }
    const frozen = deepFreeze(claims);
    checkSession(frozen);
    if (key) cache.remember(token, frozen, key);
    return frozen;
  }

  /** Signature (or its cache), claims, time and revocation: everything about the token itself. */
  async function verifyToken(token: string): Promise<VerifiedClaims> {
    if (typeof token !== 'string') throw new VerifyError('invalid_token', 'malformed');
    let hit: VerifiedClaims | undefined;
    try {
      // A cached token is only a cached signature check, and only while its key is still the
      // trusted one: time and revocation are re-checked on every call.
      hit = cache.lookup(token, (kid) => keySet.current?.get(kid), opts);
    } catch (e) {
      invalid(e);
    }
    if (hit !== undefined) {
      checkSession(hit);
      keySet.refreshIfStale(now());
      return hit;
    }
    const claims = await verifyUncached(token);
    keySet.refreshIfStale(now());
    return claims;
  }

  const proofError = (reason: DpopProofFailure) => new VerifyError('invalid_dpop_proof', reason, { scheme: 'DPoP' });

  /**
   * RFC 9449 §7.1: the proof must be by the token's key (cnf.jkt), for this method and URL,
   * carry the token's hash (ath), be recent and new. Runs on every request: a cached token only
   * skips its own signature check, never this.
   */
  function checkProof(token: string, jkt: string, req: RequestCredentials): void {
    const dpop = single(req.dpop);
    if (dpop === undefined || dpop === '') throw proofError('proof_missing');
    // §4.3 check 1: exactly one DPoP header. Node joins repeated headers with ", "; a comma is in
    // no proof's alphabet, so one in the value means several proofs.
    if (dpop === null || dpop.includes(',')) throw proofError('proof_multiple');
    let proof;
    try {
      proof = verifyDpopProof(dpop, { htm: req.method, htu: req.url, maxAgeSec: dpopMaxAgeSec, leewaySec: opts.leewaySec, now, accessToken: token });
    } catch (e) {
      // `replayed` and `use_nonce` are never thrown here (no nonce asked on resource servers, §9; replay is ours, below).
      if (e instanceof DpopError) throw proofError(e.reason === 'replayed' || e.reason === 'use_nonce' ? 'proof_malformed' : `proof_${e.reason}`);
      throw e;
    }
    if (proof.jkt !== jkt) throw proofError('proof_key_mismatch');
    // Admitted only once everything else holds, so that refused proofs take no room in the cache.
    if (!proofsSeen.admit(proofReplayKey(proof), proof.iat, now() / 1000)) throw proofError('proof_replayed');
  }

  return {
    async verify(token: string): Promise<VerifiedClaims> {
      const claims = await verifyToken(token);
      if (boundThumbprint(claims) !== null) throw new VerifyError('invalid_token', 'token_bound', { scheme: 'DPoP' });
      return claims;
    },

    async verifyRequest(req: RequestCredentials): Promise<VerifiedClaims> {
      const authorization = single(req.authorization);
      if (authorization === null) throw new VerifyError('invalid_token', 'authorization_multiple');
      const creds = credentialsFrom(authorization);
      if (creds === null) throw new VerifyError('invalid_token', 'missing_token');
      if (creds.scheme === 'Bearer') {
        const claims = await verifyToken(creds.token);
        // §7.1: a bound token as Bearer is refused, with the DPoP challenge that says why.
        if (boundThumbprint(claims) !== null) throw new VerifyError('invalid_token', 'token_bound', { scheme: 'DPoP' });
        return claims;
      }
      let claims: VerifiedClaims;
      try {
        claims = await verifyToken(creds.token);
      } catch (e) {
        if (e instanceof VerifyError && e.code === 'invalid_token') throw new VerifyError(e.code, e.reason, { scheme: 'DPoP', cause: e.cause });
        throw e;
      }
      const jkt = boundThumbprint(claims);
      if (jkt === null) throw new VerifyError('invalid_token', 'token_not_bound', { scheme: 'DPoP' });
      checkProof(creds.token, jkt, req);
      return claims;
    },

    async ready(): Promise<void> {
      await Promise.all([keySet.ensure(), revocationsReady()]);
    },

    revoke(sessionId: string, until: number): void {
      revoked.add({ sessionId, until });
    },

    async close(): Promise<void> {
      cache.clear();
      await follower?.close();
    },
  };
}
