// DPoP proof verification (RFC 9449 §4.3), shared by the server's token, login and resource
// endpoints and by @latchkey/verify. Only what the proof itself carries is checked here; whether
// its key is the one a session or an access token is bound to is the caller's comparison of the
// returned thumbprint (§4.3 check 12, §6.1), and jti replay is the caller's store (§11.1).
import { constants, createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { decodeBase64urlStrict } from '../jwt/base64url.js';
import { parseStrictJsonObject, StrictJsonError } from '../jwt/strict-json.js';
import { jwkThumbprint } from '../jwt/thumbprint.js';
import { Lru } from '../jwt/lru.js';
import { normalizeHtu } from './htu.js';

export const DPOP_TYP = 'dpop+jwt';
/** Asymmetric algorithms only (§4.3 check 5: never `none`, never a MAC). Ed25519 is RFC 9864's name for EdDSA on Ed25519. */
export const DPOP_ALGS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;
export type DpopAlg = (typeof DPOP_ALGS)[number];
/** Longer proofs are refused unparsed: an RSA-4096 proof is about 2 KiB. */
export const MAX_PROOF_LENGTH = 4096;

export type DpopFailure =
  | 'too_long'
  | 'malformed'
  | 'bad_typ'
  | 'unsupported_alg'
  | 'bad_jwk'
  | 'bad_signature'
  | 'bad_claims'
  | 'wrong_htm'
  | 'wrong_htu'
  | 'stale'
  | 'future'
  | 'wrong_ath'
  | 'replayed'
  | 'use_nonce';

export class DpopError extends Error {
  constructor(readonly reason: DpopFailure) {
    super(`DPoP proof refused: ${reason}`);
    this.name = 'DpopError';
  }
}

export interface DpopExpectations {
  /** The request's method (§4.3 check 8). */
  htm: string;
  /**
   * The request's public URL; compared after normalisation, without query and fragment (check 9).
   * Several when one server answers at several equivalent URLs (localhost and its loopback addresses).
   */
  htu: string | readonly string[];
  /** Seconds a proof is accepted after its `iat` (check 11). */
  maxAgeSec: number;
  /** Seconds of clock skew tolerated, both ways. */
  leewaySec: number;
  now: () => number;
  /** The access token presented with the proof: its hash must be the proof's `ath` (check 10, §7). */
  accessToken?: string;
  /** When set, the proof must carry a `nonce` this accepts (§8); otherwise `use_nonce`. */
  nonceValid?: (nonce: string) => boolean;
}

export interface VerifiedProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what `cnf.jkt` names (§6.1). */
  jkt: string;
  jti: string;
  /** Seconds. */
  iat: number;
  alg: DpopAlg;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Proof keys already imported, by RFC 7638 thumbprint. */
const importedKeys = new Lru<string, KeyObject>(4096);

/** The public key a proof's `jwk` names, if it is a public key that fits `alg` (check 7: no private members). */
function proofKey(alg: DpopAlg, jwk: unknown): { key: KeyObject; jkt: string } | null {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return null;
  const j = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in j)) return null;
  let pub: JsonWebKey;
  switch (alg) {
    case 'ES256':
    case 'ES384':
      if (j.kty !== 'EC' || j.crv !== (alg === 'ES256' ? 'P-256' : 'P-384') || typeof j.x !== 'string' || typeof j.y !== 'string') return null;
      pub = { kty: 'EC', crv: j.crv as string, x: j.x, y: j.y };
      break;
    case 'EdDSA':
    case 'Ed25519':
      if (j.kty !== 'OKP' || j.crv !== 'Ed25519' || typeof j.x !== 'string') return null;
      pub = { kty: 'OKP', crv: 'Ed25519', x: j.x };
      break;
    case 'PS256':
    case 'RS256':
      if (j.kty !== 'RSA' || typeof j.n !== 'string' || typeof j.e !== 'string') return null;
      pub = { kty: 'RSA', n: j.n, e: j.e };
      break;
  }
  // Members that must be canonical base64url, so that one key has exactly one thumbprint.
  for (const m of ['x', 'y', 'n', 'e'] as const) if (pub[m] !== undefined && !decodeBase64urlStrict(pub[m]!)) return null;
  const jkt = jwkThumbprint(pub);
  // A client signs every proof with the same key, and importing it costs as much as the
  // signature check (P-256: the point is decompressed and validated, ~70 µs). The thumbprint is
  // a SHA-256 of exactly the members imported, so it names the key; only keys that passed every
  // check are remembered, and the cache is bounded, so throwaway keys only churn it.
  const known = importedKeys.get(jkt);
  if (known) return { key: known, jkt };
  try {
    const key = createPublicKey({ key: pub, format: 'jwk' });
    if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return null;
    importedKeys.set(jkt, key);
    return { key, jkt };
  } catch {
    return null;
  }
}

function signatureValid(alg: DpopAlg, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    switch (alg) {
      case 'ES256':
        return sig.length === 64 && verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      case 'ES384':
        return sig.length === 96 && verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      case 'EdDSA':
      case 'Ed25519':
        return sig.length === 64 && verify(null, data, key, sig);
      case 'PS256':
        return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
      case 'RS256':
        return verify('sha256', data, key, sig);
    }
  } catch {
    return false;
  }
}

