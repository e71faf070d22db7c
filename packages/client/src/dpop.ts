// Everything the client does for DPoP (RFC 9449) that is not about tokens: finding the key,
// signing proofs, following nonce challenges.
import { defaultKeyStore, describeKey, generateProofKeyPair, toKeyPair, type DpopAlgorithm, type DpopKeyStore, type ProofKey } from './dpop-key.js';
import { isProofRefusal, NonceBook, ServerClocks } from './dpop-nonce.js';
import { createDpopProof } from './dpop-proof.js';
import { discardBody } from './http.js';

export interface DpopOptions {
  /** Where the proof key lives. Default: IndexedDB in a browser (shared by the origin's tabs), one in-memory key per process elsewhere. */
  keyStore?: DpopKeyStore;
  /** 'ES256' (default) or 'EdDSA' (Ed25519, where the runtime's WebCrypto has it; ES256 otherwise). Applies to a key created from now on. */
  algorithm?: DpopAlgorithm;
}

export class Dpop {
  readonly nonces = new NonceBook();
  readonly clocks = new ServerClocks();
  readonly #subtle: SubtleCrypto;
  readonly #store: DpopKeyStore;
  readonly #algorithm: DpopAlgorithm;
  /** The key this client last signed with; the store is only read again when it is not the one asked for. */
  #current: ProofKey | null = null;

  constructor(subtle: SubtleCrypto, options: DpopOptions) {
    this.#subtle = subtle;
    this.#store = options.keyStore ?? defaultKeyStore();
    this.#algorithm = options.algorithm ?? 'ES256';
  }

  /**
   * The key to sign in with: the stored one, or a new one. Creation is race-free across tabs as
   * far as the store's `set` is first-writer-wins: every tab reads back the same winner. A store
   * that fails gives a key for this page's lifetime (a reload then finds it lost and signs out).
   * Null only if no key can be made at all; sign-in then goes ahead without a proof (Bearer).
   */
  async keyForSignIn(): Promise<ProofKey | null> {
    const stored = await this.#read();
    if (stored) return stored;
    let fresh: CryptoKeyPair;
    try {
      fresh = await generateProofKeyPair(this.#subtle, this.#algorithm);
    } catch {
      return null;
    }
    try {
      await this.#store.set(fresh);
    } catch {
      // Unpersisted, but still a key: better a session bound for this page than none.
    }
    const winner = (await this.#read()) ?? (await describeKey(this.#subtle, fresh));
    this.#current = winner;
    return winner;
  }

  /** The key a bound session's proofs need, or null when it is gone (site data cleared, another store). */
  async keyFor(jkt: string): Promise<ProofKey | null> {
    if (this.#current?.jkt === jkt) return this.#current;
    const stored = await this.#read();
    return stored?.jkt === jkt ? stored : null;
  }

  async #read(): Promise<ProofKey | null> {
    let pair: CryptoKeyPair | null;
    try {
      pair = toKeyPair(await this.#store.get());
    } catch {
      return null;
    }
    const key = pair ? await describeKey(this.#subtle, pair) : null;
    if (key) this.#current = key;
    return key;
  }

  /**
   * Sends with a proof. Once more with the server's new nonce when `challenged` says the answer is
   * a nonce challenge (§8 auth server, §9 resource server), and once more when the proof was
   * refused and the answer's `Date` shows that this device's clock is off the server's (its `iat`
   * was out of the server's window, §4.3 check 11). Each at most once, so a server that keeps
   * asking cannot loop us. `attempt` must be repeatable.
   */
  async send(
    key: ProofKey,
    request: { htm: string; url: string; accessToken?: string },
    challenged: (res: Response) => Promise<boolean>,
    attempt: (proof: string) => Promise<Response>,
  ): Promise<Response> {
    const url = absoluteUrl(request.url);
    let nonce = this.nonces.get(url);
    let offset = this.clocks.offsetSec(url);
    let nonceRetried = false;
    let clockRetried = false;
    let replayRetried = false;
    let res = await attempt(await this.#proof(key, request, url, nonce, offset));
    for (;;) {
      const offered = this.nonces.remember(url, res);
      const measured = this.clocks.remember(url, res);
      if (!nonceRetried && offered !== undefined && offered !== nonce && (await challenged(res))) {
        nonceRetried = true;
        nonce = offered;
      } else if (!clockRetried && measured !== offset && (await isProofRefusal(res))) {
        clockRetried = true;
        offset = measured;
        nonce = this.nonces.get(url);
      } else if (!replayRetried && (await isProofRefusal(res))) {
        // A browser re-sends a request whose connection died before the answer, proof and all
        // (Chromium does, for a reused keep-alive socket), and the server refuses the proof as
        // replayed (RFC 9449 §11.1) though its first copy was processed. Once more with a fresh
        // proof: for a renewal the server then gives the same successor (the bound key's answer).
        replayRetried = true;
      } else {
        return res;
      }
      discardBody(res);
      res = await attempt(await this.#proof(key, request, url, nonce, offset));
    }
  }

  #proof(key: ProofKey, request: { htm: string; accessToken?: string }, url: string, nonce: string | undefined, offsetSec: number): Promise<string> {
    return createDpopProof(this.#subtle, key, {
      htm: request.htm,
      url,
      nonce,
      accessToken: request.accessToken,
      iat: Math.floor(Date.now() / 1000) + offsetSec,
    });
  }
}

/** WebCrypto's SubtleCrypto where the runtime has it (browsers only in secure contexts), else undefined. */
export function webCryptoSubtle(): SubtleCrypto | undefined {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  return typeof subtle?.sign === 'function' ? subtle : undefined;
}

/** A same-origin path (`baseUrl: ''`) against the page's address; proofs name absolute URLs. */
export function absoluteUrl(url: string): string {
  const page = (globalThis as { location?: { href?: unknown } }).location?.href;
  return typeof page === 'string' ? new URL(url, page).href : new URL(url).href;
}
