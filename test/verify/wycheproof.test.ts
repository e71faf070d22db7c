// Project Wycheproof vectors (test/fixtures/wycheproof, see SOURCE.md) against the code that
// verifies every Latchkey access token, in the server and in the `verify` library.
//
// Two layers are tested, and the distinction matters:
//  1. The signature layer, `verifyJws` (packages/core/src/jwt/algorithms.ts), with keys imported by
//     `importPublicJwk` / the verifier's JWKS policy (`trustedKeys`). It must give Wycheproof's
//     result for every vector of every algorithm we support (EdDSA, ES256, RS256): "valid"
//     accepted, "invalid" refused, "acceptable" either way without a crash.
//  2. The access-token parser, `parseCompactJws` + `verifyParsedAccessToken` (packages/core/src/jwt/access-token.ts).
//     It is deliberately stricter than JWS: RFC 9068 §4 requires `typ: at+jwt`, and we allow no
//     header members besides alg/typ/kid. No Wycheproof JWS vector carries `typ: at+jwt`, so the
//     parser refuses ALL of them, including the ones Wycheproof calls valid. For those "valid"
//     vectors we check the signature layer separately (a plain compact-JWS check built from the
//     same primitives, layer 1b below), so that a vector is never "passed" merely because the
//     parser refused it early.
// Vectors for algorithms we do not support (HS*, PS*, RS384/512, ES512, none) must be refused by
// both layers: accepting them would be the algorithm confusion RFC 8725 §2.1 warns about.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { importPublicJwk, isSupportedAlg, verifyJws, type JwsAlg } from '../../packages/core/src/jwt/algorithms.js';
import { parseCompactJws, verifyParsedAccessToken, TokenError, type VerificationKey } from '../../packages/core/src/jwt/access-token.js';
import { decodeBase64urlStrict } from '../../packages/core/src/jwt/base64url.js';
import { parseStrictJsonObject } from '../../packages/core/src/jwt/strict-json.js';
import { trustedKeys } from '../../packages/verify/src/jwks.js';

const DIR = new URL('../fixtures/wycheproof/', import.meta.url);
const load = <T>(name: string): T => JSON.parse(fs.readFileSync(new URL(name, DIR), 'utf8')) as T;

type Result = 'valid' | 'invalid' | 'acceptable';
interface SigTest {
  tcId: number;
  comment: string;
  msg: string;
  sig: string;
  result: Result;
  flags: string[];
}
interface SigGroup {
  publicKeyJwk?: JsonWebKey;
  keyJwk?: JsonWebKey;
  publicKeyDer: string;
  tests: SigTest[];
}
interface SigFile {
  numberOfTests: number;
  testGroups: SigGroup[];
}

const counts: Record<string, number> = {};
after(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`wycheproof: ${total} vectors checked: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(', ')}`);
});

