// A DPoP client for tests (RFC 9449 §4.2), written on node:crypto apart from @latchkey/client: it
// signs proofs with its own key, keeps the last `DPoP-Nonce` each server gave, and can be told to
// get any claim wrong, so tests can make every kind of bad proof.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { call, type Res, type Tokens } from './http.js';

export type ProofAlg = 'ES256' | 'EdDSA';

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** Seconds; default now. */
  iat?: number;
  jti?: string;
  nonce?: string | null;
  accessToken?: string;
  ath?: string;
  typ?: string;
  alg?: string;
  /** Extra members for the header's jwk (e.g. a private `d`). */
  jwkExtra?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

export class DpopKey {
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, string>;
  readonly jkt: string;
  /** The last DPoP-Nonce seen per origin. */
  readonly nonces = new Map<string, string>();

  constructor(readonly alg: ProofAlg = 'ES256') {
    const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    const j = pair.publicKey.export({ format: 'jwk' }) as Record<string, string>;
    this.jwk = alg === 'ES256' ? { kty: 'EC', crv: 'P-256', x: j.x!, y: j.y! } : { kty: 'OKP', crv: 'Ed25519', x: j.x! };
    const members = alg === 'ES256' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x'];
    this.jkt = createHash('sha256')
      .update(`{${members.map((m) => `"${m}":"${this.jwk[m]}"`).join(',')}}`)
      .digest('base64url');
  }

  proof(url: string, method: string, o: ProofOptions = {}): string {
    const u = new URL(url);
    const header = { typ: o.typ ?? 'dpop+jwt', alg: o.alg ?? this.alg, jwk: { ...this.jwk, ...o.jwkExtra }, ...o.header };
    const nonce = o.nonce === undefined ? this.nonces.get(u.origin) : o.nonce;
    const payload: Record<string, unknown> = {
      jti: o.jti ?? randomBytes(16).toString('base64url'),
      htm: o.htm ?? method,
      htu: o.htu ?? `${u.origin}${u.pathname}`,
      iat: o.iat ?? Math.floor(Date.now() / 1000),
    };
    if (nonce) payload.nonce = nonce;
    if (o.ath) payload.ath = o.ath;
    else if (o.accessToken) payload.ath = createHash('sha256').update(o.accessToken).digest('base64url');
    const input = `${b64(header)}.${b64(payload)}`;
    const sig = this.alg === 'ES256' ? sign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' }) : sign(null, Buffer.from(input), this.privateKey);
    return `${input}.${sig.toString('base64url')}`;
  }

  /** Remembers the nonce an answer carried. */
  learn(base: string, r: Res): void {
    const n = r.headers.get('dpop-nonce');
    if (n) this.nonces.set(new URL(base).origin, n);
  }

  /**
   * POSTs with a proof, following one `use_dpop_nonce` challenge (RFC 9449 §8) as a client does.
   */
  async post<T = any>(base: string, path: string, json: unknown, o: ProofOptions = {}): Promise<Res<T>> {
    const send = () => call<T>(base, 'POST', path, { json, headers: { dpop: this.proof(base + path, 'POST', o) } });
    let r = await send();
    this.learn(base, r);
    if (r.status === 400 && (r.body as { error?: string })?.error === 'use_dpop_nonce' && o.nonce === undefined) {
      r = await send();
      this.learn(base, r);
    }
    return r;
  }

  signup(base: string, email: string, password = 'correct horse battery') {
    return this.post<Tokens & { user: { id: string } }>(base, '/auth/signup', { email, password });
  }

  login(base: string, email: string, password = 'correct horse battery') {
    return this.post<Tokens>(base, '/auth/login', { email, password });
  }

  refresh(base: string, refreshToken: string, o: ProofOptions = {}) {
    return this.post<Tokens & { error?: string; reason?: string }>(base, '/auth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, o);
  }

  /** A resource request with `Authorization: DPoP` and a proof naming the token (RFC 9449 §7). */
  resource<T = any>(base: string, method: string, path: string, accessToken: string, o: ProofOptions = {}) {
    return call<T>(base, method, path, { headers: { authorization: `DPoP ${accessToken}`, dpop: this.proof(base + path, method, { accessToken, nonce: null, ...o }) } });
  }
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** The claims of a JWT, unverified (tests read what the server issued). */
export function claimsOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, any>;
}
