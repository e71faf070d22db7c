// DPoP proofs at the server's endpoints (RFC 9449, issue 11): the token, login and sign-up
// endpoints (with server nonces, §8) and the server's own resource routes (§7). The proof's
// cryptography and claims are @latchkey/core's, shared with @latchkey/verify; here are the
// policy (LATCHKEY_DPOP), the nonces and the replay store shared by every instance.
import { DpopError, proofReplayKey, requestHtu, verifyDpopProof, type VerifiedProof } from '@latchkey/core';
import { currentNonce, isCurrentNonce } from '../domain/dpop-nonce.js';
import { Errors } from '../domain/errors.js';
import type { AuthContext } from './context.js';

/** What the HTTP layer hands over of a request for its proof: the header as sent, and the request line. */
export interface DpopRequest {
  /** The `DPoP` header; undefined when absent. Several headers arrive comma-joined and fail to parse. */
  proof: string | undefined;
  method: string;
  /** Path and query as requested; the query is not part of `htu` (§4.3 check 9). */
  path: string;
}

/**
 * The request's verified proof, or null when it has none. A proof that is present and fails is
 * refused, never ignored: a client that offers a key and is not told it was refused would believe
 * its session is bound. Proofs are checked even with LATCHKEY_DPOP=off, which only stops new
 * sessions from being bound: sessions bound before the switch keep working with their key.
 * `accessToken`: on resource routes, the token the proof must name in `ath` (§7).
 */
export async function requestProof(ctx: AuthContext, req: DpopRequest | undefined, accessToken?: string): Promise<VerifiedProof | null> {
  if (req?.proof === undefined) return null;
  const resource = accessToken !== undefined;
  let proof: VerifiedProof;
  try {
    proof = verifyDpopProof(req.proof, {
      htm: req.method,
      htu: acceptedHtus(ctx, req.path),
      maxAgeSec: ctx.config.dpopProofMaxAgeSec,
      leewaySec: ctx.config.clockLeewaySec,
      now: ctx.now,
      ...(resource ? { accessToken } : {}),
      // §8: nonces at the authorization server's endpoints only; a resource server may ask, ours does not.
      ...(!resource && noncesOn(ctx) ? { nonceValid: (n: string) => isCurrentNonce(ctx.keys.mac, n, ctx.now()) } : {}),
    });
  } catch (e) {
    if (!(e instanceof DpopError)) throw e;
    ctx.events({ event: 'dpop.proof_refused', reason: e.reason });
    if (e.reason === 'use_nonce') throw Errors.useDpopNonce();
    throw resource ? Errors.invalidDpopProofAtResource() : Errors.invalidDpopProof();
  }
  // §11.1: a proof is single use within its window, across every instance (the stores' proof
  // record). A proof captured with its refresh token cannot be replayed for the grace answer.
  const windowMs = (ctx.config.dpopProofMaxAgeSec + 2 * ctx.config.clockLeewaySec) * 1000;
  if (!(await ctx.stores.proofs.firstUse(proofReplayKey(proof), proof.iat, windowMs, ctx.now()))) {
    ctx.events({ event: 'dpop.proof_refused', reason: 'replayed' });
    throw resource ? Errors.invalidDpopProofAtResource() : Errors.invalidDpopProof();
  }
  return proof;
}

// The URLs a proof may name for a path, per path: a handful of routes, parsed once each.
const htuCache = new WeakMap<AuthContext['config'], Map<string, string[]>>();

function acceptedHtus(ctx: AuthContext, path: string): string[] {
  const q = path.search(/[?#]/);
  const bare = q === -1 ? path : path.slice(0, q);
  let byPath = htuCache.get(ctx.config);
  if (!byPath) htuCache.set(ctx.config, (byPath = new Map()));
  let out = byPath.get(bare);
  if (!out) {
    out = ctx.config.publicUrls.map((base) => requestHtu(base, bare)).filter((u): u is string => u !== null);
    // Paths come from requests: only the routes that take proofs are few; any other path is not kept.
    if (byPath.size < 64) byPath.set(bare, out);
  }
  return out;
}

/** The proof a new session is bound with (sign-up, login); LATCHKEY_DPOP=required refuses a request without one. */
export async function sessionProof(ctx: AuthContext, req: DpopRequest | undefined): Promise<VerifiedProof | null> {
  if (ctx.config.dpop === 'off') return null;
  const proof = await requestProof(ctx, req);
  if (!proof && ctx.config.dpop === 'required') throw Errors.dpopProofRequired();
  return proof;
}

/** The `DPoP-Nonce` the login, sign-up and token endpoints hand out (§8.1); null when nonces are off. */
export function nonceToOffer(ctx: AuthContext): string | null {
  return noncesOn(ctx) ? currentNonce(ctx.keys.mac, ctx.now()) : null;
}

function noncesOn(ctx: AuthContext): boolean {
  return ctx.config.dpop !== 'off' && ctx.config.dpopNonce;
}
