// The `verify` library against tokens from a real Latchkey server started in-process: valid
// tokens, every RFC 9068 §4 / RFC 8725 failure case of the security battery (issue 5), kid
// rotation, the unknown-kid flood, the verified-token cache, revocation, and DPoP-bound tokens
// (RFC 9449 §7) through verifyRequest.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createVerifier, toRfc6750, VerifyError, type RequestCredentials, type Verifier, type VerifyFailure } from '../../packages/verify/src/index.js';
import { publicJwkOf } from '../../packages/core/src/jwt/algorithms.js';
import { signJws } from '../../packages/server/src/jwt/signing.js';
import type { IssuingKey } from '../../packages/server/src/jwt/signing.js';
import { decodePayload, forge, goodClaims, signBound, signGood, signRaw, signup, startServer, startTrap, type TestServer } from './helpers.js';
import { makeProof, proofKey, type ProofKey, type ProofOptions } from '../helpers/dpop-proof.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

async function refusal(verifier: Verifier, token: string): Promise<VerifyError> {
  try {
    await verifier.verify(token);
  } catch (e) {
    assert.ok(e instanceof VerifyError, `expected VerifyError, got ${String(e)}`);
    return e;
  }
  assert.fail('token was accepted');
}

async function assertRefused(verifier: Verifier, token: string, reason?: VerifyFailure): Promise<void> {
  const e = await refusal(verifier, token);
  assert.equal(e.code, 'invalid_token');
  if (reason) assert.equal(e.reason, reason);
  assert.equal(toRfc6750(e).status, 401);
}

