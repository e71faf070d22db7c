// DPoP proofs (RFC 9449 §4.2) minted with node:crypto alone, independent of the code under test:
// one key per algorithm, and a signer that lets a test change exactly one thing in a proof
// (header or claim, undefined deletes a member, or the raw JSON text).
import { constants, createHash, generateKeyPairSync, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

export type ProofAlg = 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519' | 'PS256' | 'RS256';

export interface ProofKey {
  alg: ProofAlg;
  privateKey: KeyObject;
  /** The public JWK as a proof header carries it. */
  jwk: JsonWebKey;
  /** RFC 7638 thumbprint, computed here by hand (not with core's jwkThumbprint). */
  jkt: string;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

function thumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : jwk.kty === 'OKP' ? ['crv', 'kty', 'x'] : ['e', 'kty', 'n'];
  const json = `{${members.map((m) => `"${m}":"${String((jwk as Record<string, unknown>)[m])}"`).join(',')}}`;
  return createHash('sha256').update(json).digest('base64url');
}

export function proofKey(alg: ProofAlg): ProofKey {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'ES384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : alg === 'EdDSA' || alg === 'Ed25519'
          ? generateKeyPairSync('ed25519')
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = pair.publicKey.export({ format: 'jwk' });
  return { alg, privateKey: pair.privateKey, jwk, jkt: thumbprint(jwk) };
}

export function signInput(alg: ProofAlg, key: KeyObject, input: string): Buffer {
  const data = Buffer.from(input);
  switch (alg) {
    case 'ES256':
      return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'ES384':
      return sign('sha384', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
    case 'Ed25519':
      return sign(null, data, key);
    case 'PS256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'RS256':
      return sign('sha256', data, key);
  }
}

export function accessTokenHashOf(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** Seconds. Default: now. */
  iat?: number;
  jti?: string;
  /** The access token whose hash goes into `ath`. */
  accessToken?: string;
  nonce?: string;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  /** Rewrites the JSON texts before signing (duplicate keys and the like). */
  rawHeader?: (json: string) => string;
  rawClaims?: (json: string) => string;
}

export function makeProof(k: ProofKey, o: ProofOptions = {}): string {
  const header: Record<string, unknown> = { typ: 'dpop+jwt', alg: k.alg, jwk: k.jwk, ...o.header };
  const claims: Record<string, unknown> = {
    jti: o.jti ?? randomUUID(),
    htm: o.htm ?? 'GET',
    htu: o.htu ?? 'https://api.example.com/orders',
    iat: o.iat ?? Math.floor(Date.now() / 1000),
    ...(o.accessToken !== undefined ? { ath: accessTokenHashOf(o.accessToken) } : {}),
    ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
    ...o.claims,
  };
  for (const obj of [header, claims]) for (const m of Object.keys(obj)) if (obj[m] === undefined) delete obj[m];
  const h = (o.rawHeader ?? ((s) => s))(JSON.stringify(header));
  const c = (o.rawClaims ?? ((s) => s))(JSON.stringify(claims));
  const input = `${b64(h)}.${b64(c)}`;
  return `${input}.${b64(signInput(k.alg, k.privateKey, input))}`;
}