/** The group's key as our code imports it; DER-only groups are converted to a JWK first. */
function groupKey(alg: JwsAlg, g: SigGroup): KeyObject {
  const jwk = g.publicKeyJwk ?? g.keyJwk ?? createPublicKey({ key: Buffer.from(g.publicKeyDer, 'hex'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const key = importPublicJwk(alg, jwk);
  assert.ok(key, `importPublicJwk refused the ${alg} test key`);
  return key;
}

for (const [file, alg] of [
  ['ed25519_test.json', 'EdDSA'],
  ['ecdsa_secp256r1_sha256_p1363_test.json', 'ES256'],
  ['rsa_signature_2048_sha256_test.json', 'RS256'],
] as const) {
  test(`signature layer: ${alg} (${file})`, () => {
    const data = load<SigFile>(file);
    let n = 0;
    const wrong: string[] = [];
    for (const g of data.testGroups) {
      const key = groupKey(alg, g);
      for (const t of g.tests) {
        n++;
        let ok: boolean;
        try {
          ok = verifyJws(alg, key, Buffer.from(t.msg, 'hex'), Buffer.from(t.sig, 'hex'));
        } catch (e) {
          wrong.push(`tc ${t.tcId} (${t.comment}) threw ${String(e)}`);
          continue;
        }
        assert.equal(typeof ok, 'boolean');
        if (t.result === 'valid' && !ok) wrong.push(`tc ${t.tcId} (${t.comment}): valid signature refused`);
        if (t.result === 'invalid' && ok) wrong.push(`tc ${t.tcId} (${t.comment}) [${t.flags.join(',')}]: invalid signature accepted`);
      }
    }
    assert.deepEqual(wrong, []);
    assert.equal(n, data.numberOfTests, 'every vector of the file was checked');
    counts[alg] = n;
  });
}

interface JwsTest {
  tcId: number;
  comment: string;
  jws: string | Record<string, unknown>;
  result: Result;
  flags: string[];
}
interface JwsGroup {
  comment: string;
  public?: Record<string, unknown>;
  private?: Record<string, unknown>;
  tests: JwsTest[];
}

/**
 * Layer 1b: a plain compact JWS check from our primitives, without the access-token policy (typ,
 * header allow-list, kid syntax): strict base64url, strict JSON header, the key chosen by kid from
 * the trusted set only, the token's alg equal to the key's, then `verifyJws`. Header members that
 * would bring their own key or URL (RFC 8725 §3.10) or demand understanding (crit) are refused.
 */
function plainJwsVerify(jws: unknown, keys: ReadonlyMap<string, VerificationKey>): boolean {
  if (typeof jws !== 'string') return false;
  const parts = jws.split('.');
  if (parts.length !== 3) return false;
  const [h, p, s] = parts as [string, string, string];
  const hb = decodeBase64urlStrict(h);
  const pb = decodeBase64urlStrict(p);
  const sb = decodeBase64urlStrict(s);
  if (!hb || !pb || !sb) return false;
  let header: Record<string, unknown>;
  try {
    header = parseStrictJsonObject(hb.toString('utf8'));
  } catch {
    return false;
  }
  for (const m of ['jwk', 'jku', 'x5u', 'x5c', 'crit']) if (m in header) return false;
  if (!isSupportedAlg(header.alg) || typeof header.kid !== 'string') return false;
  const key = keys.get(header.kid);
  if (!key || key.alg !== header.alg) return false;
  return verifyJws(key.alg, key.publicKey, Buffer.from(`${h}.${p}`), sb);
}

test('JWS vectors (json_web_signature_test.json): access-token parser and signature layer', () => {
  const data = load<{ numberOfTests: number; testGroups: JwsGroup[] }>('json_web_signature_test.json');
  const opts = { issuer: 'https://issuer.example', audience: 'https://api.example', leewaySec: 5, maxLifetimeSec: 86_400, now: Date.now };
  const tally = { validAcceptedBySignatureLayer: 0, validRefusedUnsupportedAlg: 0, invalidRefused: 0 };
  const parserReasons = new Map<string, number>();
  const wrong: string[] = [];
  let n = 0;
  for (const g of data.testGroups) {
    // The verifier's own key policy decides which of the group's keys is usable at all
    // (no alg, an unsupported alg, use:"enc", key_ops without "verify" → not trusted).
    const jwk = g.public ?? g.private ?? {};
    const keys = trustedKeys({ keys: [jwk] });
    for (const t of g.tests) {
      n++;
      const label = `tc ${t.tcId} ${g.comment}/${t.comment} (${t.result})`;
      // Layer 2: the access-token path refuses every vector (none has typ at+jwt), with a TokenError, never a crash.
      try {
        verifyParsedAccessToken(parseCompactJws(t.jws), (kid) => keys.get(kid), opts);
        wrong.push(`${label}: accepted by the access-token parser`);
      } catch (e) {
        if (!(e instanceof TokenError)) wrong.push(`${label}: parser threw ${String(e)}`);
        else parserReasons.set(e.reason, (parserReasons.get(e.reason) ?? 0) + 1);
      }
      // Layer 1b: Wycheproof's verdict, where our algorithms apply.
      let ok: boolean;
      try {
        ok = plainJwsVerify(t.jws, keys);
      } catch (e) {
        wrong.push(`${label}: signature layer threw ${String(e)}`);
        continue;
      }
      const alg = typeof t.jws === 'string' ? safeAlg(t.jws) : undefined;
      if (t.result === 'valid') {
        if (isSupportedAlg(alg) && keys.size > 0) {
          if (ok) tally.validAcceptedBySignatureLayer++;
          else wrong.push(`${label}: valid ${alg} JWS refused by the signature layer`);
        } else {
          // HS256/HS384/PS*/RS384/RS512/ES512: valid JWS, but not an algorithm we accept.
          if (ok) wrong.push(`${label}: ${alg} accepted though unsupported`);
          else tally.validRefusedUnsupportedAlg++;
        }
      } else if (t.result === 'invalid') {
        if (ok) wrong.push(`${label} [${t.flags.join(',')}]: invalid JWS accepted`);
        else tally.invalidRefused++;
      }
    }
  }
  assert.deepEqual(wrong, []);
  assert.equal(n, data.numberOfTests, 'every vector of the file was checked');
  // Sanity: the file does exercise our algorithms (RS256 and ES256 valid vectors exist).
  assert.ok(tally.validAcceptedBySignatureLayer >= 8, JSON.stringify(tally));
  counts.JWS = n;
  console.log(`wycheproof JWS: ${JSON.stringify(tally)}; access-token parser refusals by reason: ${JSON.stringify(Object.fromEntries(parserReasons))}`);
});

function safeAlg(jws: string): unknown {
  try {
    return (JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: unknown }).alg;
  } catch {
    return undefined;
  }
}

test('JWK key policy on the vectors of wrong use / key_ops: the key is not trusted even when it has alg', () => {
  const data = load<{ testGroups: JwsGroup[] }>('json_web_signature_test.json');
  // tc 353-356 sign with the kid-rsa-sign / kid-ec-sign keys but publish them as encryption keys.
  // Their JWKs lack `alg`, which alone excludes them; add the right alg to prove use/key_ops also do.
  let checked = 0;
  for (const g of data.testGroups) {
    for (const t of g.tests) {
      if (![353, 354, 355, 356].includes(t.tcId)) continue;
      const jwk: Record<string, unknown> = { ...(g.public ?? {}), alg: t.tcId % 2 === 1 ? 'RS256' : 'ES256' };
      assert.equal(trustedKeys({ keys: [jwk] }).size, 0, `tc ${t.tcId}: ${JSON.stringify({ use: jwk.use, key_ops: jwk.key_ops })}`);
      const { use: _u, key_ops: _k, ...signingJwk } = jwk;
      assert.equal(trustedKeys({ keys: [signingJwk] }).size, 1, `tc ${t.tcId}: the same key published for signing is trusted`);
      assert.ok(plainJwsVerify(t.jws, trustedKeys({ keys: [signingJwk] })), `tc ${t.tcId}: so only the key policy refuses it`);
      checked++;
    }
  }
  assert.equal(checked, 4);
});