/** The server itself must refuse the same token on a Bearer route (issue 5: "by the server and by verify"). */
async function assertServerRefuses(server: TestServer, token: string): Promise<void> {
  const res = await fetch(`${server.base}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  await res.body?.cancel();
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
}

describe('verify: EdDSA server', () => {
  let server: TestServer;
  let verifier: Verifier;
  let key: IssuingKey;
  const nowSec = () => Math.floor(Date.now() / 1000);

  before(async () => {
    server = await startServer();
    verifier = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch });
    key = server.latchkey.ctx.keys.signingKey();
  });
  after(async () => {
    await verifier.close();
    await server.close();
  });

  test('a token from a real signup is accepted; claims are frozen', async () => {
    const { access_token, user } = await signup(server);
    const claims = await verifier.verify(access_token);
    assert.equal(claims.sub, user.id);
    assert.equal(claims.iss, server.issuer);
    assert.equal(claims.aud, server.audience);
    assert.equal(claims.sid, decodePayload(access_token).sid);
    assert.ok(Object.isFrozen(claims));
    assert.throws(() => {
      (claims as { sub: string }).sub = 'someone-else';
    }, TypeError);
    // The cached result is the same verified claims.
    assert.equal(await verifier.verify(access_token), claims);
    // Only the issuer's metadata and JWKS were ever fetched.
    assert.deepEqual(
      [...new Set(server.fetch.urls)].sort(),
      [`${server.issuer}/.well-known/jwks.json`, `${server.issuer}/.well-known/oauth-authorization-server`],
    );
  });

  test('forged-but-perfect tokens are accepted (positive controls for the cases below)', async () => {
    await verifier.verify(forge(key, goodClaims(server)));
    await verifier.verify(forge(key, goodClaims(server), { typ: 'application/at+jwt' }));
    await verifier.verify(forge(key, { ...goodClaims(server), aud: ['https://other.example', server.audience] }));
    await verifier.verify(forge(key, { ...goodClaims(server), nbf: nowSec() + 3 })); // within the 5 s leeway
    await verifier.verify(forge(key, { ...goodClaims(server), scope: 'read write' }));
  });

  describe('RFC 9068 §4 / RFC 8725 failure cases (each refused by verify and by the server)', () => {
    type Case = [name: string, make: () => string, reason?: VerifyFailure];
    const cases: Case[] = [];
    const add = (name: string, make: () => string, reason?: VerifyFailure) => cases.push([name, make, reason]);
    const c = () => goodClaims(server);
    const attacker = generateKeyPairSync('ed25519');

    // typ (RFC 9068 §4, RFC 8725 §3.11)
    add('typ JWT', () => forge(key, c(), { typ: 'JWT' }), 'bad_typ');
    add('typ missing', () => forge(key, c(), { typ: undefined }), 'bad_header');
    add('typ id+jwt', () => forge(key, c(), { typ: 'id+jwt' }), 'bad_typ');
    // iss
    add('foreign iss', () => forge(key, { ...c(), iss: 'https://evil.example' }), 'wrong_issuer');
    add('iss with a trailing slash', () => forge(key, { ...c(), iss: `${server.issuer}/` }), 'wrong_issuer');
    // aud
    add("another API's aud", () => forge(key, { ...c(), aud: 'https://other-api.example' }), 'wrong_audience');
    add('aud missing', () => forge(key, { ...c(), aud: undefined }), 'wrong_audience');
    add('aud empty string', () => forge(key, { ...c(), aud: '' }), 'wrong_audience');
    add('aud empty array', () => forge(key, { ...c(), aud: [] }), 'wrong_audience');
    add('aud non-string', () => forge(key, { ...c(), aud: 42 }), 'wrong_audience');
    add('aud array with a non-string', () => forge(key, { ...c(), aud: [server.audience, 7] }), 'wrong_audience');
    // time
    add('expired', () => forge(key, { ...c(), iat: nowSec() - 400, exp: nowSec() - 100 }), 'expired');
    add('exp missing', () => forge(key, { ...c(), exp: undefined }), 'bad_claims');
    add('exp as a string', () => forge(key, { ...c(), exp: String(nowSec() + 300) }), 'bad_claims');
    add('exp null', () => forge(key, { ...c(), exp: null }), 'bad_claims');
    add('exp negative', () => forge(key, { ...c(), exp: -1 }), 'bad_claims');
    add('exp 1e309', () => signRaw(key, JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }), JSON.stringify(c()).replace(/"exp":\d+/, '"exp":1e309')), 'bad_claims');
    add('exp in milliseconds', () => forge(key, { ...c(), exp: Date.now() + 300_000 }), 'bad_claims');
    add('nbf in the future past the leeway', () => forge(key, { ...c(), nbf: nowSec() + 60 }), 'not_yet_valid');
    add('iat in the future past the leeway', () => forge(key, { ...c(), iat: nowSec() + 60, exp: nowSec() + 360 }), 'not_yet_valid');
    add('nbf a string', () => forge(key, { ...c(), nbf: '0' }), 'bad_claims');
    // required claims (RFC 9068 §2.2)
    for (const claim of ['sub', 'jti', 'client_id', 'sid', 'iat'] as const) add(`${claim} missing`, () => forge(key, { ...c(), [claim]: undefined }), 'bad_claims');
    add('sub non-string', () => forge(key, { ...c(), sub: 12 }), 'bad_claims');
    // alg (RFC 8725 §3.1: the key decides the algorithm)
    add('alg none, no signature', () => {
      const t = forge(key, c(), { alg: 'none' });
      return t.slice(0, t.lastIndexOf('.') + 1);
    }, 'malformed');
    for (const alg of ['none', 'None', 'NONE']) add(`alg ${alg} with a signature`, () => forge(key, c(), { alg }), 'alg_mismatch');
    add('alg missing', () => forge(key, c(), { alg: undefined }), 'bad_header');
    add('alg non-string', () => forge(key, c(), { alg: ['EdDSA'] }), 'bad_header');
    const spki = () => createPublicKey(key.privateKey).export({ format: 'pem', type: 'spki' }) as string;
    const jwkText = () => JSON.stringify({ ...publicJwkOf(createPublicKey(key.privateKey)), kid: key.kid, alg: key.alg, use: 'sig' });
    const hs256 = (secret: string | Buffer) => () => {
      const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: key.kid }))}.${b64(JSON.stringify(c()))}`;
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    };
    add('HS256 keyed with the public key PEM', () => hs256(spki())(), 'alg_mismatch');
    add('HS256 keyed with the public key PEM, leading space', () => hs256(` ${spki()}`)(), 'alg_mismatch');
    add('HS256 keyed with the public JWK', () => hs256(jwkText())(), 'alg_mismatch');
    add('HS256 keyed with the raw public key bytes', () => hs256(Buffer.from(publicJwkOf(createPublicKey(key.privateKey)).x ?? '', 'base64url'))(), 'alg_mismatch');
    add('ES256 header on an EdDSA key', () => forge(key, c(), { alg: 'ES256' }), 'alg_mismatch');
    // kid (never used as a path, query or command: only looked up among keys already trusted)
    add('kid path traversal', () => forge(key, c(), { kid: '../../../../etc/passwd' }), 'bad_header');
    add('kid SQL', () => forge(key, c(), { kid: "x' OR '1'='1" }), 'bad_header');
    add('kid shell', () => forge(key, c(), { kid: '$(curl evil.example)' }), 'bad_header');
    add('kid empty', () => forge(key, c(), { kid: '' }), 'bad_header');
    add('kid number', () => forge(key, c(), { kid: 1 }), 'bad_header');
    add('kid object', () => forge(key, c(), { kid: { $ne: null } }), 'bad_header');
    add('kid null', () => forge(key, c(), { kid: null }), 'bad_header');
    add('kid 1 KB', () => forge(key, c(), { kid: 'k'.repeat(1024) }), 'bad_header');
    add('kid 10 KB', () => forge(key, c(), { kid: 'k'.repeat(10 * 1024) }), 'too_long');
    add('kid unknown', () => forge(key, c(), { kid: 'A'.repeat(43) }), 'unknown_kid');
    // key material or URLs in the header (RFC 8725 §3.10): refused before any key lookup
    add('embedded jwk (attacker key, attacker-signed)', () => {
      const h = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, jwk: { ...publicJwkOf(attacker.publicKey), kid: key.kid } };
      return signRaw({ kid: key.kid, alg: 'EdDSA', privateKey: attacker.privateKey }, JSON.stringify(h), JSON.stringify(c()));
    }, 'bad_header');
    // crit, cty, nested
    add('crit b64:false', () => forge(key, c(), { crit: ['b64'], b64: false }), 'bad_header');
    add('crit unknown', () => forge(key, c(), { crit: ['urn:example:unknown'] }), 'bad_header');
    add('crit empty', () => forge(key, c(), { crit: [] }), 'bad_header');
    add('cty JWT', () => forge(key, c(), { cty: 'JWT' }), 'bad_header');
    add('nested JWT as the payload', () => signRaw(key, JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }), JSON.stringify(signGood(server))), 'bad_claims');
    add('zip header', () => forge(key, c(), { zip: 'DEF' }), 'bad_header');
    // serialization
    add('JWS JSON serialization', () => {
      const [h, p, s] = signGood(server).split('.');
      return JSON.stringify({ protected: h, payload: p, signature: s });
    }, 'malformed');
    add('flattened JSON serialization', () => {
      const [h, p, s] = signGood(server).split('.');
      return JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
    }, 'malformed');
    add('2 segments', () => signGood(server).split('.').slice(0, 2).join('.'), 'malformed');
    add('4 segments', () => `${signGood(server)}.${b64('x')}`, 'malformed');
    add('5 segments (JWE shape)', () => {
      const [h, p, s] = signGood(server).split('.');
      return [h, '', p, s, b64('tag')].join('.');
    }, 'malformed');
    add('padding on the header', () => {
      const [h, p, s] = signGood(server).split('.');
      return `${h}=.${p}.${s}`;
    }, 'malformed');
    add('padding on the signature', () => `${signGood(server)}==`, 'malformed');
    add('standard base64 (+/) characters', () => {
      const [h, p, s] = signGood(server).split('.') as [string, string, string];
      return `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(s) ? '' : '+'}`;
    }, 'malformed');
    add('whitespace inside', () => {
      const [h, p, s] = signGood(server).split('.');
      return `${h}.${p} .${s}`;
    }, 'malformed');
    add('altered unused bits in the signature', () => {
      const t = signGood(server);
      // 64 bytes = 86 base64url chars; the last char carries 4 unused bits. Flip one of them.
      const last = t[t.length - 1] as string;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      return t.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    }, 'malformed');
    add('empty string', () => '', 'malformed');
    add('two dots', () => '..', 'malformed');
    // duplicate member names (RFC 7515 §5.2, RFC 8725): refuse, never pick one
    add('duplicate claim key', () => signRaw(key, JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }), JSON.stringify(c()).replace(/^\{/, '{"sub":"admin",')), 'bad_claims');
    add('duplicate claim key via escape', () => signRaw(key, JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }), JSON.stringify(c()).replace(/^\{/, '{"s\\u0075b":"admin",')), 'bad_claims');
    add('duplicate header key', () => signRaw(key, `{"alg":"none","alg":"${key.alg}","typ":"at+jwt","kid":"${key.kid}"}`, JSON.stringify(c())), 'bad_header');
    add('payload not an object', () => signRaw(key, JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }), '[1,2]'), 'bad_claims');
    add('payload not JSON', () => signRaw(key, JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }), '{"sub":'), 'bad_claims');
    // signatures
    add('signature of another key with our kid', () => signRaw({ kid: key.kid, alg: 'EdDSA', privateKey: attacker.privateKey }, JSON.stringify({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid }), JSON.stringify(c())), 'bad_signature');
    add('payload altered after signing', () => {
      const [h, , s] = signGood(server).split('.');
      return `${h}.${b64(JSON.stringify({ ...c(), sub: 'admin' }))}.${s}`;
    }, 'bad_signature');
    add('signature truncated to 63 bytes', () => {
      const [h, p, sig] = signGood(server).split('.') as [string, string, string];
      return `${h}.${p}.${b64(Buffer.from(sig, 'base64url').subarray(0, 63))}`;
    }, 'bad_signature');
    add('signature cut mid-character (length 1 mod 4)', () => signGood(server).slice(0, -1), 'malformed');
    add('signature all zero', () => {
      const [h, p] = signGood(server).split('.');
      return `${h}.${p}.${b64(Buffer.alloc(64))}`;
    }, 'bad_signature');
    // size
    add('token over 8 KB', () => forge(key, { ...c(), pad: 'x'.repeat(9000) }), 'too_long');

    for (const [name, make, reason] of cases) {
      test(name, async () => {
        const token = make();
        await assertRefused(verifier, token, reason);
        // An empty credential is no credential over HTTP (header values are trimmed).
        if (token !== '') await assertServerRefuses(server, token);
      });
    }

    test('embedded jku / x5u / x5c: refused and nothing is fetched', async () => {
      const trap = await startTrap();
      try {
        const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch });
        server.fetch.reset();
        const headers: Array<Record<string, unknown>> = [
          { jku: `${trap.url}/jwks.json` },
          { x5u: `${trap.url}/cert.pem` },
          { x5c: [randomBytes(300).toString('base64')] },
          { jku: `${trap.url}/jwks.json`, kid: 'A'.repeat(43) },
          { jwk: publicJwkOf(attacker.publicKey), jku: `${trap.url}/jwks.json`, x5u: `${trap.url}/x` },
        ];
        for (const h of headers) {
          const token = forge(key, c(), h); // genuinely signed by the server's key
          await assertRefused(v, token, 'bad_header');
          await assertServerRefuses(server, token);
        }
        assert.equal(trap.hits(), 0, 'a URL from a token was fetched');
        // Refused in parsing: not even the issuer's JWKS was needed.
        assert.deepEqual(server.fetch.urls, []);
        await v.close();
      } finally {
        await trap.close();
      }
    });

    test('exp equal to now is expired with zero leeway; allowed leeway is exactly leewaySec', async () => {
      const t0 = nowSec();
      const fixed = () => t0 * 1000;
      const strict = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, leewaySec: 0, now: fixed });
      await assertRefused(strict, forge(key, { ...c(), iat: t0 - 300, exp: t0 }), 'expired');
      await strict.verify(forge(key, { ...c(), iat: t0 - 300, exp: t0 + 1 }));
      const lenient = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, leewaySec: 5, now: fixed });
      await lenient.verify(forge(key, { ...c(), iat: t0 - 300, exp: t0 - 4 }));
      await assertRefused(lenient, forge(key, { ...c(), iat: t0 - 300, exp: t0 - 5 }), 'expired');
    });

    test('lifetime above maxLifetimeSec is refused', async () => {
      const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, maxLifetimeSec: 300 });
      await v.verify(forge(key, { ...c(), exp: nowSec() + 300 }));
      await assertRefused(v, forge(key, { ...c(), exp: nowSec() + 3600 }), 'bad_claims');
    });

    test('non-string input', async () => {
      for (const bad of [undefined, null, 42, {}, ['a.b.c']]) {
        await assertRefused(verifier, bad as unknown as string, 'malformed');
      }
    });
  });
});