/** §7: `ath` is the base64url SHA-256 of the access token's ASCII bytes. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

function isAlg(a: unknown): a is DpopAlg {
  return typeof a === 'string' && (DPOP_ALGS as readonly string[]).includes(a);
}

function parseJsonPart(bytes: Buffer): Record<string, unknown> {
  try {
    return parseStrictJsonObject(bytes.toString('utf8'));
  } catch (e) {
    if (e instanceof StrictJsonError) throw new DpopError('malformed');
    throw e;
  }
}

interface CheckedHeader {
  alg: DpopAlg;
  key: KeyObject;
  jkt: string;
}

/**
 * Protected headers that passed every check, by their base64url text. A client's proofs all carry
 * the same header ({typ, alg, jwk} of its one key), and the text determines the header exactly, so
 * a hit skips decoding, parsing, the key checks and the thumbprint (~15 µs of ~100 per proof; the
 * signature, ~70, is checked every time). Bounded: throwaway keys only churn it.
 */
const checkedHeaders = new Lru<string, CheckedHeader>(4096);

function checkHeader(h: string): CheckedHeader {
  const headerBytes = decodeBase64urlStrict(h);
  if (!headerBytes) throw new DpopError('malformed');
  const header = parseJsonPart(headerBytes);
  // §4.3 check 4: explicit typing (RFC 8725 §3.11); compared exactly, as the RFC spells it.
  if (header.typ !== DPOP_TYP) throw new DpopError('bad_typ');
  if (!isAlg(header.alg)) throw new DpopError('unsupported_alg');
  // RFC 7515 §4.1.11: an extension we do not understand must not be ignored. The key comes from
  // `jwk` alone; kid, jku, x5u and x5c are never followed.
  if ('crit' in header) throw new DpopError('malformed');
  const found = proofKey(header.alg, header.jwk);
  if (!found) throw new DpopError('bad_jwk');
  const checked = { alg: header.alg, key: found.key, jkt: found.jkt };
  checkedHeaders.set(h, checked);
  return checked;
}

/**
 * Verifies one DPoP proof against the request it came with. Throws DpopError; the order of the
 * checks puts every cheap structural refusal before the signature check, and the nonce last, so
 * that `use_nonce` is only ever the answer to an otherwise valid proof (the client's retry then
 * succeeds).
 */
export function verifyDpopProof(proof: unknown, expect: DpopExpectations): VerifiedProof {
  if (typeof proof !== 'string') throw new DpopError('malformed');
  if (proof.length > MAX_PROOF_LENGTH) throw new DpopError('too_long');
  const parts = proof.split('.');
  if (parts.length !== 3) throw new DpopError('malformed');
  const [h, p, s] = parts as [string, string, string];
  const payloadBytes = decodeBase64urlStrict(p);
  const sig = decodeBase64urlStrict(s);
  if (!payloadBytes || !sig || sig.length === 0) throw new DpopError('malformed');
  const header = checkedHeaders.get(h) ?? checkHeader(h);
  if (!signatureValid(header.alg, header.key, Buffer.from(`${h}.${p}`), sig)) throw new DpopError('bad_signature');

  const c = parseJsonPart(payloadBytes);
  const { jti, htm, htu, iat } = c;
  if (typeof jti !== 'string' || jti.length < 1 || jti.length > 256) throw new DpopError('bad_claims');
  if (typeof htm !== 'string' || typeof htu !== 'string') throw new DpopError('bad_claims');
  if (typeof iat !== 'number' || !Number.isInteger(iat) || iat < 0) throw new DpopError('bad_claims');
  if (htm !== expect.htm) throw new DpopError('wrong_htm');
  const got = normalizeHtu(htu);
  const wanted = typeof expect.htu === 'string' ? [expect.htu] : expect.htu;
  // Callers usually pass normalised URLs (requestHtu's): compare as given first, parse only if that fails.
  if (got === null || !(wanted.includes(got) || wanted.some((w) => normalizeHtu(w) === got))) throw new DpopError('wrong_htu');
  const nowSec = expect.now() / 1000;
  if (iat > nowSec + expect.leewaySec) throw new DpopError('future');
  if (iat < nowSec - expect.maxAgeSec - expect.leewaySec) throw new DpopError('stale');
  if (expect.accessToken !== undefined) {
    if (typeof c.ath !== 'string' || c.ath !== accessTokenHash(expect.accessToken)) throw new DpopError('wrong_ath');
  }
  if (expect.nonceValid) {
    if (typeof c.nonce !== 'string' || c.nonce.length > 256 || !expect.nonceValid(c.nonce)) throw new DpopError('use_nonce');
  }
  return { jkt: header.jkt, jti, iat, alg: header.alg };
}

/** The key a replay store should file a proof under: the same jti from two keys is two proofs. */
export function proofReplayKey(p: Pick<VerifiedProof, 'jkt' | 'jti'>): string {
  return createHash('sha256').update(p.jkt).update('\0').update(p.jti).digest('base64url').slice(0, 32);
}
