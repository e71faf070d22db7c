// Signing keys and the refresh-token MAC secrets, loaded from the key store. A key is pending
// (published in the JWKS, known to every instance, used for nothing) until its activation time,
// then active, then retired when its successor activates: still published and trusted until every
// token it signed has expired. MAC secrets follow the same life: a new one is known to every
// instance before any token uses it, and an old one verifies until no live session can hold a
// token it made. So rotation, on a schedule or on command, logs no one out (issue 12).
import { createPrivateKey, createPublicKey, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { jwkThumbprint, publicJwkOf, type JwsAlg, type VerificationKey } from '@latchkey/core';
import { generateSigningKeyPair, type IssuingKey } from '../jwt/signing.js';
import type { MacKey, MacKeyring } from '../domain/refresh-token.js';
import { macKeysToDrop } from '../domain/key-rotation.js';
import type { KeyStore, MacKeyRecord, RotationGuard, StoredSigningKey } from '../store/types.js';

/** The refresh-token format carries the MAC id in 16 bits. */
const MAX_MAC_ID = 0xffff;

export interface LoadedKey extends VerificationKey {
  privateKey: KeyObject;
  publicJwk: JsonWebKey;
  createdAt: number;
  activatesAt: number;
  retiredAt: number | null;
}

export interface KeyTimings {
  /** How long after retirement a signing key may still have live tokens: access TTL + leeway. */
  retiredLifetimeMs: number;
  /** How long before use a new key is published / known to every instance. */
  leadMs: number;
  /** How long after its successor took over a MAC key may still verify: the longest session (absolute lifetime) + margin. */
  macLifetimeMs: number;
}

export function newStoredSigningKey(alg: JwsAlg, now: number, activatesAt = now): StoredSigningKey {
  const { privateKey, publicKey } = generateSigningKeyPair(alg);
  return {
    // RFC 7638 thumbprint: stable, derived from the key itself, and unique per key.
    kid: jwkThumbprint(publicJwkOf(publicKey)),
    alg,
    privateJwk: JSON.stringify(privateKey.export({ format: 'jwk' })),
    createdAt: now,
    activatesAt,
    retiredAt: null,
  };
}

export function newMacKeyRecord(id: number, now: number, activatesAt = now): MacKeyRecord {
  if (id > MAX_MAC_ID) throw new Error(`refresh MAC key ids are exhausted (${MAX_MAC_ID})`);
  return { id, secret: randomBytes(32), createdAt: now, activatesAt };
}

export type KeyState = 'pending' | 'active' | 'retired' | 'expired';

/** Whether a signing key still verifies at `now`: pending, active, or retired less than `retiredLifetimeMs` ago. */
export function stillVerifies(k: Pick<StoredSigningKey, 'retiredAt'>, now: number, retiredLifetimeMs: number): boolean {
  return k.retiredAt === null || k.retiredAt > now - retiredLifetimeMs;
}

export function signingKeyState(k: Pick<StoredSigningKey, 'activatesAt' | 'retiredAt'>, now: number, retiredLifetimeMs: number): KeyState {
  if (k.retiredAt !== null && k.retiredAt <= now) return stillVerifies(k, now, retiredLifetimeMs) ? 'retired' : 'expired';
  return k.activatesAt > now ? 'pending' : 'active';
}

/** The MAC key that MACs new refresh tokens at `now`: the newest id already active. */
export function currentMacKey(macs: MacKeyRecord[], now: number): MacKeyRecord | undefined {
  return [...macs].filter((m) => m.activatesAt <= now).sort((a, b) => b.id - a.id)[0];
}

export function macKeyState(m: MacKeyRecord, macs: MacKeyRecord[], now: number, macLifetimeMs: number): KeyState {
  if (m.activatesAt > now) return 'pending';
  if (currentMacKey(macs, now)?.id === m.id) return 'active';
  return macKeysToDrop(macs, now - macLifetimeMs).includes(m.id) ? 'expired' : 'retired';
}

/** Adds a pending signing key that activates `leadMs` from now; exactly one of concurrent rotations wins. */
export async function rotateSigningKey(store: KeyStore, alg: JwsAlg, now: number, leadMs: number, guard?: RotationGuard) {
  // A store with no key yet (the CLI before any server start) first gets the active key a start
  // would make: a pending key alone would leave nothing to sign with until it activates.
  await store.ensureActiveSigningKey(alg, () => newStoredSigningKey(alg, now), now);
  const next = newStoredSigningKey(alg, now, now + leadMs);
  const r = await store.rotateSigningKey(next, now, guard);
  return { rotated: r.rotated, key: r.rotated ? next : undefined, keys: r.keys };
}

/** Adds a pending MAC secret that activates `leadMs` from now, and drops the ones nothing can use any more. */
export async function rotateMacKey(store: KeyStore, now: number, leadMs: number, macLifetimeMs: number, guard?: RotationGuard) {
  await store.ensureMacKeys(newMacKeyRecord(1, now));
  let made: MacKeyRecord | undefined;
  const r = await store.rotateMacKey((id) => (made = newMacKeyRecord(id, now, now + leadMs)), now, now - macLifetimeMs, guard);
  return { rotated: r.rotated, key: r.rotated ? made : undefined, keys: r.keys };
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
    activatesAt: k.activatesAt,
    retiredAt: k.retiredAt,
  };
}

