// RFC 9068 access tokens: the strict verification shared by the server's Bearer routes and
// `@latchkey/verify` (issuing is the server's: packages/server/src/jwt/signing.ts). Nothing in a
// token chooses a key or an algorithm beyond the `kid` lookup into keys we already trust
// (RFC 8725 §2.1, §3.1; RFC 9068 §4).
import type { KeyObject } from 'node:crypto';
import { verifyJws, type JwsAlg } from './algorithms.js';
import { decodeBase64urlStrict } from './base64url.js';
import { parseStrictJsonObject, StrictJsonError } from './strict-json.js';

export const ACCESS_TOKEN_TYP = 'at+jwt';
/** Tokens longer than this are refused before any parsing (a DoS bound, RFC 8725 §3.x spirit). */
export const MAX_TOKEN_LENGTH = 8192;

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  sid: string;
  nbf?: number;
  scope?: string;
  /** RFC 9449 §6.1: present on DPoP-bound tokens. */
  cnf?: { jkt: string };
  [k: string]: unknown;
}

export interface VerificationKey {
  kid: string;
  alg: JwsAlg;
  publicKey: KeyObject;
}

export interface VerifyOptions {
  issuer: string;
  audience: string;
  /** Seconds of tolerated clock skew for exp, nbf and iat. */
  leewaySec: number;
  /** Longest lifetime a genuine token can have; a far-future exp (e.g. in ms) is refused. */
  maxLifetimeSec: number;
  now: () => number;
}

/** Stable reasons, for logs and tests; the public response is always plain invalid_token. */
export type TokenFailure =
  | 'too_long'
  | 'malformed'
  | 'bad_header'
  | 'bad_typ'
  | 'unsupported_alg'
  | 'unknown_kid'
  | 'alg_mismatch'
  | 'bad_signature'
  | 'bad_claims'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid';

export class TokenError extends Error {
  constructor(readonly reason: TokenFailure) {
    super(`access token refused: ${reason}`);
    this.name = 'TokenError';
  }
}

/** The parsed, not yet trusted, parts of a compact JWS. */
export interface ParsedJws {
  header: { alg: string; kid: string; typ: string };
  signingInput: Buffer;
  signature: Buffer;
  payloadJson: string;
}

const HEADER_MEMBERS = new Set(['alg', 'typ', 'kid']);
const KID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export function parseCompactJws(token: unknown): ParsedJws {
  if (typeof token !== 'string') throw new TokenError('malformed');
  if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('too_long');
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenError('malformed');
  const [h, p, s] = parts as [string, string, string];
  const headerBytes = decodeBase64urlStrict(h);
  const payloadBytes = decodeBase64urlStrict(p);
  const signature = decodeBase64urlStrict(s);
  if (!headerBytes || !payloadBytes || !signature || signature.length === 0) throw new TokenError('malformed');
  let header: Record<string, unknown>;
  try {
    header = parseStrictJsonObject(headerBytes.toString('utf8'));
  } catch (e) {
    if (e instanceof StrictJsonError) throw new TokenError('bad_header');
    throw e;
  }
  // We issue exactly {alg, typ, kid}. Anything else (jwk, jku, x5u, x5c, crit, b64, cty, zip) is
  // a header we would have to understand or could be tricked by: refuse (RFC 7515 §4.1.11 for crit).
  for (const k of Object.keys(header)) if (!HEADER_MEMBERS.has(k)) throw new TokenError('bad_header');
  const { alg, typ, kid } = header;
  if (typeof alg !== 'string' || typeof kid !== 'string' || typeof typ !== 'string') throw new TokenError('bad_header');
  if (!KID_RE.test(kid)) throw new TokenError('bad_header');
  // RFC 9068 §4: typ must be at+jwt (or its full media type form); RFC 8725 §3.11 explicit typing.
  const t = typ.toLowerCase();
  if (t !== ACCESS_TOKEN_TYP && t !== `application/${ACCESS_TOKEN_TYP}`) throw new TokenError('bad_typ');
  return {
    header: { alg, kid, typ },
    signingInput: Buffer.from(`${h}.${p}`),
    signature,
    payloadJson: payloadBytes.toString('utf8'),
  };
}

