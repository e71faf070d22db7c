// Signing keys and the refresh-token MAC secret, loaded from the key store. The active key signs;
// retired keys stay published (JWKS) and trusted until every token they signed has expired.
import { createPrivateKey, createPublicKey, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { jwkThumbprint, publicJwkOf, type JwsAlg, type VerificationKey } from '@latchkey/core';
import { generateSigningKeyPair, type IssuingKey } from '../jwt/signing.js';
import type { MacKeyring } from '../domain/refresh-token.js';
import type { KeyStore, MacKeyRecord, StoredSigningKey } from '../store/types.js';

export interface LoadedKey extends VerificationKey {
  privateKey: KeyObject;
  publicJwk: JsonWebKey;
  createdAt: number;
  retiredAt: number | null;
}

export function newStoredSigningKey(alg: JwsAlg, now: number): StoredSigningKey {
  const { privateKey, publicKey } = generateSigningKeyPair(alg);
  return {
    // RFC 7638 thumbprint: stable, derived from the key itself, and unique per key.
    kid: jwkThumbprint(publicJwkOf(publicKey)),
    alg,
    privateJwk: JSON.stringify(privateKey.export({ format: 'jwk' })),
    createdAt: now,
    retiredAt: null,
  };
}

export function newMacKeyRecord(id: number, now: number): MacKeyRecord {
  return { id, secret: randomBytes(32), createdAt: now };
}

/** Whether a signing key still verifies at `now`: active, or retired less than `retiredLifetimeMs` ago. */
export function stillVerifies(k: Pick<StoredSigningKey, 'retiredAt'>, now: number, retiredLifetimeMs: number): boolean {
  return k.retiredAt === null || k.retiredAt > now - retiredLifetimeMs;
}

/** The MAC key that signs new refresh tokens: the newest (the store lists them by id). */
export function currentMacKey(macs: MacKeyRecord[]): MacKeyRecord | undefined {
  return macs[macs.length - 1];
}

function load(k: StoredSigningKey): LoadedKey {
  const privateKey = createPrivateKey({ key: JSON.parse(k.privateJwk) as JsonWebKey, format: 'jwk' });
  const publicKey = createPublicKey(privateKey);
  return {
    kid: k.kid,
    alg: k.alg,
    privateKey,
    publicKey,
    publicJwk: { ...publicJwkOf(publicKey), kid: k.kid, alg: k.alg, use: 'sig' },
    createdAt: k.createdAt,
    retiredAt: k.retiredAt,
  };
}

export class KeyRing {
  private keys: LoadedKey[] = [];
  private byKid = new Map<string, LoadedKey>();
  private active!: LoadedKey;
  mac!: MacKeyring;

  constructor(
    private readonly store: KeyStore,
    private readonly alg: JwsAlg,
    /** How long after retirement a key may still have live tokens: access TTL + leeway. */
    private readonly retiredLifetimeMs: number,
    private readonly now: () => number,
  ) {}

  async init(): Promise<void> {
    const stored = await this.store.ensureActiveSigningKey(this.alg, () => newStoredSigningKey(this.alg, this.now()), this.now());
    this.install(stored);
    const macs = await this.store.ensureMacKeys(newMacKeyRecord(1, this.now()));
    this.installMac(macs);
  }

  /** Picks up keys another instance rotated in. */
  async reload(): Promise<void> {
    this.install(await this.store.listSigningKeys());
  }

  async rotate(): Promise<void> {
    this.install(await this.store.rotateSigningKey(newStoredSigningKey(this.alg, this.now()), this.now()));
  }

  private install(stored: StoredSigningKey[]): void {
    const now = this.now();
    const usable = stored.filter((k) => stillVerifies(k, now, this.retiredLifetimeMs));
    // Reuse already-imported KeyObjects: importing an RSA key costs milliseconds.
    const keys = usable.map((k) => {
      const have = this.byKid.get(k.kid);
      return have && have.retiredAt === k.retiredAt ? have : load(k);
    });
    const active = keys.filter((k) => k.retiredAt === null).sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!active) throw new Error('no active signing key');
    this.keys = keys;
    this.byKid = new Map(keys.map((k) => [k.kid, k]));
    this.active = active;
  }

  private installMac(macs: MacKeyRecord[]): void {
    const newest = currentMacKey(macs);
    if (!newest) throw new Error('no refresh-token MAC key');
    this.mac = { current: { id: newest.id, secret: newest.secret }, byId: new Map(macs.map((m) => [m.id, { id: m.id, secret: m.secret }])) };
  }

  signingKey(): IssuingKey {
    return this.active;
  }

  verificationKey(kid: string): VerificationKey | undefined {
    const k = this.byKid.get(kid);
    if (!k) return undefined;
    return stillVerifies(k, this.now(), this.retiredLifetimeMs) ? k : undefined;
  }

  /** RFC 7517 JWK Set: public members only. */
  jwks(): { keys: JsonWebKey[] } {
    return { keys: this.keys.filter((k) => this.verificationKey(k.kid)).map((k) => k.publicJwk) };
  }
}