export class KeyRing {
  private keys: LoadedKey[] = [];
  private byKid = new Map<string, LoadedKey>();
  private macs: MacKeyRecord[] = [];
  // What signs and MACs now, recomputed when the clock passes the next activation or retirement.
  private active: LoadedKey | undefined;
  private macRing: MacKeyring | undefined;
  private changesAt = -Infinity;

  constructor(
    private readonly store: KeyStore,
    private readonly alg: JwsAlg,
    private readonly timings: KeyTimings,
    private readonly now: () => number,
  ) {}

  async init(): Promise<void> {
    const now = this.now();
    this.install(await this.store.ensureActiveSigningKey(this.alg, () => newStoredSigningKey(this.alg, now), now), await this.store.ensureMacKeys(newMacKeyRecord(1, now)));
  }

  /** Picks up keys another instance or the CLI added (pending ones among them). */
  async reload(): Promise<void> {
    const [keys, macs] = await Promise.all([this.store.listSigningKeys(), this.store.listMacKeys()]);
    this.install(keys, macs);
  }

  /** Adds a pending signing key, `leadMs` (default: the configured lead) ahead; its kid, or null if one was pending already. */
  async rotate(opts: { leadMs?: number; guard?: RotationGuard } = {}): Promise<string | null> {
    const r = await rotateSigningKey(this.store, this.alg, this.now(), opts.leadMs ?? this.timings.leadMs, opts.guard);
    this.install(r.keys, this.macs);
    return r.key?.kid ?? null;
  }

  /** Adds a pending MAC secret; its id, or null if one was pending already. */
  async rotateMac(opts: { leadMs?: number; guard?: RotationGuard } = {}): Promise<number | null> {
    const r = await rotateMacKey(this.store, this.now(), opts.leadMs ?? this.timings.leadMs, this.timings.macLifetimeMs, opts.guard);
    this.install(this.keys, r.keys);
    return r.key?.id ?? null;
  }

  /**
   * The scheduled rotation: a new signing key and MAC secret when the newest will have been active
   * for `intervalMs` by the time a new one would activate. Every instance runs it; the store lets
   * exactly one of them rotate.
   */
  async rotateIfDue(intervalMs: number): Promise<{ signing: string | null; mac: number | null }> {
    const guard = { ifNewestActivatedBefore: this.now() + this.timings.leadMs - intervalMs + 1 };
    return { signing: await this.rotate({ guard }), mac: await this.rotateMac({ guard }) };
  }

  private install(stored: Array<StoredSigningKey | LoadedKey>, macs: MacKeyRecord[]): void {
    const now = this.now();
    const usable = stored.filter((k) => stillVerifies(k, now, this.timings.retiredLifetimeMs));
    // Reuse already-imported KeyObjects: importing an RSA key costs milliseconds.
    const keys = usable.map((k) => {
      if ('privateKey' in k) return k;
      const have = this.byKid.get(k.kid);
      return have && have.retiredAt === k.retiredAt && have.activatesAt === k.activatesAt ? have : load(k);
    });
    if (macs.length === 0) throw new Error('no refresh-token MAC key');
    const dropped = new Set(macKeysToDrop(macs, now - this.timings.macLifetimeMs));
    this.keys = keys;
    this.byKid = new Map(keys.map((k) => [k.kid, k]));
    this.macs = macs.filter((m) => !dropped.has(m.id));
    this.settle(now);
  }

  /** Picks the signing key and MAC key in use at `now`, and when that next changes. */
  private settle(now: number): void {
    const active = this.keys.filter((k) => signingKeyState(k, now, this.timings.retiredLifetimeMs) === 'active').sort((a, b) => b.activatesAt - a.activatesAt)[0];
    if (!active) throw new Error('no active signing key');
    const current = currentMacKey(this.macs, now);
    if (!current) throw new Error('no active refresh-token MAC key');
    const toMacKey = (m: MacKeyRecord): MacKey => ({ id: m.id, secret: m.secret });
    this.active = active;
    // Pending MAC keys verify already: an instance whose clock runs ahead may use one a little early.
    this.macRing = { current: toMacKey(current), byId: new Map(this.macs.map((m) => [m.id, toMacKey(m)])) };
    const upcoming = [...this.keys.flatMap((k) => [k.activatesAt, k.retiredAt ?? Infinity]), ...this.macs.map((m) => m.activatesAt)].filter((t) => t > now);
    this.changesAt = Math.min(Infinity, ...upcoming);
  }

  private settled(): void {
    const now = this.now();
    if (now >= this.changesAt) this.settle(now);
  }

  get mac(): MacKeyring {
    this.settled();
    return this.macRing!;
  }

  signingKey(): IssuingKey {
    this.settled();
    return this.active!;
  }

  verificationKey(kid: string): VerificationKey | undefined {
    const k = this.byKid.get(kid);
    if (!k) return undefined;
    return stillVerifies(k, this.now(), this.timings.retiredLifetimeMs) ? k : undefined;
  }

  /** RFC 7517 JWK Set: public members only; pending keys included, so verifiers have them before they sign. */
  jwks(): { keys: JsonWebKey[] } {
    return { keys: this.keys.filter((k) => this.verificationKey(k.kid)).map((k) => k.publicJwk) };
  }
}
