// What the client learns about each server (per origin) from its answers: the latest
// `DPoP-Nonce` (RFC 9449 §8, §9) and how far its clock is from ours.

export class NonceBook {
  readonly #byOrigin = new Map<string, string>();

  get(url: string): string | undefined {
    return this.#byOrigin.get(originOf(url));
  }

  /** Remembers the response's nonce, if it carries one, and returns it. */
  remember(url: string, res: Response): string | undefined {
    const nonce = res.headers.get('dpop-nonce')?.trim();
    // §8.1: a nonce is a non-empty NQCHAR string; anything else we could not repeat faithfully.
    if (!nonce || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(nonce)) return undefined;
    this.#byOrigin.set(originOf(url), nonce);
    return nonce;
  }
}

/** Below this the measured difference is latency and the `Date` header's whole seconds: the clocks agree. */
const CLOCK_AGREEMENT_SEC = 10;

/**
 * A proof's `iat` is checked against the server's clock (§4.3 check 11, a window of about a
 * minute), so a device whose clock is minutes off could never sign in with DPoP while Bearer works.
 * The server's `Date` header tells the difference; proofs then carry the server's time. Only
 * proofs use it: renewal timing still runs on the local clock (from `expires_in`). Cross-origin,
 * the header is readable only if the server exposes it (Access-Control-Expose-Headers: Date).
 */
export class ServerClocks {
  readonly #offsetSec = new Map<string, number>();

  offsetSec(url: string): number {
    return this.#offsetSec.get(originOf(url)) ?? 0;
  }

  /** Records the server's clock from the answer's `Date` when readable; returns the offset now in force. */
  remember(url: string, res: Response): number {
    const origin = originOf(url);
    const date = Date.parse(res.headers.get('date') ?? '');
    if (Number.isNaN(date)) return this.#offsetSec.get(origin) ?? 0;
    const measured = Math.round((date - Date.now()) / 1000);
    const offset = Math.abs(measured) <= CLOCK_AGREEMENT_SEC ? 0 : measured;
    this.#offsetSec.set(origin, offset);
    return offset;
  }
}

/** The server refused the proof itself: 400 `invalid_dpop_proof` (auth server) or 401 with that error (resource server, §7.1). */
export async function isProofRefusal(res: Response): Promise<boolean> {
  if (res.status === 401) {
    const challenge = res.headers.get('www-authenticate');
    if (challenge !== null && /(?:^|[\s,])error\s*=\s*"?invalid_dpop_proof"?/i.test(challenge)) return true;
  } else if (res.status !== 400) {
    return false;
  }
  return (await bodyError(res)) === 'invalid_dpop_proof';
}

function originOf(url: string): string {
  return new URL(url).origin;
}

/** §8: the auth server's "use this nonce" answer: 400 `{"error":"use_dpop_nonce"}`. */
export async function isAuthServerNonceChallenge(res: Response): Promise<boolean> {
  return res.status === 400 && (await bodyError(res)) === 'use_dpop_nonce';
}

/**
 * §9: a resource server's answer, 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`; the
 * JSON body is the fallback when the challenge header is not exposed cross-origin.
 */
export async function isResourceNonceChallenge(res: Response): Promise<boolean> {
  if (res.status !== 401) return false;
  const challenge = res.headers.get('www-authenticate');
  if (challenge !== null && /(?:^|[\s,])error\s*=\s*"?use_dpop_nonce"?/i.test(challenge)) return true;
  return (await bodyError(res)) === 'use_dpop_nonce';
}

async function bodyError(res: Response): Promise<unknown> {
  try {
    const body: unknown = await res.clone().json();
    return typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  } catch {
    return undefined;
  }
}
