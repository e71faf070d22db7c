// Discovery (RFC 8414) and the JWK Set (RFC 7517), and the policy for which published keys we
// trust. Keys come only from the configured issuer's metadata, never from a token (RFC 8725 §3.10:
// jku/x5u/jwk in a header would let the attacker pick the key).
import type { JsonWebKey } from 'node:crypto';
import { importPublicJwk, isSupportedAlg } from '@latchkey/core';
import type { VerificationKey } from '@latchkey/core';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Metadata and JWKS are small; a bigger answer is a misconfiguration or an attack on our memory. */
const MAX_DOCUMENT_BYTES = 512 * 1024;
/** A JWKS holds the active key and a few retired ones; more is not a Latchkey issuer. */
const MAX_KEYS = 64;

export class DiscoveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiscoveryError';
  }
}

async function readLimited(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) throw new DiscoveryError(`response larger than ${limit} bytes`);
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new DiscoveryError(`response larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function getJsonObject(fetchFn: FetchLike, url: string, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    // Redirects refused: the issuer's own documents are served where it says they are, and a
    // redirect is the one way a compromised proxy could point us at someone else's keys.
    res = await fetchFn(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new DiscoveryError(`${what}: request to ${url} failed`, { cause: e });
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new DiscoveryError(`${what}: ${url} answered HTTP ${res.status}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(await readLimited(res, MAX_DOCUMENT_BYTES));
  } catch (e) {
    if (e instanceof DiscoveryError) throw new DiscoveryError(`${what}: ${e.message}`);
    throw new DiscoveryError(`${what}: ${url} did not return JSON`, { cause: e });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DiscoveryError(`${what}: not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Where the issuer publishes its metadata. Appended to the issuer (the form Latchkey serves,
 * also right for an issuer mounted under a path prefix behind a proxy); for an issuer without a
 * path this is the same URL RFC 8414 §3.1 gives.
 */
export function metadataUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/oauth-authorization-server`;
}

/** RFC 8414 §3: fetches the metadata and returns its jwks_uri. */
export async function discoverJwksUri(fetchFn: FetchLike, issuer: string, timeoutMs: number): Promise<string> {
  const meta = await getJsonObject(fetchFn, metadataUrl(issuer), timeoutMs, 'issuer metadata');
  // RFC 8414 §3.3: the metadata's issuer must be identical to the one we were configured with,
  // or a different server could be impersonating it.
  if (meta.issuer !== issuer) throw new DiscoveryError('issuer metadata: "issuer" does not equal the configured issuer');
  const uri = meta.jwks_uri;
  if (typeof uri !== 'string') throw new DiscoveryError('issuer metadata: no jwks_uri');
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new DiscoveryError('issuer metadata: jwks_uri is not a URL');
  }
  const issuerProtocol = new URL(issuer).protocol;
  // An https issuer must not downgrade its keys to plain http (RFC 8414 §2: jwks_uri uses TLS).
  const allowed = issuerProtocol === 'https:' ? ['https:'] : ['http:', 'https:'];
  if (!allowed.includes(parsed.protocol)) throw new DiscoveryError('issuer metadata: jwks_uri must use https');
  return parsed.href;
}

export async function fetchJwks(fetchFn: FetchLike, jwksUri: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return getJsonObject(fetchFn, jwksUri, timeoutMs, 'JWKS');
}

/**
 * The keys of a JWK Set that we trust, by kid. A key is used only for the one algorithm its JWK
 * names (RFC 8725 §3.1): a JWK without `alg`, or with an algorithm we do not support, is skipped,
 * as is one meant for encryption (`use` other than "sig", RFC 7517 §4.2; `key_ops` without
 * "verify", §4.3) and one whose material does not fit its algorithm (RFC 8725 §3.5). A kid that
 * appears twice is ambiguous, so neither key is used. Unchanged keys keep their previous objects,
 * so tokens verified with them stay valid in the cache across a refetch.
 */
export function trustedKeys(jwks: Record<string, unknown>, previous?: ReadonlyMap<string, VerificationKey>): Map<string, VerificationKey> {
  const list = jwks.keys;
  if (!Array.isArray(list)) throw new DiscoveryError('JWKS: no "keys" array');
  const out = new Map<string, VerificationKey>();
  const seen = new Set<string>();
  for (const jwk of list.slice(0, MAX_KEYS) as unknown[]) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) continue;
    const j = jwk as Record<string, unknown>;
    const { kid, alg, use } = j;
    if (typeof kid !== 'string' || kid.length === 0) continue;
    if (seen.has(kid)) {
      out.delete(kid);
      continue;
    }
    seen.add(kid);
    if (!isSupportedAlg(alg)) continue;
    if (use !== undefined && use !== 'sig') continue;
    if (j.key_ops !== undefined && !(Array.isArray(j.key_ops) && j.key_ops.includes('verify'))) continue;
    const publicKey = importPublicJwk(alg, j as JsonWebKey);
    if (!publicKey) continue;
    const before = previous?.get(kid);
    out.set(kid, before && before.alg === alg && before.publicKey.equals(publicKey) ? before : { kid, alg, publicKey });
  }
  return out;
}
