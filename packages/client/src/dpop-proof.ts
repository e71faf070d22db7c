// DPoP proofs (RFC 9449 §4.2), signed with WebCrypto.
import { base64url, base64urlOfText } from './base64url.js';
import type { ProofKey } from './dpop-key.js';

export interface ProofRequest {
  htm: string;
  /** The request's absolute URL; query and fragment are dropped (§4.2). */
  url: string;
  /** The latest `DPoP-Nonce` of that server (§8), when it gave one. */
  nonce?: string | undefined;
  /** On resource requests: the token the proof accompanies, hashed into `ath` (§4.2, §7). */
  accessToken?: string | undefined;
  /** Seconds since the epoch; the wall clock, since the server compares it with its own. */
  iat: number;
}

/** §4.2 `htu`: the target URI without query and fragment. */
export function proofHtu(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export async function createDpopProof(subtle: SubtleCrypto, key: ProofKey, req: ProofRequest): Promise<string> {
  const header = { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk };
  const payload: Record<string, string | number> = {
    // 128 random bits: unique enough that the server's replay check (§11.1) never trips on us.
    jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: req.htm,
    htu: proofHtu(req.url),
    iat: req.iat,
  };
  if (req.nonce !== undefined) payload['nonce'] = req.nonce;
  if (req.accessToken !== undefined) payload['ath'] = await accessTokenHash(subtle, req.accessToken);
  const signingInput = `${base64urlOfText(JSON.stringify(header))}.${base64urlOfText(JSON.stringify(payload))}`;
  // WebCrypto's ECDSA signature is already r‖s (IEEE P1363), the form JWS uses (RFC 7518 §3.4).
  const algorithm = key.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
  const signature = await subtle.sign(algorithm, key.privateKey, new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64url(signature)}`;
}

/** §7: base64url SHA-256 of the access token's ASCII bytes. */
export async function accessTokenHash(subtle: SubtleCrypto, accessToken: string): Promise<string> {
  return base64url(await subtle.digest('SHA-256', new TextEncoder().encode(accessToken)));
}