describe('verify: algorithm confusion on RS256 and ES256 servers', () => {
  test('RS256 server: valid token accepted; PS256 on the RS256 key and RS256 with a PSS signature refused', async () => {
    const server = await startServer({ LATCHKEY_ALG: 'RS256' });
    try {
      const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch });
      const { access_token } = await signup(server);
      await v.verify(access_token);
      const key = server.latchkey.ctx.keys.signingKey();
      assert.equal(key.alg, 'RS256');
      const pss = (alg: string) => {
        const input = `${b64(JSON.stringify({ alg, typ: 'at+jwt', kid: key.kid }))}.${b64(JSON.stringify(goodClaims(server)))}`;
        const sig = sign('sha256', Buffer.from(input), { key: key.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
        return `${input}.${sig.toString('base64url')}`;
      };
      for (const token of [pss('PS256'), pss('RS256'), forge(key, goodClaims(server), { alg: 'RS384' }), forge(key, goodClaims(server), { alg: 'HS256' })]) {
        const e = await refusal(v, token);
        assert.equal(e.code, 'invalid_token');
        assert.ok(['alg_mismatch', 'bad_signature'].includes(e.reason), e.reason);
        await assertServerRefuses(server, token);
      }
      await v.close();
    } finally {
      await server.close();
    }
  });

  test('ES256 server: valid token accepted; r = s = 0 ("psychic signature") and DER signatures refused', async () => {
    const server = await startServer({ LATCHKEY_ALG: 'ES256' });
    try {
      const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch });
      const { access_token } = await signup(server);
      await v.verify(access_token);
      const key = server.latchkey.ctx.keys.signingKey();
      const [h, p] = forge(key, goodClaims(server)).split('.') as [string, string];
      const psychic = `${h}.${p}.${b64(Buffer.alloc(64))}`;
      const der = `${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), key.privateKey).toString('base64url')}`;
      const nOrder = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
      const rsN = `${h}.${p}.${b64(Buffer.concat([nOrder, nOrder]))}`;
      for (const token of [psychic, der, rsN]) {
        await assertRefused(v, token, 'bad_signature');
        await assertServerRefuses(server, token);
      }
      // And the genuine ES256 signature of the same input is fine (control).
      await v.verify(`${h}.${p}.${signJws('ES256', key.privateKey, Buffer.from(`${h}.${p}`)).toString('base64url')}`);
      await v.close();
    } finally {
      await server.close();
    }
  });
});

