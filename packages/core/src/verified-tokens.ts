// A cache of access tokens whose signature was already checked, by exact token string: the
// signature is the costly step (~110 µs for EdDSA here). A hit stands in for the signature check
// only: the key that verified it must still be the trusted key for its kid (a key withdrawn or
// replaced by a JWKS refetch invalidates the entry), and time is re-checked on every call
// (RFC 9068 §4 exp). Revocation is the caller's check, also on every call.
import { checkTime, TokenError, type AccessTokenClaims, type VerificationKey, type VerifyOptions } from './jwt/access-token.js';
import { Lru } from './jwt/lru.js';

interface Entry {
  claims: Readonly<AccessTokenClaims>;
  key: VerificationKey;
}

export class VerifiedTokenCache {
  private readonly lru: Lru<string, Entry>;

  constructor(capacity: number) {
    this.lru = new Lru(capacity);
  }

  /**
   * The claims of a token verified before, if its key is still `currentKey(kid)`; undefined on a
   * miss. Throws TokenError (and forgets the token) when its time has run out.
   */
  lookup(token: string, currentKey: (kid: string) => VerificationKey | undefined, opts: Pick<VerifyOptions, 'leewaySec' | 'maxLifetimeSec' | 'now'>): Readonly<AccessTokenClaims> | undefined {
    const hit = this.lru.get(token);
    if (hit === undefined) return undefined;
    if (currentKey(hit.key.kid) !== hit.key) {
      this.lru.delete(token);
      return undefined;
    }
    try {
      checkTime(hit.claims, opts);
    } catch (e) {
      if (e instanceof TokenError) this.lru.delete(token);
      throw e;
    }
    return hit.claims;
  }

  remember(token: string, claims: Readonly<AccessTokenClaims>, key: VerificationKey): void {
    this.lru.set(token, { claims, key });
  }

  forget(token: string): void {
    this.lru.delete(token);
  }

  clear(): void {
    this.lru.clear();
  }
}
