// @latchkey/core's DPoP proof checker (RFC 9449 §4.3) with proofs minted by node:crypto: every
// algorithm it accepts, every refusal, htu normalisation, the RFC 7638 thumbprint, and the
// bounded jti replay cache (§11.1).
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  accessTokenHash,
  boundThumbprint,
  dpopChallenge,
  DpopError,
  MAX_PROOF_LENGTH,
  normalizeHtu,
  ProofReplayCache,
  proofReplayKey,
  requestHtu,
  verifyDpopProof,
  type DpopExpectations,
  type DpopFailure,
} from '../../packages/core/src/dpop/index.js';
import { jwkThumbprint } from '../../packages/core/src/jwt/thumbprint.js';
import { makeProof, proofKey, signInput, type ProofAlg, type ProofKey } from '../helpers/dpop-proof.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
const T0 = 1_800_000_000; // a fixed clock, seconds
const HTU = 'https://api.example.com/orders';

function expect(over: Partial<DpopExpectations> = {}): DpopExpectations {
  return { htm: 'GET', htu: HTU, maxAgeSec: 60, leewaySec: 5, now: () => T0 * 1000, ...over };
}

function refused(proof: unknown, reason: DpopFailure, over: Partial<DpopExpectations> = {}): void {
  assert.throws(
    () => verifyDpopProof(proof, expect(over)),
    (e: unknown) => e instanceof DpopError && e.reason === reason,
    `expected ${reason}`,
  );
}

const ALGS: ProofAlg[] = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];
const keys = new Map<ProofAlg, ProofKey>(ALGS.map((a) => [a, proofKey(a)]));
const es = keys.get('ES256')!;
const ed = keys.get('EdDSA')!;

describe('verifyDpopProof: accepted proofs', () => {
  for (const alg of ALGS) {
    it(`${alg}: a genuine proof is accepted and names its key's RFC 7638 thumbprint`, () => {
      const k = keys.get(alg)!;
      const v = verifyDpopProof(makeProof(k, { iat: T0, jti: `j-${alg}` }), expect());
      assert.deepEqual(v, { jkt: k.jkt, jti: `j-${alg}`, iat: T0, alg });
      assert.equal(v.jkt, jwkThumbprint(k.jwk));
    });
  }

  it('with ath and nonce when both are expected', () => {
    const at = 'eyJhbGciOiJFZERTQSJ9.e30.sig';
    const v = verifyDpopProof(makeProof(es, { iat: T0, accessToken: at, nonce: 'n-1' }), expect({ accessToken: at, nonceValid: (n) => n === 'n-1' }));
    assert.equal(v.jkt, es.jkt);
  });

  it('iat exactly at both ends of the window (max age + leeway back, leeway ahead)', () => {
    verifyDpopProof(makeProof(es, { iat: T0 - 65 }), expect());
    verifyDpopProof(makeProof(es, { iat: T0 + 5 }), expect());
  });

  it('the same key twice gives the same thumbprint; another key another', () => {
    const again = verifyDpopProof(makeProof(es, { iat: T0 }), expect()).jkt;
    assert.equal(again, es.jkt);
    assert.notEqual(verifyDpopProof(makeProof(proofKey('ES256'), { iat: T0 }), expect()).jkt, es.jkt);
  });
});