describe('verify: keys, rotation, unknown-kid flood', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test('kid rotation: one JWKS refetch, old tokens still accepted', async () => {
    const { fetch } = server;
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch });
    const oldKey = server.latchkey.ctx.keys.signingKey();
    const oldToken = signGood(server);
    fetch.reset();
    await v.verify(oldToken);
    assert.equal(fetch.count('/oauth-authorization-server'), 1);
    assert.equal(fetch.count('/jwks.json'), 1);

    await server.latchkey.ctx.keys.rotate({ leadMs: 0 });
    const newKey = server.latchkey.ctx.keys.signingKey();
    assert.notEqual(newKey.kid, oldKey.kid);
    const { access_token: newToken } = await signup(server);
    assert.match(Buffer.from(newToken.split('.')[0] ?? '', 'base64url').toString(), new RegExp(newKey.kid));

    await v.verify(newToken);
    assert.equal(fetch.count('/jwks.json'), 2, 'exactly one refetch for the new kid');
    assert.equal(fetch.count('/oauth-authorization-server'), 1, 'metadata is not refetched');

    await v.verify(oldToken); // cached, and its key is still published
    await v.verify(forge(oldKey, goodClaims(server))); // a fresh token of the retired key: still trusted
    await v.verify(signGood(server)); // another new-key token: no fetch
    assert.equal(fetch.count('/jwks.json'), 2);
    await v.close();
  });

  test('unknown-kid flood: 1000 random kids (concurrent, then sequential) cause at most one JWKS fetch per cooldown', async () => {
    const { fetch } = server;
    let offset = 0;
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch, now: () => Date.now() + offset });
    await v.ready();
    fetch.reset();
    const key = server.latchkey.ctx.keys.signingKey();
    const randomKidToken = () => forge(key, goodClaims(server), { kid: randomBytes(32).toString('base64url') });

    const concurrent = await Promise.allSettled(Array.from({ length: 1000 }, () => v.verify(randomKidToken())));
    for (const r of concurrent) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as VerifyError).reason, 'unknown_kid');
    }
    assert.ok(fetch.count() <= 1, `${fetch.count()} fetches for 1000 concurrent unknown kids`);
    for (let i = 0; i < 1000; i++) await assertRefused(v, randomKidToken(), 'unknown_kid');
    assert.ok(fetch.count() <= 1, `${fetch.count()} fetches for 2000 unknown kids within one cooldown`);
    assert.ok(fetch.urls.every((u) => u.endsWith('/.well-known/jwks.json')));

    // Genuine tokens keep working throughout, with no extra fetch.
    await v.verify(signGood(server));
    const before = fetch.count();
    offset += 30_001; // past the cooldown: one more refetch is allowed, then quiet again
    for (let i = 0; i < 200; i++) await assertRefused(v, randomKidToken(), 'unknown_kid');
    assert.equal(fetch.count(), before + 1);
    await v.close();
  });

  test('cold start with the issuer unreachable is 503 temporarily_unavailable, and recovers', async () => {
    let up = false;
    let calls = 0;
    let offset = 0;
    const flaky = async (input: string, init?: RequestInit) => {
      calls++;
      if (!up) throw new TypeError('fetch failed');
      return server.fetch(input, init);
    };
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: flaky, now: () => Date.now() + offset });
    const token = signGood(server);
    const e = await refusal(v, token);
    assert.equal(e.code, 'temporarily_unavailable');
    assert.equal(e.reason, 'jwks_unavailable');
    const r = toRfc6750(e);
    assert.equal(r.status, 503);
    assert.equal(r.headers['Retry-After'], '1');
    // Concurrent cold callers during the backoff share the failure: no fetch storm at a down issuer.
    const before = calls;
    await Promise.allSettled(Array.from({ length: 100 }, () => v.verify(token)));
    assert.equal(calls, before);
    // A malformed token is still a plain 401, keys or not.
    await assertRefused(v, 'not-a-token', 'malformed');
    up = true;
    offset += 1001;
    await v.verify(token);
    await v.close();
  });

  test('metadata whose issuer differs from the configured one is refused (RFC 8414 §3.3)', async () => {
    const v = createVerifier({ issuer: `${server.issuer}/`, audience: server.audience, fetch: server.fetch });
    const e = await refusal(v, signGood(server));
    assert.equal(e.code, 'temporarily_unavailable');
    assert.match(String((e.cause as Error).message), /issuer/);
  });

  test('an https issuer whose jwks_uri is plain http is refused', async () => {
    const meta = async (input: string, init?: RequestInit) => {
      if (input.endsWith('/oauth-authorization-server')) {
        return Response.json({ issuer: server.issuer, jwks_uri: `${server.base}/.well-known/jwks.json` });
      }
      return server.fetch(input, init);
    };
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: meta });
    const e = await refusal(v, signGood(server));
    assert.equal(e.reason, 'jwks_unavailable');
    assert.match(String((e.cause as Error).message), /https/);
  });
});