/** Verifies signature and claims; `keyFor` looks the kid up among trusted keys only. */
export function verifyParsedAccessToken(
  parsed: ParsedJws,
  keyFor: (kid: string) => VerificationKey | undefined,
  opts: VerifyOptions,
): AccessTokenClaims {
  const key = keyFor(parsed.header.kid);
  if (!key) throw new TokenError('unknown_kid');
  // RFC 8725 §2.1/§3.1: the key decides the algorithm; `none`, HS* and PS* never match a key.
  if (parsed.header.alg !== key.alg) throw new TokenError('alg_mismatch');
  if (!verifyJws(key.alg, key.publicKey, parsed.signingInput, parsed.signature)) throw new TokenError('bad_signature');
  let claims: Record<string, unknown>;
  try {
    claims = parseStrictJsonObject(parsed.payloadJson);
  } catch (e) {
    if (e instanceof StrictJsonError) throw new TokenError('bad_claims');
    throw e;
  }
  return checkClaims(claims, opts);
}

export function verifyAccessToken(
  token: unknown,
  keyFor: (kid: string) => VerificationKey | undefined,
  opts: VerifyOptions,
): AccessTokenClaims {
  return verifyParsedAccessToken(parseCompactJws(token), keyFor, opts);
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

const JKT_RE = /^[A-Za-z0-9_-]{43}$/;

function isKeyConfirmation(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === 'jkt' && JKT_RE.test(String((v as { jkt: unknown }).jkt));
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1024;
}

/** RFC 9068 §2.2 required claims, §4 checks. Exported so the verify library's cache can re-check time. */
export function checkClaims(c: Record<string, unknown>, opts: VerifyOptions): AccessTokenClaims {
  if (!isNumericDate(c.exp) || !isNumericDate(c.iat)) throw new TokenError('bad_claims');
  if (c.nbf !== undefined && !isNumericDate(c.nbf)) throw new TokenError('bad_claims');
  for (const name of ['iss', 'sub', 'jti', 'client_id', 'sid'] as const) {
    if (!isNonEmptyString(c[name])) throw new TokenError('bad_claims');
  }
  if (c.scope !== undefined && typeof c.scope !== 'string') throw new TokenError('bad_claims');
  // RFC 9449 §6.1: a bound token names its key's SHA-256 thumbprint and nothing else we would ignore.
  if (c.cnf !== undefined && !isKeyConfirmation(c.cnf)) throw new TokenError('bad_claims');
  if (c.iss !== opts.issuer) throw new TokenError('wrong_issuer');
  const aud = c.aud;
  const audOk =
    typeof aud === 'string'
      ? aud === opts.audience
      : Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string') && aud.includes(opts.audience);
  if (!audOk) throw new TokenError('wrong_audience');
  checkTime(c as AccessTokenClaims, opts);
  return c as AccessTokenClaims;
}

export function checkTime(c: Pick<AccessTokenClaims, 'exp' | 'iat' | 'nbf'>, opts: Pick<VerifyOptions, 'leewaySec' | 'maxLifetimeSec' | 'now'>): void {
  const now = opts.now() / 1000;
  const leeway = opts.leewaySec;
  if (now - leeway >= c.exp) throw new TokenError('expired');
  if (c.exp - c.iat > opts.maxLifetimeSec || c.exp > now + opts.maxLifetimeSec + leeway) throw new TokenError('bad_claims');
  if (c.iat > now + leeway) throw new TokenError('not_yet_valid');
  if (c.nbf !== undefined && c.nbf > now + leeway) throw new TokenError('not_yet_valid');
}
