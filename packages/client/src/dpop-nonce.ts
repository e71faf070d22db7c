// Server-provided nonces (RFC 9449 §8, §9): each server's latest `DPoP-Nonce`, kept per origin.

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