describe('verify: verified-token cache', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test('a cached token still expires, and nbf is still honoured', async () => {
    let offset = 0;
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, now: () => Date.now() + offset });
    const token = signGood(server);
    await v.verify(token);
    await v.verify(token);
    offset = 296_000; // 300 s lifetime + 5 s leeway: still fine just before
    await v.verify(token);
    offset = 306_000;
    await assertRefused(v, token, 'expired');
    offset = 0;
    // Once refused for expiry, it was dropped from the cache; a correct clock accepts it again.
    await v.verify(token);
    await v.close();
  });

  test('a cached token is refused once its session is revoked, and accepted again after the revocation lapses', async () => {
    let offset = 0;
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, now: () => Date.now() + offset });
    const claims = goodClaims(server, 'sid-cache-revoke');
    const token = signGood(server, claims);
    await v.verify(token);
    v.revoke('sid-cache-revoke', Date.now() + 10_000);
    await assertRefused(v, token, 'revoked');
    await assertRefused(v, signGood(server, { ...claims, jti: 'another' }), 'revoked');
    offset = 14_000; // still inside until + the verifier's 5 s leeway
    await assertRefused(v, token, 'revoked');
    offset = 15_001;
    await v.verify(token);
    v.revoke('sid-cache-revoke', Date.now() - 6000); // already lapsed, leeway included: no effect
    await v.verify(token);
    await v.close();
  });

  test('cacheSize 0 disables the cache and still verifies everything', async () => {
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, cacheSize: 0 });
    const token = signGood(server);
    const a = await v.verify(token);
    const b = await v.verify(token);
    assert.notEqual(a, b);
    assert.deepEqual(a, b);
    await v.close();
  });

  test('a key withdrawn from the JWKS stops cached tokens too', async () => {
    let withdraw = false;
    let offset = 0;
    const f = async (input: string, init?: RequestInit) => {
      if (withdraw && input.endsWith('/jwks.json')) return Response.json({ keys: [] });
      return server.fetch(input, init);
    };
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: f, jwksMaxAgeMs: 60_000, now: () => Date.now() + offset });
    const token = signGood(server);
    await v.verify(token);
    withdraw = true;
    offset = 61_000; // the JWKS is stale: the next call refreshes it in the background
    await v.verify(token); // served from the keys we have while the refresh runs
    const t0 = Date.now();
    while (await v.verify(token).then(() => true, () => false)) {
      assert.ok(Date.now() - t0 < 2000, 'background JWKS refresh did not happen');
      await new Promise((r) => setTimeout(r, 10));
    }
    await assertRefused(v, token, 'unknown_kid');
    await v.close();
  });
});

