// The demo's thief: what someone holding a copy of the refresh token can do from their own
// browser. It cannot use this browser's key (non-extractable, in this origin's IndexedDB), so the
// best it can do is sign a DPoP proof with a key of its own, made here on the spot. Deliberately
// written without the client library: the thief does not run our code.

export interface ReplayOutcome {
  status: number;
  error?: string;
  reason?: string;
  description?: string;
}

const b64url = (bytes: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const b64urlJson = (value: unknown): string => b64url(new TextEncoder().encode(JSON.stringify(value)));

/** A fresh ES256 key (RFC 9449 §4.2), unrelated to the session's. */
async function thiefKey(): Promise<{ privateKey: CryptoKey; jwk: JsonWebKey }> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return { privateKey: pair.privateKey, jwk: { kty, crv, x, y } };
}

async function proof(key: { privateKey: CryptoKey; jwk: JsonWebKey }, htu: string, nonce: string | null): Promise<string> {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk };
  const payload: Record<string, string | number> = {
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: 'POST',
    htu,
    iat: Math.floor(Date.now() / 1000),
  };
  if (nonce !== null) payload.nonce = nonce;
  const input = `${b64urlJson(header)}.${b64urlJson(payload)}`;
  // WebCrypto's ECDSA signature is r‖s already, the form JWS wants (RFC 7518 §3.4).
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64url(sig)}`;
}

/**
 * Replays `refreshToken` at the token endpoint with a proof by the thief's own key, following one
 * nonce challenge (RFC 9449 §8) as any DPoP client would.
 */
export async function replayWithOwnKey(refreshToken: string): Promise<ReplayOutcome> {
  const target = new URL('/auth/token', location.href);
  const htu = `${target.origin}${target.pathname}`;
  const key = await thiefKey();
  let nonce: string | null = null;
  for (let attempt = 0; ; attempt++) {
    const r: Response = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, htu, nonce) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    const body = (await r.json().catch(() => ({}))) as { error?: string; reason?: string; error_description?: string };
    const challenge: string | null = r.headers.get('dpop-nonce');
    if (r.status === 400 && body.error === 'use_dpop_nonce' && challenge && attempt === 0) {
      nonce = challenge;
      continue;
    }
    return { status: r.status, error: body.error, reason: body.reason, description: body.error_description };
  }
}

/** A replay with no proof at all (the only thing a Bearer-era thief ever needed). */
export async function replayWithoutProof(refreshToken: string): Promise<ReplayOutcome> {
  const r = await fetch('/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  const body = (await r.json().catch(() => ({}))) as { error?: string; reason?: string; error_description?: string };
  return { status: r.status, error: body.error, reason: body.reason, description: body.error_description };
}