describe('verifyDpopProof: refusals', () => {
  const p = (o: Parameters<typeof makeProof>[1] = {}) => makeProof(es, { iat: T0, ...o });

  it('typ other than dpop+jwt (missing, JWT, at+jwt, upper case)', () => {
    for (const typ of [undefined, 'JWT', 'at+jwt', 'DPOP+JWT', 'application/dpop+jwt']) refused(p({ header: { typ } }), 'bad_typ');
  });

  it('alg none (with and without a signature), HS256, unknown algs, alg not matching the key', () => {
    const none = (sig: string) => {
      const h = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: es.jwk }));
      const c = b64(JSON.stringify({ jti: 'x', htm: 'GET', htu: HTU, iat: T0 }));
      return `${h}.${c}.${sig}`;
    };
    refused(none(''), 'malformed');
    refused(none(b64('sig')), 'unsupported_alg');
    // HS256 keyed with the public key's JSON: the classic confusion, with a kty oct jwk or the real one.
    for (const jwk of [es.jwk, { kty: 'oct', k: b64('secret') }]) {
      const h = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'HS256', jwk }));
      const c = b64(JSON.stringify({ jti: 'x', htm: 'GET', htu: HTU, iat: T0 }));
      const mac = createHmac('sha256', JSON.stringify(es.jwk)).update(`${h}.${c}`).digest('base64url');
      refused(`${h}.${c}.${mac}`, 'unsupported_alg');
    }
    for (const alg of ['ES512', 'RS512', 'es256', 'ed25519', ['ES256'], null]) refused(p({ header: { alg } }), 'unsupported_alg');
    refused(p({ header: { alg: 'ES384' } }), 'bad_jwk'); // a P-256 key under ES384
    refused(p({ header: { alg: 'EdDSA' } }), 'bad_jwk');
    // An Ed25519 key's proof labelled ES256: the jwk does not fit the alg.
    refused(makeProof(ed, { iat: T0, header: { alg: 'ES256' } }), 'bad_jwk');
    // RS256 header over a PS256 signature and the reverse: same key type, wrong padding.
    const rsa = keys.get('RS256')!;
    const input = `${b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'RS256', jwk: rsa.jwk }))}.${b64(JSON.stringify({ jti: 'x', htm: 'GET', htu: HTU, iat: T0 }))}`;
    refused(`${input}.${b64(signInput('PS256', rsa.privateKey, input))}`, 'bad_signature');
  });

  it('a jwk with private members (d, and the RSA ones), symmetric keys, missing or wrong jwk', () => {
    const priv = es.privateKey.export({ format: 'jwk' });
    refused(p({ header: { jwk: priv } }), 'bad_jwk');
    refused(p({ header: { jwk: { ...es.jwk, d: priv.d } } }), 'bad_jwk');
    const rsa = keys.get('RS256')!;
    const rsaPriv = rsa.privateKey.export({ format: 'jwk' });
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
      refused(makeProof(rsa, { iat: T0, header: { jwk: { ...rsa.jwk, [m]: rsaPriv[m] } } }), 'bad_jwk');
    }
    refused(makeProof(ed, { iat: T0, header: { jwk: ed.privateKey.export({ format: 'jwk' }) } }), 'bad_jwk');
    refused(p({ header: { jwk: { kty: 'oct', k: b64('0123456789abcdef') } } }), 'bad_jwk');
    refused(p({ header: { jwk: undefined } }), 'bad_jwk');
    refused(p({ header: { jwk: 'not an object' } }), 'bad_jwk');
    refused(p({ header: { jwk: [es.jwk] } }), 'bad_jwk');
    refused(p({ header: { jwk: { ...es.jwk, crv: 'P-384' } } }), 'bad_jwk');
    // x with a non-canonical encoding (the unused bits altered): one key must have one thumbprint.
    const x = es.jwk.x!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const altered = x.slice(0, -1) + alphabet[alphabet.indexOf(x[x.length - 1]!) ^ 1];
    refused(p({ header: { jwk: { ...es.jwk, x: altered } } }), 'bad_jwk');
    // A point not on the curve.
    refused(p({ header: { jwk: { ...es.jwk, y: es.jwk.x } } }), 'bad_jwk');
  });

  it('an RSA key under 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const k: ProofKey = { alg: 'RS256', privateKey: small.privateKey, jwk: small.publicKey.export({ format: 'jwk' }), jkt: '' };
    refused(makeProof(k, { iat: T0 }), 'bad_jwk');
    // Imported keys are remembered by thumbprint; a refused one must not be.
    refused(makeProof(k, { iat: T0 }), 'bad_jwk');
    refused(p({ header: { jwk: { ...es.jwk, y: es.jwk.x } } }), 'bad_jwk');
  });

  it('a signature by another key than the jwk, or over other content', () => {
    const other = proofKey('ES256');
    refused(makeProof(other, { iat: T0, header: { jwk: es.jwk } }), 'bad_signature');
    const [h, , s] = p().split('.');
    refused(`${h}.${b64(JSON.stringify({ jti: 'y', htm: 'GET', htu: HTU, iat: T0 }))}.${s}`, 'bad_signature');
    // DER instead of the JOSE r||s form.
    const [hh, cc] = p().split('.');
    refused(`${hh}.${cc}.${b64(nodeSign('sha256', Buffer.from(`${hh}.${cc}`), es.privateKey))}`, 'bad_signature');
    refused(`${hh}.${cc}.${b64(Buffer.alloc(64))}`, 'bad_signature');
  });

  it('htm of another method (compared exactly)', () => {
    refused(p({ htm: 'POST' }), 'wrong_htm');
    refused(p({ htm: 'get' }), 'wrong_htm');
    verifyDpopProof(p({ htm: 'POST' }), expect({ htm: 'POST' }));
  });

  it('htu of another URL: path, host, port, scheme, userinfo; not an http(s) URL', () => {
    for (const htu of [
      'https://api.example.com/orders/1',
      'https://api.example.com/Orders',
      'https://api.example.com/',
      'https://evil.example.com/orders',
      'https://api.example.com:8443/orders',
      'http://api.example.com/orders',
      'https://user@api.example.com/orders',
      'ftp://api.example.com/orders',
      '/orders',
      'not a url',
    ]) {
      refused(p({ htu }), 'wrong_htu');
    }
    refused(p({ claims: { htu: 42 } }), 'bad_claims');
  });

  it('htu comparison ignores query and fragment, default ports and the case of scheme and host', () => {
    for (const htu of [
      'https://api.example.com/orders?page=2',
      'https://api.example.com/orders#top',
      'https://api.example.com:443/orders',
      'HTTPS://API.Example.COM/orders',
      'https://api.example.com/a/../orders',
    ]) {
      verifyDpopProof(p({ htu }), expect());
    }
    // And the same from the other side: the request URL carries the query.
    verifyDpopProof(p(), expect({ htu: 'https://API.example.com:443/orders?x=1#f' }));
    verifyDpopProof(makeProof(es, { iat: T0, htu: 'http://localhost:80/x' }), expect({ htu: 'http://LOCALHOST/x' }));
  });

  it('iat too old or in the future (beyond the leeway), or not an integer NumericDate', () => {
    refused(p({ iat: T0 - 66 }), 'stale');
    refused(p({ iat: T0 - 3600 }), 'stale');
    refused(p({ iat: T0 + 6 }), 'future');
    refused(p({ iat: T0 + 86_400 }), 'future');
    for (const iat of [String(T0), T0 + 0.5, -1, null]) refused(p({ claims: { iat } }), 'bad_claims');
    refused(p({ claims: { iat: undefined } }), 'bad_claims');
  });

  it('ath of another token, missing ath, ath not a string', () => {
    const at = 'the.access.token';
    refused(p({ accessToken: 'another.access.token' }), 'wrong_ath', { accessToken: at });
    refused(p(), 'wrong_ath', { accessToken: at });
    refused(p({ claims: { ath: 7 } }), 'wrong_ath', { accessToken: at });
    // ath of the right token but in standard base64 or padded: not the §7 form.
    const h = accessTokenHash(at);
    refused(p({ claims: { ath: `${h}=` } }), 'wrong_ath', { accessToken: at });
    verifyDpopProof(p({ accessToken: at }), expect({ accessToken: at }));
  });

  it('accessTokenHash is base64url(SHA-256(ASCII token)) (RFC 9449 §7 example)', () => {
    // RFC 9449 §7.1's example access token and its ath (Figure 13).
    assert.equal(accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'), 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
  });

  it('nonce missing or refused when the server requires one; checked only after everything else', () => {
    const ok = (n: string) => n === 'good';
    refused(p(), 'use_nonce', { nonceValid: ok });
    refused(p({ nonce: 'stale-nonce' }), 'use_nonce', { nonceValid: ok });
    refused(p({ claims: { nonce: 42 } }), 'use_nonce', { nonceValid: ok });
    refused(p({ nonce: 'n'.repeat(257) }), 'use_nonce', { nonceValid: () => true });
    verifyDpopProof(p({ nonce: 'good' }), expect({ nonceValid: ok }));
    // A proof that is wrong otherwise is refused for that, not sent to fetch a nonce.
    refused(p({ htm: 'POST' }), 'wrong_htm', { nonceValid: ok });
  });

  it('crit in the header, whatever it lists', () => {
    for (const crit of [['exp'], [], ['urn:x']]) refused(p({ header: { crit } }), 'malformed');
  });

  it('jti missing, empty, too long or not a string', () => {
    for (const jti of [undefined, '', 'j'.repeat(257), 42]) refused(p({ claims: { jti } }), 'bad_claims');
    verifyDpopProof(p({ jti: 'j'.repeat(256) }), expect());
  });

  it('oversize proofs are refused before parsing', () => {
    refused(p({ claims: { pad: 'x'.repeat(MAX_PROOF_LENGTH) } }), 'too_long');
    refused('a'.repeat(MAX_PROOF_LENGTH + 1), 'too_long');
  });

  it('not a compact JWS: wrong segment count, non-string input, JSON serialization', () => {
    const good = p();
    for (const bad of ['', '..', good.split('.').slice(0, 2).join('.'), `${good}.x`, JSON.stringify({ payload: good.split('.')[1] })]) refused(bad, 'malformed');
    for (const bad of [undefined, null, 42, {}, [good]]) refused(bad, 'malformed');
  });

  it('non-canonical base64url anywhere: padding, + and /, whitespace, altered unused bits', () => {
    const [h, c, s] = p().split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const flipLast = (x: string) => x.slice(0, -1) + alphabet[alphabet.indexOf(x[x.length - 1]!) ^ 1];
    for (const bad of [
      `${h}=.${c}.${s}`,
      `${h}.${c}.${s}==`,
      `${h}.${c} .${s}`,
      `${h}.${c}.${s.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(s) ? '' : '+'}`,
      `${h}.${c}.${flipLast(s)}`, // 64-byte signature: 86 chars, 4 unused bits in the last one
      `${h}.${c}.`,
    ]) {
      refused(bad, 'malformed');
    }
  });

  it('duplicate JSON member names in the header or the claims (after escape decoding)', () => {
    refused(p({ rawHeader: (j) => j.replace(/^\{/, '{"typ":"JWT",') }), 'malformed');
    refused(p({ rawHeader: (j) => j.replace(/^\{/, '{"alg":"none",') }), 'malformed');
    refused(p({ rawClaims: (j) => j.replace(/^\{/, '{"htu":"https://evil.example/",') }), 'malformed');
    refused(p({ rawClaims: (j) => j.replace(/^\{/, '{"h\\u0074m":"POST",') }), 'malformed');
    refused(p({ rawClaims: () => '[1,2]' }), 'malformed');
    refused(p({ rawClaims: () => '{"jti":' }), 'malformed');
  });
});

describe('htu helpers', () => {
  it('normalizeHtu drops query and fragment, default ports, case of scheme and host; refuses userinfo and other schemes', () => {
    assert.equal(normalizeHtu('HTTPS://Api.Example.com:443/a/b?q#f'), 'https://api.example.com/a/b');
    assert.equal(normalizeHtu('http://api.example.com:80/'), 'http://api.example.com/');
    assert.equal(normalizeHtu('http://api.example.com:8080/x'), 'http://api.example.com:8080/x');
    assert.equal(normalizeHtu('https://api.example.com'), 'https://api.example.com/');
    assert.equal(normalizeHtu('https://u:p@api.example.com/'), null);
    assert.equal(normalizeHtu('wss://api.example.com/'), null);
    assert.equal(normalizeHtu('/relative'), null);
  });

  it('requestHtu joins the public base (with or without a path prefix) and the request path, without its query', () => {
    assert.equal(requestHtu('https://api.example.com', '/orders?x=1'), 'https://api.example.com/orders');
    assert.equal(requestHtu('https://example.com/api/', '/orders'), 'https://example.com/api/orders');
    assert.equal(requestHtu('https://example.com/api', '/orders#f'), 'https://example.com/api/orders');
    // A path that looks like an authority stays a path of the public host.
    assert.equal(requestHtu('https://api.example.com', '//evil.example/x'), 'https://api.example.com//evil.example/x');
  });
});

describe('thumbprint, challenge, cnf', () => {
  it('jwkThumbprint equals the RFC 7638 §3.1 example', () => {
    const jwk = {
      kty: 'RSA',
      n:
        '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6' +
        '4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9' +
        '1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('dpopChallenge follows RFC 9449 §7.1', () => {
    assert.equal(dpopChallenge(), 'DPoP algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"');
    assert.equal(dpopChallenge('invalid_token', 'bound "token"'), 'DPoP error="invalid_token", error_description="bound token", algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"');
    assert.equal(dpopChallenge('invalid_dpop_proof', undefined, ['ES256']), 'DPoP error="invalid_dpop_proof", algs="ES256"');
  });

  it('boundThumbprint reads cnf.jkt only', () => {
    assert.equal(boundThumbprint({ cnf: { jkt: 'abc' } }), 'abc');
    for (const cnf of [undefined, null, 'abc', { jkt: 1 }, { x5t: 'a' }]) assert.equal(boundThumbprint({ cnf }), null);
  });

  it('proofReplayKey tells the same jti from two keys apart', () => {
    assert.notEqual(proofReplayKey({ jkt: 'a', jti: 'j' }), proofReplayKey({ jkt: 'b', jti: 'j' }));
    assert.notEqual(proofReplayKey({ jkt: 'a', jti: 'bj' }), proofReplayKey({ jkt: 'ab', jti: 'j' }));
    assert.equal(proofReplayKey({ jkt: 'a', jti: 'j' }), proofReplayKey({ jkt: 'a', jti: 'j' }));
  });
});

describe('ProofReplayCache', () => {
  it('a replay within the window is refused; another jti is admitted', () => {
    const c = new ProofReplayCache(65, 100);
    assert.equal(c.admit('k1', T0, T0), true);
    assert.equal(c.admit('k1', T0, T0 + 30), false);
    assert.equal(c.admit('k2', T0, T0 + 30), true);
  });

  it('a replay is refused up to and including the last second the proof checker would still accept it', () => {
    // Window = max age 60 + leeway 5. The checker accepts iat >= now - 65; the cache must remember as long.
    const c = new ProofReplayCache(65, 100);
    const iat = T0;
    assert.equal(c.admit('k', iat, T0), true);
    for (const now of [T0 + 64, T0 + 64.999, T0 + 65]) {
      const stillAccepted = (() => {
        try {
          verifyDpopProof(makeProof(es, { iat }), expect({ now: () => now * 1000 }));
          return true;
        } catch {
          return false;
        }
      })();
      assert.ok(stillAccepted, `checker accepts at ${now}`);
      assert.equal(c.admit('k', iat, now), false, `replay at now=${now}`);
    }
  });

  it('stays within its bound under a flood of distinct proofs', () => {
    const c = new ProofReplayCache(65, 1000);
    for (let i = 0; i < 10_000; i++) c.admit(`k${i}`, T0 + Math.floor(i / 100), T0 + Math.floor(i / 100));
    assert.ok(c.size <= 1000, `size ${c.size}`);
  });

  it('after an eviction, proofs as old as a forgotten one are refused, newer ones admitted, and no replay passes', () => {
    const c = new ProofReplayCache(65, 3);
    assert.equal(c.admit('a', T0, T0), true);
    assert.equal(c.admit('b', T0 + 1, T0 + 1), true);
    assert.equal(c.admit('c', T0 + 2, T0 + 2), true);
    assert.equal(c.admit('d', T0 + 3, T0 + 3), true); // evicts a (iat T0): floor T0
    assert.equal(c.size, 3);
    assert.equal(c.admit('a', T0, T0 + 3), false, 'the forgotten proof cannot be replayed');
    assert.equal(c.admit('fresh-but-old', T0, T0 + 3), false, 'as old as a forgotten one: refused');
    assert.equal(c.admit('e', T0 + 3, T0 + 3), true, 'newer than the floor: admitted'); // evicts b: floor T0+1
    assert.equal(c.admit('b', T0 + 1, T0 + 3), false);
    for (const k of ['c', 'd', 'e']) assert.equal(c.admit(k, T0 + 3, T0 + 3), false, `${k} still remembered`);
  });

  it('expired entries are dropped as time passes, so a quiet cache does not stay full', () => {
    const c = new ProofReplayCache(65, 100);
    for (let i = 0; i < 8; i++) c.admit(`k${i}`, T0, T0);
    assert.equal(c.size, 8);
    c.admit('later', T0 + 200, T0 + 200);
    assert.equal(c.size, 1);
  });

  it('property: no key is ever admitted twice while the checker could still accept it, and the bound holds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 20 }), age: fc.integer({ min: 0, max: 70 }), step: fc.integer({ min: 0, max: 3 }) }), { maxLength: 200 }),
        (max, ops) => {
          const window = 65;
          const c = new ProofReplayCache(window, max);
          const admittedAt = new Map<string, number>(); // key -> iat when admitted
          let now = T0;
          for (const op of ops) {
            now += op.step;
            const key = `k${op.key}`;
            // Keys are jti-like: one key always carries one iat (a proof is what it is).
            const iat = admittedAt.get(key) ?? now - Math.min(op.age, window);
            const ok = c.admit(key, iat, now);
            if (ok) {
              const prev = admittedAt.get(key);
              // Admitted again: only legitimate if the checker would refuse it as stale by now.
              if (prev !== undefined) assert.ok(prev < now - window, `replay of ${key} (iat ${prev}) admitted at ${now}`);
              admittedAt.set(key, iat);
            }
            assert.ok(c.size <= max);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