describe('verify: revocation feed', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test("logout on the server stops the session's access tokens in the verifier at once (feed), cache or not", async () => {
    const feed = server.latchkey.ctx.stores.revocations;
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: feed });
    const other = await signup(server);
    const { access_token } = await signup(server);
    await v.verify(access_token);
    await v.verify(access_token); // now cached
    const res = await fetch(`${server.base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(res.status, 204);
    await assertRefused(v, access_token, 'revoked');
    await v.verify(other.access_token); // other sessions unaffected

    // A verifier started after the logout loads the active revocations first.
    const late = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: feed });
    await assertRefused(late, access_token, 'revoked');
    await v.close();
    await late.close();
  });

  test('revocation source down at start: 503, never an unchecked accept', async () => {
    let down = true;
    let offset = 0;
    const source = {
      subscribe: () => () => {},
      loadActive: async () => {
        if (down) throw new Error('redis down');
        return [{ sessionId: 'sid-down', until: Date.now() + 60_000 }];
      },
    };
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: source, now: () => Date.now() + offset });
    const token = signGood(server, goodClaims(server, 'sid-down'));
    const e = await refusal(v, token);
    assert.equal(e.code, 'temporarily_unavailable');
    assert.equal(e.reason, 'revocations_unavailable');
    assert.equal(toRfc6750(e).status, 503);
    down = false;
    offset += 1001;
    await assertRefused(v, token, 'revoked');
    await v.verify(signGood(server, goodClaims(server, 'sid-fine')));
    await v.close();
  });

  test('after a resync the verifier reloads and catches revocations it missed while disconnected', async () => {
    let onRevoked: ((r: { sessionId: string; until: number }) => void) | undefined;
    let onResync: (() => void) | undefined;
    let unsubscribed = false;
    const durable: Array<{ sessionId: string; until: number }> = [];
    const source = {
      subscribe(r: typeof onRevoked, s: typeof onResync) {
        onRevoked = r;
        onResync = s;
        return () => {
          unsubscribed = true;
        };
      },
      loadActive: async (now: number) => durable.filter((r) => r.until > now),
    };
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: source });
    const a = signGood(server, goodClaims(server, 'sid-live'));
    const b = signGood(server, goodClaims(server, 'sid-missed'));
    await v.verify(a);
    await v.verify(b);
    onRevoked?.({ sessionId: 'sid-live', until: Date.now() + 60_000 });
    await assertRefused(v, a, 'revoked');
    durable.push({ sessionId: 'sid-missed', until: Date.now() + 60_000 }); // published while we were disconnected
    await v.verify(b);
    onResync?.();
    await new Promise((r) => setImmediate(r));
    await assertRefused(v, b, 'revoked');
    await v.close();
    assert.ok(unsubscribed);
  });
});

describe('verify: DPoP-bound access tokens (RFC 9449 §7)', () => {
  let server: TestServer;
  let verifier: Verifier;
  let offset = 0;
  const URL_ = 'https://api.example.com/orders';
  const ALGS = 'algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"';
  let es: ProofKey;
  let ed: ProofKey;
  const nowSec = () => Math.floor((Date.now() + offset) / 1000);

  before(async () => {
    server = await startServer();
    verifier = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, now: () => Date.now() + offset });
    es = proofKey('ES256');
    ed = proofKey('EdDSA');
  });
  after(async () => {
    await verifier.close();
    await server.close();
  });

  /** A request with a bound token and a proof of `key` for it; `o` changes one thing in the proof. */
  const dpopRequest = (token: string, key: ProofKey, o: ProofOptions = {}, over: Partial<RequestCredentials> = {}): RequestCredentials => ({
    authorization: `DPoP ${token}`,
    dpop: makeProof(key, { htm: 'GET', htu: URL_, accessToken: token, iat: nowSec(), ...o }),
    method: 'GET',
    url: URL_,
    ...over,
  });

  async function refusedRequest(v: Verifier, req: RequestCredentials, reason: VerifyFailure): Promise<VerifyError> {
    try {
      await v.verifyRequest(req);
    } catch (e) {
      assert.ok(e instanceof VerifyError, `expected VerifyError, got ${String(e)}`);
      assert.equal(e.reason, reason);
      return e;
    }
    assert.fail(`request was accepted (expected ${reason})`);
  }

  /** Every proof failure answers the same way: 401, DPoP error="invalid_dpop_proof", reason dpop_proof_invalid. */
  async function proofRefused(req: RequestCredentials, reason: VerifyFailure, v = verifier): Promise<void> {
    const e = await refusedRequest(v, req, reason);
    assert.equal(e.code, 'invalid_dpop_proof');
    const r = toRfc6750(e);
    assert.equal(r.status, 401);
    assert.equal(r.headers['WWW-Authenticate'], `DPoP error="invalid_dpop_proof", error_description="DPoP proof is invalid", ${ALGS}`);
    assert.deepEqual(r.body, { error: 'invalid_dpop_proof', error_description: 'DPoP proof is invalid', reason: 'dpop_proof_invalid' });
  }

  test('happy path: DPoP scheme, proof by the cnf.jkt key for this request (ES256 and EdDSA keys)', async () => {
    for (const key of [es, ed]) {
      const token = signBound(server, key.jkt);
      const claims = await verifier.verifyRequest(dpopRequest(token, key));
      assert.deepEqual(claims.cnf, { jkt: key.jkt });
      // The scheme is case-insensitive; the URL may carry a query and a default port.
      await verifier.verifyRequest(dpopRequest(token, key, {}, { authorization: `dpop ${token}`, url: 'https://api.example.com:443/orders?page=2' }));
      await verifier.verifyRequest(dpopRequest(token, key, { htm: 'POST' }, { method: 'POST' }));
    }
  });

  test('a bound token sent as Bearer is refused with the DPoP challenge (access_token_bound), even with a valid proof', async () => {
    const token = signBound(server, es.jkt);
    for (const dpop of [undefined, makeProof(es, { htu: URL_, accessToken: token, iat: nowSec() })]) {
      const e = await refusedRequest(verifier, { authorization: `Bearer ${token}`, dpop, method: 'GET', url: URL_ }, 'token_bound');
      const r = toRfc6750(e);
      assert.equal(r.status, 401);
      assert.equal(r.headers['WWW-Authenticate'], `DPoP error="invalid_token", error_description="access token is DPoP-bound: send it with the DPoP scheme and a proof", ${ALGS}`);
      assert.equal(r.body.reason, 'access_token_bound');
    }
  });

  test('a bound token given to verify() (no proof possible) is refused: token_bound', async () => {
    const token = signBound(server, es.jkt);
    await assertRefused(verifier, token, 'token_bound');
    // Even once it is in the verified-token cache.
    await verifier.verifyRequest(dpopRequest(token, es));
    await assertRefused(verifier, token, 'token_bound');
  });

  test('an unbound token with the DPoP scheme is refused, even with a valid proof by some key', async () => {
    const token = signGood(server);
    const e = await refusedRequest(verifier, dpopRequest(token, es), 'token_not_bound');
    const r = toRfc6750(e);
    assert.equal(r.status, 401);
    assert.equal(r.headers['WWW-Authenticate'], `DPoP error="invalid_token", error_description="access token is invalid", ${ALGS}`);
    assert.equal(r.body.reason, 'access_token_invalid');
    // The same token as Bearer is fine (control), and a DPoP header beside Bearer changes nothing.
    await verifier.verifyRequest({ authorization: `Bearer ${token}`, method: 'GET', url: URL_ });
    await verifier.verifyRequest({ authorization: `Bearer ${token}`, dpop: makeProof(es, { iat: nowSec() }), method: 'GET', url: URL_ });
  });

  test('a bad token with the DPoP scheme gets the DPoP challenge; a revoked bound session says session_revoked', async () => {
    const key = server.latchkey.ctx.keys.signingKey();
    const forged = forge(key, { ...goodClaims(server), cnf: { jkt: es.jkt }, aud: 'https://elsewhere.example' });
    const e = await refusedRequest(verifier, dpopRequest(forged, es), 'wrong_audience');
    assert.equal(e.scheme, 'DPoP');
    assert.match(toRfc6750(e).headers['WWW-Authenticate'] ?? '', /^DPoP error="invalid_token"/);
    const token = signBound(server, es.jkt, goodClaims(server, 'sid-dpop-revoked'));
    await verifier.verifyRequest(dpopRequest(token, es));
    verifier.revoke('sid-dpop-revoked', Date.now() + 60_000);
    const r = toRfc6750(await refusedRequest(verifier, dpopRequest(token, es), 'revoked'));
    assert.equal(r.body.reason, 'session_revoked');
    assert.match(r.headers['WWW-Authenticate'] ?? '', /^DPoP error="invalid_token"/);
    // A cnf that is not exactly {jkt} is a bad token, not an unbound one.
    await refusedRequest(verifier, dpopRequest(forge(key, { ...goodClaims(server), cnf: { jkt: es.jkt, x5t: 'a' } }), es), 'bad_claims');
  });

  test('ath of another token, or no ath: refused', async () => {
    const token = signBound(server, es.jkt);
    const other = signBound(server, es.jkt);
    await proofRefused(dpopRequest(token, es, { accessToken: other }), 'proof_wrong_ath');
    await proofRefused(dpopRequest(token, es, { accessToken: undefined, claims: { ath: undefined } }), 'proof_wrong_ath');
  });

  test('htm and htu of another request: refused', async () => {
    const token = signBound(server, es.jkt);
    await proofRefused(dpopRequest(token, es, { htm: 'POST' }), 'proof_wrong_htm');
    await proofRefused(dpopRequest(token, es, {}, { method: 'DELETE' }), 'proof_wrong_htm');
    await proofRefused(dpopRequest(token, es, { htu: 'https://api.example.com/admin' }), 'proof_wrong_htu');
    await proofRefused(dpopRequest(token, es, { htu: 'https://evil.example/orders' }), 'proof_wrong_htu');
    await proofRefused(dpopRequest(token, es, {}, { url: 'http://api.example.com/orders' }), 'proof_wrong_htu');
    await proofRefused(dpopRequest(token, es, {}, { url: '' }), 'proof_wrong_htu');
  });

  test('iat outside the window (default 60 s + 5 s leeway; dpopMaxAgeSec): refused', async () => {
    const token = signBound(server, es.jkt);
    await verifier.verifyRequest(dpopRequest(token, es, { iat: nowSec() - 64 }));
    await proofRefused(dpopRequest(token, es, { iat: nowSec() - 67 }), 'proof_stale');
    await verifier.verifyRequest(dpopRequest(token, es, { iat: nowSec() + 4 }));
    await proofRefused(dpopRequest(token, es, { iat: nowSec() + 7 }), 'proof_future');
    const short = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, dpopMaxAgeSec: 10 });
    await short.verifyRequest(dpopRequest(token, es, { iat: nowSec() - 14 }));
    await proofRefused(dpopRequest(token, es, { iat: nowSec() - 17 }), 'proof_stale', short);
    await short.close();
  });

  test('a replayed proof (same jti) is refused, for as long as it would otherwise be accepted', async () => {
    const token = signBound(server, es.jkt);
    const req = dpopRequest(token, es);
    await verifier.verifyRequest(req);
    await proofRefused(req, 'proof_replayed');
    offset = 60_000; // still inside 60 s + leeway
    try {
      await proofRefused(req, 'proof_replayed');
      offset = 70_000; // beyond it: refused as stale, never accepted again
      await proofRefused(req, 'proof_stale');
    } finally {
      offset = 0;
    }
    // A fresh proof (new jti) for the same request is fine.
    await verifier.verifyRequest(dpopRequest(token, es));
  });

  test('a proof by another key than cnf.jkt is refused', async () => {
    const token = signBound(server, es.jkt);
    await proofRefused(dpopRequest(token, ed), 'proof_key_mismatch');
    await proofRefused(dpopRequest(token, proofKey('ES256')), 'proof_key_mismatch');
    // A proof claiming the bound key's jwk but signed by another key: a bad signature.
    const thief = proofKey('ES256');
    await proofRefused(dpopRequest(token, { ...thief, jwk: es.jwk }), 'proof_bad_signature');
  });

  test('a verified-token cache hit still checks the proof, every time', async () => {
    const token = signBound(server, es.jkt);
    const first = await verifier.verifyRequest(dpopRequest(token, es));
    const second = await verifier.verifyRequest(dpopRequest(token, es));
    assert.equal(second, first, 'the second call was a cache hit (same frozen claims)');
    await proofRefused({ ...dpopRequest(token, es), dpop: undefined }, 'proof_missing');
    await proofRefused(dpopRequest(token, ed), 'proof_key_mismatch');
    await proofRefused(dpopRequest(token, es, { htu: 'https://api.example.com/other' }), 'proof_wrong_htu');
    const used = dpopRequest(token, es);
    assert.equal(await verifier.verifyRequest(used), first);
    await proofRefused(used, 'proof_replayed');
  });

  test('no DPoP header, several, or a comma-joined one: refused', async () => {
    const token = signBound(server, es.jkt);
    const a = dpopRequest(token, es);
    const b = dpopRequest(token, es);
    await proofRefused({ ...a, dpop: undefined }, 'proof_missing');
    await proofRefused({ ...a, dpop: '' }, 'proof_missing');
    await proofRefused({ ...a, dpop: [a.dpop as string, b.dpop as string] }, 'proof_multiple');
    await proofRefused({ ...a, dpop: [] }, 'proof_missing');
    await proofRefused({ ...a, dpop: `${a.dpop as string}, ${b.dpop as string}` }, 'proof_multiple');
    await proofRefused({ ...a, dpop: 'garbage' }, 'proof_malformed');
    // Neither of them was spent by the refusals: both are still good alone (an array of one is one header).
    await verifier.verifyRequest({ ...a, dpop: [a.dpop as string] });
    await verifier.verifyRequest(b);
  });

  test('verifyRequest with Bearer: unbound tokens as before; no credentials, several Authorization headers', async () => {
    const token = signGood(server);
    const claims = await verifier.verifyRequest({ authorization: `Bearer ${token}`, method: 'GET', url: URL_ });
    assert.equal(claims.sub, 'user-1');
    for (const authorization of [undefined, '', 'Basic abc', 'Bearer', 'DPoP', 'DPoP   ']) {
      const e = await refusedRequest(verifier, { authorization, method: 'GET', url: URL_ }, 'missing_token');
      assert.equal(toRfc6750(e).headers['WWW-Authenticate'], 'Bearer realm="latchkey"');
    }
    await refusedRequest(verifier, { authorization: [`Bearer ${token}`, `Bearer ${token}`], method: 'GET', url: URL_ }, 'authorization_multiple');
    await refusedRequest(verifier, { authorization: 'Bearer garbage', method: 'GET', url: URL_ }, 'malformed');
  });

  test('the replay cache is bounded (dpopReplayCacheSize) and a forgotten proof still cannot be replayed', async () => {
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, dpopReplayCacheSize: 2, now: () => Date.now() + offset });
    const token = signBound(server, es.jkt);
    const t = nowSec();
    const first = dpopRequest(token, es, { iat: t - 2 });
    await v.verifyRequest(first);
    await v.verifyRequest(dpopRequest(token, es, { iat: t - 1 }));
    await v.verifyRequest(dpopRequest(token, es, { iat: t })); // evicts the first
    await proofRefused(first, 'proof_replayed', v);
    await v.verifyRequest(dpopRequest(token, es, { iat: t }));
    await v.close();
    // Replay protection cannot be switched off.
    assert.throws(() => createVerifier({ issuer: server.issuer, audience: server.audience, dpopReplayCacheSize: 0 }), TypeError);
  });
});
